"""The window geometry of a frame, computed once per frame shape, pixel size and analysis settings.

The receiver checks a frame against it (is it at least one window?), the worker passes it to
:func:`aistem.core.analyze` (``grid=``) and derives the dense preview's grid from it: one computation, not one
per layer.
"""

from __future__ import annotations

from functools import lru_cache

from aistem.core import WindowGrid, to_pixels

__all__ = ["FrameTooSmall", "frame_grid", "preview_grid"]


class FrameTooSmall(ValueError):
    """The frame is smaller than one window."""


@lru_cache(maxsize=64)  # a series has one shape and pixel size: computed once, then looked up for every frame
def frame_grid(shape: tuple[int, int], pixel_size: float, window: float, stride: float) -> WindowGrid:
    """The analysis' window grid of a frame.

    Parameters
    ----------
    shape : tuple of int
        (rows, cols) of the frame [px].
    pixel_size : float
        [Å/px].
    window, stride : float
        [Å].

    Raises
    ------
    FrameTooSmall
        If the frame is smaller than one window.
    ValueError
        If a length has no pixel count at this pixel size.
    """
    w = to_pixels(window, pixel_size, name="window")
    s = to_pixels(stride, pixel_size, name="stride")
    rows, cols = shape
    if rows < w or cols < w:
        raise FrameTooSmall(f"frame of {rows}×{cols} px is smaller than one window of {w} px ({window} Å at {pixel_size} Å/px)")
    return WindowGrid((int(rows), int(cols)), w, s)


def preview_grid(grid: WindowGrid, step: int) -> WindowGrid:
    """Every ``step``-th window of ``grid`` in each direction: the same window, ``step`` × the stride."""
    return WindowGrid(grid.image_shape, grid.window_px, grid.stride_px * int(step))
