"""The FFT-HAADF descriptor of Leitherer et al. (2023), batched, for NumPy or CuPy.

For a window ``x`` of h×w pixels:

a. min–max normalise ``x`` to [0, 1];
b. multiply by ``sqrt(hann_h[i] * hann_w[j])`` (periodic Hann windows);
c. ``F = fftshift(|fft2|**2)``;
d. min–max normalise ``F``, divide by ``threshold`` (0.1), clip at 1, min–max normalise again;
e. crop ``size``×``size`` (64×64) centred at (h//2, w//2);
f. min–max normalise.

Implementation notes (exact rewrites of the definition, checked by the tests
against a literal implementation):

* the spectrum of a real window is Hermitian, so its values are those of the
  half spectrum ``rfft2``: the global minimum and maximum of step (d) are taken
  there and the centred crop is gathered from it with precomputed indices;
* after the first normalisation and the clip, the spectrum's minimum is 0 and
  its maximum 1 (the maximum value maps to 1/threshold ≥ 1), so the second
  normalisation of (d) is the identity unless the spectrum is constant.
"""

from __future__ import annotations

from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

from .backend import fft_module, get_array_module

__all__ = ["DEFAULT_THRESHOLD", "DESCRIPTOR_SIZE", "fft_haadf_descriptor", "hann_periodic"]

DESCRIPTOR_SIZE = 64
DEFAULT_THRESHOLD = 0.1


def hann_periodic(n: int, xp: ModuleType = np) -> Any:
    """Periodic Hann window of length ``n`` (``scipy.signal.get_window('hann', n)``), float64."""
    i = xp.arange(n, dtype=xp.float64)
    return 0.5 - 0.5 * xp.cos(2.0 * np.pi * i / n)


@lru_cache(maxsize=32)
def _taper(h: int, w: int) -> np.ndarray:
    return np.sqrt(np.outer(hann_periodic(h), hann_periodic(w))).astype(np.float32)


@lru_cache(maxsize=32)
def _crop_index(h: int, w: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices into ``rfft2`` output that give the centred crop of the shifted spectrum."""
    half = size // 2
    ki = np.arange(-half, size - half)[:, None] * np.ones((1, size), dtype=int)
    kj = np.ones((size, 1), dtype=int) * np.arange(-half, size - half)[None, :]
    neg = kj < 0
    rows = np.where(neg, -ki, ki) % h
    cols = np.abs(kj)
    return rows, cols


def _minmax(x: Any, xp: ModuleType, axes: tuple[int, ...]) -> Any:
    """Min–max normalise over ``axes``; a constant block becomes zeros (never NaN)."""
    lo = x.min(axis=axes, keepdims=True)
    hi = x.max(axis=axes, keepdims=True)
    span = hi - lo
    safe = xp.where(span > 0, span, xp.ones_like(span))
    return xp.where(span > 0, (x - lo) / safe, xp.zeros_like(x))


def fft_haadf_descriptor(
    windows: Any,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    size: int = DESCRIPTOR_SIZE,
    pixel_size: float | None = None,
    workers: int = -1,
) -> Any:
    """FFT-HAADF descriptors of a batch of windows.

    Parameters
    ----------
    windows : ndarray of shape (N, h, w) or (h, w)
        Image windows (any real dtype), NumPy or CuPy; the result is in the same module.
    threshold : float
        Spectrum threshold of step (d), as a fraction of the maximum (paper: 0.1).
    size : int
        Side of the central crop [px of the spectrum] (paper: 64).
    pixel_size : float, optional
        Pixel size [Å/px], used only to make the error message for small windows precise.
    workers : int
        FFT threads for SciPy (-1: all cores); ignored on the GPU.

    Returns
    -------
    ndarray of shape (N, size, size), float32
        Descriptors in [0, 1]; a constant window gives zeros.
    """
    xp = get_array_module(windows)
    x = xp.asarray(windows)
    single = x.ndim == 2
    if single:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"windows must have shape (N, h, w) or (h, w), got {tuple(x.shape)}")
    n, h, w = x.shape
    if h < size or w < size:
        where = ""
        if pixel_size:
            where = f" at pixel size {pixel_size} Å/px (window {min(h, w) * pixel_size:.3g} Å)"
        raise ValueError(
            f"window of {h}×{w} px is smaller than the {size}×{size} descriptor crop{where}: "
            f"windows must be at least {size} px; increase the window size or use a smaller pixel size"
        )
    if not (0 < threshold <= 1):
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if n == 0:
        out = xp.zeros((0, size, size), dtype=xp.float32)
        return out[0] if single else out

    x = x.astype(xp.float32, copy=False)
    x = _minmax(x, xp, (1, 2))  # (a)
    x = x * xp.asarray(_taper(h, w))  # (b)
    fft = fft_module(xp)
    if xp is np:
        spec = fft.rfft2(x, axes=(1, 2), workers=workers)
    else:  # pragma: no cover - GPU only
        spec = fft.rfft2(x, axes=(1, 2))
    power = spec.real * spec.real + spec.imag * spec.imag  # (c), half spectrum, float32
    lo = power.min(axis=(1, 2), keepdims=True)
    hi = power.max(axis=(1, 2), keepdims=True)
    rows, cols = _crop_index(h, w, size)
    crop = power[:, xp.asarray(rows), xp.asarray(cols)]  # (e) gathered before (d): (d) is pointwise
    span = hi - lo
    good = span > 0
    safe = xp.where(good, span, xp.ones_like(span))
    d = xp.minimum((crop - lo) / safe / xp.float32(threshold), xp.float32(1.0))  # (d)
    d = xp.where(good, d, xp.zeros_like(d))
    out = _minmax(d, xp, (1, 2)).astype(xp.float32, copy=False)  # (f)
    return out[0] if single else out
