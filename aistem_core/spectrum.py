"""Hann-tapered window spectra shared by the rotation measurement and the domain check.

A window ``x`` (h×w px) is tapered as ``t · (x − m)``, with ``t`` the periodic 2-D Hann taper and ``m`` the
taper-weighted mean (no DC peak). Everything on NumPy or CuPy arrays (``xp``), float32.
"""

from __future__ import annotations

from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

from .backend import fft_module, get_array_module
from .descriptor import hann_periodic

__all__ = ["hann2d", "parabola_vertex", "power_spectra", "tapered", "window_batch"]


@lru_cache(maxsize=16)
def hann2d(h: int, w: int) -> np.ndarray:
    """The periodic 2-D Hann taper, ndarray of shape (h, w), float32 (NumPy; cached)."""
    return np.outer(hann_periodic(h), hann_periodic(w)).astype(np.float32)


def tapered(windows: Any, xp: ModuleType) -> Any:
    """Windows (n, h, w) minus their taper-weighted mean, times the Hann taper (no DC peak), (n, h, w) float32."""
    x = windows.astype(xp.float32, copy=False)
    t = xp.asarray(hann2d(x.shape[1], x.shape[2]))
    m = (x * t).sum(axis=(1, 2), keepdims=True) / t.sum()
    return (x - m) * t


def power_spectra(windows: Any, xp: ModuleType) -> Any:
    """Power spectra |rfft2(t·(x − m))|² of the Hann-tapered windows (n, h, w) → (n, h, w//2+1) float32."""
    spec = fft_module(xp).rfft2(tapered(windows, xp), axes=(1, 2))
    return (spec.real * spec.real + spec.imag * spec.imag).astype(xp.float32)


def parabola_vertex(cm: Any, c0: Any, cp: Any, xp: ModuleType, limit: float = 1.0) -> Any:
    """Offset of the vertex of the parabola through (−1, cm), (0, c0), (1, cp), clipped to [−limit, limit].

    0 where the three values do not make a maximum (curvature ≥ 0). Elementwise, any shape.
    """
    den = cm - 2 * c0 + cp
    ok = den < 0
    return xp.clip(xp.where(ok, 0.5 * (cm - cp) / xp.where(ok, den, -1), 0), -limit, limit)


def window_batch(windows: Any, pixel_size: float) -> tuple[ModuleType, Any]:
    """The array module and array of a batch of windows (N, h, w) [px] at ``pixel_size`` [Å/px], both checked.

    Raises
    ------
    ValueError
        For another number of dimensions or a pixel size that is not a positive number.
    """
    xp = get_array_module(windows)
    x = xp.asarray(windows)
    if x.ndim != 3:
        raise ValueError(f"windows must have shape (N, h, w), got {tuple(x.shape)}")
    if not (pixel_size and pixel_size > 0):
        raise ValueError(f"pixel size must be a positive number of Å/px, got {pixel_size!r}")
    return xp, x
