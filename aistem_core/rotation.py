"""Local lattice rotation of bulk windows, from the Bragg peaks of each window's Fourier transform.

For every bulk window (mutual information below the threshold) the angle by
which its lattice is turned relative to the reference lattice of its predicted
class, modulo that projection's rotational symmetry (4-fold for cubic [100],
6-fold for cubic [111] and hcp [0001], 2-fold for the others).  Interface
windows get NaN.

Method (see ``docs/rotation.md`` for the justification and the measured accuracy)
--------------------------------------------------------------------------------
A reference of a class is the list of its strongest Bragg reflections
``g_k`` [Å⁻¹] with weights ``w_k``, taken from the project's own simulated
image of the class (:mod:`aistem.training.rotation_refs`).  For a window
``x`` (h×w px, pixel size ``p`` [Å/px]) the score of a rotation θ is the
weighted sum of the Fourier amplitudes at the rotated reflections::

    S(θ) = Σ_k w_k |X(R(θ) g_k)|,   X(q) = Σ_rc t[r,c] (x[r,c] − m) exp(−2πi p (q_r r + q_c c))

with ``t`` a Hann taper and ``m`` the taper-weighted mean.  The angle is the
maximiser of S over one symmetry period:

1. coarse: S at 90 angles per symmetry period (1° for 4-fold) from the
   2×-zero-padded FFT amplitude, sampled bilinearly;
2. fine: S evaluated *exactly* (a non-uniform DFT: the rows' 8×-oversampled
   spectra, interpolated with 6-tap Lagrange weights, summed over the rows) at
   5 angles 1° apart around the coarse maximum (again where the maximum
   was at an edge), then at ±0.25° and
   ±0.0625°, each time moving to the vertex of the parabola through the scores.

All bulk windows are measured in one batch whatever their class, each with
its class's reflections and period, so the cost per frame is a handful of
array operations (no loop over windows or classes).

The exact evaluation removes the bias of interpolating a sampled spectrum
(which is 0.5–2° on 12 Å windows), so the error is set by noise alone.

Conventions
-----------
Images are (rows, cols) arrays, row 0 at the top.  A positive angle turns the
lattice **counter-clockwise as displayed** (``imshow``), the convention of
:func:`scipy.ndimage.rotate` and of :mod:`aistem.training.augment`:
a vector (row, col) becomes (row·cosθ − col·sinθ, row·sinθ + col·cosθ).
Note that :func:`aistem.core.synthetic.square_lattice` turns its lattice the
other way (counter-clockwise with the row axis pointing up): its ``angle=θ``
measures as −θ (mod 90°).  Angles are returned in [0, period) degrees.

Everything runs on NumPy or CuPy arrays (``get_array_module``), float32.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .backend import asnumpy, fft_module, get_array_module
from .blockwise import map_blocks
from .rotation_references import (
    DEFAULT_REFERENCES,
    RotationReferences,
    as_references,
    circular_difference,
    default_references,
    rotation_fold,
    rotation_fraction,
    rotation_period,
)
from .rotation_sampling import ROW_OVERSAMPLING, amplitude_from_rows, bilinear_rfft, rotate_reflections, row_spectra
from .spectrum import parabola_vertex, tapered, window_batch
from .windows import WindowGrid, extract_windows

__all__ = [
    "DEFAULT_REFERENCES",
    "RotationReferences",
    "circular_difference",
    "default_references",
    "lattice_rotation",
    "lattice_rotation_map",
    "measure_rotation",
    "rotation_fold",
    "rotation_fraction",
    "rotation_period",
]


#: Coarse angles per symmetry period (1° for 4-fold, 0.67° for 6-fold, 2° for 2-fold).
COARSE_STEPS = 90
#: Half-width of the first fine search [°] (done twice: corrects coarse errors up to twice this).
FINE_SPAN = 2.0


def _usable_weights(peaks: np.ndarray, weights: np.ndarray, pixel_size: float, h: int, w: int) -> np.ndarray:
    """Weights with reflections zeroed that lie beyond 0.45 cycles/px (near Nyquist) or within 2.5 bins of DC."""
    qpx = np.hypot(peaks[..., 0], peaks[..., 1]) * pixel_size
    ok = (weights > 0) & (qpx < 0.45) & (qpx * min(h, w) >= 2.5)
    out = np.where(ok, weights, 0.0)
    top = out.max(axis=-1, keepdims=True)
    return (out / np.where(top > 0, top, 1)).astype(np.float32)


def _measure(xt: Any, g: Any, wk: Any, period: Any, xp: ModuleType, *, pad: int = 2) -> tuple[Any, Any]:
    """The measurement on tapered windows with per-window references.

    Parameters
    ----------
    xt : (n, h, w) float32
        Tapered windows.
    g : (n, K, 2) float32
        Reference reflections [cycles/px] of each window's class.
    wk : (n, K) float32
        Their weights (0: unused).
    period : (n,) float32
        Symmetry period [°].

    Returns
    -------
    angles : (n,) float32 in [0, period)
    contrast : (n,) float32
        max S / mean S over the coarse angles.
    """
    n, h, w = xt.shape
    # 1. coarse: bilinear samples of the zero-padded FFT amplitude at COARSE_STEPS angles per period
    size = pad * max(h, w)
    fft = fft_module(xp)
    rspec, re_t, im_t = row_spectra(xt, xp)
    if w == size // pad and ROW_OVERSAMPLING % pad == 0:  # the padded 2-D spectrum from the row spectra
        spec = fft.fft(rspec[:, :, :: ROW_OVERSAMPLING // pad], n=size, axis=1)
    else:
        spec = fft.rfft2(xt, s=(size, size), axes=(1, 2))
    amp = xp.abs(spec).astype(xp.float32)
    step = period / xp.float32(COARSE_STEPS)  # (n,)
    thetas = xp.arange(COARSE_STEPS, dtype=xp.float32)[None, :] * step[:, None]  # (n, J)
    qr, qc = rotate_reflections(g, thetas, xp)  # (n, J, K)
    k = g.shape[1]
    vals = bilinear_rfft(amp, (qr * size).reshape(n, -1), (qc * size).reshape(n, -1), xp).reshape(n, COARSE_STEPS, k)
    score = (vals * wk[:, None, :]).sum(axis=2)  # (n, J)
    best = xp.argmax(score, axis=1)
    theta = best.astype(xp.float32) * step
    mean = score.mean(axis=1)
    contrast = score.max(axis=1) / xp.where(mean > 0, mean, 1)

    def exact(offsets: Any, sel: Any = None) -> Any:  # S at theta + offsets (n, O) → (n, O), or for windows ``sel`` only
        gs, ws, th = (g, wk, theta) if sel is None else (g[sel], wk[sel], theta[sel])
        r, c = rotate_reflections(gs, th[:, None] + offsets, xp)  # (n', O, K)
        m = r.shape[0]
        rt, it = (re_t, im_t) if sel is None else (re_t[sel], im_t[sel])
        a = amplitude_from_rows(rt, it, ROW_OVERSAMPLING * w, r.reshape(m, -1), c.reshape(m, -1), xp).reshape(m, -1, k)
        return (a * ws[:, None, :]).sum(axis=2)

    def parabola_step(offs: Any, sel: Any = None) -> Any:  # 5 scores 1° apart → the vertex move, and whether it hit an edge
        s5 = exact(offs, sel)
        best = xp.argmax(s5, axis=1)
        j = xp.clip(best, 1, 3)
        rows = xp.arange(s5.shape[0])
        move = offs[rows, j] + xp.float32(FINE_SPAN / 2) * parabola_vertex(s5[rows, j - 1], s5[rows, j], s5[rows, j + 1], xp)
        return move, (best == 0) | (best == 4)

    # 2. fine: exact amplitudes at 5 angles 1° apart and the vertex of the parabola through the best three; again for
    #    windows whose maximum was at an edge (the coarse maximum can be a few degrees off where S is flat); then
    #    3 angles at ±0.25° and ±0.0625°
    offs = xp.asarray(np.linspace(-FINE_SPAN, FINE_SPAN, 5).astype(np.float32))[None, :] * xp.ones((n, 1), xp.float32)
    move, edge = parabola_step(offs)
    theta = theta + move
    again = xp.flatnonzero(edge)
    if int(again.size):
        move2, _ = parabola_step(offs[again], again)
        theta[again] = theta[again] + move2
    for d in (FINE_SPAN / 8, FINE_SPAN / 32):
        s3 = exact(xp.asarray(np.array([[-d, 0.0, d]], np.float32)) * xp.ones((n, 1), xp.float32))
        theta = theta + xp.float32(d) * parabola_vertex(s3[:, 0], s3[:, 1], s3[:, 2], xp)
    angles = xp.mod(theta, period).astype(xp.float32)
    angles = xp.where(angles >= period, xp.float32(0), angles)  # float32 rounding of mod
    return angles, contrast.astype(xp.float32)


def measure_rotation(
    windows: Any,
    peaks: Any,
    weights: Any,
    fold: int,
    *,
    pixel_size: float,
    pad: int = 2,
    return_score: bool = False,
) -> Any:
    """Rotation of every window's lattice relative to one reference pattern.

    Parameters
    ----------
    windows : ndarray of shape (N, h, w)
        Raw image windows (any real dtype), NumPy or CuPy.
    peaks : ndarray of shape (K, 2)
        Reference reflections (q_row, q_col) [Å⁻¹], one per Friedel pair.
    weights : ndarray of shape (K,)
        Their relative Fourier amplitudes.
    fold : int
        Rotational symmetry order; angles are returned in [0, 360/fold) [°].
    pixel_size : float
        [Å/px] of the windows.
    pad : int
        Zero-padding factor of the coarse FFT.
    return_score : bool
        Also return the peak contrast max S / mean S of the coarse search (≈1: no lattice seen).

    Returns
    -------
    angles : ndarray of shape (N,), float32
        [°] in [0, 360/fold); NaN for a window without signal or when fewer than two reflections are usable.
    score : ndarray of shape (N,), float32
        Only with ``return_score``.
    """
    xp, x = window_batch(windows, pixel_size)
    n, h, w = x.shape
    g = np.asarray(peaks, np.float64).reshape(-1, 2)
    wk = _usable_weights(g, np.asarray(weights, np.float64).reshape(-1), pixel_size, h, w)
    nan = xp.full(n, xp.nan, dtype=xp.float32)
    if n == 0 or (wk > 0).sum() < 2:
        return (nan, nan.copy()) if return_score else nan
    xt = tapered(x, xp)
    g_x = xp.broadcast_to(xp.asarray((g * pixel_size).astype(np.float32))[None], (n, *g.shape))
    wk_x = xp.broadcast_to(xp.asarray(wk)[None], (n, wk.size))
    period = xp.full(n, 360.0 / int(fold), dtype=xp.float32)
    angles, contrast = _measure(xt, g_x, wk_x, period, xp, pad=pad)
    signal = (xt * xt).sum(axis=(1, 2)) > 0
    angles = xp.where(signal, angles, nan)
    if return_score:
        return angles, xp.where(signal, contrast, nan)
    return angles


def _default_chunk(xp: ModuleType) -> int:
    return 64 if xp is np else 1024


def _class_tables(
    refs: RotationReferences, class_names: list[str] | tuple[str, ...], pixel_size: float, h: int, w: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class tables in the model's class order for (h, w) windows at ``pixel_size`` [Å/px].

    Returns
    -------
    g_tab : (C, K, 2) float32
        Reflections [cycles/px].
    w_tab : (C, K) float32
        Usable weights (0: unused).
    p_tab : (C,) float32
        Symmetry period [°].
    known : (C,) bool
        Whether the class has a reference with at least two usable reflections.
    """
    c = len(class_names)
    kmax = max(1, refs.peaks.shape[1])
    g_tab = np.zeros((c, kmax, 2), np.float32)
    w_tab = np.zeros((c, kmax), np.float32)
    p_tab = np.full(c, 180.0, np.float32)
    known = np.zeros(c, bool)
    for i, name in enumerate(class_names):
        ref = refs.reference(name)
        if ref is None:
            continue
        peaks, weights, fold = ref
        wk = _usable_weights(peaks.astype(np.float64), weights.astype(np.float64), pixel_size, h, w)
        if (wk > 0).sum() < 2:
            continue
        g_tab[i, : len(wk)] = peaks * pixel_size
        w_tab[i, : len(wk)] = wk
        p_tab[i] = 360.0 / fold
        known[i] = True
    return g_tab, w_tab, p_tab, known


