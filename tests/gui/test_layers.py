"""The overlays as a microscopist reads them: fixed MI scale, unknown windows, rotation period, legend and scale bar
placement, the three-panel layout, and Qt's noise kept off the console."""

from __future__ import annotations

import numpy as np
import pytest

from aistem.core.protocol import decode
from aistem.gui.overlay import UNKNOWN_RGBA, class_lut, hover_text, interface_at, rotation_display, unknown_at
from tests.gui.conftest import CLASS_NAMES, bicrystal_result_arrays, frame_message, result_message, shown_window


@pytest.fixture
def window(qapp):
    with shown_window(qapp, (1300, 700)) as w:
        yield w


def _show(window, qapp, arrays=None, index=0):
    r = decode(result_message(index, arrays=arrays))
    window.show_result(r, decode(frame_message(index)))
    qapp.processEvents()
    return r


def _shot(window, tmp_path):
    from pyqtgraph.Qt import QtGui

    return QtGui.QImage(str(window.screenshot(tmp_path / "shot.png")))


def _rgb(img, yx):
    c = img.pixelColor(int(yx[1]), int(yx[0]))
    return np.array([c.red(), c.green(), c.blue()], float)


def test_mi_of_sampling_noise_is_one_colour_and_says_all_below(window, qapp, tmp_path):
    a = bicrystal_result_arrays()
    a["mutual_information"] = np.full(a["classes"].shape, 1e-6, np.float32)
    a["mutual_information"][0, 0] = 3e-6  # a 3× larger noise value must not look different
    a["interface"][:] = 0
    window.overlay_box.setCurrentText("mi")
    r = _show(window, qapp, a)
    assert window.layers["mi"].bar.levels() == (0.0, 1.0)  # fixed, not stretched to the data
    img = _shot(window, tmp_path)
    c00 = _rgb(img, window.view_to_window(*r.window_centre(0, 0)))
    c23 = _rgb(img, window.view_to_window(*r.window_centre(2, 3)))
    np.testing.assert_allclose(c00, c23, atol=3)
    assert "all windows below 0.1 bit" in window.mi_plot.titleLabel.text
    window.overlay_box.setCurrentText("both")
    qapp.processEvents()
    assert window.mi_plot in window.glw.ci.items


def test_mi_colour_bar_marks_the_threshold(window, qapp):
    _show(window, qapp)
    layer = window.layers["mi"]
    assert layer.threshold_line.value() == pytest.approx(256 * 0.1 / 1.0)
    window.threshold_spin.setValue(0.8)  # above half the scale: the scale grows to twice the threshold
    qapp.processEvents()
    assert window.layers["mi"].bar.levels() == pytest.approx((0.0, 1.6))
    assert layer.threshold_line.value() == pytest.approx(256 * 0.8 / 1.6)


def test_unknown_windows_have_their_own_colour_legend_and_hover(window, qapp, tmp_path):
    a = bicrystal_result_arrays()
    unknown = np.zeros(a["classes"].shape, bool)
    unknown[:, 0] = True
    a["unknown"] = unknown.astype(np.uint8)
    r = _show(window, qapp, a)
    np.testing.assert_array_equal(unknown_at(r), unknown)
    assert not (interface_at(r) & unknown).any()  # unknown windows are never interface
    img = _shot(window, tmp_path)
    np.testing.assert_allclose(_rgb(img, window.view_to_window(*r.window_centre(1, 0))), UNKNOWN_RGBA[:3], atol=2)
    lut = class_lut(len(CLASS_NAMES))
    np.testing.assert_allclose(_rgb(img, window.view_to_window(*r.window_centre(1, 1))), lut[3][:3], atol=2)
    assert any(t.startswith("unknown") and "% of windows" in t for t in window.legend.texts)
    assert "unknown (outside the model's domain" in hover_text(r, *r.window_centre(1, 0))
    # class shares in the legend are over known bulk windows only: 100 % split between the two grains
    shares = [int(t.split()[-2]) for t in window.legend.texts if t.startswith(("fcc", "hcp"))]
    assert len(shares) == 2 and abs(sum(shares) - 100) <= 1


def test_rotation_in_one_convention_with_its_period(window, qapp):
    a = bicrystal_result_arrays()
    a["lattice_rotation"] = np.where(a["interface"] > 0, np.nan, 10.0).astype(np.float32)
    r = _show(window, qapp, a)
    values, levels, label, periods = rotation_display(r)
    assert periods == {"FCC_Cu_100": 90.0, "HCP_Ti_0001": 60.0}  # two periods: angle ÷ period on [−½, ½)
    assert levels == (-0.5, 0.5) and "period" in label
    finite = np.isfinite(values)
    np.testing.assert_allclose(values[finite & (r.classes == 3)], 10 / 90, rtol=1e-5)
    window.overlay_box.setCurrentText("all")
    qapp.processEvents()
    assert window.layers["rotation"].bar in window.glw.ci.items and window.rot_plot in window.glw.ci.items
    assert window.layers["rotation"].bar.colorMap().name.startswith("twilight")
    assert any("P = 90°" in t for t in window.legend.texts) and any("[−P/2, P/2)" in t for t in window.legend.texts)
    assert "of [−45°, 45°)" in hover_text(r, *r.window_centre(0, 0))


def test_all_mode_shows_class_rotation_and_mi_panels_aligned(window, qapp):
    a = bicrystal_result_arrays()
    a["lattice_rotation"] = np.where(a["interface"] > 0, np.nan, 5.0).astype(np.float32)
    window.overlay_box.setCurrentText("all")
    _show(window, qapp, a)
    qapp.processEvents()
    corners = window.panel_corners()
    assert list(corners) == ["main", "rotation", "mi"]
    sizes = {k: (v["bottom_right"][0] - v["top_left"][0], v["bottom_right"][1] - v["top_left"][1]) for k, v in corners.items()}
    assert np.ptp(np.array(list(sizes.values())), axis=0).max() <= 2  # linked panels: the same zoom
    assert min(sizes["main"]) > 100  # the image is drawn at a readable size
    assert corners["main"]["bottom_right"][1] < corners["rotation"]["top_left"][1] < corners["mi"]["top_left"][1]
    assert window.layers["class"].item.isVisible() and window.layers["rotation"].panel_item.isVisible()
    assert window.layers["mi"].panel_item.isVisible() and not window.layers["mi"].item.isVisible()


def test_legend_beside_and_scale_bar_on_the_image(window, qapp):
    r = _show(window, qapp)
    # the legend is its own widget right of the image area, not an item over the image
    glw = window.glw.geometry()
    leg = window.legend.geometry()
    assert leg.left() >= glw.right() and window.legend.isVisible()
    # the scale bar lies inside the image, in its lower left
    rect = window.scale_bar.rect.rect()
    rows, cols = r.covered_shape()
    assert rect.left() > 0 and rect.right() < cols / 2 and rows / 2 < rect.top() < rows
    assert window.scale_bar.text.toPlainText().endswith("nm")


def test_qt_noise_is_filtered_and_the_rest_logged(qapp, caplog):
    import logging

    from pyqtgraph.Qt import QtCore

    from aistem.gui.qtfix import quiet_qt_messages

    quiet_qt_messages()
    with caplog.at_level(logging.WARNING, logger="aistem.gui.qtfix"):
        QtCore.qWarning("This plugin does not support propagateSizeHints()")
        QtCore.qWarning("something else")
    texts = [r.getMessage() for r in caplog.records]
    assert not any("propagateSizeHints" in t for t in texts) and any("something else" in t for t in texts)
