"""Fourier amplitudes of tapered windows at rotated reflections: the two samplers of the rotation measurement.

* coarse: bilinear samples of a zero-padded half spectrum (:func:`bilinear_rfft`);
* exact: a non-uniform DFT from the rows' oversampled spectra, interpolated with 6-tap Lagrange weights
  (:func:`row_spectra`, :func:`amplitude_from_rows`).

Everything on NumPy or CuPy arrays (``xp``), float32; frequencies in cycles/px, (row, col).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from .backend import fft_module

__all__ = ["ROW_OVERSAMPLING", "amplitude_from_rows", "bilinear_rfft", "rotate_reflections", "row_spectra"]


def rotate_reflections(peaks: Any, theta_deg: Any, xp: ModuleType) -> tuple[Any, Any]:
    """Rotated reflections of every window: peaks (n, K, 2), angles θ (n, A) [°] → q_row, q_col (n, A, K)."""
    t = xp.deg2rad(theta_deg)[..., None]
    c, s = xp.cos(t), xp.sin(t)
    qr, qc = peaks[:, None, :, 0], peaks[:, None, :, 1]
    return qr * c - qc * s, qr * s + qc * c


def bilinear_rfft(amp: Any, rows: Any, cols: Any, xp: ModuleType) -> Any:
    """Sample half spectra ``amp`` (n, P, P//2+1) at per-window fractional bins (rows, cols) of shape (n, M) → (n, M).

    Points with a negative column are read at their Friedel mate (−row, −col).
    """
    p, wc = amp.shape[1], amp.shape[2]
    neg = cols < 0
    rows = xp.where(neg, -rows, rows)
    cols = xp.abs(cols)
    r0f = xp.floor(rows)
    c0f = xp.floor(cols)
    fr = (rows - r0f).astype(xp.float32)
    fc = (cols - c0f).astype(xp.float32)
    r0 = r0f.astype(xp.int64) % p
    r1 = (r0 + 1) % p
    c0 = xp.minimum(c0f.astype(xp.int64), wc - 1)
    c1 = xp.minimum(c0 + 1, wc - 1)
    flat = amp.reshape(amp.shape[0], -1)

    def at(r: Any, c: Any) -> Any:
        return xp.take_along_axis(flat, r * wc + c, axis=1)

    return (
        at(r0, c0) * ((1 - fr) * (1 - fc)) + at(r1, c0) * (fr * (1 - fc)) + at(r0, c1) * ((1 - fr) * fc) + at(r1, c1) * (fr * fc)
    )


#: Oversampling of the row spectra used for the fine stage.
ROW_OVERSAMPLING = 8


def row_spectra(xt: Any, xp: ModuleType) -> tuple[Any, Any, Any]:
    """Spectra of every row of the tapered windows, oversampled ``ROW_OVERSAMPLING`` times.

    Returns
    -------
    spec : (n, h, L) complex64, L = ROW_OVERSAMPLING·w/2 + 1
        Entry j is Σ_c xt[r, c] exp(−2πi q c) at q = j / (ROW_OVERSAMPLING · w) [cycles/px].
    re, im : (n, L, h) float32
        Its real and imaginary parts with the rows last (contiguous), for gathers.
    """
    fft = fft_module(xp)
    spec = fft.rfft(xt, n=ROW_OVERSAMPLING * xt.shape[2], axis=2).astype(xp.complex64, copy=False)
    t = spec.transpose(0, 2, 1)
    return spec, xp.ascontiguousarray(t.real), xp.ascontiguousarray(t.imag)


#: Tap offsets of the Lagrange interpolation of the row spectra (quintic: relative error ~1e-5 at 8× oversampling).
_TAPS = (-2, -1, 0, 1, 2, 3)


def _lagrange(t: Any, i: int) -> Any:
    """Lagrange weight of tap ``_TAPS[i]`` at fractional position ``t`` ∈ [0, 1)."""
    w = None
    for j, o in enumerate(_TAPS):
        if j != i:
            f = (t - o) / float(_TAPS[i] - o)
            w = f if w is None else w * f
    return w


def amplitude_from_rows(re_t: Any, im_t: Any, nfft: int, qr: Any, qc: Any, xp: ModuleType) -> Any:
    """Fourier amplitude |X(q)| at per-window points, from the oversampled row spectra.

    The row spectra are interpolated to q_c with 6-tap Lagrange (quintic)
    weights (relative error ~1e-5 at 8× oversampling), then summed over the
    rows with exp(−2πi q_r r): a non-uniform DFT with no matrix products (no
    BLAS threads; gathers of contiguous rows and elementwise work only).

    Parameters
    ----------
    re_t, im_t : (n, L, h) float32
        :func:`row_spectra`'s transposed parts.
    nfft : int
        The row FFT length (``ROW_OVERSAMPLING × w``).
    qr, qc : (n, M) float32
        Frequencies [cycles/px] along rows and columns.

    Returns
    -------
    (n, M) float32
    """
    n, length, h = re_t.shape
    neg = qc < 0  # read the Friedel mate: |X(−q)| = |X(q)| for a real window
    qr = xp.where(neg, -qr, qr)
    qc = xp.abs(qc)
    u = qc * xp.float32(nfft)  # position on the row-spectrum grid [bins]
    j0f = xp.floor(u)
    t = (u - j0f).astype(xp.float32)
    j0 = j0f.astype(xp.int64)
    coef = xp.stack([_lagrange(t, i) for i in range(len(_TAPS))], axis=2)  # (n, M, taps) at j0 + _TAPS
    j = j0[:, :, None] + xp.asarray(np.asarray(_TAPS))[None, None, :]
    sign = xp.where(j < 0, xp.float32(-1), xp.float32(1))  # q_c < 0 along a row: the complex conjugate of −q_c
    j = xp.minimum(xp.abs(j), length - 1)
    win = xp.arange(n)[:, None]
    a_re = xp.zeros((n, j.shape[1], h), xp.float32)  # (n, M, h): row spectra at q_c, per row
    a_im = xp.zeros_like(a_re)
    for i in range(len(_TAPS)):
        a_re += re_t[win, j[:, :, i]] * coef[:, :, i, None]
        a_im += im_t[win, j[:, :, i]] * (coef[:, :, i] * sign[:, :, i])[:, :, None]
    rr = xp.arange(h, dtype=xp.float32)
    phase = xp.float32(2.0 * math.pi) * qr[:, :, None] * rr[None, None, :]  # (n, M, h)
    c, s = xp.cos(phase), xp.sin(phase)
    x_re = (a_re * c + a_im * s).sum(axis=2)
    x_im = (a_im * c - a_re * s).sum(axis=2)
    return xp.sqrt(x_re * x_re + x_im * x_im)
