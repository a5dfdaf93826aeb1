"""Figures: class colours (none grey) and where the window-grid maps are drawn over the image."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from aistem.core.analysis import AnalysisResult
from aistem.core.figures import class_colors, grid_extent, plot_result

matplotlib.use("Agg")


def _result(grid: tuple[int, int], window: int, stride: int, origin: tuple[int, int] = (0, 0)) -> AnalysisResult:
    gr, gc = grid
    rr, cc = np.meshgrid(np.arange(gr) * stride, np.arange(gc) * stride, indexing="ij")
    origins = np.stack([rr + origin[0], cc + origin[1]], axis=-1).astype(np.int64)
    zeros = np.zeros(grid, np.float32)
    return AnalysisResult(
        classes=np.zeros(grid, np.uint8),
        probabilities=np.full((gr, gc, 10), 0.1, np.float32),
        mutual_information=zeros,
        predictive_entropy=zeros,
        variation_ratio=zeros,
        interface=np.zeros(grid, bool),
        class_names=[f"c{i}" for i in range(10)],
        origins_px=origins,
        window_px=window,
        stride_px=stride,
        pixel_size=0.12,
        threshold=0.1,
        samples=10,
    )


@pytest.mark.parametrize("n", [1, 8, 10, 11, 16, 20, 25])
def test_no_class_colour_is_grey(n):
    rgb = class_colors(n)
    assert rgb.shape == (n, 3)
    assert ((rgb >= 0) & (rgb <= 1)).all()
    spread = rgb.max(axis=1) - rgb.min(axis=1)  # R ≈ G ≈ B: grey (white and black included)
    assert (spread > 0.1).all(), rgb[spread <= 0.1]
    unique = len({tuple(np.round(c, 4)) for c in rgb})
    assert unique == min(n, 20)


def test_the_paper_classes_keep_tab10_except_its_grey():
    tab10 = np.asarray([matplotlib.colormaps["tab10"](i)[:3] for i in range(10)])
    rgb = class_colors(10)
    keep = [i for i in range(10) if i != 7]
    np.testing.assert_allclose(rgb[keep], tab10[keep])
    assert not np.allclose(rgb[7], tab10[7])  # HCP_Ti_0001 was grey


def test_grid_extent_by_hand_with_a_non_zero_origin():
    window, stride, origin, (gr, gc) = 10, 4, (7, 3), (3, 5)
    r = _result((gr, gc), window, stride, origin)
    # window centres in pixel-edge coordinates (image spans 0 … cols): origin + i·stride + window/2;
    # imshow(image) centres pixel k on k, i.e. edge coordinate − 0.5
    col_first = origin[1] + 0 * stride + window / 2 - 0.5  # 7.5
    col_last = origin[1] + (gc - 1) * stride + window / 2 - 0.5  # 23.5
    row_first = origin[0] + 0 * stride + window / 2 - 0.5  # 11.5
    row_last = origin[0] + (gr - 1) * stride + window / 2 - 0.5  # 19.5
    expected = (col_first - stride / 2, col_last + stride / 2, row_last + stride / 2, row_first - stride / 2)
    assert expected == (5.5, 25.5, 21.5, 9.5)
    assert grid_extent(r) == pytest.approx(expected)


def test_grid_cells_sit_on_their_window_centres():
    r = _result((4, 6), window=9, stride=3, origin=(2, 5))
    left, right, bottom, top = grid_extent(r)
    gr, gc = r.grid_shape
    assert (right - left) / gc == r.stride_px and (bottom - top) / gr == r.stride_px
    centres = r.origins_px + (r.window_px - 1) / 2.0  # centre of the window's pixels, pixel-centre coordinates
    cell_rows = top + (np.arange(gr) + 0.5) * r.stride_px
    cell_cols = left + (np.arange(gc) + 0.5) * r.stride_px
    np.testing.assert_allclose(cell_rows, centres[:, 0, 0])
    np.testing.assert_allclose(cell_cols, centres[0, :, 1])


def test_interface_outline_is_drawn_where_the_interface_is():
    """The contour follows the imshow of the class map: interface in the top grid row → outline near the top."""
    r = _result((6, 6), window=20, stride=10, origin=(0, 0))
    r.interface[0, :] = True
    fig = plot_result(r, np.zeros((70, 70), np.float32))
    top = grid_extent(r)[3]
    ax = fig.axes[1]  # image, class map (+ contour), MI
    rows = np.concatenate([p.vertices[:, 1] for c in ax.collections for p in c.get_paths()])
    assert rows.size
    # between the first (centre 9.5) and the second grid row (centre 19.5), not at the bottom of the grid
    np.testing.assert_allclose(rows, top + r.stride_px, atol=1e-6)
    import matplotlib.pyplot as plt

    plt.close(fig)
