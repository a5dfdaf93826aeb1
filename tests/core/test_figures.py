"""Figures: class colours (none grey) and where the window-grid maps are drawn over the image."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from aistem.core.analysis import AnalysisResult
from aistem.core.figures import UNKNOWN_RGB, class_colors, figure_title, grid_extent, mi_scale_max, outline_segments, plot_result

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


def _segment_rows(ax) -> np.ndarray:
    from matplotlib.collections import LineCollection

    segs = [np.asarray(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection)]
    return np.concatenate([g.reshape(-1, 2)[:, 1] for g in segs]) if segs else np.zeros(0)


def test_interface_outline_is_drawn_where_the_interface_is():
    """Interface in the top grid row → outline cell edges around that row only (top border and the row below)."""
    import matplotlib.pyplot as plt

    r = _result((6, 6), window=20, stride=10, origin=(0, 0))
    r.interface[0, :] = True
    fig = plot_result(r, np.zeros((70, 70), np.float32))
    top = grid_extent(r)[3]
    ax = fig.axes[1]  # image, class map (+ outline), MI, colour bar
    rows = _segment_rows(ax)
    assert rows.size
    assert set(np.round(rows, 6)) == {round(top, 6), round(top + r.stride_px, 6)}
    plt.close(fig)


def test_outline_when_almost_every_window_is_interface():
    """All interface but one window: the outline runs round the grid's border and round the one bulk window."""
    r = _result((5, 5), window=20, stride=10)
    r.interface[:] = True
    r.interface[2, 2] = False
    segs = outline_segments(r.interface, grid_extent(r))
    assert len(segs) == 4 * 5 + 4  # border (20 cell edges) + the bulk window's 4 edges
    left, right, bottom, top = grid_extent(r)
    xs, ys = segs[..., 0], segs[..., 1]
    assert xs.min() == pytest.approx(left) and xs.max() == pytest.approx(right)
    assert ys.min() == pytest.approx(top) and ys.max() == pytest.approx(bottom)


def test_mi_scale_is_fixed_and_the_threshold_marked():
    """Sampling noise of 1e-6 bit stays at the bottom of a 0–1 bit scale; the colour bar marks the threshold."""
    import matplotlib.pyplot as plt

    r = _result((4, 4), window=20, stride=10)
    r.mutual_information[:] = 1e-6
    r.mutual_information[0, 0] = 2e-6
    fig = plot_result(r, np.zeros((50, 50), np.float32), source="x.tif", frame=3)
    mi_ax = next(ax for ax in fig.axes if ax.get_title().startswith("(c)"))
    assert "all windows below 0.1 bit" in mi_ax.get_title()
    im = next(i for i in mi_ax.images if i.get_cmap().name == "viridis")
    assert im.get_clim() == (0.0, 1.0)
    bar = next(ax for ax in fig.axes if "MI [bit]" in ax.get_ylabel())
    assert any(np.allclose(line.get_ydata(), 0.1) for line in bar.lines)  # the threshold line
    assert mi_scale_max(0.1) == 1.0 and mi_scale_max(0.8) == 1.6
    plt.close(fig)


def test_title_names_file_frame_pixel_size_window_stride_samples_and_model():
    r = _result((2, 2), window=100, stride=25)
    r.model_name, r.model_hash = "aistem_default", "e98d5b6f0123"
    t = figure_title(r, "scan.dm4", 7)
    for part in (
        "scan.dm4",
        "frame 7",
        "0.12 Å/px",
        "window 12 Å (100 px)",
        "stride 3 Å (25 px)",
        "T = 10",
        "aistem_default [e98d5b6f]",
    ):
        assert part in t, (part, t)


def test_unknown_windows_are_grey_and_in_the_legend():
    import matplotlib.pyplot as plt

    r = _result((4, 4), window=20, stride=10)
    r.unknown = np.zeros((4, 4), bool)
    r.unknown[:, :2] = True
    fig = plot_result(r, None)
    ax = fig.axes[0]
    rgb = ax.images[0].get_array()
    np.testing.assert_allclose(rgb[0, 0], UNKNOWN_RGB)
    np.testing.assert_allclose(rgb[0, 3], class_colors(10)[0])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("unknown  50 %") for t in labels) and any(t.startswith("c0  100 %") for t in labels)
    plt.close(fig)


def test_rotation_panel_uses_one_convention_and_names_the_period():
    import matplotlib.pyplot as plt

    r = _result((3, 3), window=20, stride=10)
    r.class_names = ["BCC_Fe_100"] + [f"c{i}" for i in range(1, 10)]
    r.lattice_rotation = np.full((3, 3), 80.0, np.float32)  # an old map in [0, 90): shown as −10°
    fig = plot_result(r, None)
    ax = next(a for a in fig.axes if a.get_title().startswith("(d)"))
    shown = ax.images[-1].get_array()
    np.testing.assert_allclose(np.asarray(shown), -10.0)
    assert ax.images[-1].get_cmap().name.startswith("twilight")
    bar = next(a for a in fig.axes if "period" in a.get_ylabel())
    assert "[−45°, 45°)" in bar.get_ylabel() and "period 90°" in bar.get_ylabel()
    plt.close(fig)


def test_a_class_seen_only_in_interface_windows_is_named_in_the_legend():
    import matplotlib.pyplot as plt

    r = _result((3, 3), window=20, stride=10)
    r.classes[1, 1] = 2
    r.interface[1, 1] = True
    fig = plot_result(r, None)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "c2  (interface only)" in labels and any(t.startswith("c0  100 %") for t in labels)
    plt.close(fig)