def lattice_rotation(
    windows: Any,
    classes: Any,
    interface: Any,
    class_names: list[str] | tuple[str, ...],
    *,
    pixel_size: float,
    references: RotationReferences | str | Path | None = None,
    chunk: int | None = None,
) -> Any:
    """Lattice rotation of every bulk window relative to its predicted class's reference.

    All bulk windows are measured together whatever their class (each with its
    own class's reflections and symmetry), ``chunk`` at a time.

    Parameters
    ----------
    windows : ndarray of shape (N, h, w)
        Raw image windows (the same windows that were classified), NumPy or CuPy.
    classes : ndarray of shape (N,), int
        Predicted class index of each window (into ``class_names``).
    interface : ndarray of shape (N,), bool, or None
        True for interface windows (MI above threshold): they get NaN and cost nothing.
        None measures every window (e.g. to re-mask later at another MI threshold).
    class_names : list of str
        The model's class index → name.
    pixel_size : float
        [Å/px].
    references : RotationReferences, path or None
        Reference reflections; None: the shipped ``rotation_references.json``.
    chunk : int, optional
        Windows per batch (memory: about 2 MB per 100×100 px window).  Default
        64 on the CPU (cache-friendly), 1024 on the GPU (fewer kernel launches).

    Returns
    -------
    ndarray of shape (N,), float32
        Rotation [°] in [0, 360/n) for the class's symmetry order n
        (:func:`rotation_fold`); NaN in interface windows and for classes without a reference.
        Same array module as ``windows``.
    """
    xp, x = window_batch(windows, pixel_size)
    n, h, w = x.shape
    cls = asnumpy(classes).reshape(-1).astype(np.int64)
    itf = np.zeros(n, bool) if interface is None else asnumpy(interface).reshape(-1).astype(bool)
    if cls.shape[0] != n or itf.shape[0] != n:
        raise ValueError(f"classes ({cls.shape[0]}) and interface ({itf.shape[0]}) must have one entry per window ({n})")
    bad = cls[~itf][(cls[~itf] < 0) | (cls[~itf] >= len(class_names))]
    if bad.size:
        raise ValueError(f"class index {int(bad[0])} is outside the {len(class_names)} class names")
    refs = as_references(references)
    chunk = _default_chunk(xp) if chunk is None else int(chunk)
    g_tab, w_tab, p_tab, known = _class_tables(refs, class_names, pixel_size, h, w)
    c = len(class_names)
    out = xp.full(n, xp.nan, dtype=xp.float32)
    idx = np.flatnonzero(~itf & known[np.clip(cls, 0, c - 1)])
    if idx.size == 0:
        return out
    g_x, w_x, p_x = xp.asarray(g_tab), xp.asarray(w_tab), xp.asarray(p_tab)

    def block(a: int, b: int) -> Any:
        cs = xp.asarray(cls[idx[a:b]])
        xt = tapered(x[xp.asarray(idx[a:b])], xp)
        angles, _ = _measure(xt, g_x[cs], w_x[cs], p_x[cs], xp)
        return xp.where((xt * xt).sum(axis=(1, 2)) > 0, angles, xp.float32(xp.nan))

    # blocks of ``chunk`` windows, on one thread per core with NumPy (blockwise.py)
    out[xp.asarray(idx)] = xp.concatenate(map_blocks(block, idx.size, chunk, threads=xp is np))
    return out


