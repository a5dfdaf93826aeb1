"""Interface outlines (MI above the display threshold) on every panel shown."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from aistem.core.protocol import Result

from ..overlay import interface_at, interface_segments
from .base import DrawSettings, Layer, LegendRow, Panels

__all__ = ["OutlineLayer"]


class OutlineLayer(Layer):
    """White outlines around the interface windows, drawn on all three panels (shown where the panel is)."""

    name = "outline"
    z = 10.0
    translucent = False

    def __init__(self, panels: Panels) -> None:
        super().__init__(panels)
        pen = pg.mkPen((255, 255, 255), width=2)
        self.curves = {
            k: self.add(getattr(panels, k), pg.PlotCurveItem(pen=pen, connect="pairs", antialias=False))
            for k in ("main", "rotation", "mi")
        }
        self._share = 0.0

    def draw(self, result: Result, settings: DrawSettings) -> None:
        mask = interface_at(result, settings.threshold)
        self._share = float(mask.mean()) if mask.size else 0.0
        rows, cols = interface_segments(mask, result) if settings.outline else (np.zeros(0), np.zeros(0))
        for curve in self.curves.values():
            curve.setData(x=cols, y=rows, connect="pairs")

    def set_visible(self, settings: DrawSettings, on: bool) -> None:
        for curve in self.curves.values():
            curve.setVisible(on and settings.outline and settings.mode != "none")

    def legend_rows(self, result: Result, settings: DrawSettings) -> list[LegendRow]:
        if not settings.outline or settings.mode == "none":
            return []
        return [("line", f"interface (MI > {settings.threshold:g} bit)  {100 * self._share:.0f} %")]
