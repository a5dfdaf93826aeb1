"""The shipped sample series: a drifting scan across a simulated polycrystal, with ground truth.

The sample ("world") is a Voronoi polycrystal in display coordinates (x right, y up) [Å]: every grain is one
class at its own lattice constant, rendered from its simulated periodic cell (:func:`aistem.training.base.simulate_class`,
cached) at its own in-plane rotation, plus an amorphous patch (a disc of amorphous Si). The default layout
(:data:`DEMO_GRAINS`, :data:`DEMO_PATCH`) shows, in one 61 Å field of view:

* bcc Fe [100] | fcc Cu [110] | hcp Ti [0001] — boundaries between different classes (MI flags them);
* hcp Ti [0001] | hcp Ti [0001] rotated by 20° — a same-class boundary (only the rotation map shows it);
* an amorphous patch in the Fe grain.

The frames scan this sample: frames 0…``n−3`` at the first region with drift (mean ``drift_px`` per frame plus a
random walk), the next frame half-way and the last ones at a second region ``move_A`` further (a new Fe [100] grain
at another rotation comes into view). Each scan line is shifted along the columns (scan noise); intensities are
``background + dose · I`` with Poisson noise and Gaussian read noise, as uint16.

Ground truth per frame: ``labels`` (0–9 class, 10 amorphous, 11 boundary band of ``boundary_width`` between two
crystalline grains), ``grain_map`` (grain id, :data:`DEMO_GRAINS` order; the patch is ``len(grains)``),
``rotation_deg`` of every grain and ``shift_px`` (the frame's position against frame 0, (row, col) [px]).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .augment import PeriodicImage, output_coordinates
from .crystals import AMORPHOUS_LABEL, BOUNDARY_LABEL, CLASS_NAMES, check_class_name
from .haadf import SimulationSettings
from .scene_parts import (
    check_series,
    check_shape,
    common_info,
    frame_positions,
    scan_counts,
    series_info,
    simulated_sources,
    simulation_info,
)

__all__ = ["DEMO_GRAINS", "DEMO_PATCH", "Grain", "Patch", "frame_positions", "make_poly_series"]


@dataclass(frozen=True)
class Grain:
    """One grain of the Voronoi polycrystal: class, seed point (x, y) [Å] (display, y up), rotation [°] (ccw)."""

    class_name: str
    seed: tuple[float, float]
    rotation: float


@dataclass(frozen=True)
class Patch:
    """The amorphous patch: a disc, centre (x, y) [Å] (display, y up) and radius [Å]."""

    centre: tuple[float, float]
    radius: float


DEMO_GRAINS: tuple[Grain, ...] = (
    Grain("BCC_Fe_100", (-21.0, 6.0), 10.0),
    Grain("FCC_Cu_110", (14.0, 21.0), 25.0),
    Grain("HCP_Ti_0001", (-4.0, -21.0), 5.0),
    Grain("HCP_Ti_0001", (24.0, -19.0), 25.0),  # same class, 20° apart: a same-class boundary
    Grain("BCC_Fe_100", (62.0, 4.0), 35.0),  # the second region's new grain
    Grain("FCC_Cu_110", (50.0, 40.0), 60.0),
)
DEMO_PATCH = Patch((-20.0, -18.0), 7.5)


def _voronoi(x: np.ndarray, y: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest seed of every point, the second nearest, and the distance to their bisector [Å]."""
    d2 = (x[None] - seeds[:, 0, None, None]) ** 2 + (y[None] - seeds[:, 1, None, None]) ** 2  # (G, rows, cols)
    order = np.argsort(d2, axis=0)
    first = order[0]
    # distance to the nearest Voronoi edge: min over the other seeds j of (d_j² − d_1²) / (2 |s_j − s_1|)
    d1 = np.take_along_axis(d2, first[None], 0)[0]
    sep = np.linalg.norm(seeds[:, None, :] - seeds[None, :, :], axis=-1)  # (G, G)
    edge = np.full(x.shape, np.inf)
    second = first.copy()
    for j in range(len(seeds)):
        s = sep[first, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.where(first == j, np.inf, (d2[j] - d1) / (2.0 * np.where(s > 0, s, 1.0)))
        closer = dist < edge
        second = np.where(closer, j, second)
        edge = np.minimum(edge, dist)
    return first, second, edge


def make_poly_series(
    *,
    frames: int = 10,
    shape: Sequence[int] = (512, 512),
    grains: Sequence[Grain] = DEMO_GRAINS,
    patch: Patch | None = DEMO_PATCH,
    drift_px: Sequence[float] = (0.8, 1.2),
    drift_jitter_px: float = 0.3,
    move_A: float = 36.0,
    line_jitter_px: float = 0.3,
    dose: float = 400.0,
    background: float = 50.0,
    read_noise: float = 3.0,
    pixel_size: float = 0.12,
    boundary_width: float = 2.0,
    cell_size: float = 40.0,
    thickness: float = 80.0,
    settings: SimulationSettings | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A frame series scanning across a polycrystal (uint16 counts), with per-frame ground truth.

    Parameters
    ----------
    frames : int
        Number of frames (the last three move to the second region when ≥ 4).
    shape : (int, int)
        Frame (rows, cols) [px].
    grains : sequence of Grain
        Voronoi grains (class, seed (x, y) [Å] from the centre of frame 0, display coordinates; rotation [°]).
    patch : Patch, optional
        Amorphous disc.
    drift_px, drift_jitter_px
        Mean drift per frame (rows, cols) [px] and its random walk [px].
    move_A : float
        Distance to the second region along the columns [Å].
    line_jitter_px, dose, background, read_noise
        Scan-line jitter [px], counts at the brightest intensity, background [counts], read noise [counts].
    pixel_size, boundary_width : float
        [Å/px]; full width of the ``boundary`` label band [Å].
    cell_size, thickness : float
        Simulated periodic cells [Å].
    settings : SimulationSettings, optional
    seed : int
        Seed of the grains' translations, the drift and the noise.
    cache_dir, use_cache
        Cache of simulated cells.

    Returns
    -------
    frames : ndarray of shape (frames, rows, cols), uint16
    labels : ndarray of shape (frames, rows, cols), int16
    info : dict
        ``grain_classes``, ``rotations_deg``, ``grain_map`` (frames, rows, cols) int8, ``shift_px`` (list),
        ``seeds_A``, ``patch``, noise settings, ``pixel_size``, ``label_names``.
    """
    rows, cols = check_shape(shape)
    noise = {"dose": dose, "background": background, "read_noise": read_noise}
    check_series(
        frames, dose, background=background, read_noise=read_noise, line_jitter_px=line_jitter_px,
        drift_jitter_px=drift_jitter_px, boundary_width=boundary_width,
    )  # fmt: skip
    st = settings or SimulationSettings()
    sources = _sources(grains, patch, seed, cell_size=cell_size, thickness=thickness, settings=st, cache_dir=cache_dir,
                       use_cache=use_cache)  # fmt: skip
    rng = np.random.default_rng(np.random.SeedSequence([seed, 19]))
    centres = [(float(rng.uniform(0, 30.0)), -float(rng.uniform(0, 30.0))) for _ in range(len(grains) + 1)]
    shifts = frame_positions(frames, drift_px, drift_jitter_px, move_A / pixel_size, rng)
    world = (grains, patch, sources, centres, boundary_width)
    clean, labels, gmap = _scan(world, shifts, (rows, cols), pixel_size, line_jitter_px, rng)
    lo, hi = float(clean[0].min()), float(clean[0].max())
    out = np.stack([scan_counts(img, lo, hi, **noise, rng=rng) for img in clean]).reshape(frames, rows, cols)
    info = common_info("polycrystal_series", pixel_size, (rows, cols))
    info.update({**simulation_info(boundary_width, cell_size, thickness, seed, st), **_world_info(grains, patch)})
    info.update(series_info(frames, shifts, drift_px, drift_jitter_px, line_jitter_px, noise))
    info.update({"move_A": float(move_A), "grain_map": gmap})
    return out, labels, info


def _render_world(
    x: np.ndarray,
    y: np.ndarray,
    grains: Sequence[Grain],
    patch: Patch | None,
    sources: dict[str, PeriodicImage],
    centres: list[tuple[float, float]],
    boundary_width: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sample at the points (x, y) [Å] (display, y up): clean image (float64), labels (int16), grain ids (int8)."""
    first, _, edge = _voronoi(x, y, np.asarray([g.seed for g in grains], np.float64))
    img = np.zeros(x.shape, np.float64)
    for k, g in enumerate(grains):
        m = first == k
        if m.any():
            img[m] = sources[g.class_name].transformed(x[m], y[m], rotation=g.rotation, centre=centres[k])
    lab = np.asarray([CLASS_NAMES.index(g.class_name) for g in grains], np.int16)[first]
    lab[edge < boundary_width / 2] = BOUNDARY_LABEL
    gm = first.astype(np.int8)
    if patch is not None:
        m = (x - patch.centre[0]) ** 2 + (y - patch.centre[1]) ** 2 < patch.radius**2
        if m.any():
            img[m] = sources["amorphous"].transformed(x[m], y[m], centre=centres[-1])
        lab[m] = AMORPHOUS_LABEL
        gm[m] = len(grains)
    return img, lab, gm


def _sources(grains: Sequence[Grain], patch: Patch | None, seed: int, **simulation: Any) -> dict[str, PeriodicImage]:
    """The simulated cells of the grains' classes (and of amorphous Si for the patch), after checking the grains."""
    if not grains:
        raise ValueError("give at least one grain")
    for g in grains:
        check_class_name(g.class_name)
    amorphous = {"seed": seed} if patch is not None else None
    return simulated_sources([g.class_name for g in grains], amorphous=amorphous, **simulation)


def _scan(
    world: tuple[Any, ...], shifts: np.ndarray, shape: tuple[int, int], pixel_size: float, line_jitter_px: float, rng: Any
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Clean frames (float64), labels (frames, rows, cols) int16 and grain ids int8 of the sample ``world``
    (:func:`_render_world`'s arguments after the points) seen at ``shifts`` [px] with scan-line jitter [px]."""
    rows, cols = shape
    x0, y0 = output_coordinates(shape, pixel_size)
    clean: list[np.ndarray] = []
    labels = np.empty((len(shifts), rows, cols), np.int16)
    gmap = np.empty((len(shifts), rows, cols), np.int8)
    for t in range(len(shifts)):
        jitter = line_jitter_px * rng.standard_normal(rows)[:, None] if line_jitter_px > 0 else 0.0
        x = x0 + (shifts[t, 1] + jitter) * pixel_size
        y = y0 - shifts[t, 0] * pixel_size
        img, labels[t], gmap[t] = _render_world(x, y, *world)
        clean.append(img)
    return clean, labels, gmap


def _world_info(grains: Sequence[Grain], patch: Patch | None) -> dict[str, Any]:
    """The info entries of the sample: grain classes and rotations [°] (the patch last), seeds [Å], patch [Å]."""
    return {
        "grain_classes": [g.class_name for g in grains] + (["amorphous"] if patch is not None else []),
        "rotations_deg": [float(g.rotation) for g in grains] + ([None] if patch is not None else []),
        "seeds_A": [list(g.seed) for g in grains],
        "patch": None if patch is None else {"centre_A": list(patch.centre), "radius_A": patch.radius},
    }
