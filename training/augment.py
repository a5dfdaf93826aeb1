"""Augmentation: rotate, shear, resample and crop periodic images; noise and blur.

Pure array functions (NumPy, SciPy).  Geometry conventions:

* images are (rows, cols) arrays, row 0 at the top (as ``imshow`` shows them);
* a *rotation* θ [°] turns the content counter-clockwise as displayed;
* a *shear* s moves content sideways in proportion to its height:
  x' = x + s·y (x to the right, y up, both [Å]);
* the content transform is rotation ∘ shear (shear first).

The source images are periodic (simulated cells), so resampling wraps around
(``mode="grid-wrap"``) and a crop of any size has no interpolated border.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .crystals import lateral_pair

__all__ = [
    "PeriodicImage",
    "affine_crop",
    "gaussian_blur",
    "gaussian_noise",
    "minmax",
    "output_coordinates",
    "poisson_noise",
    "rotation_shear_matrix",
]


def rotation_shear_matrix(rotation_deg: float, shear: float = 0.0) -> np.ndarray:
    """The 2×2 content transform rotation(θ) · shear(s) in display coordinates (x right, y up).

    Returns
    -------
    ndarray of shape (2, 2), float64
        Maps (x, y) of the source content [Å] to (x, y) in the output [Å].
    """
    t = math.radians(rotation_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    sh = np.array([[1.0, shear], [0.0, 1.0]])
    return rot @ sh


class PeriodicImage:
    """A periodic image, spline-filtered once, that can be sampled anywhere.

    Parameters
    ----------
    image : ndarray of shape (rows, cols)
        One period of the image (e.g. a simulated cell).
    pixel_size : float or (float, float)
        (row, col) pixel size [Å/px].
    order : int
        Spline order of the interpolation (1–5; 3 is cubic).
    """

    def __init__(self, image: np.ndarray, pixel_size: float | Sequence[float], order: int = 3) -> None:
        img = np.asarray(image, dtype=np.float64)
        if img.ndim != 2 or min(img.shape) < 2:
            raise ValueError(f"expected a 2-D image, got shape {img.shape}")
        ps = lateral_pair(pixel_size, "pixel size")
        if not all(p > 0 for p in ps):
            raise ValueError(f"pixel size must be positive [Å/px], got {pixel_size!r}")
        self.pixel_size: tuple[float, float] = (ps[0], ps[1])
        self.shape: tuple[int, int] = (img.shape[0], img.shape[1])
        self.order = int(order)
        self._coeffs = ndimage.spline_filter(img, order=self.order, mode="grid-wrap") if self.order > 1 else img

    @property
    def extent(self) -> tuple[float, float]:
        """(rows, cols) size of one period [Å]."""
        return (self.shape[0] * self.pixel_size[0], self.shape[1] * self.pixel_size[1])

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Values at display positions (x right, y up) [Å] measured from the image's pixel (0, 0).

        Parameters
        ----------
        x, y : ndarray, same shape
            Positions [Å].

        Returns
        -------
        ndarray, shape of ``x``, float64
        """
        rows = -np.asarray(y) / self.pixel_size[0]
        cols = np.asarray(x) / self.pixel_size[1]
        coords = np.stack([rows, cols])
        return ndimage.map_coordinates(self._coeffs, coords, order=self.order, mode="grid-wrap", prefilter=False)

    def transformed(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        rotation: float = 0.0,
        shear: float = 0.0,
        centre: tuple[float, float] = (0.0, 0.0),
    ) -> np.ndarray:
        """Values of the rotated/sheared content at output positions (x right, y up) [Å].

        Parameters
        ----------
        x, y : ndarray, same shape
            Output positions [Å], relative to the point where ``centre`` lands.
        rotation : float
            Content rotation θ [°], counter-clockwise.
        shear : float
            Content shear s (dimensionless).
        centre : (float, float)
            Source position (x, y) [Å] (from the source's pixel (0, 0), y up) that
            lands on the output position (0, 0); any value works (periodic source).

        Returns
        -------
        ndarray, shape of ``x``, float64
        """
        inv = np.linalg.inv(rotation_shear_matrix(rotation, shear))
        xs = inv[0, 0] * x + inv[0, 1] * y + centre[0]
        ys = inv[1, 0] * x + inv[1, 1] * y + centre[1]
        return self.sample(xs, ys)

    def render(
        self,
        shape: tuple[int, int],
        pixel_size: float,
        *,
        rotation: float = 0.0,
        shear: float = 0.0,
        centre: tuple[float, float] = (0.0, 0.0),
    ) -> np.ndarray:
        """Render the transformed content on a new pixel grid.

        Parameters
        ----------
        shape : (int, int)
            Output (rows, cols) [px].
        pixel_size : float
            Output pixel size [Å/px].
        rotation, shear, centre
            As in :meth:`transformed`; ``centre`` lands on the output's centre.

        Returns
        -------
        ndarray of shape ``shape``, float32
        """
        x, y = output_coordinates(shape, pixel_size)
        return self.transformed(x, y, rotation=rotation, shear=shear, centre=centre).astype(np.float32)


