"""The viewer's Display panel: overlay mode, opacity, MI threshold, outline, image colours and contrast, Export.

The widgets only; the window connects their signals to what they change (:class:`aistem.gui.window.ViewerWindow`).
"""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets

from .layers import MODES

__all__ = ["IMAGE_COLORMAPS", "OVERLAYS", "DisplayControls", "image_colormap"]

#: The display modes, in the order of the Overlay box.
OVERLAYS = tuple(MODES)
#: Colour maps of the image.
IMAGE_COLORMAPS = ("gray", "viridis", "inferno", "magma", "cividis", "plasma")

_OVERLAY_TIP = (
    "class: class map over the image; mi: mutual information over the image; both: class map "
    "and a linked MI panel; rotation: local lattice rotation (if the daemon sends it)"
)


def image_colormap(name: str) -> pg.ColorMap:
    """The image's colour map ``name`` (one of :data:`IMAGE_COLORMAPS`; "gray": black to white)."""
    if name == "gray":
        return pg.ColorMap(pos=[0.0, 1.0], color=[(0, 0, 0), (255, 255, 255)], name="gray")
    return pg.colormap.get(name)


class DisplayControls(QtWidgets.QWidget):
    """The form of the Display dock.

    Parameters
    ----------
    image_item : pg.ImageItem
        The frame on the main panel, whose contrast the histogram sets.
    threshold : float, optional
        MI threshold shown first [bit]; None: 0.1 until a result brings the daemon's.
    opacity : float
        Opacity of the overlays, 0–1.
    overlay : str
        Display mode, one of :data:`OVERLAYS`.
    colormap : str
        One of :data:`IMAGE_COLORMAPS` (another name: gray).
    log_scale : bool
        Image on a log scale.
    """

    def __init__(
        self, image_item: pg.ImageItem, threshold: float | None, opacity: float, overlay: str, colormap: str, log_scale: bool
    ) -> None:
        super().__init__()
        form = QtWidgets.QFormLayout(self)
        self.overlay_box = QtWidgets.QComboBox()
        self.overlay_box.addItems(list(OVERLAYS))
        self.overlay_box.setCurrentText(overlay)
        self.overlay_box.setToolTip(_OVERLAY_TIP)
        form.addRow("Overlay", self.overlay_box)
        self.opacity_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(opacity * 100))
        form.addRow("Opacity", self.opacity_slider)
        self.threshold_spin = QtWidgets.QDoubleSpinBox()
        self.threshold_spin.setRange(0.0, 4.0)
        self.threshold_spin.setDecimals(3)
        self.threshold_spin.setSingleStep(0.01)
        self.threshold_spin.setSuffix(" bit")
        self.threshold_spin.setValue(0.1 if threshold is None else float(threshold))
        self.threshold_spin.setToolTip("MI threshold of the drawn interface: changes the display only, never the result")
        form.addRow("MI threshold", self.threshold_spin)
        self.outline_check = QtWidgets.QCheckBox("outline interface")
        self.outline_check.setChecked(True)
        form.addRow(self.outline_check)
        self.cmap_box = QtWidgets.QComboBox()
        self.cmap_box.addItems(list(IMAGE_COLORMAPS))
        self.cmap_box.setCurrentText(colormap if colormap in IMAGE_COLORMAPS else "gray")
        form.addRow("Image colours", self.cmap_box)
        self.log_check = QtWidgets.QCheckBox("log scale")
        self.log_check.setChecked(log_scale)
        form.addRow(self.log_check)
        self.hist = pg.HistogramLUTWidget(orientation="vertical")
        self.hist.setImageItem(image_item)
        self.hist.setMinimumHeight(220)
        form.addRow(self.hist)
        self._add_buttons(form)

    def _add_buttons(self, form: QtWidgets.QFormLayout) -> None:
        buttons = QtWidgets.QHBoxLayout()
        self.auto_levels_button = QtWidgets.QPushButton("Auto levels")
        self.fit_button = QtWidgets.QPushButton("Fit view")
        buttons.addWidget(self.auto_levels_button)
        buttons.addWidget(self.fit_button)
        form.addRow(buttons)
        self.export_button = QtWidgets.QPushButton("Export view")
        self.export_button.setToolTip("write the view (PNG), the maps (.npz) and a paper-style figure (PNG)")
        form.addRow(self.export_button)
        self.export_label = QtWidgets.QLabel("")
        self.export_label.setWordWrap(True)
        form.addRow(self.export_label)
