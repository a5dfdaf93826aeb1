"""Synthetic test scenes with ground truth: polycrystal, bicrystal, and a drifting frame series.

Every grain is rendered from its own simulated periodic cell (cached), rotated
and translated by one interpolation (:class:`aistem.training.augment.PeriodicImage`),
and the grains are stitched along straight boundaries.

Ground truth
------------
``labels`` : int16 (rows, cols) label map; legend :data:`aistem.training.crystals.LABEL_NAMES`:
0–9 the classes (:data:`~aistem.training.crystals.CLASS_NAMES`), 10 amorphous,
11 boundary (a band of ``boundary_width`` [Å] along boundaries between
crystalline grains; edges of the amorphous region stay amorphous).

``info`` : dict with ``name``, ``pixel_size`` [Å/px], ``class_names``,
``label_names``, ``amorphous_label``, ``boundary_label``, ``grain_classes``,
``rotations_deg`` (counter-clockwise, per grain), ``grain_map`` (ndarray
(rows, cols) int8, grain id per pixel) and the scene's parameters.

Geometry: rotations are counter-clockwise as displayed (row 0 at the top); a
rotation of 0 puts the cell's first axis (x) along the rows (the orientation of
the paper's training images).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .augment import PeriodicImage, output_coordinates
from .base import simulate_class
from .crystals import AMORPHOUS_LABEL, BOUNDARY_LABEL, CLASS_NAMES, check_class_name
from .haadf import SimulationSettings
from .scene_parts import (
    check_positive,
    check_series,
    check_shape,
    common_info,
    frame_positions,
    minmax_normalise,
    scan_counts,
    series_info,
    simulated_sources,
    simulation_info,
)

__all__ = ["load_scene", "make_bicrystal", "make_polycrystal", "make_series", "save_scene", "save_series"]


def _random_centre(src: PeriodicImage, rng: np.random.Generator) -> tuple[float, float]:
    ey, ex = src.extent
    return (float(rng.uniform(0, ex)), -float(rng.uniform(0, ey)))


class _Bicrystal:
    """Renders a bicrystal at any sample shift and scan jitter (used by the scene and the series)."""

    def __init__(
        self,
        source: PeriodicImage,
        label: int,
        rotations: tuple[float, float],
        centres: tuple[tuple[float, float], tuple[float, float]],
        boundary_angle: float,
        boundary_offset: float,
        boundary_width: float,
        pixel_size: float,
    ) -> None:
        self.source, self.label, self.rotations, self.centres = source, label, rotations, centres
        phi = math.radians(boundary_angle)
        self.normal = (math.cos(phi), math.sin(phi))  # display (x, y); angle 0 → normal to the right
        self.offset, self.width, self.pixel_size = boundary_offset, boundary_width, pixel_size

    def frame(
        self, shape: tuple[int, int], shift_px: tuple[float, float] = (0.0, 0.0), col_jitter_px: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.pixel_size
        x, y = output_coordinates(shape, p)
        x = x - shift_px[1] * p
        y = y + shift_px[0] * p
        if col_jitter_px is not None:
            x = x + np.asarray(col_jitter_px, dtype=np.float64)[:, None] * p
        d = self.normal[0] * x + self.normal[1] * y - self.offset
        right = d >= 0
        img = np.where(
            right,
            self.source.transformed(x, y, rotation=self.rotations[1], centre=self.centres[1]),
            self.source.transformed(x, y, rotation=self.rotations[0], centre=self.centres[0]),
        )
        labels = np.full(shape, self.label, np.int16)
        labels[np.abs(d) < self.width / 2] = BOUNDARY_LABEL
        return img, labels, right.astype(np.int8)


def _bicrystal_renderer(
    class_name: str,
    misorientation: float,
    boundary_angle: float,
    *,
    rotation: float,
    boundary_offset: float,
    boundary_width: float,
    pixel_size: float,
    lattice_delta: float,
    cell_size: float,
    thickness: float,
    settings: SimulationSettings | None,
    seed: int,
    cache_dir: str | os.PathLike[str] | None,
    use_cache: bool,
) -> _Bicrystal:
    check_class_name(class_name)
    check_positive(pixel_size=pixel_size, cell_size=cell_size, thickness=thickness)
    if not (np.isfinite(boundary_width) and boundary_width >= 0):
        raise ValueError(f"boundary_width must be ≥ 0 Å, got {boundary_width!r}")
    for k, v in (("misorientation", misorientation), ("boundary_angle", boundary_angle), ("rotation", rotation)):
        if not np.isfinite(v):
            raise ValueError(f"{k} must be a finite angle in degrees, got {v!r}")
    sim = simulate_class(
        class_name,
        lattice_delta,
        cell_size=cell_size,
        thickness=thickness,
        settings=settings or SimulationSettings(),
        cache_dir=cache_dir,
        use_cache=use_cache,
    )
    src = PeriodicImage(sim.image, sim.pixel_size)
    rng = np.random.default_rng(seed)
    centres = (_random_centre(src, rng), _random_centre(src, rng))
    return _Bicrystal(
        src,
        CLASS_NAMES.index(class_name),
        (float(rotation), float(rotation + misorientation)),
        centres,
        float(boundary_angle),
        float(boundary_offset),
        float(boundary_width),
        float(pixel_size),
    )


def make_bicrystal(
    class_name: str,
    misorientation_deg: float = 30.0,
    boundary_angle_deg: float = 0.0,
    *,
    shape: Sequence[int] = (512, 512),
    pixel_size: float = 0.12,
    rotation_deg: float = 0.0,
    boundary_offset: float = 0.0,
    boundary_width: float = 2.0,
    lattice_delta: float = 0.0,
    cell_size: float = 40.0,
    thickness: float = 80.0,
    settings: SimulationSettings | None = None,
    seed: int = 0,
    normalise: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Two grains of one class, rotated against each other, meeting at a straight boundary.

    Parameters
    ----------
    class_name : str
        One of :data:`~aistem.training.crystals.CLASS_NAMES`.
    misorientation_deg : float
        Rotation of grain 2 relative to grain 1 [°], counter-clockwise.
    boundary_angle_deg : float
        Direction of the boundary, counter-clockwise from vertical [°]: 0 puts
        grain 1 on the left and grain 2 on the right; 90 grain 1 at the bottom,
        grain 2 at the top.
    shape, pixel_size : (int, int), float
        Image (rows, cols) [px]; its pixel size [Å/px].
    rotation_deg : float
        Rotation of grain 1 [°].
    boundary_offset : float
        Distance of the boundary from the image centre along its normal [Å].
    boundary_width : float
        Full width of the ``boundary`` label band [Å].
    lattice_delta : float
        Change of the lattice constant [Å].
    cell_size, thickness : float
        Simulated periodic cell [Å] (≥ ~20 Å laterally).
    settings : SimulationSettings, optional
        Default: the convolution approach at 0.12 Å.
    seed : int
        Seed of the grains' translations.
    normalise : bool
        Min–max normalise the image to [0, 1].
    cache_dir, use_cache : path or None, bool
        Cache of simulated cells.

    Returns
    -------
    image : ndarray of shape (rows, cols), float32
    labels : ndarray of shape (rows, cols), int16
        Class index, or 11 in the boundary band.
    info : dict
        See the module docstring; ``rotations_deg`` = [grain 1, grain 2].
    """
    shape = check_shape(shape)
    sim = {"cell_size": cell_size, "thickness": thickness, "settings": settings, "cache_dir": cache_dir, "use_cache": use_cache}
    geometry = {"rotation": rotation_deg, "boundary_offset": boundary_offset, "boundary_width": boundary_width}
    bc = _bicrystal_renderer(
        class_name, misorientation_deg, boundary_angle_deg, pixel_size=pixel_size, lattice_delta=lattice_delta, seed=seed,
        **geometry, **sim,
    )  # fmt: skip
    img, labels, grains = bc.frame(shape)
    image = minmax_normalise(img) if normalise else img.astype(np.float32)
    info = common_info("bicrystal", pixel_size, shape)
    info.update(_bicrystal_info(class_name, rotation_deg, misorientation_deg, boundary_angle_deg))
    sizes = {"boundary_offset_A": float(boundary_offset), "lattice_delta_A": float(lattice_delta)}
    info.update({**simulation_info(boundary_width, cell_size, thickness, seed, settings), **sizes, "grain_map": grains})
    return image, labels, info


