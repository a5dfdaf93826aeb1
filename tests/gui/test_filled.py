"""Coarse-to-fine results (aistem-result/1.3) in the viewer: the hover says when a window was filled, not computed;
an older result has no filled map and the hover says nothing about it."""

from __future__ import annotations

import numpy as np

from aistem.core.protocol import decode
from aistem.gui.overlay import hover_text
from tests.gui.conftest import bicrystal_result_arrays, result_message


def _filled_result():
    a = bicrystal_result_arrays()
    filled = np.zeros(a["classes"].shape, bool)
    filled[2, 1] = True
    level = np.where(filled, 2, 1).astype(np.int8)
    level[::2, ::2] = 0
    arrays = {**a, "unknown": np.zeros(filled.shape, np.uint8), "filled": filled, "refinement_level": level}
    return decode(result_message(5, arrays=arrays, protocol="aistem-result/1.3")), filled, level


def test_hover_says_a_window_was_filled_and_not_a_computed_one():
    r, filled, level = _filled_result()
    assert r.minor_version == 3
    np.testing.assert_array_equal(r.filled, filled)
    np.testing.assert_array_equal(r.refinement_level, level)
    row, col = r.window_centre(2, 1)
    text = hover_text(r, row, col)
    assert "window (2, 1), final, filled (interpolated, not computed)" in text
    row, col = r.window_centre(2, 2)
    assert "filled" not in hover_text(r, row, col)


def test_an_older_result_has_no_filled_map_and_no_filled_hover():
    r = decode(result_message(5))  # aistem-result/1
    assert r.filled is None and r.refinement_level is None
    row, col = r.window_centre(1, 1)
    assert "filled" not in hover_text(r, row, col)
