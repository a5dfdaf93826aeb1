"""Local lattice rotation on a cyclic colour map, one convention: [−period/2, period/2) of the class."""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from aistem.core.protocol import Result

from ..overlay import rotation_display, short_class_name
from .base import DrawSettings, Layer, LegendRow, Panels

__all__ = ["CYCLIC_COLORMAP", "RotationLayer"]

#: Cyclic (both ends the same colour) and perceptually uniform; the figures use it too.
CYCLIC_COLORMAP = "twilight_shifted"


class RotationLayer(Layer):
    """Rotation over the image (mode rotation) or in the rotation panel (mode all); interface windows show the image.

    With one symmetry period among the windows the scale is degrees on [−P/2, P/2); with several, angle ÷ period
    on [−0.5, 0.5) and the legend lists each class's period.
    """

    name = "rotation"
    z = 3.0

    def __init__(self, panels: Panels) -> None:
        super().__init__(panels)
        self.item = self.add(panels.main, pg.ImageItem(axisOrder="row-major"))
        self.panel_item = self.add(panels.rotation, pg.ImageItem(axisOrder="row-major"))
        cmap = pg.colormap.get(CYCLIC_COLORMAP, source="matplotlib")
        self.bar = pg.ColorBarItem(values=(-45.0, 45.0), colorMap=cmap, label="lattice rotation [°]", interactive=False)
        self.bar.setImageItem([self.item, self.panel_item])
        self.periods: dict[str, float] = {}

    def draw(self, result: Result, settings: DrawSettings) -> None:
        shown = rotation_display(result)
        if shown is None:
            self.item.clear()
            self.panel_item.clear()
            self.periods = {}
            self.panels.rotation.setTitle("lattice rotation: not sent", color="w", size="10pt")
            return
        values, levels, label, self.periods = shown
        top, left, height, width = result.cell_rect()
        self.bar.setLevels(levels)
        self.bar.getAxis("left").setLabel(label)
        for item in (self.item, self.panel_item):
            item.setImage(values, autoLevels=False, levels=levels)
            item.setRect(QtCore.QRectF(left, top, width, height))
        self.panels.rotation.setTitle("lattice rotation (cyclic; interface: image)", color="w", size="10pt")

    def set_visible(self, settings: DrawSettings, on: bool) -> None:
        self.item.setVisible(on and settings.mode == "rotation")
        self.panel_item.setVisible(on and settings.mode == "all")

    def legend_rows(self, result: Result, settings: DrawSettings) -> list[LegendRow]:
        if settings.mode not in ("rotation", "all") or not self.periods:
            return []
        rows: list[LegendRow] = [(None, "rotation, in [−P/2, P/2) of the period P:")]
        rows += [(None, f"&nbsp;&nbsp;{short_class_name(n)}: P = {p:g}°") for n, p in self.periods.items()]
        return rows

    def colorbar(self, settings: DrawSettings) -> pg.ColorBarItem | None:
        return self.bar if settings.mode in ("rotation", "all") else None
