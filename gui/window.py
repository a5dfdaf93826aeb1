"""The viewer window: the live frame, the class map and mutual information over it, hover read-out, status line.

Coordinates: the view's x is the column and y the row (y pointing down), in pixel-centre coordinates: pixel
(r, c) is the unit square centred on (c, r). Grid cells are drawn as stride × stride blocks centred on their
windows (:meth:`aistem.core.protocol.Result.cell_rect`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from aistem.core.protocol import Frame, Result, preview_outdated

from . import layers as _layers
from .controls import IMAGE_COLORMAPS, OVERLAYS, DisplayControls, image_colormap
from .export import export_view
from .layers import MODES, DrawSettings, Layer, Panels
from .overlay import display_image, hover_text
from .qtfix import guard_refcount_bug, quiet_qt_messages
from .receiver import Receiver, Snapshot
from .status import IDLE_S, status_text
from .viewparts import Legend, ScaleBar, link_panels

__all__ = ["IDLE_S", "IMAGE_COLORMAPS", "OVERLAYS", "ViewerWindow"]

STALE_RESULT_S = 2.0  # show new frames without an overlay once results have stopped coming for this long
FRAME_WAIT_S = 1.5  # how long a screenshot waits for the frame of the newest result


class ViewerWindow(QtWidgets.QMainWindow):
    """Main window of ``aistem view``.

    Parameters
    ----------
    receiver : Receiver or None
        Where frames and results come from; None: only what :meth:`show_result` / :meth:`show_frame` are given.
    threshold : float, optional
        Display threshold of the mutual information [bit]; default: the daemon's.
    opacity : float
        Opacity of the overlays over the image, 0–1.
    overlay : {"class", "mi", "both", "rotation", "all", "none"}
        What is drawn over the image ("both": class map over the image and the MI map in a linked second panel;
        "all": class map, rotation panel and MI panel side by side).
    colormap : str
        Colour map of the image (one of :data:`IMAGE_COLORMAPS`).
    log_scale : bool
        Show the image on a log scale.
    redraw_hz : float
        At most this many redraws per second.
    export_dir : str or Path
        Where the Export button writes.
    layers : sequence of Layer subclasses, optional
        The overlays, in order; default: every registered one (:data:`aistem.gui.layers.LAYERS`).
    """

    closed = QtCore.Signal()

    def __init__(
        self,
        receiver: Receiver | None = None,
        *,
        threshold: float | None = None,
        opacity: float = 0.6,
        overlay: str = "class",
        colormap: str = "gray",
        log_scale: bool = False,
        redraw_hz: float = 15.0,
        export_dir: str | Path = "aistem-export",
        layers: Sequence[type[Layer]] | None = None,
    ) -> None:
        guard_refcount_bug()
        quiet_qt_messages()
        super().__init__()
        if overlay not in OVERLAYS:
            raise ValueError(f"overlay must be one of {', '.join(OVERLAYS)}, got {overlay!r}")
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
        self.receiver = receiver
        self.export_dir = Path(export_dir)
        self.result: Result | None = None
        self.frame: Frame | None = None
        self.frame_matches_result = False
        self.results_drawn = 0
        self.previews_ignored = 0
        self.redraws = 0
        self.snapshot: Snapshot | None = None
        self._image_shape: tuple[int, int] | None = None
        self._levels_set = False
        self._threshold_user = threshold is not None
        self._last_result_time = 0.0
        self._overlays_shown = True
        self._on_tick: list[Callable[[ViewerWindow], None]] = []

        title = "AI-STEM live"
        if receiver is not None:
            eps = ", ".join(f"{k} {v}" for k, v in receiver.endpoints.items() if v)
            title += f" — {eps}"
        self.setWindowTitle(title)
        self.resize(1280, 820)
        self._build_view(_layers.LAYERS if layers is None else layers)
        self._build_controls(threshold, opacity, overlay, colormap, log_scale)
        self._build_status()
        self._relayout()

        self.timer = QtCore.QTimer(self)
        self._base_interval_ms = max(10, int(1000.0 / max(0.1, redraw_hz)))
        self.timer.setInterval(self._base_interval_ms)
        self.timer.timeout.connect(self.tick)
        if receiver is not None:
            self.timer.start()

    # -- construction ------------------------------------------------------------------------------------------

    def _build_view(self, layers: Sequence[type[Layer]]) -> None:
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground("k")
        self.plot, self.rot_plot, self.mi_plot = pg.PlotItem(), pg.PlotItem(), pg.PlotItem()
        link_panels(self.plot, self.rot_plot, self.mi_plot)
        self.plot.setTitle("")
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setAutoLevels(False)
        self.image_item.setZValue(0)
        self.plot.addItem(self.image_item)
        # the rotation and MI panels show the frame too (the same image data, greyed), so maps line up with it
        self.panel_images = [pg.ImageItem(axisOrder="row-major") for _ in range(2)]
        for panel, item in zip((self.rot_plot, self.mi_plot), self.panel_images, strict=True):
            item.setZValue(0)
            panel.addItem(item)
        self.panels = Panels(main=self.plot, rotation=self.rot_plot, mi=self.mi_plot)
        self.layers: dict[str, Layer] = {cls.name: cls(self.panels) for cls in layers}
        self.legend = Legend()
        self.scale_bar = ScaleBar(self.plot)
        self.wait_text = pg.TextItem(
            "waiting for frames", color=(255, 255, 255), anchor=(0.5, 0.5), fill=pg.mkBrush(0, 0, 0, 160)
        )
        self.wait_text.setParentItem(self.plot.vb)
        self.wait_text.setZValue(30)
        self.plot.vb.sigResized.connect(self._place_wait_text)

        self.glw.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.hover_label = QtWidgets.QLabel("move the pointer over the image for position, class, probabilities and MI")
        self.hover_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hover_label.setWordWrap(True)
        central = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(central)
        lay.setContentsMargins(2, 2, 2, 2)
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.glw, 1)
        row.addWidget(self.legend)
        lay.addLayout(row, 1)
        lay.addWidget(self.hover_label)
        self.setCentralWidget(central)

    def _build_controls(self, threshold: float | None, opacity: float, overlay: str, colormap: str, log_scale: bool) -> None:
        c = DisplayControls(self.image_item, threshold, opacity, overlay, colormap, log_scale)
        self.controls = c
        self.overlay_box, self.opacity_slider, self.threshold_spin = c.overlay_box, c.opacity_slider, c.threshold_spin
        self.outline_check, self.cmap_box, self.log_check, self.hist = c.outline_check, c.cmap_box, c.log_check, c.hist
        self.export_label = c.export_label
        c.overlay_box.currentTextChanged.connect(lambda _: (self._relayout(), self.redraw_overlays()))
        c.opacity_slider.valueChanged.connect(lambda _: self._apply_opacity())
        c.threshold_spin.valueChanged.connect(self._on_threshold)
        c.outline_check.toggled.connect(lambda _: self.redraw_overlays())
        c.cmap_box.currentTextChanged.connect(self._apply_colormap)
        c.log_check.toggled.connect(self._on_log)
        c.auto_levels_button.clicked.connect(self.auto_levels)
        c.fit_button.clicked.connect(self.fit_view)
        c.export_button.clicked.connect(self._on_export)
        dock = QtWidgets.QDockWidget("Display", self)
        dock.setWidget(c)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self._apply_colormap(c.cmap_box.currentText())

    def _build_status(self) -> None:
        self.status_label = QtWidgets.QLabel("waiting for frames")
        self.statusBar().addWidget(self.status_label, 1)

    # -- layout and display settings ---------------------------------------------------------------------------

    @property
    def overlay(self) -> str:
        return self.overlay_box.currentText()

    @property
    def threshold(self) -> float:
        return float(self.threshold_spin.value())

    @property
    def opacity(self) -> float:
        return self.opacity_slider.value() / 100.0

    @property
    def draw_settings(self) -> DrawSettings:
        return DrawSettings(mode=self.overlay, threshold=self.threshold, outline=self.outline_check.isChecked())

    def _relayout(self) -> None:
        ci = self.glw.ci
        for item in list(ci.items):
            ci.removeItem(item)
        st = self.draw_settings
        col = 0
        for name in MODES[st.mode]:
            ci.addItem(getattr(self.panels, name), row=0, col=col)
            col += 1
        for layer in self.layers.values():
            bar = layer.colorbar(st)
            if bar is not None:
                ci.addItem(bar, row=0, col=col)
                col += 1
        self._apply_visibility()
        self._apply_opacity()
        if self.result is not None:
            self._update_legend(self.result)
        QtCore.QTimer.singleShot(0, self.fit_view)  # once the new layout has its sizes

    def _apply_visibility(self) -> None:
        st = self.draw_settings
        on = self._overlays_shown and st.mode != "none" and self.result is not None
        for layer in self.layers.values():
            layer.set_visible(st, on)
        self.legend.setVisible(on)

    def _apply_opacity(self) -> None:
        for layer in self.layers.values():
            layer.set_opacity(self.opacity)

    def _apply_colormap(self, name: str) -> None:
        self.hist.item.gradient.setColorMap(image_colormap(name))

    def _on_log(self, _: bool) -> None:
        if self.frame is not None:
            self._set_image(self.frame.image)
            self.auto_levels()

    def _on_threshold(self, _: float) -> None:
        self._threshold_user = True
        self.redraw_overlays()

    def auto_levels(self) -> None:
        """Set the image contrast to the 0.5–99.5 % percentiles of the current frame."""
        img = self.image_item.image
        if img is None:
            return
        finite = np.asarray(img)[np.isfinite(img)]
        if finite.size == 0:
            return
        lo, hi = np.percentile(finite, [0.5, 99.5])
        if hi <= lo:
            hi = lo + 1.0
        self.image_item.setLevels((float(lo), float(hi)))
        self.hist.item.setHistogramRange(float(finite.min()), float(finite.max()))
        self._levels_set = True

    def fit_view(self) -> None:
        """Zoom to the whole image."""
        shape = self._image_shape
        if shape is not None:
            self.plot.vb.setRange(QtCore.QRectF(-0.5, -0.5, shape[1], shape[0]), padding=0.0)

    # -- drawing -----------------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Take what the receiver has and redraw (called by the redraw timer, at most ``redraw_hz`` per second)."""
        if self.receiver is None:
            return
        t0 = time.perf_counter()
        s = self.receiver.snapshot()
        self.snapshot = s
        now = time.time()
        if s.result is not None:
            self.show_result(s.result, s.frame)
        elif s.frame is not None and (self.result is None or now - self._last_result_time > STALE_RESULT_S):
            self.show_frame(s.frame)
            if self.result is not None and self.result.key != s.frame.key:
                self._set_overlays_visible(False)
        elif self.result is not None and not self.frame_matches_result:
            f = self.receiver.frame_for(self.result.key)  # the frame can come just after its result
            if f is not None:
                self.show_frame(f)
                self.frame_matches_result = True
        self._update_status(s, now)
        # huge frames: redraw less often, so that drawing takes at most about a third of the event loop's time
        spent_ms = (time.perf_counter() - t0) * 1000.0
        self.timer.setInterval(max(self._base_interval_ms, min(1000, int(3 * spent_ms))))
        for cb in list(self._on_tick):
            cb(self)

    def add_tick_callback(self, cb: Callable[[ViewerWindow], None]) -> None:
        """Call ``cb(window)`` after every redraw tick."""
        self._on_tick.append(cb)

    def _set_image(self, image: np.ndarray) -> None:
        img = display_image(image, self.log_check.isChecked())
        first = self._image_shape is None
        shape_changed = self._image_shape != img.shape
        if not self._levels_set:
            self.image_item.setImage(img, autoLevels=False)
            self.auto_levels()
        else:
            self.image_item.setImage(img, autoLevels=False)  # the user's contrast stays
        self.image_item.setRect(QtCore.QRectF(-0.5, -0.5, img.shape[1], img.shape[0]))
        for item in self.panel_images:
            item.setImage(img, levels=self.image_item.levels, autoLevels=False)
            item.setRect(QtCore.QRectF(-0.5, -0.5, img.shape[1], img.shape[0]))
        self._image_shape = (int(img.shape[0]), int(img.shape[1]))
        if first or shape_changed:
            self.plot.vb.disableAutoRange()
            self.fit_view()  # zoom is the user's from now on
            QtCore.QTimer.singleShot(0, self.fit_view)

    def show_frame(self, frame: Frame) -> None:
        """Draw one frame (the overlays stay as they are)."""
        self.frame = frame
        self._set_image(frame.image)
        self.frame_matches_result = self.result is not None and self.result.key == frame.key
        self._update_scale_bar(frame.pixel_size)
        self.wait_text.setVisible(False)

    def show_result(self, result: Result, frame: Frame | None = None) -> bool:
        """Draw a result over its frame (or over the current image, or a blank canvas, when the frame is not here).

        A live preview replaces the map on screen — its own frame's earlier preview, or an older frame's result —
        but never the final result of the same or a newer frame: then nothing is drawn and False is returned.
        """
        if preview_outdated(result, self.result):
            self.previews_ignored += 1
            return False
        self.result = result
        self._last_result_time = time.time()
        if frame is not None and frame.key == result.key:
            if frame is not self.frame:  # a refinement of the frame on screen: the image stays, with its contrast
                self.show_frame(frame)
        elif (
            self._image_shape is None
            or self._image_shape[0] < result.covered_shape()[0]
            or self._image_shape[1] < result.covered_shape()[1]
        ):
            blank = np.zeros(result.covered_shape(), np.float32)
            self.image_item.setImage(blank, levels=(0.0, 1.0))
            self.image_item.setRect(QtCore.QRectF(-0.5, -0.5, blank.shape[1], blank.shape[0]))
            if self._image_shape != blank.shape:
                self._image_shape = blank.shape
                self.plot.vb.disableAutoRange()
                self.fit_view()
        self.frame_matches_result = self.frame is not None and self.frame.key == result.key
        if not self._threshold_user:
            self.threshold_spin.blockSignals(True)
            self.threshold_spin.setValue(result.threshold)
            self.threshold_spin.blockSignals(False)
        self._update_scale_bar(
            result.pixel_size if self.frame is None or self.frame.pixel_size is None else self.frame.pixel_size
        )
        self.redraw_overlays()
        self.results_drawn += 1
        self.wait_text.setVisible(False)
        return True

    def _set_overlays_visible(self, visible: bool) -> None:
        self._overlays_shown = visible
        self._apply_visibility()

    def redraw_overlays(self) -> None:
        """Redraw the maps of the current result with the current display settings (threshold, overlay, opacity)."""
        r = self.result
        self.redraws += 1
        if r is None:
            return
        self._overlays_shown = True
        st = self.draw_settings
        for layer in self.layers.values():
            layer.draw(r, st)
        self._update_legend(r)
        self._apply_visibility()
        title = f"{r.series} #{r.index}" + ("" if r.final else f" — {r.kind()}, refining")
        self.plot.setTitle(title, color="w", size="10pt")

    def _update_legend(self, r: Result) -> None:
        st = self.draw_settings
        self.legend.set_rows([row for layer in self.layers.values() for row in layer.legend_rows(r, st)])

    def _update_scale_bar(self, pixel_size: float | None) -> None:
        self.scale_bar.set(self._image_shape, pixel_size)

    def _place_wait_text(self) -> None:
        r = self.plot.vb.boundingRect()
        self.wait_text.setPos(r.center())

    # -- status line -------------------------------------------------------------------------------------------

    def _update_status(self, s: Snapshot, now: float) -> None:
        text, wait = status_text(s, self.result, self.frame, self.threshold)
        if wait is not None:
            self.wait_text.setText(wait)
            self._place_wait_text()
        self.wait_text.setVisible(wait is not None)
        self.status_label.setText(text)

    # -- hover -------------------------------------------------------------------------------------------------

    def _on_mouse_moved(self, pos: QtCore.QPointF) -> None:
        for plot in (self.plot, self.mi_plot):
            if plot.scene() is not None and plot.sceneBoundingRect().contains(pos):
                p = plot.vb.mapSceneToView(pos)
                self.hover_at(p.y(), p.x())
                return

    def hover_at(self, row: float, col: float) -> str:
        """Show (and return) the read-out for the point (row, col) [px]."""
        text = hover_text(self.result, row, col, image=None if self.frame is None else self.frame.image, threshold=self.threshold)
        self.hover_label.setText(text)
        return text

    def view_to_window(self, row: float, col: float, plot: pg.PlotItem | None = None) -> tuple[int, int]:
        """Where image point (row, col) [px] of ``plot`` (default: the main panel) is in the window: (y, x) [screen px]."""
        scene = (plot or self.plot).vb.mapViewToScene(QtCore.QPointF(col, row))
        vp = self.glw.mapFromScene(scene)
        p = self.glw.viewport().mapTo(self, vp)
        return (p.y(), p.x())

    def panel_corners(self) -> dict[str, dict[str, list[int]]]:
        """Where each panel shown puts the image's first and last pixel centres in the window: name → corners."""
        if self._image_shape is None:
            return {}
        rows, cols = self._image_shape
        out = {}
        for name in MODES[self.overlay]:
            plot = getattr(self.panels, name)
            out[name] = {
                "top_left": list(self.view_to_window(0.0, 0.0, plot)),
                "bottom_right": list(self.view_to_window(rows - 1.0, cols - 1.0, plot)),
            }
        return out

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.timer.stop()
        self.closed.emit()
        super().closeEvent(event)

    # -- output ------------------------------------------------------------------------------------------------

    def screenshot(self, path: str | Path) -> Path:
        """Write a PNG of the whole window."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        QtWidgets.QApplication.processEvents()
        if not self.grab().save(str(path), "PNG"):
            raise OSError(f"cannot write the screenshot {path}")
        return path

    def _on_export(self) -> None:
        try:
            out = self.export()
        except (OSError, ValueError, RuntimeError) as exc:
            self.export_label.setText(f"export failed: {exc}")
            return
        self.export_label.setText("exported to\n" + "\n".join(str(p) for p in out.values()))

    def export(self, directory: str | Path | None = None) -> dict[str, Path]:
        """Write the current view (PNG), its maps (.npz) and a paper-style figure (PNG) (:func:`~.export.export_view`).

        Returns
        -------
        dict
            ``view``, ``maps`` and (when there is a result) ``figure`` → path.
        """
        d = Path(directory) if directory is not None else self.export_dir
        QtWidgets.QApplication.processEvents()
        return export_view(self.glw, self.result, self.frame, self.frame_matches_result, self.threshold, d)
