"""Parts of the view that are not overlays: the legend beside the panels and the scale bar on the image."""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets

from .layers.base import LegendRow
from .overlay import nice_scale_bar

__all__ = ["Legend", "ScaleBar", "link_panels"]


class Legend(QtWidgets.QLabel):
    """The legend beside the image panels (never over the image): colour squares, lines and text, top-aligned."""

    def __init__(self) -> None:
        super().__init__()
        self.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.setWordWrap(True)
        self.setFixedWidth(220)
        self.setStyleSheet("QLabel { background: black; color: white; font-size: 10pt; padding: 6px; }")
        self._rows: list[LegendRow] = []

    def set_rows(self, rows: list[LegendRow]) -> None:
        """Replace the rows (a no-op when they did not change)."""
        if rows == self._rows:
            return
        self._rows = list(rows)
        html = []
        for colour, text in rows:
            if colour == "line":
                mark = '<span style="color:#ffffff; font-weight:bold">&#9472;&#9472;</span>'
            elif colour is None:
                mark = ""
            else:
                r, g, b = colour  # type: ignore[misc]
                mark = f'<span style="color:#{r:02x}{g:02x}{b:02x}; font-size:14pt">&#9632;</span>'
            html.append(f"{mark} {text}".strip())
        self.setText("<br>".join(html))

    @property
    def texts(self) -> list[str]:
        """The rows' texts, top to bottom."""
        return [text for _, text in self._rows]


class ScaleBar:
    """A round-length bar in the image's lower left corner, in image coordinates (it zooms with the image)."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.rect = QtWidgets.QGraphicsRectItem()
        self.rect.setBrush(pg.mkBrush(255, 255, 255))
        self.rect.setPen(pg.mkPen(0, 0, 0))
        self.rect.setZValue(25)
        self.text = pg.TextItem("", color=(255, 255, 255), anchor=(0.5, 1.0), fill=pg.mkBrush(0, 0, 0, 150))
        self.text.setZValue(25)
        plot.addItem(self.rect)
        plot.addItem(self.text)
        self._key: tuple[int, int, float | None] | None = None
        self.set(None, None)

    def set(self, shape: tuple[int, int] | None, pixel_size: float | None) -> None:
        """Place the bar for an image of ``shape`` (rows, cols) at ``pixel_size`` [Å/px]; hidden when unknown."""
        key = (*(shape or (0, 0)), pixel_size)
        if key == self._key:
            return
        self._key = key
        bar = nice_scale_bar(shape[1], pixel_size) if shape else None
        visible = bar is not None and shape is not None
        self.rect.setVisible(visible)
        self.text.setVisible(visible)
        if not visible:
            return
        assert shape is not None and bar is not None
        nm, px = bar
        rows, cols = shape
        height = max(2.0, rows * 0.012)
        r0, c0 = rows * 0.95 - height, cols * 0.05
        self.rect.setRect(QtCore.QRectF(c0, r0, px, height))
        self.text.setText(f"{nm:g} nm")
        self.text.setPos(c0 + px / 2, r0 - rows * 0.005)

    @property
    def length_px(self) -> float:
        """The bar's length [px of the image] (0 when hidden)."""
        return float(self.rect.rect().width()) if self.rect.isVisible() else 0.0


def link_panels(main: pg.PlotItem, *others: pg.PlotItem) -> None:
    """Image panels: y down, square pixels, no axes or menus; ``others`` zoom and pan with ``main``."""
    for p in (main, *others):
        p.invertY(True)
        p.setAspectLocked(True)
        p.hideAxis("left")
        p.hideAxis("bottom")
        p.setMenuEnabled(False)
        p.hideButtons()
    for p in others:
        p.setXLink(main)
        p.setYLink(main)