def lattice_rotation_map(
    image: Any,
    grid: WindowGrid,
    classes: Any,
    interface: Any,
    class_names: list[str] | tuple[str, ...],
    *,
    pixel_size: float,
    references: RotationReferences | str | Path | None = None,
    chunk: int | None = None,
    cancel: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Lattice-rotation map of an analysed image: :func:`lattice_rotation` over its window grid.

    Windows are cut from the image ``chunk`` grid positions at a time; only
    bulk windows are measured.

    Parameters
    ----------
    image : ndarray of shape (rows, cols)
        The analysed image, NumPy or CuPy.
    grid : WindowGrid
        Its window grid.
    classes : ndarray of shape grid.shape, int
        Class map.
    interface : ndarray of shape grid.shape, bool, or None
        Interface map (None: measure every window).
    class_names : list of str
    pixel_size : float
        [Å/px].
    references : RotationReferences, path or None
    chunk : int, optional
        Grid windows cut and measured at a time (default as :func:`lattice_rotation`).
    cancel : callable, optional
        Asked before each chunk; True stops with :class:`aistem.core.AnalysisCancelled`.

    Returns
    -------
    ndarray of shape grid.shape, float32 (NumPy)
        Rotation [°]; NaN at interface windows.
    """
    cls = asnumpy(classes).reshape(-1)
    itf = np.zeros(grid.size, bool) if interface is None else asnumpy(interface).reshape(-1).astype(bool)
    if cls.size != grid.size or itf.size != grid.size:
        raise ValueError(f"class and interface maps must have the grid's {grid.shape} entries")
    refs = as_references(references)
    chunk = _default_chunk(get_array_module(image)) if chunk is None else int(chunk)
    out = np.full(grid.size, np.nan, np.float32)
    for start in range(0, grid.size, chunk):
        stop = min(grid.size, start + chunk)
        if itf[start:stop].all():
            continue
        if cancel is not None and cancel():
            from .mc_dropout import AnalysisCancelled

            raise AnalysisCancelled("analysis cancelled by the caller during the rotation step")
        block = extract_windows(image, grid, start, stop)
        rot = lattice_rotation(
            block, cls[start:stop], itf[start:stop], class_names, pixel_size=pixel_size, references=refs, chunk=chunk
        )
        out[start:stop] = asnumpy(rot)
    return out.reshape(grid.shape)
