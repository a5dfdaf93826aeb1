"""The interface every overlay implements, the panels it draws on, and the display modes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pyqtgraph as pg

from aistem.core.protocol import Result

__all__ = ["MODES", "DrawSettings", "Layer", "LegendRow", "Panels"]

#: Display mode → the panels shown, left to right ("main" is the image with the class map, or MI, or rotation).
MODES: dict[str, tuple[str, ...]] = {
    "class": ("main",),
    "mi": ("main",),
    "both": ("main", "mi"),
    "rotation": ("main",),
    "all": ("main", "rotation", "mi"),
    "none": ("main",),
}

#: One legend row: RGB colour of a filled square, "line" for a white line, or None for text only; and its text.
LegendRow = tuple[tuple[int, int, int] | str | None, str]


@dataclass
class Panels:
    """The linked image panels: the main one (image + overlay), the rotation panel and the MI panel."""

    main: pg.PlotItem
    rotation: pg.PlotItem
    mi: pg.PlotItem


@dataclass
class DrawSettings:
    """The display settings a layer draws with (they change the display only, never the result).

    Attributes
    ----------
    mode : str
        One of :data:`MODES`.
    threshold : float
        MI threshold of the drawn interface [bit].
    outline : bool
        Draw the interface outlines.
    """

    mode: str = "class"
    threshold: float = 0.1
    outline: bool = True


class Layer:
    """One overlay: its items on the panels, its legend rows, its colour bar.

    Subclasses set :attr:`name` and :attr:`z` and implement :meth:`draw`; the rest has defaults.
    """

    name: ClassVar[str] = "layer"
    #: Stacking order over the image (the image is 0).
    z: ClassVar[float] = 1.0
    #: Whether the window's opacity slider applies to this layer's items.
    translucent: ClassVar[bool] = True

    def __init__(self, panels: Panels) -> None:
        self.panels = panels
        self.items: list[pg.GraphicsObject] = []

    def add(self, panel: pg.PlotItem, item: pg.GraphicsObject) -> pg.GraphicsObject:
        """Put ``item`` on ``panel`` at this layer's z and remember it."""
        item.setZValue(self.z)
        panel.addItem(item)
        self.items.append(item)
        return item

    def draw(self, result: Result, settings: DrawSettings) -> None:
        """Draw ``result``'s maps with ``settings``."""
        raise NotImplementedError

    def set_visible(self, settings: DrawSettings, on: bool) -> None:
        """Show the items this mode needs (``on``: there is a result and overlays are shown at all)."""
        for item in self.items:
            item.setVisible(on)

    def set_opacity(self, opacity: float) -> None:
        """Opacity over the image, 0–1."""
        if self.translucent:
            for item in self.items:
                item.setOpacity(opacity)

    def legend_rows(self, result: Result, settings: DrawSettings) -> list[LegendRow]:
        """Legend rows of this layer in this mode."""
        return []

    def colorbar(self, settings: DrawSettings) -> pg.ColorBarItem | None:
        """The colour bar shown beside the panels in this mode, if any."""
        return None
