"""Simulated, cached base images: one per (class, lattice constant), and amorphous cells."""

from __future__ import annotations

import os
from typing import Any

from .cache import cached_image
from .crystals import Material, amorphous_cell, build_cell, check_class_name, class_material
from .haadf import SimulatedImage, SimulationSettings, simulate_haadf

__all__ = ["simulate_amorphous", "simulate_class"]


def simulate_class(
    class_name: str,
    lattice_delta: float = 0.0,
    *,
    cell_size: float = 80.0,
    thickness: float = 80.0,
    settings: SimulationSettings = SimulationSettings(),
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    material: Material | None = None,
) -> SimulatedImage:
    """HAADF image of one class's periodic cell, from the cache when it was simulated before.

    Parameters
    ----------
    class_name : str
        One of :data:`aistem.training.crystals.CLASS_NAMES`.
    lattice_delta : float
        Change of the lattice constant [Å].
    cell_size, thickness : float
        Lateral size and thickness of the cell [Å].
    settings : SimulationSettings
    cache_dir : path, optional
        Cache root (default ``$AISTEM_CACHE`` or ``~/.cache/aistem``).
    use_cache : bool
        False: simulate and do not touch the cache.
    material : Material, optional
        The metal (element, a, c) to simulate the class as; default the class's own.

    Returns
    -------
    SimulatedImage
        One period of the image, (rows, cols) = cell (x, y).
    """
    check_class_name(class_name)
    key: dict[str, Any] = {
        "kind": "class",
        "class": class_name,
        "lattice_delta": round(float(lattice_delta), 6),
        "cell_size": float(cell_size),
        "thickness": float(thickness),
        "settings": settings.key(),
    }
    if material is not None and material != class_material(class_name):  # the class's own metal keeps its old key
        key["material"] = {"symbol": material.symbol, "a": round(material.a, 6), "c": material.c and round(material.c, 6)}

    def compute() -> SimulatedImage:
        return simulate_haadf(build_cell(class_name, lattice_delta, cell_size, thickness, material), settings)

    return cached_image(key, compute, cache_dir, use_cache=use_cache)[0]


def simulate_amorphous(
    size: float = 40.0,
    thickness: float = 80.0,
    *,
    symbol: str = "Si",
    density: float = 0.05,
    min_distance: float = 2.2,
    seed: int = 0,
    settings: SimulationSettings = SimulationSettings(),
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> SimulatedImage:
    """HAADF image of a periodic amorphous cell (see :func:`aistem.training.crystals.amorphous_cell`), cached."""
    key = {
        "kind": "amorphous",
        "size": float(size),
        "thickness": float(thickness),
        "symbol": symbol,
        "density": float(density),
        "min_distance": float(min_distance),
        "seed": int(seed),
        "settings": settings.key(),
    }

    def compute() -> SimulatedImage:
        atoms = amorphous_cell(size, thickness, symbol=symbol, density=density, min_distance=min_distance, seed=seed)
        return simulate_haadf(atoms, settings)

    return cached_image(key, compute, cache_dir, use_cache=use_cache)[0]
