"""Synthetic lattice images: Gaussian atomic columns, for demos, tests and benchmarks without a simulator."""

from __future__ import annotations

import numpy as np

__all__ = ["square_lattice", "synthetic_bicrystal"]


def square_lattice(
    shape: tuple[int, int],
    spacing: float = 1.815,
    pixel_size: float = 0.12,
    angle: float = 0.0,
    sigma: float = 0.35,
) -> np.ndarray:
    """Gaussian columns on a square lattice: a projected fcc Cu [100] at the defaults.

    Parameters
    ----------
    shape : tuple of int
        (rows, cols) [px].
    spacing : float
        Column spacing [Å] (fcc Cu [100]: a/2 = 1.815 Å).
    pixel_size : float
        [Å/px].
    angle : float
        Lattice rotation [°], counter-clockwise.
    sigma : float
        Column width (standard deviation) [Å].

    Returns
    -------
    ndarray of shape (rows, cols), float32, in [0, 1]
    """
    r, c = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64) * pixel_size
    th = np.deg2rad(angle)
    u = (np.cos(th) * c + np.sin(th) * r) / spacing
    v = (-np.sin(th) * c + np.cos(th) * r) / spacing
    du = (u - np.round(u)) * spacing
    dv = (v - np.round(v)) * spacing
    return np.exp(-(du**2 + dv**2) / (2 * sigma**2)).astype(np.float32)


def synthetic_bicrystal(
    shape: tuple[int, int] = (512, 512),
    misorientation: float = 30.0,
    pixel_size: float = 0.12,
    noise: float = 0.05,
    seed: int = 0,
) -> np.ndarray:
    """Two square-lattice grains meeting at a vertical boundary in the middle, with Gaussian noise.

    Returns
    -------
    ndarray of shape (rows, cols), float32
    """
    left = square_lattice(shape, pixel_size=pixel_size)
    right = square_lattice(shape, pixel_size=pixel_size, angle=misorientation)
    img = left.copy()
    img[:, shape[1] // 2 :] = right[:, shape[1] // 2 :]
    rng = np.random.default_rng(seed)
    return (img + noise * rng.standard_normal(shape)).astype(np.float32)
