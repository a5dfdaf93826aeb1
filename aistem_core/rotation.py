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

1. coarse: S on a grid of ``coarse_step`` (2°) from the zero-padded FFT
   amplitude, sampled bilinearly (all windows of a class share the sample
   positions: one gather);
2. fine: S evaluated *exactly* (a small non-uniform DFT, two matrix
   products per window) at 5 angles around the coarse maximum, then twice at
   3 angles around the parabolic vertex, each time with a parabolic vertex.

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

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .backend import asnumpy, fft_module, get_array_module
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
    "rotation_period",
]

#: File of the shipped references (built by ``aistem.training.rotation_refs``).
DEFAULT_REFERENCES = Path(__file__).resolve().parent / "models" / "rotation_references.json"

_CUBIC = ("BCC", "FCC", "SC", "CUBIC", "DIAMOND")


def rotation_fold(class_name: str) -> int:
    """Rotational symmetry order n of a class's projection (its angles are taken modulo 360°/n).

    4 for cubic [100], 6 for cubic [111] and hexagonal [0001], 2 (the
    centrosymmetry of every power spectrum) for all other zone axes.  The
    class name is ``LATTICE_Element_ZONE`` (e.g. ``"FCC_Cu_100"``, ``"HCP_Ti_0001"``).

    Parameters
    ----------
    class_name : str

    Returns
    -------
    int
    """
    parts = class_name.upper().split("_")
    lattice, zone = parts[0], parts[-1]
    if lattice in _CUBIC and zone == "100":
        return 4
    if lattice in _CUBIC and zone == "111":
        return 6
    if zone == "0001":
        return 6
    return 2


