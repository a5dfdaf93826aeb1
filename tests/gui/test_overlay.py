"""Overlay arithmetic: figure colours, interface outlines, hover text, log display, scale bar."""

from __future__ import annotations

import numpy as np
import pytest

from aistem.core.figures import class_colors
from aistem.core.protocol import decode
from aistem.gui.overlay import class_lut, class_rgba, display_image, hover_text, interface_at, interface_segments, nice_scale_bar
from tests.gui.conftest import LEFT_CLASS, RIGHT_CLASS, STRIDE, WINDOW, bicrystal_result_arrays, result_message


def test_class_colours_are_the_figures_colours():
    lut = class_lut(10)
    np.testing.assert_array_equal(lut[:, :3], np.round(class_colors(10) * 255).astype(np.uint8))
    assert (lut[:, 3] == 255).all() and len({tuple(c) for c in lut}) == 10
    rgba = class_rgba(np.array([[0, 3], [9, 12]], np.uint8), 10)
    np.testing.assert_array_equal(rgba[0, 1], lut[3])
    assert rgba[1, 1, 3] == 0  # unknown class index: transparent


def test_interface_outline_of_one_cell_and_of_a_column():
    r = decode(result_message(0, origins=(0, 0)))
    mask = np.zeros(r.grid, bool)
    mask[1, 2] = True
    rows, cols = interface_segments(mask, r)
    assert rows.size == cols.size == 8  # four edges, two end points each
    top, left, _, _ = r.cell_rect()
    assert rows.min() == top + STRIDE and rows.max() == top + 2 * STRIDE
    assert cols.min() == left + 2 * STRIDE and cols.max() == left + 3 * STRIDE
    mask[:] = False
    mask[:, 3] = True  # a full column: two long sides made of unit edges, plus top and bottom
    rows, cols = interface_segments(mask, r)
    assert rows.size == 2 * (2 * r.grid[0] + 2)
    assert not interface_segments(np.zeros(r.grid, bool), r)[0].size


def test_threshold_changes_the_drawn_interface_not_the_result():
    r = decode(result_message(0))
    before = r.interface.copy()
    low, high = interface_at(r, 0.0), interface_at(r, 0.6)
    assert low.sum() > before.sum() > high.sum() == 0
    np.testing.assert_array_equal(r.interface, before)
    np.testing.assert_array_equal(interface_at(r), before.astype(bool))


def test_hover_text_names_position_class_probabilities_and_mi():
    r = decode(result_message(0))
    a = bicrystal_result_arrays()
    i, j = 2, 0
    row, col = r.window_centre(i, j)
    img = np.arange(256 * 256, dtype=np.float32).reshape(256, 256)
    text = hover_text(r, row, col, image=img, threshold=0.1)
    assert f"pixel (row {round(row)}, col {round(col)}) = {img[round(row), round(col)]:.4g}" in text
    assert f"window ({i}, {j})" in text and "FCC_Cu_100" in text
    assert "p: FCC_Cu_100 0.85, HCP_Ti_0001 0.06" in text
    assert f"MI {a['mutual_information'][i, j]:.3f} bit (below 0.1)" in text
    right = hover_text(r, *r.window_centre(2, r.grid[1] - 1))
    assert "HCP_Ti_0001" in right.split("·")[2]
    assert "outside the analysed windows" in hover_text(r, 1.0, 1.0)
    assert LEFT_CLASS != RIGHT_CLASS and WINDOW > STRIDE


def test_hover_shows_lattice_rotation_when_sent():
    a = bicrystal_result_arrays()
    a["lattice_rotation"] = np.where(a["interface"] > 0, np.nan, -3.25).astype(np.float32)
    r = decode(result_message(0, arrays=a))
    assert "rotation -3.2°" in hover_text(r, *r.window_centre(0, 0))
    j = int(np.nonzero(a["interface"][0])[0][0])
    assert "rotation —" in hover_text(r, *r.window_centre(0, j))
    a["samples_used"] = np.full(a["classes"].shape, 6, np.int32)
    r = decode(result_message(0, arrays=a))
    assert hover_text(r, *r.window_centre(0, 0)).endswith("6 of 8 samples")


def test_log_display_and_scale_bar():
    img = np.array([[0, 9, 99, 999]], np.uint16)
    d = display_image(img, log=True)
    assert d.dtype == np.float32 and np.all(np.diff(d[0]) > 0.9)
    np.testing.assert_array_equal(display_image(img), img.astype(np.float32))
    assert nice_scale_bar(256, 0.12) == pytest.approx((1.0, 10 / 0.12))  # 3.1 nm wide: 1 nm ≥ a sixth
    assert nice_scale_bar(2048, 0.5) == pytest.approx((20.0, 400.0))
    assert nice_scale_bar(256, None) is None


def test_rate_of_fast_slow_and_stopped_streams():
    import collections

    from aistem.gui.receiver import Receiver

    fast = collections.deque(100.0 + 0.05 * k for k in range(200))  # 20/s, last at 109.95
    assert Receiver._rate(fast, 110.0) == pytest.approx(20.0, rel=0.02)
    slow = collections.deque(100.0 + 11.0 * k for k in range(6))  # one result every 11 s, last at 155
    assert Receiver._rate(slow, 160.0) == pytest.approx(1 / 11.0, rel=0.01)
    assert Receiver._rate(slow, 155.0 + 34.0) == 0.0  # three intervals without anything: stopped
    assert Receiver._rate(collections.deque([1.0]), 2.0) == 0.0
