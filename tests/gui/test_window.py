"""The window drawn offscreen: class colours at the windows' true places in the screenshot, hover, display controls."""

from __future__ import annotations

import numpy as np
import pytest

from aistem.core.protocol import decode
from aistem.gui.overlay import class_lut
from tests.gui.conftest import (
    LEFT_CLASS,
    RIGHT_CLASS,
    bicrystal_image,
    bicrystal_result_arrays,
    frame_message,
    result_message,
    shown_window,
)


@pytest.fixture
def window(qapp):
    with shown_window(qapp, (1100, 760)) as w:
        yield w


def _rgb(img, window, row, col):
    y, x = window.view_to_window(row, col)
    c = img.pixelColor(x, y)
    return np.array([c.red(), c.green(), c.blue()], float)


def _shot(window, tmp_path, name="shot.png"):
    from pyqtgraph.Qt import QtGui

    path = window.screenshot(tmp_path / name)
    img = QtGui.QImage(str(path))
    assert not img.isNull() and img.width() == window.width()
    return img


def _show(window, qapp, index=0, **kw):
    r = decode(result_message(index, **kw))
    f = decode(frame_message(index))
    window.show_result(r, f)
    qapp.processEvents()
    return r


def test_screenshot_has_each_grain_in_its_class_colour_at_the_true_place(window, qapp, tmp_path):
    r = _show(window, qapp)
    lut = class_lut(len(r.class_names)).astype(float)
    img = _shot(window, tmp_path)
    i = r.grid[0] // 2
    left = r.window_centre(i, 0)
    right = r.window_centre(i, r.grid[1] - 1)
    np.testing.assert_allclose(_rgb(img, window, *left), lut[LEFT_CLASS][:3], atol=2)
    np.testing.assert_allclose(_rgb(img, window, *right), lut[RIGHT_CLASS][:3], atol=2)
    # the cell is a stride block centred on its window: just inside / outside its edges
    top, lft, h, _w = r.cell_rect()
    np.testing.assert_allclose(_rgb(img, window, top + h / 2, lft + 1.5), lut[LEFT_CLASS][:3], atol=2)
    outside = _rgb(img, window, top + h / 2, lft - 2.5)  # image only: grey
    assert np.ptp(outside) <= 2
    # half opacity: the blend of the class colour with the grey image (same grey in all three channels)
    window.opacity_slider.setValue(60)
    qapp.processEvents()
    img = _shot(window, tmp_path, "blend.png")
    for (row, col), k in ((left, LEFT_CLASS), (right, RIGHT_CLASS)):
        under = (_rgb(img, window, row, col) - 0.6 * lut[k][:3]) / 0.4
        assert np.ptp(under) <= 8, under  # grey under the overlay
        assert -8 <= under.min() and under.max() <= 263


def test_hover_over_a_chosen_point(window, qapp):
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    r = _show(window, qapp)
    row, col = r.window_centre(1, r.grid[1] - 1)
    y, x = window.view_to_window(row, col)
    vp = window.glw.viewport()
    p = vp.mapFrom(window, QPoint(x, y))
    QTest.mouseMove(vp, p)
    qapp.processEvents()
    text = window.hover_label.text()
    assert f"window (1, {r.grid[1] - 1})" in text, text
    assert "HCP_Ti_0001 · p: HCP_Ti_0001 0.85, FCC_Cu_100 0.06" in text
    mi = bicrystal_result_arrays()["mutual_information"][1, -1]
    assert f"MI {mi:.3f} bit" in text
    assert abs(int(text.split("row ")[1].split(",")[0]) - round(row)) <= 1