def rotation_period(class_names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Symmetry period of every class [°], ndarray of shape (C,), float32 (90, 60 or 180)."""
    return np.asarray([360.0 / rotation_fold(n) for n in class_names], dtype=np.float32)


def circular_difference(a: Any, b: Any, period: Any) -> Any:
    """Signed difference a − b wrapped into [−period/2, period/2) [°] (NumPy or CuPy, broadcast)."""
    xp = get_array_module(a)
    return xp.mod(xp.asarray(a) - b + 0.5 * period, period) - 0.5 * period


@dataclass
class RotationReferences:
    """Reference Bragg reflections of each class.

    Attributes
    ----------
    class_names : list of str
    fold : ndarray of shape (C,), int64
        Rotational symmetry order of each class's projection.
    peaks : ndarray of shape (C, K, 2), float32
        Reflections (q_row, q_col) [Å⁻¹], one of each Friedel pair, strongest first;
        rows beyond a class's count are zero.
    weights : ndarray of shape (C, K), float32
        Relative Fourier amplitude of each reflection (strongest 1; 0 = padding).
    meta : dict
        Provenance (simulation settings, date, …).
    """

    class_names: list[str]
    fold: np.ndarray
    peaks: np.ndarray
    weights: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fold = np.asarray(self.fold, dtype=np.int64)
        self.peaks = np.asarray(self.peaks, dtype=np.float32)
        self.weights = np.asarray(self.weights, dtype=np.float32)
        c = len(self.class_names)
        if (
            self.fold.shape != (c,)
            or self.peaks.ndim != 3
            or self.peaks.shape[::2] != (c, 2)
            or self.weights.shape != self.peaks.shape[:2]
        ):
            raise ValueError(
                f"inconsistent rotation references: {c} classes, fold {self.fold.shape}, "
                f"peaks {self.peaks.shape}, weights {self.weights.shape}"
            )

    def index(self, class_name: str) -> int | None:
        """Row of a class, or None when it has no reference."""
        try:
            return self.class_names.index(class_name)
        except ValueError:
            return None

    def reference(self, class_name: str) -> tuple[np.ndarray, np.ndarray, int] | None:
        """(peaks (K, 2) [Å⁻¹], weights (K,), fold) of a class without padding, or None."""
        i = self.index(class_name)
        if i is None:
            return None
        keep = self.weights[i] > 0
        return self.peaks[i][keep], self.weights[i][keep], int(self.fold[i])

    def to_dict(self) -> dict[str, Any]:
        classes = {}
        for i, name in enumerate(self.class_names):
            keep = self.weights[i] > 0
            classes[name] = {
                "fold": int(self.fold[i]),
                "peaks": [[round(float(v), 6) for v in p] for p in self.peaks[i][keep]],
                "weights": [round(float(v), 6) for v in self.weights[i][keep]],
            }
        return {
            "format": "aistem-rotation-references",
            "version": 1,
            "units": "1/Angstrom, (row, col)",
            "meta": self.meta,
            "classes": classes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RotationReferences:
        if d.get("format") != "aistem-rotation-references":
            raise ValueError("not an AI-STEM rotation-reference file (format key missing)")
        names = list(d["classes"])
        k = max((len(c["weights"]) for c in d["classes"].values()), default=0)
        peaks = np.zeros((len(names), k, 2), np.float32)
        weights = np.zeros((len(names), k), np.float32)
        fold = np.zeros(len(names), np.int64)
        for i, name in enumerate(names):
            c = d["classes"][name]
            n = len(c["weights"])
            if n:
                peaks[i, :n] = np.asarray(c["peaks"], np.float32).reshape(n, 2)
                weights[i, :n] = np.asarray(c["weights"], np.float32)
            fold[i] = int(c["fold"])
        return cls(names, fold, peaks, weights, dict(d.get("meta", {})))

    def save(self, path: str | Path) -> Path:
        """Write the references as JSON (a few kB)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> RotationReferences:
        """Read references written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"rotation reference file not found: {path}")
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not a rotation-reference file: {exc}") from exc
        return cls.from_dict(d)


@lru_cache(maxsize=1)
def default_references() -> RotationReferences:
    """The shipped references (``aistem_core/models/rotation_references.json``), cached."""
    return RotationReferences.load(DEFAULT_REFERENCES)


def _as_references(references: RotationReferences | str | Path | None) -> RotationReferences:
    if references is None:
        return default_references()
    if isinstance(references, RotationReferences):
        return references
    return RotationReferences.load(references)


# --- the measurement --------------------------------------------------------


@lru_cache(maxsize=16)
def _hann2(h: int, w: int) -> np.ndarray:
    hr = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(h) / h)
    hc = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(w) / w)
    return np.outer(hr, hc).astype(np.float32)


def _tapered(windows: Any, xp: ModuleType) -> Any:
    """Windows minus their taper-weighted mean, times the Hann taper (no DC peak), float32."""
    x = windows.astype(xp.float32, copy=False)
    t = xp.asarray(_hann2(x.shape[1], x.shape[2]))
    m = (x * t).sum(axis=(1, 2), keepdims=True) / t.sum()
    return (x - m) * t


def _rotate(peaks: Any, theta_deg: Any, xp: ModuleType) -> tuple[Any, Any]:
    """Rotated reflections: q_row, q_col of shape (*theta.shape, K) for peaks (K, 2) and angles θ [°]."""
    t = xp.deg2rad(theta_deg)[..., None]
    c, s = xp.cos(t), xp.sin(t)
    qr, qc = peaks[:, 0], peaks[:, 1]
    return qr * c - qc * s, qr * s + qc * c


def _bilinear_rfft(amp: Any, rows: Any, cols: Any, xp: ModuleType) -> Any:
    """Sample a half spectrum ``amp`` (n, P, P//2+1) at fractional bins (rows, cols) of shape (M,) → (n, M).

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
    return (
        flat[:, r0 * wc + c0] * ((1 - fr) * (1 - fc))
        + flat[:, r1 * wc + c0] * (fr * (1 - fc))
        + flat[:, r0 * wc + c1] * ((1 - fr) * fc)
        + flat[:, r1 * wc + c1] * (fr * fc)
    )


def _amplitude_at(xt: Any, qr: Any, qc: Any, xp: ModuleType) -> Any:
    """Exact Fourier amplitude |X(q)| of tapered windows at per-window points.

    Parameters
    ----------
    xt : (n, h, w) float32
    qr, qc : (n, M) float32
        Frequencies [cycles/px] along rows and columns.

    Returns
    -------
    (n, M) float32
    """
    _, h, w = xt.shape
    m = qr.shape[1]
    rr = xp.arange(h, dtype=xp.float32) - xp.float32((h - 1) / 2)
    cc = xp.arange(w, dtype=xp.float32) - xp.float32((w - 1) / 2)
    two_pi = xp.float32(2.0 * math.pi)
    pc = two_pi * qc[:, None, :] * cc[None, :, None]  # (n, w, M)
    y = xt @ xp.concatenate([xp.cos(pc), xp.sin(pc)], axis=2)  # (n, h, 2M)
    yc, ys = y[..., :m], y[..., m:]
    pr = two_pi * qr[:, None, :] * rr[None, :, None]  # (n, h, M)
    cr, sr = xp.cos(pr), xp.sin(pr)
    re = (cr * yc - sr * ys).sum(axis=1)
    im = (sr * yc + cr * ys).sum(axis=1)
    return xp.sqrt(re * re + im * im)


def _vertex(cm: Any, c0: Any, cp: Any, xp: ModuleType) -> Any:
    """Offset of the parabola's vertex through (−1, cm), (0, c0), (1, cp), clipped to [−1, 1]."""
    den = cm - 2 * c0 + cp
    ok = den < 0
    off = xp.where(ok, 0.5 * (cm - cp) / xp.where(ok, den, -1), 0)
    return xp.clip(off, -1, 1)


def measure_rotation(
    windows: Any,
    peaks: Any,
    weights: Any,
    fold: int,
    *,
    pixel_size: float,
    coarse_step: float = 2.0,
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
    coarse_step : float
        Angle step of the coarse search [°].
    pad : int
        Zero-padding factor of the coarse FFT.
    return_score : bool
        Also return the peak contrast max S / mean S of the coarse search (≈1: no lattice seen).

    Returns
    -------
    angles : ndarray of shape (N,), float32
        [°] in [0, 360/fold); NaN for a window without signal or when no reflection is usable.
    score : ndarray of shape (N,), float32
        Only with ``return_score``.
    """
    xp = get_array_module(windows)
    x = xp.asarray(windows)
    if x.ndim != 3:
        raise ValueError(f"windows must have shape (N, h, w), got {tuple(x.shape)}")
    if not (pixel_size and pixel_size > 0):
        raise ValueError(f"pixel size must be a positive number of Å/px, got {pixel_size!r}")
    n, h, w = x.shape
    period = 360.0 / int(fold)
    nan = xp.full(n, xp.nan, dtype=xp.float32)
    g = np.asarray(peaks, np.float64).reshape(-1, 2)
    wk = np.asarray(weights, np.float64).reshape(-1)
    qpx = np.hypot(g[:, 0], g[:, 1]) * pixel_size  # [cycles/px]
    usable = (wk > 0) & (qpx < 0.45) & (qpx * min(h, w) >= 2.5)  # below Nyquist, clear of the DC peak
    if n == 0 or usable.sum() < 2:
        return (nan, nan.copy()) if return_score else nan
    g_px = xp.asarray((g[usable] * pixel_size).astype(np.float32))  # [cycles/px]
    wk_x = xp.asarray((wk[usable] / wk[usable].max()).astype(np.float32))

    xt = _tapered(x, xp)
    # 1. coarse search on the zero-padded FFT amplitude
    size = pad * max(h, w)
    fft = fft_module(xp)
    spec = fft.rfft2(xt, s=(size, size), axes=(1, 2))
    amp = xp.sqrt(spec.real * spec.real + spec.imag * spec.imag).astype(xp.float32)
    nsteps = max(3, math.ceil(period / coarse_step))
    step = period / nsteps
    thetas = xp.arange(nsteps, dtype=xp.float32) * xp.float32(step)
    qr, qc = _rotate(g_px, thetas, xp)  # (J, K) cycles/px
    vals = _bilinear_rfft(amp, (qr * size).ravel(), (qc * size).ravel(), xp).reshape(n, nsteps, -1)
    score_c = vals @ wk_x  # (n, J)
    best = xp.argmax(score_c, axis=1)
    theta = best.astype(xp.float32) * xp.float32(step)
    mean_c = score_c.mean(axis=1)
    contrast = score_c.max(axis=1) / xp.where(mean_c > 0, mean_c, 1)

    def exact(offsets: Any) -> Any:  # S at theta[:, None] + offsets, (n, len(offsets))
        t = theta[:, None] + offsets[None, :]
        r, c = _rotate(g_px, t, xp)  # (n, O, K)
        k = r.shape[-1]
        a = _amplitude_at(xt, r.reshape(n, -1), c.reshape(n, -1), xp).reshape(n, -1, k)
        return a @ wk_x

    # 2. fine: exact amplitudes at 5 angles over ±step, then twice at 3 angles
    offs = xp.asarray(np.linspace(-step, step, 5).astype(np.float32))
    s5 = exact(offs)
    j = xp.clip(xp.argmax(s5, axis=1), 1, 3)
    rows = xp.arange(n)
    half = step / 2
    theta = theta + offs[j] + xp.float32(half) * _vertex(s5[rows, j - 1], s5[rows, j], s5[rows, j + 1], xp)
    for d in (half / 4, half / 16):
        s3 = exact(xp.asarray(np.array([-d, 0.0, d], np.float32)))
        theta = theta + xp.float32(d) * _vertex(s3[:, 0], s3[:, 1], s3[:, 2], xp)
    angles = xp.mod(theta, xp.float32(period)).astype(xp.float32)
    angles = xp.where(angles >= period, xp.float32(0), angles)  # float32 rounding of mod
    signal = (xt * xt).sum(axis=(1, 2)) > 0
    angles = xp.where(signal, angles, nan)
    if return_score:
        return angles, xp.where(signal, contrast, nan).astype(xp.float32)
    return angles


def lattice_rotation(
    windows: Any,
    classes: Any,
    interface: Any,
    class_names: list[str] | tuple[str, ...],
    *,
    pixel_size: float,
    references: RotationReferences | str | Path | None = None,
    chunk: int = 256,
) -> Any:
    """Lattice rotation of every bulk window relative to its predicted class's reference.

    Parameters
    ----------
    windows : ndarray of shape (N, h, w)
        Raw image windows (the same windows that were classified), NumPy or CuPy.
    classes : ndarray of shape (N,), int
        Predicted class index of each window (into ``class_names``).
    interface : ndarray of shape (N,), bool
        True for interface windows (MI above threshold): they get NaN and cost nothing.
    class_names : list of str
        The model's class index → name.
    pixel_size : float
        [Å/px].
    references : RotationReferences, path or None
        Reference reflections; None: the shipped ``rotation_references.json``.
    chunk : int
        Windows per batch (bounds the memory: ~0.3 MB per window).

    Returns
    -------
    ndarray of shape (N,), float32
        Rotation [°] in [0, 360/n) for the class's symmetry order n
        (:func:`rotation_fold`); NaN in interface windows and for classes without a reference.
        Same array module as ``windows``.
    """
    xp = get_array_module(windows)
    x = xp.asarray(windows)
    if x.ndim != 3:
        raise ValueError(f"windows must have shape (N, h, w), got {tuple(x.shape)}")
    n = x.shape[0]
    cls = asnumpy(classes).reshape(-1).astype(np.int64)
    itf = asnumpy(interface).reshape(-1).astype(bool)
    if cls.shape[0] != n or itf.shape[0] != n:
        raise ValueError(f"classes ({cls.shape[0]}) and interface ({itf.shape[0]}) must have one entry per window ({n})")
    refs = _as_references(references)
    out = xp.full(n, xp.nan, dtype=xp.float32)
    for c in np.unique(cls[~itf]):
        if not 0 <= c < len(class_names):
            raise ValueError(f"class index {c} is outside the {len(class_names)} class names")
        ref = refs.reference(class_names[c])
        if ref is None:
            continue
        peaks, weights, fold = ref
        idx = np.flatnonzero((cls == c) & ~itf)
        for s in range(0, idx.size, chunk):
            sel = idx[s : s + chunk]
            sel_x = xp.asarray(sel)
            out[sel_x] = measure_rotation(x[sel_x], peaks, weights, fold, pixel_size=pixel_size)
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
    chunk: int = 256,
) -> np.ndarray:
    """Lattice-rotation map of an analysed image: :func:`lattice_rotation` over its window grid.

    Windows are cut from the image block by block (``chunk`` grid windows at a
    time); only bulk windows are measured.

    Parameters
    ----------
    image : ndarray of shape (rows, cols)
        The analysed image, NumPy or CuPy.
    grid : WindowGrid
        Its window grid.
    classes : ndarray of shape grid.shape, int
        Class map.
    interface : ndarray of shape grid.shape, bool
        Interface map.
    class_names : list of str
    pixel_size : float
        [Å/px].
    references : RotationReferences, path or None
    chunk : int

    Returns
    -------
    ndarray of shape grid.shape, float32 (NumPy)
        Rotation [°]; NaN at interface windows.
    """
    cls = asnumpy(classes).reshape(-1)
    itf = asnumpy(interface).reshape(-1).astype(bool)
    if cls.size != grid.size or itf.size != grid.size:
        raise ValueError(f"class and interface maps must have the grid's {grid.shape} entries")
    refs = _as_references(references)
    out = np.full(grid.size, np.nan, np.float32)
    for start in range(0, grid.size, chunk):
        stop = min(grid.size, start + chunk)
        if itf[start:stop].all():
            continue
        block = extract_windows(image, grid, start, stop)
        out[start:stop] = asnumpy(
            lattice_rotation(
                block, cls[start:stop], itf[start:stop], class_names, pixel_size=pixel_size, references=refs, chunk=chunk
            )
        )
    return out.reshape(grid.shape)
