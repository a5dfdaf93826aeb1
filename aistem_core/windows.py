"""Sliding windows over an image: sizes in Å or px, grid and origins, strided views."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import get_array_module

__all__ = ["WindowGrid", "extract_windows", "to_pixels", "window_grid"]


@dataclass(frozen=True)
class WindowGrid:
    """Positions of square windows laid over an image.

    Windows start at (0, 0) and step by ``stride_px`` while the window lies
    fully inside the image.

    Attributes
    ----------
    image_shape : tuple of int
        (rows, cols) of the image [px].
    window_px : int
        Side of a window [px].
    stride_px : int
        Step between neighbouring windows [px].
    """

    image_shape: tuple[int, int]
    window_px: int
    stride_px: int

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the window grid."""
        rows, cols = self.image_shape
        return (
            (rows - self.window_px) // self.stride_px + 1,
            (cols - self.window_px) // self.stride_px + 1,
        )

    @property
    def size(self) -> int:
        """Number of windows."""
        r, c = self.shape
        return r * c

    @property
    def origins(self) -> np.ndarray:
        """Top-left pixel of every window, ndarray of shape (grid_rows, grid_cols, 2) [px], (row, col)."""
        r, c = self.shape
        rr, cc = np.meshgrid(np.arange(r) * self.stride_px, np.arange(c) * self.stride_px, indexing="ij")
        return np.stack([rr, cc], axis=-1).astype(np.int64)

    @property
    def centres(self) -> np.ndarray:
        """Centre of every window, ndarray of shape (grid_rows, grid_cols, 2) [px], (row, col)."""
        return self.origins + (self.window_px - 1) / 2.0


def to_pixels(length_angstrom: float, pixel_size: float, *, name: str = "length") -> int:
    """Convert a length in Å to a whole number of pixels (rounded, at least 1).

    Parameters
    ----------
    length_angstrom : float
        Length [Å].
    pixel_size : float
        Pixel size [Å/px].
    """
    if not (isinstance(pixel_size, (int, float)) and math.isfinite(pixel_size) and pixel_size > 0):
        raise ValueError(f"pixel size must be a positive number of Å/px, got {pixel_size!r}")
    if not (math.isfinite(length_angstrom) and length_angstrom > 0):
        raise ValueError(f"{name} must be a positive number of Å, got {length_angstrom!r}")
    px = length_angstrom / pixel_size
    if not px < 2**31:
        raise ValueError(f"{name} of {length_angstrom:g} Å is {px:.3g} px at {pixel_size:g} Å/px: the pixel size is too small")
    return max(1, round(px))


def window_grid(image_shape: tuple[int, ...], window_px: int, stride_px: int, *, pixel_size: float | None = None) -> WindowGrid:
    """Lay a grid of windows over an image of ``image_shape``.

    Raises
    ------
    ValueError
        If the image is smaller than one window, or sizes are not positive.
    """
    if len(image_shape) != 2:
        raise ValueError(f"expected a 2-D image (rows, cols), got shape {tuple(image_shape)}")
    if int(window_px) != window_px or window_px < 1:
        raise ValueError(f"window must be a positive whole number of pixels, got {window_px!r}")
    if int(stride_px) != stride_px or stride_px < 1:
        raise ValueError(f"stride must be a positive whole number of pixels, got {stride_px!r}")
    rows, cols = (int(s) for s in image_shape)
    if rows < window_px or cols < window_px:
        where = f" (pixel size {pixel_size} Å/px → {window_px * pixel_size:.3g} Å)" if pixel_size else ""
        raise ValueError(
            f"image of {rows}×{cols} px is smaller than one window of {window_px} px{where}: "
            "use a larger image, a smaller window or check the pixel size"
        )
    return WindowGrid((rows, cols), int(window_px), int(stride_px))


def extract_windows(image: Any, grid: WindowGrid, start: int = 0, stop: int | None = None) -> Any:
    """Windows ``start:stop`` (in row-major grid order) as an array of shape (n, window_px, window_px).

    A strided view of the image is sliced (no Python loop over windows); the
    returned block is a contiguous copy in the image's array module and dtype.

    Parameters
    ----------
    image : ndarray of shape (rows, cols)
        The image, NumPy or CuPy.
    grid : WindowGrid
        Grid built for ``image.shape``.
    start, stop : int
        Range of flat window indices.
    """
    xp = get_array_module(image)
    if tuple(image.shape) != grid.image_shape:
        raise ValueError(f"image shape {tuple(image.shape)} does not match the grid's {grid.image_shape}")
    w, s = grid.window_px, grid.stride_px
    view = xp.lib.stride_tricks.sliding_window_view(image, (w, w))[::s, ::s]
    gr, gc = grid.shape
    view = view[:gr, :gc]
    stop = grid.size if stop is None else min(stop, grid.size)
    if start == 0 and stop == grid.size:
        return xp.ascontiguousarray(view.reshape(gr * gc, w, w))
    r0, r1 = start // gc, (stop - 1) // gc + 1
    block = view[r0:r1].reshape((r1 - r0) * gc, w, w)
    off = start - r0 * gc
    return xp.ascontiguousarray(block[off : off + (stop - start)])