def test_threshold_and_overlay_change_only_the_display(window, qapp, tmp_path):
    r = _show(window, qapp)
    stored = r.interface.copy()
    gr, gc = r.grid
    assert window.layers["outline"].curves["main"].getData()[0].size == 2 * (2 * gr + 2)  # the boundary column's outline
    window.threshold_spin.setValue(0.0)
    qapp.processEvents()
    assert window.layers["outline"].curves["main"].getData()[0].size == 2 * (
        2 * gr + 2 * gc
    )  # everything is interface: the grid's border
    np.testing.assert_array_equal(window.result.interface, stored)
    window.threshold_spin.setValue(0.6)
    qapp.processEvents()
    assert window.layers["outline"].curves["main"].getData()[0].size == 0
    np.testing.assert_array_equal(window.result.interface, stored)
    # MI over the image, opaque: the boundary column is bright (high MI), the grains dark
    window.overlay_box.setCurrentText("mi")
    qapp.processEvents()
    assert (
        window.layers["mi"].item.isVisible()
        and not window.layers["class"].item.isVisible()
        and window.layers["mi"].bar in window.glw.ci.items
    )
    img = _shot(window, tmp_path)
    j_mid = int(np.argmax(r.mutual_information[0]))
    hot = _rgb(img, window, *r.window_centre(3, j_mid))
    cold = _rgb(img, window, *r.window_centre(3, 0))
    # the fixed 0–1 bit scale: 0.5 bit is viridis' middle (teal), ~0 bit its dark purple end
    assert hot[1] > cold[1] + 80 and hot.sum() > cold.sum() + 100
    window.overlay_box.setCurrentText("both")
    qapp.processEvents()
    assert window.mi_plot in window.glw.ci.items and window.layers["class"].item.isVisible()
    window.overlay_box.setCurrentText("none")
    qapp.processEvents()
    assert not window.layers["class"].item.isVisible() and not window.legend.isVisible()


def test_user_contrast_and_zoom_persist_across_frames(window, qapp):
    _show(window, qapp, 0)
    window.image_item.setLevels((300.0, 900.0))
    window.plot.vb.setRange(xRange=(50, 120), yRange=(60, 130), padding=0)
    qapp.processEvents()
    rng = window.plot.vb.viewRange()
    brighter = (bicrystal_image().astype(np.float64) * 3).astype(np.uint16)
    from aistem.core.protocol import encode_frame

    for k in (1, 2):
        r = decode(result_message(k))
        f = decode(encode_frame(brighter, "bicrystal", k, 0.12))
        window.show_result(r, f)
        qapp.processEvents()
    assert tuple(window.image_item.getLevels()) == (300.0, 900.0)
    np.testing.assert_allclose(window.plot.vb.viewRange(), rng, atol=1e-6)
    window.auto_levels()
    _lo, hi = window.image_item.getLevels()
    assert hi > 900 * 2  # auto levels follow the brighter frame when asked


def test_lattice_rotation_overlay_and_export(window, qapp, tmp_path):
    a = bicrystal_result_arrays()
    a["lattice_rotation"] = np.where(a["interface"] > 0, np.nan, 5.0).astype(np.float32)
    r = _show(window, qapp, arrays=a)
    window.overlay_box.setCurrentText("rotation")
    qapp.processEvents()
    assert window.layers["rotation"].item.isVisible() and window.layers["rotation"].bar in window.glw.ci.items
    img = _shot(window, tmp_path)
    j_nan = int(np.nonzero(a["interface"][2])[0][0])
    assert np.ptp(_rgb(img, window, *r.window_centre(2, j_nan))) <= 2  # NaN: image shows through (grey)
    assert np.ptp(_rgb(img, window, *r.window_centre(2, 0))) > 20  # rotation colour
    out = window.export(tmp_path / "export")
    assert set(out) == {"view", "maps", "figure"}
    for p in out.values():
        assert p.is_file() and p.stat().st_size > 1000
    z = np.load(out["maps"])
    np.testing.assert_array_equal(z["classes"], a["classes"])
    assert z["image"].shape == (256, 256) and list(z["class_names"])[LEFT_CLASS] == "FCC_Cu_100"
    assert "lattice_rotation" in z.files and float(z["display_threshold"]) == pytest.approx(window.threshold)
    assert RIGHT_CLASS == 7


def test_waiting_for_frames_with_daemon_state(qapp):
    import zmq

    from aistem.gui.receiver import Receiver
    from aistem.gui.window import ViewerWindow
    from tests.gui.conftest import wait_until

    s = zmq.Context.instance().socket(zmq.PUB)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    s.close(linger=0)  # nobody there
    rec = Receiver(f"tcp://127.0.0.1:{port}").start()
    w = ViewerWindow(rec)
    try:
        w.show()
        assert wait_until(lambda: "daemon: not connected" in w.status_label.text(), 5, qapp)
        assert w.status_label.text().startswith("waiting for frames")
        assert w.wait_text.isVisible() and "waiting for frames" in w.wait_text.toPlainText()
    finally:
        rec.stop()
        w.close()
        w.deleteLater()
        qapp.processEvents()