def output_coordinates(shape: tuple[int, int], pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Display coordinates (x right, y up) [Å] of every pixel of a (rows, cols) grid, origin at its centre.

    Returns
    -------
    x, y : ndarray of shape ``shape``, float64
    """
    rows, cols = int(shape[0]), int(shape[1])
    if rows < 1 or cols < 1 or not pixel_size > 0:
        raise ValueError(f"output shape and pixel size must be positive, got {shape}, {pixel_size}")
    c = (np.arange(cols) - (cols - 1) / 2.0) * pixel_size
    r = (np.arange(rows) - (rows - 1) / 2.0) * pixel_size
    return np.broadcast_to(c[None, :], (rows, cols)), np.broadcast_to(-r[:, None], (rows, cols))


def affine_crop(
    image: np.ndarray,
    pixel_size: float | Sequence[float],
    out_shape: tuple[int, int],
    out_pixel_size: float,
    *,
    rotation: float = 0.0,
    shear: float = 0.0,
    centre: tuple[float, float] | None = None,
    order: int = 3,
) -> np.ndarray:
    """Rotate, shear, resample and crop a periodic image in one interpolation.

    Parameters
    ----------
    image : ndarray of shape (rows, cols)
        One period of a periodic image.
    pixel_size : float or (float, float)
        Its (row, col) pixel size [Å/px].
    out_shape : (int, int)
        Output (rows, cols) [px].
    out_pixel_size : float
        Output pixel size [Å/px].
    rotation : float
        Counter-clockwise rotation [°].
    shear : float
        Shear factor.
    centre : (float, float), optional
        Source position (x, y) [Å] at the output centre; default the source centre.
    order : int
        Spline order.

    Returns
    -------
    ndarray of shape ``out_shape``, float32
    """
    src = PeriodicImage(image, pixel_size, order)
    if centre is None:
        ey, ex = src.extent
        centre = (ex / 2.0, -ey / 2.0)
    return src.render(out_shape, out_pixel_size, rotation=rotation, shear=shear, centre=centre)


def minmax(x: np.ndarray) -> np.ndarray:
    """Min–max normalise to [0, 1] (a constant image becomes zeros), float32."""
    x = np.asarray(x, dtype=np.float32)
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def poisson_noise(x: np.ndarray, rng: np.random.Generator, dose: float = 0.0) -> np.ndarray:
    """Poisson (shot) noise on an image in [0, 1].

    Parameters
    ----------
    x : ndarray
        Image normalised to [0, 1].
    rng : numpy.random.Generator
    dose : float
        Counts at intensity 1 [electrons/px].  0 follows
        ``skimage.util.random_noise(mode="poisson")`` (the paper's tool): the
        number of distinct values rounded up to a power of two.

    Returns
    -------
    ndarray, float32, clipped to [0, 1]
    """
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    vals = float(dose) if dose > 0 else 2.0 ** math.ceil(math.log2(max(2, len(np.unique(x)))))
    return np.clip(rng.poisson(x * vals) / vals, 0.0, 1.0).astype(np.float32)


def gaussian_noise(x: np.ndarray, rng: np.random.Generator, variance: float) -> np.ndarray:
    """Additive Gaussian noise of ``variance`` (on the [0, 1] scale), clipped to [0, 1] like skimage's ``random_noise``."""
    if variance < 0:
        raise ValueError(f"variance must be ≥ 0, got {variance}")
    return np.clip(x + rng.normal(0.0, math.sqrt(variance), np.shape(x)), 0.0, 1.0).astype(np.float32)


def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` [px] (edges: nearest value), float32."""
    if sigma < 0:
        raise ValueError(f"sigma must be ≥ 0 px, got {sigma}")
    return ndimage.gaussian_filter(np.asarray(x, dtype=np.float32), sigma, mode="nearest")
