"""What window sizes the model can use: the descriptor's pixel floor and the window it was trained on.

Checked by the command line before TensorFlow is imported, and by :func:`aistem.core.analyze`.
"""

from __future__ import annotations

__all__ = ["DESCRIPTOR_PX", "TRAINED_WINDOW", "WINDOW_TOLERANCE", "check_window", "max_pixel_size", "window_warning"]

#: Side of the FFT-HAADF descriptor [px]: a window needs at least this many pixels.
DESCRIPTOR_PX = 64
#: Window side the models were trained with [Å].
TRAINED_WINDOW = 12.0
#: A window more than this fraction away from the trained one gets a warning.
WINDOW_TOLERANCE = 0.25


def max_pixel_size(window: float = TRAINED_WINDOW, descriptor_px: int = DESCRIPTOR_PX) -> float:
    """The coarsest pixel size [Å/px] a window of ``window`` Å can have: ``window / descriptor_px`` (12 Å: 0.1875)."""
    return float(window) / descriptor_px


def check_window(window_px: int, pixel_size: float | None, window: float | None, descriptor_px: int = DESCRIPTOR_PX) -> None:
    """ValueError, saying the real limit, when a window of ``window_px`` px is smaller than the descriptor.

    Parameters
    ----------
    window_px : int
        Window side [px].
    pixel_size : float or None
        [Å/px].
    window : float or None
        The window side asked for [Å] (None when given in pixels).
    """
    if window_px >= descriptor_px:
        return
    if pixel_size is not None and window is not None:
        raise ValueError(
            f"pixel size {pixel_size:g} Å/px is too coarse: a {window:g} Å window is only {window_px} px, smaller than "
            f"the {descriptor_px}×{descriptor_px} descriptor; the descriptor needs ≥ {descriptor_px} px per window, "
            "so the pixel size must be ≤ "
            f"{max_pixel_size(window, descriptor_px):.4g} Å/px at {window:g} Å (the model was trained at "
            f"{TRAINED_WINDOW:g} Å windows): record at a higher magnification"
        )
    raise ValueError(
        f"a window of {window_px} px is smaller than the {descriptor_px}×{descriptor_px} descriptor: the descriptor "
        f"needs ≥ {descriptor_px} px per window (at {TRAINED_WINDOW:g} Å: pixel size ≤ {max_pixel_size():.4g} Å/px)"
    )


def window_warning(window_px: int, pixel_size: float | None, trained: float = TRAINED_WINDOW) -> str | None:
    """A warning when the window [Å] is far (> :data:`WINDOW_TOLERANCE`) from the trained one, else None."""
    if pixel_size is None or not pixel_size > 0:
        return None
    w = window_px * float(pixel_size)
    if abs(w - trained) <= WINDOW_TOLERANCE * trained:
        return None
    return (
        f"the window is {w:.3g} Å ({window_px} px at {pixel_size:g} Å/px) but the model was trained at {trained:g} Å "
        "windows: its classes and uncertainties are not calibrated for this size"
    )
