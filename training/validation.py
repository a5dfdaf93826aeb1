"""Validation that the training recipe did not make (issue 17): multislice metals and out-of-domain structures.

(a) **Multislice.**  Every class as several metals of its structure (:data:`MULTISLICE_CASES`), simulated by
    frozen-phonon multislice over one unit cell of a small supercell (:func:`multislice_cell_image`), rendered at
    several in-plane rotations; score: % of windows given the true class.
(b) **Out of domain.**  SrTiO3, Si, GaAs, NaCl, graphene, MoS2, amorphous carbon (convolution approach, as the
    training images, :mod:`aistem.training.ood_structures`) and vacuum with detector noise; score: % of windows
    given a *confident known* class — MI ≤ threshold and, when the analysis result has an ``unknown`` map (the
    domain check), not unknown.

Simulated images are cached as ``.npz`` (``cache_dir``), so a second run only runs the networks.
The polycrystal and bicrystal scenes (c) stay in :mod:`aistem.training.evaluate`.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .cache import cached_image
from .crystals import CLASS_NAMES, CLASSES, Material, build_cell, check_class_name, unit_cell
from .haadf import SimulatedImage, SimulationSettings, simulate_haadf

__all__ = [
    "MULTISLICE_CASES",
    "cell_translations",
    "fourier_upsample",
    "multislice_cell_image",
    "ood_image",
    "render_views",
    "run_validation",
    "score_windows",
    "symmetrise",
    "vacuum_image",
]

#: Metals of each structure the multislice validation uses (element, a [Å], c [Å] or None).
MULTISLICE_CASES: dict[str, list[Material]] = {
    "fcc": [Material("Au", 4.078), Material("Cu", 3.615), Material("Ni", 3.524)],
    "bcc": [Material("Mo", 3.147), Material("Fe", 2.867), Material("Nb", 3.300)],
    "hcp": [Material("Zr", 3.232, 5.147), Material("Ti", 2.951, 4.686), Material("Zn", 2.665, 4.947)],
}

#: Multislice settings of the validation: frozen phonons, probe step [Å], thickness [Å], lateral supercell [Å].
MULTISLICE_DEFAULTS: dict[str, float] = {"frozen_phonons": 2, "scan_step": 0.3, "thickness": 40.0, "supercell": 10.0}


def fourier_upsample(image: np.ndarray, pixel_size: tuple[float, float], target: float) -> SimulatedImage:
    """Band-limited (Fourier) resampling of one period of a periodic image to a pixel ≤ ``target`` [Å].

    Parameters
    ----------
    image : ndarray of shape (rows, cols)
        One period.
    pixel_size : (float, float)
        (row, col) [Å/px].
    target : float
        Largest pixel size wanted [Å/px].

    Returns
    -------
    SimulatedImage
        The same period on a finer grid (exact for a band-limited image sampled at Nyquist or better).
    """
    from scipy.signal import resample

    img = np.asarray(image, np.float64)
    n = [max(s, math.ceil(s * p / target)) for s, p in zip(img.shape, pixel_size, strict=True)]
    out = resample(resample(img, n[0], axis=0), n[1], axis=1)
    return SimulatedImage(out.astype(np.float32), (img.shape[0] * pixel_size[0] / n[0], img.shape[1] * pixel_size[1] / n[1]))


def cell_translations(atoms: Any, tol: float = 1e-3) -> np.ndarray:
    """In-plane lattice translations inside an orthogonal cell that map its projected structure onto itself.

    Returns
    -------
    ndarray of shape (K, 2)
        Fractional (x, y) translations, (0, 0) first (e.g. bcc [100]'s cell a√2 × a√2: (0, 0) and (½, ½)).
    """
    box = np.diag(atoms.cell.array)[:2]
    frac = np.mod(atoms.positions[:, :2] / box, 1.0)
    sym = np.asarray(atoms.get_chemical_symbols())
    out = []
    for t in np.unique(np.mod(np.round(np.mod(frac - frac[0], 1.0), 6), 1.0), axis=0):
        moved = np.mod(frac + t, 1.0)
        d = np.abs(moved[:, None, :] - frac[None, :, :])
        d = np.minimum(d, 1 - d).max(-1)
        match = (d < tol) & (sym[:, None] == sym[None, :])
        if match.any(axis=1).all():
            out.append(t)
    out.sort(key=lambda v: float(np.hypot(*v)))
    return np.array(out)


def symmetrise(image: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """Mean of one period of a periodic image over fractional translations (Fourier shift, exact sub-pixel)."""
    img = np.asarray(image, np.float64)
    u = np.fft.fftfreq(img.shape[0]) * img.shape[0]
    v = np.fft.fftfreq(img.shape[1]) * img.shape[1]
    f = np.fft.fft2(img)
    acc = np.zeros_like(f)
    for tx, ty in translations:
        acc += f * np.exp(2j * np.pi * (u[:, None] * tx + v[None, :] * ty))
    return np.real(np.fft.ifft2(acc / len(translations))).astype(np.float32)


def multislice_cell_image(
    class_name: str,
    material: Material,
    *,
    frozen_phonons: int = 2,
    scan_step: float = 0.3,
    thickness: float = 40.0,
    supercell: float = 10.0,
    cache_dir: str | os.PathLike[str] | None = None,
    only_cached: bool = False,
    symmetric: bool = True,
) -> Any:
    """Frozen-phonon multislice HAADF image of one unit cell of ``class_name`` as ``material`` (cached).

    The probe scans one orthogonal unit cell of a supercell about ``supercell`` Å wide and ``thickness`` Å thick,
    with steps ≤ ``scan_step`` [Å] that fit the cell exactly, so the image is one period (abTEM; 300 kV, 24 mrad,
    detector 78–200 mrad, no focal spread, the defaults of :class:`SimulationSettings`).

    With ``symmetric`` (default) the image is averaged over the lattice translations inside the orthogonal cell
    (:func:`cell_translations`): with few frozen-phonon configurations, equivalent columns differ by ±20 %
    in brightness, and tiling one scanned cell would turn that noise into a periodic superstructure (extra
    Bragg spots the crystal does not have). Averaging over equivalent columns is averaging over more phonon
    configurations.

    Returns
    -------
    SimulatedImage
        One period, (rows, cols) = cell (x, y).  With ``only_cached``: whether it is in the cache (bool).
    """
    check_class_name(class_name)
    uc = unit_cell(class_name, 0.0, material)
    ex, ey = (float(v) for v in uc.cell.lengths()[:2])
    settings = SimulationSettings(method="multislice", scan_sampling=float(scan_step), frozen_phonons=int(frozen_phonons))
    key = {
        "kind": "validation-multislice",
        "class": class_name,
        "material": [material.symbol, material.a, material.c],
        "thickness": float(thickness),
        "supercell": float(supercell),
        "settings": settings.key(),
    }
    if only_cached:
        from .cache import cache_path

        return cache_path(key, cache_dir).is_file()

    def compute() -> SimulatedImage:
        from .haadf import multislice_haadf

        cell = build_cell(class_name, 0.0, size=supercell, thickness=thickness, material=material)
        return multislice_haadf(cell, settings, scan_region=((0.0, 0.0), (ex, ey)))

    sim = cached_image(key, compute, cache_dir)[0]
    if not symmetric:
        return sim
    return SimulatedImage(symmetrise(sim.image, cell_translations(uc)), sim.pixel_size)


def ood_image(name: str, *, thickness: float = 80.0, cache_dir: str | os.PathLike[str] | None = None) -> SimulatedImage:
    """Convolution HAADF image of one period of an out-of-domain structure (cached; see :mod:`.ood_structures`).

    Crystals are repeated to ≈ 20 Å laterally and ``thickness`` [Å] along the beam; layers stay one layer thick.
    """
    from .ood_structures import ood_structure

    settings = SimulationSettings()
    key = {"kind": "validation-ood", "name": name, "thickness": float(thickness), "settings": settings.key()}

    def compute() -> SimulatedImage:
        atoms = ood_structure(name)
        lengths = atoms.cell.lengths()
        along = 1 if name in ("graphene", "MoS2", "amorphous_C") else max(1, round(thickness / lengths[2]))
        reps = [max(1, round(20.0 / lengths[0])), max(1, round(20.0 / lengths[1])), along]
        if name == "amorphous_C":
            reps = [1, 1, max(1, round(thickness / lengths[2]))]
        return simulate_haadf(atoms.repeat(reps), settings)

    return cached_image(key, compute, cache_dir)[0]


def vacuum_image(shape: tuple[int, int], rng: np.random.Generator, *, counts: float = 5.0, read_noise: float = 2.0) -> np.ndarray:
    """An image of no specimen: Poisson counts of a flat background plus Gaussian read noise, (rows, cols) float32."""
    return (rng.poisson(counts, shape) + rng.normal(0.0, read_noise, shape)).astype(np.float32)


def render_views(
    sim: SimulatedImage,
    rotations: tuple[float, ...],
    size_px: int,
    rng: np.random.Generator,
    *,
    pixel_size: float = 0.12,
    dose: float = 0.0,
) -> list[np.ndarray]:
    """Images of ``size_px``² px at ``pixel_size`` of a periodic image, one per rotation [°, counter-clockwise].

    Each view is taken at a random position of the period; ``dose`` > 0 adds Poisson noise with that many counts
    at the brightest pixel (after min–max scaling).
    """
    from .augment import PeriodicImage

    fine = fourier_upsample(sim.image, sim.pixel_size, pixel_size / 2)
    src = PeriodicImage(fine.image, fine.pixel_size)
    ey, ex = src.extent
    out = []
    for rot in rotations:
        img = src.render(
            (size_px, size_px), pixel_size, rotation=float(rot), shear=0.0, centre=(rng.uniform(0, ex), -rng.uniform(0, ey))
        )
        lo, hi = float(img.min()), float(img.max())
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        if dose > 0:
            img = rng.poisson(img * dose).astype(np.float64)
        out.append(img.astype(np.float32))
    return out


def score_windows(result: Any, true_class: str | None) -> dict[str, float]:
    """Window shares of one analysed image.

    Returns
    -------
    dict
        ``n`` (windows), ``correct`` (share with the true class; None-class: 0), ``confident_known`` (share not interface
        and, if the result has an ``unknown`` map, not unknown), ``unknown`` (share unknown, NaN without the map),
        ``median_mi`` [bit], ``top_class`` (the most frequent class, with its share in ``top_share``).
    """
    names = list(result.class_names)
    cls = np.asarray(result.classes).ravel()
    interface = np.asarray(result.interface, bool).ravel()
    unknown = getattr(result, "unknown", None)
    unk = np.asarray(unknown, bool).ravel() if unknown is not None else np.zeros_like(interface)
    correct = float(np.mean(cls == names.index(true_class))) if true_class in names else 0.0
    counts = np.bincount(cls, minlength=len(names))
    return {
        "top_class": names[int(counts.argmax())],
        "top_share": float(counts.max() / max(1, cls.size)),
        "n": int(cls.size),
        "correct": correct,
        "confident_known": float(np.mean(~interface & ~unk)),
        "unknown": float(np.mean(unk)) if unknown is not None else float("nan"),
        "median_mi": float(np.median(np.asarray(result.mutual_information))),
    }


def _analyse(model: Any, images: list[np.ndarray], true_class: str | None, kw: dict[str, Any]) -> dict[str, Any]:
    from aistem.core import analyze

    parts = [score_windows(analyze(img, 0.12, model=model, rotation=False, **kw), true_class) for img in images]
    n = sum(p["n"] for p in parts)
    agg: dict[str, Any] = {k: sum(p[k] * p["n"] for p in parts) / n for k in ("correct", "confident_known", "unknown")}
    tops: dict[str, int] = {}
    for p in parts:
        tops[p["top_class"]] = tops.get(p["top_class"], 0) + round(p["top_share"] * p["n"])
    agg["top_class"] = max(tops, key=lambda k: tops[k])
    agg["median_mi"] = float(np.median([p["median_mi"] for p in parts]))
    return {"n": n, **agg}


def _ood_names(ood: bool | list[str]) -> list[str]:
    from .ood_structures import OOD_STRUCTURES

    names = list(OOD_STRUCTURES) if ood is True else list(ood or [])
    bad = [n for n in names if n not in OOD_STRUCTURES]
    if bad:
        raise ValueError(f"unknown out-of-domain structure(s) {', '.join(bad)}; choose from: {', '.join(OOD_STRUCTURES)}")
    return names


def _cases(structures: list[str] | None) -> list[tuple[str, Material]]:
    """(class, metal) pairs: every class as the first metal of its structure, then as the second, …"""
    pick = list(MULTISLICE_CASES) if structures is None else structures
    bad = [s for s in pick if s not in MULTISLICE_CASES]
    if bad:
        raise ValueError(f"unknown structure(s) {', '.join(bad)}; choose from: {', '.join(MULTISLICE_CASES)}")
    rank = max(len(v) for v in MULTISLICE_CASES.values())
    out = []
    for i in range(rank):
        out += [(c, MULTISLICE_CASES[lat][i]) for c in CLASS_NAMES for lat in pick if CLASSES[c].lattice == lat]
    return [x for x in out if x[1] is not None]


def simulate_validation(
    cache_dir: str | os.PathLike[str],
    *,
    structures: list[str] | None = None,
    ood: bool | list[str] = True,
    multislice: dict[str, float] | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """Simulate (or find in the cache) every multislice and out-of-domain image; the slow part, resumable."""
    ms = {**MULTISLICE_DEFAULTS, **(multislice or {})}
    for name in [n for n in _ood_names(ood) if n != "vacuum"]:
        t0 = time.perf_counter()
        ood_image(name, cache_dir=cache_dir)
        echo(f"out-of-domain {name}: {time.perf_counter() - t0:.0f} s")
    for c, m in _cases(structures):
        t0 = time.perf_counter()
        multislice_cell_image(c, m, cache_dir=cache_dir, **ms)  # type: ignore[arg-type]
        echo(f"multislice {c} as {m.symbol}: {time.perf_counter() - t0:.0f} s")


def run_validation(
    models: list[tuple[str, Any]],
    cache_dir: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    samples: int = 20,
    stride: float = 1.5,
    seed: int = 0,
    threshold: float = 0.1,
    rotations: tuple[float, ...] = (0.0, 30.0, 60.0),
    size_px: int = 136,
    structures: list[str] | None = None,
    ood: bool | list[str] = True,
    multislice: dict[str, float] | None = None,
    cached_only: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Score models on (a) multislice metals and (b) out-of-domain structures; print tables, write JSON.

    Parameters
    ----------
    models : list of (label, model or path)
    cache_dir : path
        Where the simulated images are (or will be) cached as ``.npz``.
    out : path, optional
        Folder for ``validation.json``.
    samples, stride, seed, threshold
        MC samples per window, window step [Å], dropout seed, MI threshold [bit].
    rotations : tuple of float
        In-plane rotations [°] of each multislice view.
    size_px : int
        Side of each view [px] at 0.12 Å/px.
    structures : list of str, optional
        Structures of (a) (``"fcc"``, ``"bcc"``, ``"hcp"``); None: all, [] none.
    ood : bool or list of str
        Structures of (b) (keys of :data:`aistem.training.ood_structures.OOD_STRUCTURES`); True: all.
    multislice : dict, optional
        Overrides of :data:`MULTISLICE_DEFAULTS`.
    cached_only : bool
        Score only the multislice images already in the cache (:func:`simulate_validation` makes them);
        the others are listed in ``report["missing"]``.

    Returns
    -------
    dict
        ``multislice``: {label: {"CLASS as El": scores}}, ``ood``: {label: {name: scores}}, ``settings``.
    """
    from aistem.core import load_model

    loaded = [(lab, load_model(m) if not hasattr(m, "keras_model") else m) for lab, m in models]
    kw = {"stride": stride, "samples": samples, "seed": seed, "threshold": threshold}
    ms = {**MULTISLICE_DEFAULTS, **(multislice or {})}
    report: dict[str, Any] = {"settings": {**kw, "rotations": list(rotations), "size_px": size_px, "multislice": ms}}
    report["multislice"] = {lab: {} for lab, _ in loaded}
    report["missing"] = []
    for c, m in _cases(structures):
        if cached_only and not multislice_cell_image(c, m, cache_dir=cache_dir, only_cached=True, **ms):  # type: ignore[arg-type]
            report["missing"].append(f"{c} as {m.symbol}")
            continue
        sim = multislice_cell_image(c, m, cache_dir=cache_dir, **ms)  # type: ignore[arg-type]
        views = render_views(sim, rotations, size_px, np.random.default_rng(seed))
        for lab, model in loaded:
            report["multislice"][lab][f"{c} as {m.symbol}"] = _analyse(model, views, c, kw)
    if _ood_names(ood):
        report["ood"] = {lab: {} for lab, _ in loaded}
        for name in _ood_names(ood):
            rng = np.random.default_rng(seed)
            if name == "vacuum":
                views = [vacuum_image((size_px, size_px), rng) for _ in rotations]
            else:
                sim = ood_image(name, cache_dir=cache_dir)
                views = render_views(sim, rotations[:2], size_px, rng) + render_views(sim, rotations[:1], size_px, rng, dose=20)
            for lab, model in loaded:
                report["ood"][lab][name] = _analyse(model, views, None, kw)
    print_validation(report, echo)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        Path(out, "validation.json").write_text(json.dumps(report, indent=1, default=float))
    return report


def _cell(scores: dict[str, Any], key: str) -> str:
    """``" 87.5% FCC_Cu_211"``: the share and the most frequent class, 22 characters."""
    return f"{100 * scores[key]:>7.1f}% {str(scores.get('top_class', ''))[:13]:<13}"


def print_validation(report: dict[str, Any], echo: Callable[[str], None] = print) -> None:
    """The two tables of :func:`run_validation`, one column per model."""
    labels = list(report["multislice"])
    head = "".join(f"{lab[:20]:>22}" for lab in labels)
    cases = list(report["multislice"][labels[0]]) if labels else []
    if cases:
        echo(f"(a) multislice: % windows given the true class\n  {'class as metal':<24}{head}")
    for case in cases:
        echo(f"  {case:<24}" + "".join(_cell(report["multislice"][lab][case], "correct") for lab in labels))
    if "ood" in report:
        echo(f"(b) out of domain: % windows given a confident known class (MI ≤ threshold, not unknown)\n  {'':<24}{head}")
        for name in report["ood"][labels[0]]:
            echo(f"  {name:<24}" + "".join(_cell(report["ood"][lab][name], "confident_known") for lab in labels))
