"""The class map over the image: one colour per class (those of the figures), unknown windows light grey."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from aistem.core.protocol import Result

from ..overlay import UNKNOWN_RGBA, class_lut, class_rgba, interface_at, short_class_name, unknown_at
from .base import DrawSettings, Layer, LegendRow, Panels

__all__ = ["ClassLayer", "class_shares"]


def class_shares(result: Result, threshold: float) -> tuple[dict[int, float], float, float]:
    """Class shares over the known bulk windows, and the unknown and interface shares of all windows.

    Returns
    -------
    classes : dict
        Class index → fraction of the windows that are neither unknown nor interface.
    unknown, interface : float
        Fractions of all windows.
    """
    unknown = unknown_at(result)
    iface = interface_at(result, threshold)
    bulk = ~unknown & ~iface
    n = len(result.class_names)
    counts = np.bincount(result.classes[bulk].astype(np.int64), minlength=n)[:n]
    total = max(1, int(bulk.sum()))
    shares = {int(i): float(counts[i]) / total for i in np.nonzero(counts)[0]}
    size = max(1, result.classes.size)
    return shares, float(unknown.sum()) / size, float(iface.sum()) / size


class ClassLayer(Layer):
    """Class colours on the main panel (modes class, both, all)."""

    name = "class"
    z = 1.0
    MODES = ("class", "both", "all")

    def __init__(self, panels: Panels) -> None:
        super().__init__(panels)
        self.item = self.add(panels.main, pg.ImageItem(axisOrder="row-major"))

    def draw(self, result: Result, settings: DrawSettings) -> None:
        top, left, height, width = result.cell_rect()
        self.item.setImage(class_rgba(result.classes, len(result.class_names), unknown_at(result)), levels=(0, 255))
        self.item.setRect(QtCore.QRectF(left, top, width, height))

    def set_visible(self, settings: DrawSettings, on: bool) -> None:
        self.item.setVisible(on and settings.mode in self.MODES)

    def legend_rows(self, result: Result, settings: DrawSettings) -> list[LegendRow]:
        if settings.mode not in self.MODES:
            return []
        shares, unknown, _ = class_shares(result, settings.threshold)
        lut = class_lut(len(result.class_names))
        rows: list[LegendRow] = [
            ((int(lut[i][0]), int(lut[i][1]), int(lut[i][2])), f"{short_class_name(result.class_names[i])}  {100 * f:.0f} %")
            for i, f in sorted(shares.items(), key=lambda kv: -kv[1])
        ]
        iface = interface_at(result, settings.threshold) & ~unknown_at(result)
        for i in sorted(set(np.unique(result.classes[iface]).tolist()) - set(shares)):
            if i < len(lut):
                rows.append(
                    (
                        (int(lut[i][0]), int(lut[i][1]), int(lut[i][2])),
                        f"{short_class_name(result.class_names[i])}  (interface only)",
                    )
                )
        if unknown > 0:
            u = UNKNOWN_RGBA
            rows.append(((int(u[0]), int(u[1]), int(u[2])), f"unknown  {100 * unknown:.0f} % of windows"))
        return rows
