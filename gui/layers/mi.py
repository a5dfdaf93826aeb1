"""Mutual information on a fixed colour scale (0 to at least 1 bit), the threshold marked on its colour bar."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from aistem.core.protocol import Result

from ..overlay import interface_at, mi_scale
from .base import DrawSettings, Layer, Panels

__all__ = ["MILayer"]


class MILayer(Layer):
    """MI over the image (mode mi) and in the MI panel (modes both, all).

    The scale is fixed (:func:`aistem.gui.overlay.mi_scale`), never stretched to the data, so a map of sampling
    noise (1e-6 bit) is one dark colour; the panel's title then says "all windows below the threshold".
    """

    name = "mi"
    z = 2.0

    def __init__(self, panels: Panels) -> None:
        super().__init__(panels)
        self.item = self.add(panels.main, pg.ImageItem(axisOrder="row-major"))
        self.panel_item = self.add(panels.mi, pg.ImageItem(axisOrder="row-major"))
        self.bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap="viridis", label="MI [bit]", interactive=False)
        self.bar.setImageItem([self.item, self.panel_item])
        self.threshold_line = pg.InfiniteLine(angle=0, pen=pg.mkPen((255, 60, 60), width=3))
        self.threshold_line.setZValue(1000)
        self.bar.addItem(self.threshold_line)
        self._top = 1.0
        self._set_scale(1.0, 0.1)

    def _set_scale(self, top: float, threshold: float) -> None:
        self._top = top
        self.bar.setLevels((0.0, top))
        self.threshold_line.setPos(256.0 * min(threshold, top) / top)  # the bar's own coordinates: 0…256

    def draw(self, result: Result, settings: DrawSettings) -> None:
        mi = result.mutual_information
        top, left, height, width = result.cell_rect()
        self._set_scale(mi_scale(mi, settings.threshold), settings.threshold)
        self.bar.getAxis("left").setLabel(f"MI [bit] (threshold {settings.threshold:g}, red)")
        if mi is None:
            self.item.clear()
            self.panel_item.clear()
            self.panels.mi.setTitle("mutual information: not sent", color="w", size="10pt")
            return
        for item in (self.item, self.panel_item):
            item.setImage(np.asarray(mi, np.float32), autoLevels=False, levels=(0.0, self._top))
            item.setRect(QtCore.QRectF(left, top, width, height))
        above = interface_at(result, settings.threshold)
        if not above.any():
            title = f"MI: all windows below {settings.threshold:g} bit"
        else:
            title = f"MI: {100 * above.mean():.0f} % of windows above {settings.threshold:g} bit"
        self.panels.mi.setTitle(title, color="w", size="10pt")

    def set_visible(self, settings: DrawSettings, on: bool) -> None:
        self.item.setVisible(on and settings.mode == "mi")
        self.panel_item.setVisible(on and settings.mode in ("both", "all"))

    def colorbar(self, settings: DrawSettings) -> pg.ColorBarItem | None:
        return self.bar if settings.mode in ("mi", "both", "all") else None
