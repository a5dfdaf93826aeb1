"""``analyze(grid=…)``: a caller that has computed the window grid once (the daemon, per frame) passes it on."""

from __future__ import annotations

import numpy as np
import pytest

from aistem.core import analyze
from aistem.core.windows import WindowGrid, window_grid


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:200, 0:200]
    return (np.cos(rows * 0.9) * np.cos(cols * 0.9) + 0.05 * rng.standard_normal((200, 200))).astype(np.float32)


def test_a_given_grid_gives_the_same_result_as_the_sizes_it_holds(small_model):
    img = _image()
    grid = window_grid(img.shape, 100, 50)
    kw = {"samples": 2, "seed": 3, "model": small_model, "rotation": False, "domain": False}
    by_grid = analyze(img, 0.12, grid=grid, batch_size=4, **kw)
    by_px = analyze(img, 0.12, window_px=100, stride_px=50, **kw)
    assert by_grid.classes.shape == (3, 3) and (by_grid.window_px, by_grid.stride_px) == (100, 50)
    np.testing.assert_array_equal(by_grid.probabilities, by_px.probabilities)


def test_a_grid_for_another_image_shape_is_refused(small_model):
    with pytest.raises(ValueError, match="window grid is for an image of"):
        analyze(_image(), 0.12, grid=WindowGrid((300, 300), 100, 50), samples=2, model=small_model)
