"""Domain check: is a window a lattice the model knows, independently of the network?

A window is **unknown** when (reason codes of :class:`DomainCheck`):

1. ``NO_LATTICE`` — its power spectrum has no Bragg peak above the noise (vacuum with detector noise, amorphous
   material, a blank or saturated patch), or only one fringe direction (no 2-D lattice);
2. ``MISMATCH`` — its Bragg peaks do not fit the predicted class's reference pattern (spacings and angles), nor
   that pattern plus a second lattice of any class in its range (a window across a grain boundary stays known);
3. ``OUT_OF_RANGE`` — they fit, but the lattice constant they imply lies outside the range the model was trained
   for (the model's ``training_domain`` metadata, else the paper's recipe: the class's own constant ± 0.1 Å).

Method (the thresholds and their measurements: ``docs/domain-check.md``)
------------------------------------------------------------------------
* Spectrum: ``P = |FFT(t·(x − m))|²`` of the Hann-tapered window (no padding).
* Background: per ring of radius k bins, the lower quartile of ``P`` over the bins within 1.5 bins of k, divided
  by −ln 0.75 (the quartile of an exponential): the mean of ``P`` if the ring held only noise or an amorphous
  speckle pattern (both are Gaussian random fields, whose spectral bins are exponentially distributed), and a robust
  estimate when a few Bragg peaks sit in the ring.
* Significance ``s = P / background``; Bragg peaks are the local maxima with ``s ≥ peak_significance`` in
  ``q_min ≤ |q| ≤ q_max``; their positions are refined to sub-bin accuracy by a parabola through log P.
* A lattice is present if the largest ``s ≥ lattice_significance`` and a second peak exists that is not parallel to
  the strongest.
* Fit: every pair of reference reflections (g_i, ±g_j) of the predicted class (:mod:`aistem.core.rotation`'s
  references, the strongest ``HYPOTHESIS_REFLECTIONS``) mapped onto the two anchor peaks defines a 2×2 linear map M
  (rotation, scale, and the training's shear); maps that are not a similarity within ``shear_tolerance`` (for hcp
  non-basal zones: independent scales along a* and c*) are rejected.  The map that explains most detected peaks
  (within ``match_tolerance`` bins of a predicted reflection M·g_k) wins and is refined by least squares over its
  matched peaks.  The window fits when at least ``min_explained`` of its peaks are explained.
* Lattice constants: ``a = a₀ / |M e_a|`` (and ``c = c₀ / |M e_c|``) with a₀, c₀ the constants of the references.

All windows of a block (``DOMAIN_BLOCK``, blocks on threads) are processed together (no loop over windows; the
second-lattice stage loops over the ten classes for the few windows that need it); float32; NumPy or CuPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .backend import asnumpy
from .blockwise import map_blocks
from .domain_tables import REFERENCE_LATTICE, TrainingDomain, cached_tables
from .rotation_references import RotationReferences, as_references
from .spectrum import parabola_vertex, power_spectra, window_batch
from .windows import WindowGrid, extract_windows

__all__ = [
    "KNOWN",
    "MISMATCH",
    "NO_LATTICE",
    "OUT_OF_RANGE",
    "REASONS",
    "REFERENCE_LATTICE",
    "DomainCheck",
    "DomainSettings",
    "TrainingDomain",
    "domain_check",
    "domain_check_map",
    "model_domain_map",
    "unknown_from_reason",
]

KNOWN, NO_LATTICE, MISMATCH, OUT_OF_RANGE = 0, 1, 2, 3


def unknown_from_reason(reason: Any, mutual_information: Any, threshold: float) -> np.ndarray:
    """The ``unknown`` map from the check's reasons and the network's MI: the check failed where the network is sure.

    The check guards the *confident* answers. A window the network is uncertain about (MI > ``threshold``) is an
    interface window as in the paper, whatever the check says: a window across a grain boundary holds two lattices,
    each with half the area, so its peaks may fall below the lattice threshold or fit neither reference alone, and
    an amorphous patch is flagged by its MI as the paper does. A window the network is sure about (MI ≤ threshold)
    whose image has no lattice, does not fit the predicted class, or implies a lattice constant outside the trained
    range is unknown: that is the confidently wrong answer the check exists to stop.

    Parameters
    ----------
    reason : ndarray of int, any shape
        ``KNOWN``, ``NO_LATTICE``, ``MISMATCH`` or ``OUT_OF_RANGE`` per window.
    mutual_information : ndarray of float, the same shape
        [bit].
    threshold : float
        Interface threshold [bit].
    """
    reason = np.asarray(reason)
    mi = np.asarray(mutual_information)
    return (reason != KNOWN) & ~(mi > threshold)


#: Reason code → words.
REASONS = {
    KNOWN: "known",
    NO_LATTICE: "no lattice",
    MISMATCH: "pattern does not fit the class",
    OUT_OF_RANGE: "lattice constant out of range",
}

#: Detected peaks kept per window (strongest first).
MAX_PEAKS = 8


@dataclass(frozen=True)
class DomainSettings:
    """Thresholds of the domain check (measured: ``docs/domain-check.md``; ``[domain]`` of ``config/default.toml``,
    read by ``aistem analyze``; the daemon uses these defaults).

    Attributes
    ----------
    lattice_significance : float
        Smallest peak significance (power / background) that counts as a lattice.
    peak_significance : float
        Smallest significance of a local maximum counted as a Bragg peak (to be explained by the fit).
    peak_relative : float
        Smallest power of a counted peak relative to the strongest (weaker ones: taper side lobes, reflections too
        weak to be in the reference list).
    q_min, q_max : float
        Spatial-frequency range searched [Å⁻¹] (q_min is raised to 2.5 Fourier bins, q_max lowered to 0.45 px⁻¹).
    match_tolerance : float
        Largest distance between a peak and a predicted reflection [Fourier bins] for it to be explained.
    min_explained : float
        Smallest fraction of a window's peaks its class's pattern must explain.
    shear_tolerance : float
        Largest departure of the fitted map from a similarity: |σ₁/σ₂ − 1| and |cos(angle(M e₁, M e₂))|.
    range_tolerance : float
        Relative margin on the trained lattice-constant range (measurement error).
    ratio_tolerance : float
        Relative margin on the trained c/a range of hcp [10-10] and [2-1-10] (measurement error and the training's
        ±0.05 shear).
    """

    lattice_significance: float = 25.0
    peak_significance: float = 20.0
    peak_relative: float = 0.005
    q_min: float = 0.25
    q_max: float = 1.3
    match_tolerance: float = 0.75
    min_explained: float = 0.6
    shear_tolerance: float = 0.12
    range_tolerance: float = 0.01
    ratio_tolerance: float = 0.02

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> DomainSettings:
        """Settings from a config table; unknown keys are an error."""
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        bad = sorted(set(d) - names - {"enabled"})
        if bad:
            raise ValueError(f"unknown domain setting(s) {', '.join(bad)}; known: {', '.join(sorted(names))}")
        return cls(**{k: float(v) for k, v in d.items() if k in names})


@dataclass
class DomainCheck:
    """Result of the domain check, one entry per window (shape (N,) or the grid's (rows, cols)).

    Attributes
    ----------
    unknown : ndarray, bool
    reason : ndarray, uint8
        ``KNOWN``, ``NO_LATTICE``, ``MISMATCH`` or ``OUT_OF_RANGE``.
    significance : ndarray, float32
        Largest peak significance (power / background).
    explained : ndarray, float32
        Fraction of the peaks the class's pattern explains (NaN without a lattice).
    lattice_a, lattice_c : ndarray, float32
        Lattice constants implied by the fit [Å] (NaN where not measured; c for hcp non-basal zones only).
    """

    unknown: np.ndarray
    reason: np.ndarray
    significance: np.ndarray
    explained: np.ndarray
    lattice_a: np.ndarray
    lattice_c: np.ndarray

    def reshape(self, shape: tuple[int, ...]) -> DomainCheck:
        return DomainCheck(*(getattr(self, f.name).reshape(shape) for f in fields(self)))


# --- geometry of the spectrum (cached per window size) ----------------------------------------------------------------


@dataclass(frozen=True)
class _Geometry:
    cand: np.ndarray  # (M,) flat indices of the candidate bins (half-plane, q range widened by 1.5 bins)
    inner: np.ndarray  # (M,) bool: candidate inside the q range proper (peaks are taken there only)
    ring: np.ndarray  # (M,) ring index of each candidate
    band: np.ndarray  # (R, L) flat indices of each ring's background band, −1 padded
    quart: np.ndarray  # (R,) index of the lower quartile in the sorted band
    scale: float  # bins per Å⁻¹ (h · pixel size)


@lru_cache(maxsize=8)
def _geometry(h: int, w: int, pixel_size: float, q_min: float, q_max: float) -> _Geometry:
    wc = w // 2 + 1
    fr = np.fft.fftfreq(h) * h  # row bins (signed)
    fc = np.arange(wc, dtype=np.float64) * h / w  # col bins on the row scale
    rho = np.hypot(fr[:, None], fc[None, :])
    half = (fc[None, :] > 0) | (fr[:, None] > 0)
    scale = h * pixel_size
    lo = max(q_min * scale, 2.5)
    hi = min(q_max * scale, 0.45 * h)
    lo_x, hi_x = max(lo - 1.5, 1.5), min(hi + 1.5, 0.5 * h - 1)  # margins: a peak needs its neighbours
    cand = np.flatnonzero((half & (rho >= lo_x) & (rho <= hi_x)).ravel())
    inner = (rho.ravel()[cand] >= lo) & (rho.ravel()[cand] <= hi)
    k0, k1 = math.floor(lo_x), math.ceil(hi_x)
    ring = np.rint(rho.ravel()[cand]).astype(np.int64) - k0
    bands = []
    for k in range(k0, k1 + 1):
        bands.append(np.flatnonzero((half & (rho >= 1.5) & (np.abs(rho - k) <= 1.5)).ravel()))
    bands = bands or [np.zeros(0, np.int64)]  # windows too small for the q range: no candidate, no lattice
    length = max(1, *(len(b) for b in bands))
    band = np.full((len(bands), length), -1, np.int64)
    for i, b in enumerate(bands):
        band[i, : len(b)] = b
    quart = np.asarray([len(b) // 4 for b in bands], np.int64)
    return _Geometry(cand, inner, ring, band, quart, float(scale))


def _significance(power: Any, geo: _Geometry, xp: ModuleType) -> Any:
    """Power / ring background at every candidate bin, (n, M)."""
    n = power.shape[0]
    flat = power.reshape(n, -1)
    band = xp.asarray(geo.band)
    vals = xp.where(band[None] >= 0, flat[:, xp.maximum(band, 0)], xp.float32(np.inf))  # (n, R, L)
    vals = xp.sort(vals, axis=2)
    q25 = xp.take_along_axis(vals, xp.asarray(geo.quart)[None, :, None] * xp.ones((n, 1, 1), xp.int64), axis=2)[..., 0]
    bg = xp.maximum(q25 / xp.float32(-math.log(0.75)), xp.float32(1e-30))
    return flat[:, xp.asarray(geo.cand)] / bg[:, xp.asarray(geo.ring)]


def _peaks(power: Any, sig: Any, geo: _Geometry, settings: DomainSettings, xp: ModuleType) -> tuple[Any, Any]:
    """The strongest local maxima: positions (n, D, 2) [bins, (row, col)] refined to sub-bin, and significance (n, D).

    Entries beyond a window's peaks have significance 0.
    """
    n, h, wc = power.shape
    smap = xp.zeros((n, h * wc), xp.float32)
    smap[:, xp.asarray(geo.cand)] = sig
    smap = smap.reshape(n, h, wc)
    # local maxima of the power itself (the ring background steps from ring to ring); column −1 is column 1 of the
    # Friedel mates (row −r), so a peak on the column-0 axis is compared with its true neighbours
    mate = power[:, (-xp.arange(h)) % h, 1:2] if wc > 1 else xp.zeros((n, h, 1), xp.float32)
    ext = xp.concatenate([mate, power, xp.zeros((n, h, 1), xp.float32)], axis=2)
    inner = xp.zeros(h * wc, bool)
    inner[xp.asarray(geo.cand[geo.inner])] = True
    pmax = xp.where(inner[None], power.reshape(n, -1), 0).max(axis=1)
    peak = (smap >= xp.float32(settings.peak_significance)) & inner.reshape(1, h, wc)
    peak &= power >= xp.float32(settings.peak_relative) * pmax[:, None, None]
    for dr in (-1, 0, 1):
        rolled = xp.roll(ext, dr, axis=1)
        for dc in (-1, 0, 1):
            if dr or dc:
                peak &= power >= rolled[:, :, 1 + dc : 1 + dc + wc]
    score = xp.where(peak, smap, xp.float32(0)).reshape(n, -1)
    d = min(MAX_PEAKS, score.shape[1])
    top = xp.argsort(-score, axis=1)[:, :d]
    s = xp.take_along_axis(score, top, axis=1)
    r, c = top // wc, top % wc
    logp = xp.log(xp.maximum(power, xp.float32(1e-30)))
    win = xp.arange(n)[:, None]

    def at(rr: Any, cc: Any) -> Any:  # log P at (row, col) with col −1 read at its Friedel mate
        neg = cc < 0
        return logp[win, xp.where(neg, -rr, rr) % h, xp.minimum(xp.abs(cc), wc - 1)]

    l0 = at(r, c)
    dr = parabola_vertex(at(r - 1, c), l0, at(r + 1, c), xp, 0.5)
    dc = parabola_vertex(at(r, c - 1), l0, at(r, c + 1), xp, 0.5)
    rs = xp.where(r > h // 2, r - h, r).astype(xp.float32) + dr
    cs = c.astype(xp.float32) * xp.float32(h / (2 * (wc - 1))) + dc
    return xp.stack([rs, cs], axis=2), s


# --- the check --------------------------------------------------------------------------------------------------------


def _anchors(p: Any, s: Any, xp: ModuleType) -> tuple[Any, Any]:
    """The two anchor peaks as the columns of (n, 2, 2), and whether a non-parallel second peak exists (n,)."""
    p1 = p[:, 0]
    cross = xp.abs(p1[:, None, 0] * p[:, :, 1] - p1[:, None, 1] * p[:, :, 0])
    norm = xp.hypot(p1[:, 0], p1[:, 1])[:, None] * xp.hypot(p[:, :, 0], p[:, :, 1])
    ok = (s > 0) & (cross >= 0.25 * norm)
    ok[:, 0] = False
    j = xp.argmax(ok, axis=1)
    p2 = xp.take_along_axis(p, j[:, None, None] * xp.ones((1, 1, 2), xp.int64), axis=1)[:, 0]
    return xp.stack([p1, p2], axis=2), ok.any(axis=1)


def _scales(m: Any, axes: Any, xp: ModuleType) -> tuple[Any, Any, Any]:
    """|M e1|, |M e2| and |cos| of the angle between M e1 and M e2, for maps m (..., 2, 2) and axes (..., 2, 2)."""
    u = m @ axes
    s1 = xp.hypot(u[..., 0, 0], u[..., 1, 0])
    s2 = xp.hypot(u[..., 0, 1], u[..., 1, 1])
    cos = xp.abs(u[..., 0, 0] * u[..., 0, 1] + u[..., 1, 0] * u[..., 1, 1]) / xp.maximum(s1 * s2, xp.float32(1e-12))
    return s1, s2, cos


def _fit(
    p: Any, s: Any, anchors: Any, cls: Any, tab: dict[str, Any], settings: DomainSettings, xp: ModuleType
) -> tuple[Any, ...]:
    """Best map per window (all with a 2-D lattice) → fits (n,), explained fraction (n,), a (n,), c (n,), matched (n, D)."""
    n = p.shape[0]
    m = anchors[:, None] @ tab["hyp_inv"][cls]  # (n, H, 2, 2)
    axes = tab["axes"][cls][:, None]
    s1, s2, cos = _scales(m, axes, xp)
    tol = xp.float32(settings.shear_tolerance)
    iso = tab["iso"][cls][:, None]
    shape_ok = (cos <= tol) & (~iso | (xp.abs(s1 / xp.maximum(s2, xp.float32(1e-12)) - 1) <= tol))
    valid = tab["hyp_ok"][cls] & shape_ok
    g = tab["g"][cls]  # (n, K2, 2)
    gr, gc = g[:, None, :, 0], g[:, None, :, 1]  # (n, 1, K2)
    pr = m[..., 0, 0, None] * gr + m[..., 0, 1, None] * gc  # predicted reflections (n, H, K2)
    pc = m[..., 1, 0, None] * gr + m[..., 1, 1, None] * gc
    dr = p[:, None, :, None, 0] - pr[:, :, None, :]  # (n, H, D, K2)
    dc = p[:, None, :, None, 1] - pc[:, :, None, :]
    dist = dr * dr + dc * dc
    dist = xp.where(tab["g_ok"][cls][:, None, None, :], dist, xp.float32(np.inf))
    k_best = xp.argmin(dist, axis=3)  # (n, H, D)
    d_best = xp.sqrt(xp.take_along_axis(dist, k_best[..., None], axis=3)[..., 0])
    has = s > 0
    matched = (d_best <= xp.float32(settings.match_tolerance)) & has[:, None, :]
    count = matched.sum(axis=2).astype(xp.float32)
    res = xp.where(matched, d_best, 0).sum(axis=2) / xp.maximum(count, 1)
    # ties (a square or hexagonal pattern matched at √2 or √3 its scale explains the same peaks): the smaller rescaling
    tiny = xp.float32(1e-12)
    far = (xp.abs(xp.log(xp.maximum(s1, tiny))) + xp.abs(xp.log(xp.maximum(s2, tiny)))) / xp.float32(2 * math.log(2.0))
    far = xp.minimum(far, 1)
    score = xp.where(valid, count - 0.5 * res / xp.float32(settings.match_tolerance + 1e-6) - 0.49 * far, xp.float32(-1))
    h = xp.argmax(score, axis=1)
    rows = xp.arange(n)
    fits_any = valid[rows, h]
    mk = matched[rows, h]  # (n, D)
    gk = xp.take_along_axis(g, k_best[rows, h][:, :, None] * xp.ones((1, 1, 2), xp.int64), axis=1)  # (n, D, 2)
    wgt = mk.astype(xp.float32)[:, :, None, None]
    a_pg = (wgt * p[:, :, :, None] * gk[:, :, None, :]).sum(axis=1)  # Σ p gᵀ (n, 2, 2)
    b_gg = (wgt * gk[:, :, :, None] * gk[:, :, None, :]).sum(axis=1)  # Σ g gᵀ
    det = b_gg[:, 0, 0] * b_gg[:, 1, 1] - b_gg[:, 0, 1] * b_gg[:, 1, 0]
    good = xp.abs(det) > xp.float32(1e-3) * xp.maximum(b_gg[:, 0, 0] * b_gg[:, 1, 1], xp.float32(1e-12))
    b_safe = xp.where(good[:, None, None], b_gg, xp.eye(2, dtype=xp.float32)[None])
    m_ls = xp.where(good[:, None, None], a_pg @ xp.linalg.inv(b_safe), m[rows, h])
    f1, f2, _ = _scales(m_ls, tab["axes"][cls], xp)
    npk = xp.maximum(has.sum(axis=1), 1).astype(xp.float32)
    explained = xp.where(fits_any, mk.sum(axis=1) / npk, xp.float32(0))
    x0 = tab["x0"][cls]
    iso_n = tab["iso"][cls]
    a = xp.where(iso_n, x0[:, 0] / xp.sqrt(xp.maximum(f1 * f2, 1e-12)), x0[:, 0] / xp.maximum(f1, 1e-6))
    c = xp.where(iso_n, xp.float32(np.nan), x0[:, 1] / xp.maximum(f2, 1e-6))
    return fits_any, explained, a.astype(xp.float32), c.astype(xp.float32), mk & fits_any[:, None]


def _best_fit(p: Any, s: Any, cls: Any, tab: dict[str, Any], st: DomainSettings, xp: ModuleType) -> tuple[Any, ...]:
    """:func:`_fit` with two anchor choices — the two strongest peaks, the two of lowest |q| — the better one kept."""
    order = xp.argsort(-s, axis=1)
    p, s = xp.take_along_axis(p, order[..., None] * xp.ones((1, 1, 2), xp.int64), axis=1), xp.take_along_axis(s, order, axis=1)
    strong, _ = _anchors(p, s, xp)
    order = xp.argsort(xp.where(s > 0, xp.hypot(p[..., 0], p[..., 1]), xp.float32(np.inf)), axis=1)
    low, _ = _anchors(xp.take_along_axis(p, order[..., None] * xp.ones((1, 1, 2), xp.int64), axis=1),
                      xp.take_along_axis(s, order, axis=1), xp)  # fmt: skip
    one = _fit(p, s, strong, cls, tab, st, xp)
    two = _fit(p, s, low, cls, tab, st, xp)
    pick = (two[0] & ~one[0]) | (two[0] & (two[1] > one[1]))
    out = [xp.where(pick, v2, v1) for v1, v2 in zip(one[:4], two[:4], strict=True)]
    return (*out, xp.where(pick[:, None], two[4], one[4]), p, s)


def _in_range(a: Any, c: Any, cls: Any, tab: dict[str, Any], st: DomainSettings, xp: ModuleType) -> Any:
    """Whether the lattice constants a, c [Å] (c NaN: not measured) lie in the class's trained range (with margins)."""
    lo, hi = tab["lo"][cls], tab["hi"][cls]
    tol = xp.float32(st.range_tolerance)
    ok = (a >= lo[:, 0] * (1 - tol)) & (a <= hi[:, 0] * (1 + tol))
    in_c = (c >= lo[:, 1] * (1 - tol)) & (c <= hi[:, 1] * (1 + tol))
    ratio, rt = tab["ratio"][cls], xp.float32(st.ratio_tolerance)
    in_c &= (c / a >= ratio[:, 0] * (1 - rt)) & (c / a <= ratio[:, 1] * (1 + rt))
    return ok & (xp.isnan(c) | in_c)


def _second_lattice(p: Any, s: Any, matched: Any, tab: dict[str, Any], st: DomainSettings, xp: ModuleType) -> Any:
    """Share of all peaks explained by the first fit's ``matched`` peaks plus the best second lattice of any class in
    its range fitted to the rest (a window across a grain boundary), (n,)."""
    rest = xp.where(matched, xp.float32(0), s)
    npk = xp.maximum((s > 0).sum(axis=1), 1).astype(xp.float32)
    best = matched.sum(axis=1).astype(xp.float32) / npk
    first = best.copy()
    for k in range(int(tab["usable"].shape[0])):
        if not bool(tab["usable"][k]):
            continue
        cls = xp.full(p.shape[0], k, xp.int64)
        fits, _, a, c, mk2, _, _ = _best_fit(p, rest, cls, tab, st, xp)
        total = first + mk2.sum(axis=1).astype(xp.float32) / npk
        best = xp.where(fits & _in_range(a, c, cls, tab, st, xp), xp.maximum(best, total), best)
    return best


def _judge(p: Any, s: Any, cls: Any, sel: Any, tab: dict[str, Any], st: DomainSettings, xp: ModuleType) -> tuple[Any, ...]:
    """Fit the windows ``sel`` (with a lattice and a usable class) to their class: per window of the batch (n,),
    whether a pair fits, the fraction of peak significance explained, lattice constants a, c [Å] and whether they
    are in the trained range (NaN/False outside ``sel``)."""
    n = p.shape[0]
    nan = xp.float32(np.nan)
    fits, explained = xp.zeros(n, bool), xp.full(n, nan, xp.float32)
    a, c = xp.full(n, nan, xp.float32), xp.full(n, nan, xp.float32)
    in_range = xp.zeros(n, bool)
    if int(sel.size):
        fits[sel], explained[sel], a[sel], c[sel], matched, ps, ss = _best_fit(p[sel], s[sel], cls[sel], tab, st, xp)
        in_range[sel] = _in_range(a[sel], c[sel], cls[sel], tab, st, xp)
        # a window across a grain boundary: the class explains part of its peaks, a second lattice the rest
        part = xp.flatnonzero(fits[sel] & in_range[sel] & (explained[sel] < xp.float32(st.min_explained)))
        if int(part.size):
            explained[sel[part]] = _second_lattice(ps[part], ss[part], matched[part], tab, st, xp)
    return fits, explained, a, c, in_range


def domain_check(
    windows: Any,
    classes: Any,
    class_names: list[str] | tuple[str, ...],
    *,
    pixel_size: float,
    domain: TrainingDomain | None = None,
    references: RotationReferences | str | Path | None = None,
    settings: DomainSettings | None = None,
) -> DomainCheck:
    """Domain check of a batch of windows against their predicted classes.

    Parameters
    ----------
    windows : ndarray of shape (N, h, w)
        Raw image windows (any real dtype), NumPy or CuPy.
    classes : ndarray of shape (N,), int
        Predicted class of each window (index into ``class_names``).
    class_names : list of str
    pixel_size : float
        [Å/px].
    domain : TrainingDomain, optional
        Trained lattice-constant ranges (default: the paper's recipe).
    references : RotationReferences, path or None
        Reference reflections (default: the shipped ones).
    settings : DomainSettings, optional

    Returns
    -------
    DomainCheck
        Arrays of shape (N,), NumPy.  Classes without a reference or range are judged on "no lattice" only.
    """
    xp, x = window_batch(windows, pixel_size)
    st = settings or DomainSettings()
    n, h, w = x.shape
    cls_np = np.asarray(asnumpy(classes)).reshape(-1).astype(np.int64)
    if cls_np.size != n:
        raise ValueError(f"classes ({cls_np.size}) must have one entry per window ({n})")
    names = tuple(class_names)
    if n and (cls_np.min() < 0 or cls_np.max() >= len(names)):
        raise ValueError(f"class index outside the {len(names)} class names")
    refs = as_references(references)
    dom = domain if domain is not None else TrainingDomain.from_model_info(None, names)
    geo = _geometry(h, w, float(pixel_size), st.q_min, st.q_max)
    tab = cached_tables(names, refs, dom, geo.scale, min(st.q_max * geo.scale, 0.45 * h), xp)
    # NumPy: blocks of DOMAIN_BLOCK windows, on threads (blockwise.py); CuPy: the batch at once
    block = DOMAIN_BLOCK if xp is np else max(n, 1)
    parts = map_blocks(lambda a, b: _check_block(x[a:b], xp.asarray(cls_np[a:b]), geo, tab, st, xp), n, block)
    if not parts:
        return DomainCheck(*(np.zeros(0, t) for t in (bool, np.uint8, np.float32, np.float32, np.float32, np.float32)))
    return DomainCheck(*(np.concatenate(column) for column in zip(*parts, strict=True)))


#: Windows per block of :func:`domain_check` on NumPy: the fit's (windows, hypotheses, peaks, reflections) arrays
#: of a block stay in the cache (measured: 64 windows 2.5 s, 1024 windows 7 s, 4096 windows 15–20 s per 4096
#: windows on one core; ``benchmarks/RESULTS.md``).
DOMAIN_BLOCK = 64


def _check_block(
    x: Any, cls: Any, geo: _Geometry, tab: dict[str, Any], st: DomainSettings, xp: ModuleType
) -> tuple[np.ndarray, ...]:
    """:func:`domain_check` of one block of windows (n, h, w): the fields of :class:`DomainCheck`, NumPy, (n,)."""
    n = x.shape[0]
    power = power_spectra(x, xp)
    sig = _significance(power, geo, xp)
    inner = xp.asarray(geo.inner)
    top = sig[:, inner].max(axis=1) if int(inner.sum()) else xp.zeros(n, xp.float32)
    p, s = _peaks(power, sig, geo, st, xp)
    _, two_d = _anchors(p, s, xp)
    lattice = (top >= xp.float32(st.lattice_significance)) & two_d
    usable = tab["usable"][cls]
    nan = xp.float32(np.nan)
    fits, explained, a, c, in_range = _judge(p, s, cls, xp.flatnonzero(lattice & usable), tab, st, xp)
    fit_ok = fits & (explained >= xp.float32(st.min_explained))
    reason = xp.where(
        ~lattice,
        NO_LATTICE,
        xp.where(~usable, KNOWN, xp.where(~fit_ok, MISMATCH, xp.where(in_range, KNOWN, OUT_OF_RANGE))),
    ).astype(xp.uint8)
    measured = lattice & usable & fit_ok
    return (
        asnumpy(reason != KNOWN),
        asnumpy(reason),
        asnumpy(top.astype(xp.float32)),
        asnumpy(xp.where(lattice & usable, explained, nan).astype(xp.float32)),
        asnumpy(xp.where(measured, a, nan).astype(xp.float32)),
        asnumpy(xp.where(measured, c, nan).astype(xp.float32)),
    )


#: Windows cut and checked at a time by :func:`domain_check_map` (memory ≈ 0.2 MB per 100 px window).
DOMAIN_CHUNK = 256


def domain_check_map(
    image: Any,
    grid: WindowGrid,
    classes: Any,
    class_names: list[str] | tuple[str, ...],
    *,
    pixel_size: float,
    domain: TrainingDomain | None = None,
    references: RotationReferences | str | Path | None = None,
    settings: DomainSettings | None = None,
    chunk: int = DOMAIN_CHUNK,
) -> DomainCheck:
    """:func:`domain_check` over an image's window grid, ``chunk`` windows at a time.

    Parameters
    ----------
    image : ndarray of shape (rows, cols)
    grid : WindowGrid
    classes : ndarray of shape grid.shape, int
    class_names, pixel_size, domain, references, settings
        As for :func:`domain_check`.
    chunk : int
        Windows per block (bounded memory).

    Returns
    -------
    DomainCheck
        Arrays of shape grid.shape.
    """
    cls = np.asarray(asnumpy(classes)).reshape(-1)
    if cls.size != grid.size:
        raise ValueError(f"the class map must have the grid's {grid.shape} entries")
    refs = as_references(references)
    parts = []
    for start in range(0, grid.size, max(1, int(chunk))):
        stop = min(grid.size, start + max(1, int(chunk)))
        block = extract_windows(image, grid, start, stop)
        parts.append(
            domain_check(
                block, cls[start:stop], class_names, pixel_size=pixel_size, domain=domain, references=refs, settings=settings
            )
        )
    if not parts:
        empty = DomainCheck(*(np.zeros(0, t) for t in (bool, np.uint8, np.float32, np.float32, np.float32, np.float32)))
        return empty.reshape(grid.shape)
    merged = DomainCheck(*(np.concatenate([getattr(q, f.name) for q in parts]) for f in fields(DomainCheck)))
    return merged.reshape(grid.shape)


def model_domain_map(
    img: Any, grid: WindowGrid, classes: np.ndarray, model: Any, pixel_size: float | None, domain: Any, mi: Any, threshold: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """The domain check of an analysed image for :func:`aistem.core.analyze`: (unknown, reason) on the grid.

    ``domain`` False or None: every window known (reason None); True: the default thresholds; a
    :class:`DomainSettings`: those. The training range comes from the model's metadata; unknown follows
    :func:`unknown_from_reason` (a mismatch where MI > ``threshold`` is interface, not unknown).
    """
    if domain is False or domain is None:
        return np.zeros(grid.shape, bool), None
    check = domain_check_map(
        img,
        grid,
        classes,
        model.class_names,
        pixel_size=pixel_size if pixel_size is not None else model.info.pixel_size,
        domain=TrainingDomain.from_model_info(model.info.extra, model.class_names),
        settings=domain if isinstance(domain, DomainSettings) else None,
    )
    reason = asnumpy(check.reason).astype(np.uint8)
    return unknown_from_reason(reason, mi, threshold), reason
