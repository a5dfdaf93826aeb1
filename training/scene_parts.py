"""The parts every simulated scene and series is composed of (:mod:`.scenes`, :mod:`.polyseries`).

Checks of the common arguments, the simulated periodic cells of the grains, the frames' drift, the scan noise that
turns a clean image into uint16 counts, and the info entries every scene shares.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .augment import PeriodicImage
from .base import simulate_amorphous, simulate_class
from .crystals import AMORPHOUS_LABEL, BOUNDARY_LABEL, CLASS_NAMES, LABEL_NAMES
from .haadf import SimulationSettings

__all__ = [
    "check_nonnegative",
    "check_positive",
    "check_series",
    "check_shape",
    "common_info",
    "frame_positions",
    "minmax_normalise",
    "scan_counts",
    "series_info",
    "simulated_sources",
    "simulation_info",
]


def common_info(name: str, pixel_size: float, shape: tuple[int, int]) -> dict[str, Any]:
    """The info entries of every scene: name, pixel size [Å/px], shape [px], class and label names, label codes."""
    return {
        "name": name,
        "pixel_size": float(pixel_size),
        "shape": [int(shape[0]), int(shape[1])],
        "class_names": list(CLASS_NAMES),
        "label_names": {str(k): v for k, v in LABEL_NAMES.items()},
        "amorphous_label": AMORPHOUS_LABEL,
        "boundary_label": BOUNDARY_LABEL,
    }


def check_positive(**values: float) -> None:
    """ValueError naming the first value that is not a positive finite number."""
    for k, v in values.items():
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{k} must be positive, got {v!r}")


def check_nonnegative(**values: float) -> None:
    """ValueError naming the first value that is not a finite number ≥ 0."""
    for k, v in values.items():
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"{k} must be ≥ 0, got {v!r}")


def check_shape(shape: Sequence[int]) -> tuple[int, int]:
    """(rows, cols) [px] as ints, or ValueError."""
    if len(shape) != 2 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f"shape must be two positive whole numbers of pixels (rows, cols), got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def check_series(frames: int, dose: float, **nonneg: float) -> None:
    """The arguments of a frame series: a whole number of frames ≥ 1, a positive dose, the noise settings ≥ 0."""
    if int(frames) != frames or frames < 1:
        raise ValueError(f"frames must be a whole number ≥ 1, got {frames!r}")
    if not (np.isfinite(dose) and dose > 0):
        raise ValueError(f"dose must be positive [counts], got {dose!r}")
    check_nonnegative(**nonneg)


def minmax_normalise(img: np.ndarray) -> np.ndarray:
    """Min–max normalised to [0, 1], float32 (zeros for a constant image)."""
    lo, hi = float(img.min()), float(img.max())
    return ((img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)).astype(np.float32)


def simulated_sources(
    class_names: Iterable[str],
    *,
    cell_size: float,
    thickness: float,
    settings: SimulationSettings,
    cache_dir: str | os.PathLike[str] | None,
    use_cache: bool,
    amorphous: dict[str, Any] | None = None,
) -> dict[str, PeriodicImage]:
    """The simulated periodic cell of every class (and of ``"amorphous"`` when ``amorphous`` gives its keyword
    arguments of :func:`~aistem.training.base.simulate_amorphous`), cached on disk."""
    cache = {"settings": settings, "cache_dir": cache_dir, "use_cache": use_cache}
    sources: dict[str, PeriodicImage] = {}
    for name in dict.fromkeys(class_names):
        sim = simulate_class(name, cell_size=cell_size, thickness=thickness, **cache)
        sources[name] = PeriodicImage(sim.image, sim.pixel_size)
    if amorphous is not None:
        sim = simulate_amorphous(cell_size, thickness, **amorphous, **cache)
        sources["amorphous"] = PeriodicImage(sim.image, sim.pixel_size)
    return sources


def frame_positions(frames: int, drift_px: Sequence[float], drift_jitter_px: float, move_px: float, rng: Any) -> np.ndarray:
    """Where each frame looks, (frames, 2) (row, col) [px] against frame 0: drift, then the move to a new region.

    Each step adds ``drift_px`` plus Gaussian jitter (frame 0: no shift). With ``frames`` ≥ 4, frame ``frames − 3``
    is half-way and the last two are ``move_px`` further along the columns (0: no move).
    """
    steps = np.asarray(drift_px, np.float64)[None, :] + drift_jitter_px * rng.standard_normal((frames, 2))
    steps[0] = 0.0
    shifts = np.cumsum(steps, axis=0)
    if frames >= 4 and move_px:
        shifts[frames - 3, 1] += move_px / 2
        shifts[frames - 2 :, 1] += move_px
    return shifts


def scan_counts(
    img: np.ndarray, lo: float, hi: float, *, dose: float, background: float, read_noise: float, rng: Any
) -> np.ndarray:
    """A clean image as detector counts: ``background + dose · I`` (I = (img − lo)/(hi − lo) ≥ 0) with Poisson noise
    and Gaussian read noise [counts], rounded and clipped to uint16."""
    intensity = np.clip((img - lo) / (hi - lo), 0.0, None) if hi > lo else np.zeros_like(img)
    counts = rng.poisson(background + dose * intensity) + read_noise * rng.standard_normal(img.shape)
    return np.clip(np.rint(counts), 0, np.iinfo(np.uint16).max).astype(np.uint16)


def series_info(
    frames: int,
    shifts: np.ndarray,
    drift_px: Sequence[float],
    drift_jitter_px: float,
    line_jitter_px: float,
    noise: dict[str, float],
) -> dict[str, Any]:
    """The info entries of a frame series: frames, ``shift_px`` of each, drift and jitter [px], noise (``dose``,
    ``background``, ``read_noise`` [counts])."""
    return {
        "frames": int(frames),
        "shift_px": shifts.round(4).tolist(),
        "drift_px": [float(v) for v in drift_px],
        "drift_jitter_px": float(drift_jitter_px),
        "line_jitter_px": float(line_jitter_px),
        **{k: float(noise[k]) for k in ("dose", "background", "read_noise")},
    }


def simulation_info(
    boundary_width: float, cell_size: float, thickness: float, seed: int, settings: SimulationSettings | None
) -> dict[str, Any]:
    """The info entries of how a scene was simulated: boundary band, cell size and thickness [Å], seed, settings key."""
    return {
        "boundary_width_A": float(boundary_width),
        "cell_size_A": float(cell_size),
        "thickness_A": float(thickness),
        "seed": int(seed),
        "simulation": (settings or SimulationSettings()).key(),
    }