def _bicrystal_info(class_name: str, rotation: float, misorientation: float, boundary_angle: float) -> dict[str, Any]:
    """The info entries of a bicrystal's grains and boundary (angles [°])."""
    return {
        "class_name": class_name,
        "grain_classes": [class_name, class_name],
        "rotations_deg": [float(rotation), float(rotation + misorientation)],
        "misorientation_deg": float(misorientation),
        "boundary_angle_deg": float(boundary_angle),
    }


def make_polycrystal(
    *,
    grain_size: float = 40.0,
    grains: Sequence[str] = ("BCC_Fe_100", "FCC_Cu_100", "HCP_Ti_0001", "amorphous"),
    rotations_deg: Sequence[float] | None = None,
    layout: tuple[int, int] = (2, 2),
    pixel_size: float = 0.12,
    boundary_width: float = 2.0,
    cell_size: float = 40.0,
    thickness: float = 80.0,
    amorphous_symbol: str = "Si",
    amorphous_density: float = 0.05,
    amorphous_min_distance: float = 2.2,
    settings: SimulationSettings | None = None,
    seed: int = 0,
    normalise: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The paper's Fig. 3 scene: square grains of different classes and an amorphous region, stitched.

    Parameters
    ----------
    grain_size : float
        Side of each square grain [Å] (paper: 40 Å; ≥ 12 Å so a window fits).
    grains : sequence of str
        Class names or ``"amorphous"``, in reading order over ``layout``.
    rotations_deg : sequence of float, optional
        In-plane rotation of each grain [°] (default all 0).
    layout : (int, int)
        Grains per (column, row) of the grid: (rows, cols).
    pixel_size : float
        [Å/px].
    boundary_width : float
        Full width of the ``boundary`` band between crystalline grains [Å].
    cell_size, thickness : float
        Simulated periodic cells [Å].
    amorphous_symbol, amorphous_density, amorphous_min_distance
        Amorphous cell: element, number density [Å⁻³], closest distance [Å].
    settings : SimulationSettings, optional
    seed : int
        Seed of translations and the amorphous structure.
    normalise : bool
        Min–max normalise the image to [0, 1] (relative grain intensities are kept).
    cache_dir, use_cache : path or None, bool

    Returns
    -------
    image : ndarray of shape (rows, cols), float32
        rows = layout[0] · round(grain_size / pixel_size), cols likewise.
    labels : ndarray of shape (rows, cols), int16
    info : dict
    """
    check_positive(grain_size=grain_size, pixel_size=pixel_size, cell_size=cell_size, thickness=thickness)
    nr, nc, grains = int(layout[0]), int(layout[1]), list(grains)
    rots = _check_grid(grains, rotations_deg, nr, nc, boundary_width)
    g_px = max(1, round(grain_size / pixel_size))
    shape = (nr * g_px, nc * g_px)
    st = settings or SimulationSettings()
    amorphous = {"symbol": amorphous_symbol, "density": amorphous_density, "min_distance": amorphous_min_distance}
    sources = simulated_sources(
        [g for g in grains if g != "amorphous"], cell_size=cell_size, thickness=thickness, settings=st,
        cache_dir=cache_dir, use_cache=use_cache, amorphous={**amorphous, "seed": seed} if "amorphous" in grains else None,
    )  # fmt: skip
    image, labels, grain_map = _render_grid(grains, rots, sources, nc, g_px, shape, pixel_size, np.random.default_rng(seed))
    _mark_grid_boundaries(labels, [g != "amorphous" for g in grains], (nr, nc), g_px, boundary_width / 2.0 / pixel_size)
    out = minmax_normalise(image) if normalise else image.astype(np.float32)
    info = common_info("polycrystal", pixel_size, shape)
    info.update(
        {
            **simulation_info(boundary_width, cell_size, thickness, seed, st),
            "grain_classes": grains,
            "rotations_deg": rots,
            "layout": [nr, nc],
            **{"grain_size_A": float(grain_size), "grain_size_px": int(g_px)},
            "amorphous": {"symbol": amorphous_symbol, "density": amorphous_density, "min_distance_A": amorphous_min_distance},
            "grain_map": grain_map,
        }
    )
    return out, labels, info


def _check_grid(grains: list[str], rotations_deg: Sequence[float] | None, nr: int, nc: int, boundary_width: float) -> list[float]:
    """Check a polycrystal's grains against its (rows, cols) layout; the rotation of each grain [°]."""
    if nr < 1 or nc < 1 or len(grains) != nr * nc:
        raise ValueError(f"{len(grains)} grains do not fill a layout of {nr}×{nc}")
    for g in grains:
        if g != "amorphous":
            check_class_name(g)
    rots = [0.0] * len(grains) if rotations_deg is None else [float(r) for r in rotations_deg]
    if len(rots) != len(grains):
        raise ValueError(f"give one rotation per grain ({len(grains)}), got {len(rots)}")
    if not (np.isfinite(boundary_width) and boundary_width >= 0):
        raise ValueError(f"boundary_width must be ≥ 0 Å, got {boundary_width!r}")
    return rots


def _render_grid(
    grains: list[str],
    rots: list[float],
    sources: dict[str, PeriodicImage],
    nc: int,
    g_px: int,
    shape: tuple[int, int],
    pixel_size: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Square ``g_px`` grains in reading order, ``nc`` per row: image (float64), labels (int16), grain ids (int8)."""
    image = np.zeros(shape, np.float64)
    labels = np.zeros(shape, np.int16)
    grain_map = np.zeros(shape, np.int8)
    for k, (g, rot) in enumerate(zip(grains, rots, strict=True)):
        src = sources[g]
        r0, c0 = (k // nc) * g_px, (k % nc) * g_px
        block = (slice(r0, r0 + g_px), slice(c0, c0 + g_px))
        image[block] = src.render((g_px, g_px), pixel_size, rotation=rot, centre=_random_centre(src, rng))
        labels[block] = AMORPHOUS_LABEL if g == "amorphous" else CLASS_NAMES.index(g)
        grain_map[block] = k
    return image, labels, grain_map


def _mark_grid_boundaries(labels: np.ndarray, crystalline: list[bool], layout: tuple[int, int], g_px: int, half: float) -> None:
    """Label the boundary band in place: pixels whose centre lies within ``half`` [px] of a grid line between two
    crystalline grains of a (rows, cols) ``layout`` of ``g_px`` square grains."""
    nr, nc = layout
    centres_r = np.arange(labels.shape[0]) + 0.5
    centres_c = np.arange(labels.shape[1]) + 0.5
    for i in range(1, nr):  # horizontal lines
        near = np.flatnonzero(np.abs(centres_r - i * g_px) < half)
        for j in range(nc):
            if crystalline[(i - 1) * nc + j] and crystalline[i * nc + j]:
                labels[near, j * g_px : (j + 1) * g_px] = BOUNDARY_LABEL
    for j in range(1, nc):  # vertical lines
        near = np.flatnonzero(np.abs(centres_c - j * g_px) < half)
        for i in range(nr):
            if crystalline[i * nc + j - 1] and crystalline[i * nc + j]:
                labels[i * g_px : (i + 1) * g_px, near] = BOUNDARY_LABEL


def make_series(
    class_name: str = "FCC_Cu_111",
    misorientation_deg: float = 30.0,
    boundary_angle_deg: float = 20.0,
    *,
    frames: int = 8,
    shape: Sequence[int] = (512, 512),
    rotation_deg: float = 10.0,
    drift_px: Sequence[float] = (0.8, 1.2),
    drift_jitter_px: float = 0.3,
    line_jitter_px: float = 0.3,
    dose: float = 200.0,
    background: float = 100.0,
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
    """A short frame series of a drifting bicrystal with scan noise (uint16 counts).

    Frame t shows the sample shifted by ``shift_px[t]`` (frame 0: no shift;
    each step adds ``drift_px`` plus Gaussian jitter), each scan line shifted
    along the columns by Gaussian ``line_jitter_px``; intensities are
    ``background + dose · I`` (I in [0, 1], normalised on the clean frame 0)
    with Poisson noise and Gaussian read noise.

    Returns
    -------
    frames : ndarray of shape (frames, rows, cols), uint16
    labels : ndarray of shape (frames, rows, cols), int16
        Ground truth of each frame (it drifts with the sample).
    info : dict
        Bicrystal info plus ``shift_px`` ((frames, 2) list, (row, col) [px]),
        noise settings, and ``grain_map`` of frame 0.
    """
    shape = check_shape(shape)
    noise = {"dose": dose, "background": background, "read_noise": read_noise}
    check_series(
        frames, dose, background=background, read_noise=read_noise, line_jitter_px=line_jitter_px,
        drift_jitter_px=drift_jitter_px,
    )  # fmt: skip
    sim = {"cell_size": cell_size, "thickness": thickness, "settings": settings, "cache_dir": cache_dir, "use_cache": use_cache}
    bc = _bicrystal_renderer(
        class_name, misorientation_deg, boundary_angle_deg, rotation=rotation_deg, boundary_offset=0.0,
        boundary_width=boundary_width, pixel_size=pixel_size, lattice_delta=0.0, seed=seed, **sim,
    )  # fmt: skip
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    shifts = frame_positions(frames, drift_px, drift_jitter_px, 0.0, rng)
    clean0, _, grains0 = bc.frame(shape)
    lo, hi = float(clean0.min()), float(clean0.max())
    out = np.empty((frames, *shape), np.uint16)
    labels = np.empty((frames, *shape), np.int16)
    for t in range(frames):
        jitter = line_jitter_px * rng.standard_normal(shape[0]) if line_jitter_px > 0 else None
        img, lab, _ = bc.frame(shape, (float(shifts[t, 0]), float(shifts[t, 1])), jitter)
        out[t] = scan_counts(img, lo, hi, **noise, rng=rng)
        labels[t] = lab
    info = common_info("series", pixel_size, shape)
    info.update(_bicrystal_info(class_name, rotation_deg, misorientation_deg, boundary_angle_deg))
    info.update(
        {
            **simulation_info(boundary_width, cell_size, thickness, seed, settings),
            **series_info(frames, shifts, drift_px, drift_jitter_px, line_jitter_px, noise),
            "grain_map": grains0,
        }
    )
    return out, labels, info


# ---------------------------------------------------------------- files
def _split_info(info: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    meta = {k: v for k, v in info.items() if not isinstance(v, np.ndarray)}
    arrays = {k: v for k, v in info.items() if isinstance(v, np.ndarray)}
    return meta, arrays


def save_scene(
    out_dir: str | os.PathLike[str], name: str, image: np.ndarray, labels: np.ndarray, info: dict[str, Any]
) -> dict[str, Path]:
    """Write ``<name>.npy`` (float32 image), ``<name>_truth.npz`` (``labels``, ``grain_map``) and ``<name>.json`` (info).

    Returns
    -------
    dict
        ``image``, ``truth``, ``info`` paths.
    """
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    meta, arrays = _split_info(info)
    paths = {"image": d / f"{name}.npy", "truth": d / f"{name}_truth.npz", "info": d / f"{name}.json"}
    np.save(paths["image"], np.asarray(image, np.float32))
    np.savez_compressed(paths["truth"], labels=np.asarray(labels), **arrays)  # type: ignore[arg-type]
    meta = {**meta, "files": {k: p.name for k, p in paths.items()}}
    paths["info"].write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return paths


def load_scene(out_dir: str | os.PathLike[str], name: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read a scene written by :func:`save_scene` back as (image, labels, info)."""
    d = Path(out_dir)
    image = np.load(d / f"{name}.npy")
    info = json.loads((d / f"{name}.json").read_text(encoding="utf-8"))
    with np.load(d / f"{name}_truth.npz") as z:
        labels = z["labels"]
        for k in z.files:
            if k != "labels":
                info[k] = z[k]
    return image, labels, info


def save_series(path: str | os.PathLike[str], frames: np.ndarray, labels: np.ndarray, info: dict[str, Any]) -> Path:
    """Write a series as one compressed ``.npz``.

    Arrays: ``frames`` (uint16), ``labels`` (uint8), ``grain_map``, ``pixel_size`` [Å/px],
    ``shift_px`` [px], and ``info`` (the rest of ``info`` as JSON).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    meta, arrays = _split_info(info)
    np.savez_compressed(
        p,
        frames=frames,
        labels=labels.astype(np.uint8),
        pixel_size=np.float64(info["pixel_size"]),
        shift_px=np.asarray(info["shift_px"], np.float64),
        info=np.asarray(json.dumps(meta)),
        **arrays,  # type: ignore[arg-type]
    )
    return p
