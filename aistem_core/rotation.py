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

import json
import math
from collections.abc import Callable
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
    "rotation_fraction",
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


def rotation_fraction(angles: Any, classes: Any, class_names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Angles as a fraction of their class's symmetry period, in [0, 1): one cyclic colour scale for mixed classes.

    Parameters
    ----------
    angles : ndarray, any shape
        Rotations [°] (NaN kept).
    classes : ndarray, same shape, int
        Class index of each angle.
    class_names : list of str

    Returns
    -------
    ndarray, same shape, float32
    """
    a = np.asarray(asnumpy(angles), np.float32)
    period = rotation_period(class_names)[np.asarray(asnumpy(classes), np.int64)]
    return (np.mod(a, period) / period).astype(np.float32)


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
    """Rotated reflections of every window: peaks (n, K, 2), angles θ (n, A) [°] → q_row, q_col (n, A, K)."""
    t = xp.deg2rad(theta_deg)[..., None]
    c, s = xp.cos(t), xp.sin(t)
    qr, qc = peaks[:, None, :, 0], peaks[:, None, :, 1]
    return qr * c - qc * s, qr * s + qc * c


def _bilinear_rfft(amp: Any, rows: Any, cols: Any, xp: ModuleType) -> Any:
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


def _amplitude_at(xt: Any, qr: Any, qc: Any, xp: ModuleType) -> Any:
    """Exact Fourier amplitude |X(q)| of tapered windows at per-window points (a non-uniform DFT).

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


#: Oversampling of the row spectra used for the fine stage.
ROW_OVERSAMPLING = 8


def _row_spectra(xt: Any, xp: ModuleType) -> tuple[Any, Any, Any]:
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


def _amplitude_from_rows(re_t: Any, im_t: Any, nfft: int, qr: Any, qc: Any, xp: ModuleType) -> Any:
    """Fourier amplitude |X(q)| at per-window points, from the oversampled row spectra.

    The row spectra are interpolated to q_c with 6-tap Lagrange (quintic)
    weights (relative error ~1e-5 at 8× oversampling), then summed over the
    rows with exp(−2πi q_r r): a non-uniform DFT with no matrix products (no
    BLAS threads; gathers of contiguous rows and elementwise work only).

    Parameters
    ----------
    re_t, im_t : (n, L, h) float32
        :func:`_row_spectra`'s transposed parts.
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


def _vertex(cm: Any, c0: Any, cp: Any, xp: ModuleType) -> Any:
    """Offset of the parabola's vertex through (−1, cm), (0, c0), (1, cp), clipped to [−1, 1]."""
    den = cm - 2 * c0 + cp
    ok = den < 0
    off = xp.where(ok, 0.5 * (cm - cp) / xp.where(ok, den, -1), 0)
    return xp.clip(off, -1, 1)


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
    rspec, re_t, im_t = _row_spectra(xt, xp)
    if w == size // pad and ROW_OVERSAMPLING % pad == 0:  # the padded 2-D spectrum from the row spectra
        spec = fft.fft(rspec[:, :, :: ROW_OVERSAMPLING // pad], n=size, axis=1)
    else:
        spec = fft.rfft2(xt, s=(size, size), axes=(1, 2))
    amp = xp.abs(spec).astype(xp.float32)
    step = period / xp.float32(COARSE_STEPS)  # (n,)
    thetas = xp.arange(COARSE_STEPS, dtype=xp.float32)[None, :] * step[:, None]  # (n, J)
    qr, qc = _rotate(g, thetas, xp)  # (n, J, K)
    k = g.shape[1]
    vals = _bilinear_rfft(amp, (qr * size).reshape(n, -1), (qc * size).reshape(n, -1), xp).reshape(n, COARSE_STEPS, k)
    score = (vals * wk[:, None, :]).sum(axis=2)  # (n, J)
    best = xp.argmax(score, axis=1)
    theta = best.astype(xp.float32) * step
    mean = score.mean(axis=1)
    contrast = score.max(axis=1) / xp.where(mean > 0, mean, 1)

    def exact(offsets: Any, sel: Any = None) -> Any:  # S at theta + offsets (n, O) → (n, O), or for windows ``sel`` only
        gs, ws, th = (g, wk, theta) if sel is None else (g[sel], wk[sel], theta[sel])
        r, c = _rotate(gs, th[:, None] + offsets, xp)  # (n', O, K)
        m = r.shape[0]
        rt, it = (re_t, im_t) if sel is None else (re_t[sel], im_t[sel])
        a = _amplitude_from_rows(rt, it, ROW_OVERSAMPLING * w, r.reshape(m, -1), c.reshape(m, -1), xp).reshape(m, -1, k)
        return (a * ws[:, None, :]).sum(axis=2)

    def parabola_step(offs: Any, sel: Any = None) -> Any:  # 5 scores 1° apart → the vertex move, and whether it hit an edge
        s5 = exact(offs, sel)
        best = xp.argmax(s5, axis=1)
        j = xp.clip(best, 1, 3)
        rows = xp.arange(s5.shape[0])
        move = offs[rows, j] + xp.float32(FINE_SPAN / 2) * _vertex(s5[rows, j - 1], s5[rows, j], s5[rows, j + 1], xp)
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
        theta = theta + xp.float32(d) * _vertex(s3[:, 0], s3[:, 1], s3[:, 2], xp)
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
    xp = get_array_module(windows)
    x = xp.asarray(windows)
    if x.ndim != 3:
        raise ValueError(f"windows must have shape (N, h, w), got {tuple(x.shape)}")
    if not (pixel_size and pixel_size > 0):
        raise ValueError(f"pixel size must be a positive number of Å/px, got {pixel_size!r}")
    n, h, w = x.shape
    g = np.asarray(peaks, np.float64).reshape(-1, 2)
    wk = _usable_weights(g, np.asarray(weights, np.float64).reshape(-1), pixel_size, h, w)
    nan = xp.full(n, xp.nan, dtype=xp.float32)
    if n == 0 or (wk > 0).sum() < 2:
        return (nan, nan.copy()) if return_score else nan
    xt = _tapered(x, xp)
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
    xp = get_array_module(windows)
    x = xp.asarray(windows)
    if x.ndim != 3:
        raise ValueError(f"windows must have shape (N, h, w), got {tuple(x.shape)}")
    if not (pixel_size and pixel_size > 0):
        raise ValueError(f"pixel size must be a positive number of Å/px, got {pixel_size!r}")
    n, h, w = x.shape
    cls = asnumpy(classes).reshape(-1).astype(np.int64)
    itf = np.zeros(n, bool) if interface is None else asnumpy(interface).reshape(-1).astype(bool)
    if cls.shape[0] != n or itf.shape[0] != n:
        raise ValueError(f"classes ({cls.shape[0]}) and interface ({itf.shape[0]}) must have one entry per window ({n})")
    bad = cls[~itf][(cls[~itf] < 0) | (cls[~itf] >= len(class_names))]
    if bad.size:
        raise ValueError(f"class index {int(bad[0])} is outside the {len(class_names)} class names")
    refs = _as_references(references)
    chunk = _default_chunk(xp) if chunk is None else int(chunk)
    # per-class tables in the model's class order: reflections [cycles/px], usable weights, period [°]
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
    out = xp.full(n, xp.nan, dtype=xp.float32)
    idx = np.flatnonzero(~itf & known[np.clip(cls, 0, c - 1)])
    if idx.size == 0:
        return out
    g_x, w_x, p_x = xp.asarray(g_tab), xp.asarray(w_tab), xp.asarray(p_tab)
    for s in range(0, idx.size, chunk):
        sel = xp.asarray(idx[s : s + chunk])
        cs = xp.asarray(cls[idx[s : s + chunk]])
        xt = _tapered(x[sel], xp)
        angles, _ = _measure(xt, g_x[cs], w_x[cs], p_x[cs], xp)
        signal = (xt * xt).sum(axis=(1, 2)) > 0
        out[sel] = xp.where(signal, angles, xp.float32(xp.nan))
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
    refs = _as_references(references)
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
