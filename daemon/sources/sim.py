"""The synthetic frame source: a bicrystal movie for tests, demos and benchmarks without a microscope.

:func:`synthetic_series` makes it (Gaussian columns on a square lattice, 1.815 Å spacing — fcc Cu [100] — at
0.12 Å/px; the right half rotated 30°; the boundary drifting and the noise changing from frame to frame);
``aistem replay --synthetic N`` publishes it with :func:`~aistem.daemon.sources.base.publish_series`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["synthetic_series"]


def synthetic_series(
    n: int = 8,
    shape: tuple[int, int] = (512, 512),
    pixel_size: float = 0.12,
    *,
    spacing: float = 1.815,
    misorientation: float = 30.0,
    noise: float = 0.05,
    drift: float = 2.0,
    seed: int = 0,
    dtype: str = "uint16",
) -> np.ndarray:
    """A bicrystal movie: two halves of a square lattice rotated ``misorientation`` apart.

    Parameters
    ----------
    n : int
        Frames.
    shape : tuple of int
        (rows, cols) [px].
    pixel_size : float
        [Å/px].
    spacing : float
        Column spacing [Å].
    misorientation : float
        Rotation of the right grain [°].
    noise : float
        Gaussian noise, relative to the column peak height.
    drift : float
        Boundary shift per frame [px].
    seed : int
        Noise seed.
    dtype : str
        ``"uint16"`` (counts 100 … ~1100) or ``"float32"`` (0 … 1 plus noise).

    Returns
    -------
    ndarray of shape (n, rows, cols)
    """
    from aistem.core import square_lattice

    left = square_lattice(shape, spacing=spacing, pixel_size=pixel_size)
    right = square_lattice(shape, spacing=spacing, pixel_size=pixel_size, angle=misorientation)
    rng = np.random.default_rng(seed)
    cols = np.arange(shape[1])[None, :]
    out = np.empty((n, *shape), np.dtype(dtype))
    for k in range(n):
        boundary = shape[1] / 2 + drift * (k - (n - 1) / 2)
        img = np.where(cols < boundary, left, right) + noise * rng.standard_normal(shape)
        if np.dtype(dtype).kind == "f":
            out[k] = img
        else:
            out[k] = np.clip(100 + 1000 * img, 0, np.iinfo(out.dtype).max)
    return out
