"""Figures of an analysis, as in the paper: image, class map with legend, mutual-information map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .analysis import AnalysisResult

__all__ = ["class_colors", "grid_extent", "plot_result"]


# Grey reads as "no class" or background on a HAADF image, so the greys of tab10/tab20 are replaced:
# tab10's index 7 (#7f7f7f) and tab20's 14, 15 (#7f7f7f, #c7c7c7). Chosen for the largest CIEDE2000 distance
# from the other colours of the palette.
_NOT_GREY_10 = {7: "#00ffbf"}
_NOT_GREY_20 = {14: "#00ffbf", 15: "#2e4999"}


def class_colors(n: int) -> np.ndarray:
    """n distinct RGB colours, ndarray of shape (n, 3) in [0, 1], none of them grey.

    tab10 (tab20 above 10 classes, repeating above 20) with its grey entries replaced: with the ten classes of
    the paper, index 7 (HCP_Ti_0001) is a bright mint green (#00ffbf) instead of tab10's grey.
    """
    import matplotlib
    from matplotlib.colors import to_rgb

    name, replace = ("tab10", _NOT_GREY_10) if n <= 10 else ("tab20", _NOT_GREY_20)
    base = matplotlib.colormaps[name]
    rgb = [to_rgb(replace[i % base.N]) if i % base.N in replace else base(i % base.N)[:3] for i in range(n)]
    return np.asarray(rgb, dtype=np.float64).reshape(n, 3)


def grid_extent(result: AnalysisResult) -> tuple[float, float, float, float]:
    """``imshow`` extent (left, right, bottom, top) [px] that puts each grid cell on its window.

    The coordinates are those of ``imshow(image)`` with its default extent: pixel (r, c) is centred on (r, c),
    the image spans −0.5 … cols − 0.5. Window (i, j) covers the pixels from its top-left pixel
    ``result.origins_px[i, j]`` to that + ``window_px`` − 1, so its centre is ``origin + (window_px − 1)/2``
    (in pixel-edge coordinates, where the image spans 0 … cols: ``origin + window_px/2``). Grid cell (i, j) is
    the stride × stride block centred on that window centre, so the extent runs from half a stride before the
    first window centre to half a stride after the last, and honours a non-zero origin of the grid.
    """
    origins = np.asarray(result.origins_px, dtype=np.float64)
    half_w = (result.window_px - 1) / 2.0
    half_s = result.stride_px / 2.0
    row_first, col_first = origins[0, 0] + half_w
    row_last, col_last = origins[-1, -1] + half_w
    return (
        float(col_first - half_s),
        float(col_last + half_s),
        float(row_last + half_s),
        float(row_first - half_s),
    )


def plot_result(result: AnalysisResult, image: np.ndarray | None, path: str | Path | None = None, *, title: str = "") -> Any:
    """Three panels: the image, the class map with a legend, the MI map with a colour bar.

    Returns the Matplotlib figure; writes it to ``path`` when given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    names = result.class_names
    colors = class_colors(len(names))
    ext = grid_extent(result)
    has_rotation = result.lattice_rotation is not None and np.isfinite(result.lattice_rotation).any()
    panels = (3 if image is not None else 2) + (1 if has_rotation else 0)
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 5.4), constrained_layout=True)
    axes = list(np.atleast_1d(axes))
    if image is not None:
        ax = axes.pop(0)
        ax.imshow(image, cmap="gray")
        ax.set_title("HAADF image")
        _scale_bar(ax, image.shape, result.pixel_size)
        ax.set_axis_off()
    ax = axes[0]
    if image is not None:
        ax.imshow(image, cmap="gray")
    ax.imshow(
        result.classes,
        cmap=ListedColormap(colors),
        vmin=-0.5,
        vmax=len(names) - 0.5,
        extent=ext,
        alpha=0.6 if image is not None else 1.0,
        interpolation="nearest",
    )
    if result.interface.any():
        ax.contour(
            result.interface.astype(float),
            levels=[0.5],
            colors="k",
            linewidths=1.0,
            extent=ext,  # as the imshow above: with origin="upper", row 0 lies at ext[3] (the top)
            origin="upper",
        )
    present = np.unique(result.classes)
    ax.legend(handles=[Patch(color=colors[i], label=names[i]) for i in present], loc="upper right", fontsize=7, framealpha=0.8)
    ax.set_title("Assigned class (interface outlined)")
    if image is not None:
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_axis_off()
    ax = axes[1]
    im = ax.imshow(result.mutual_information, cmap="viridis", vmin=0.0, extent=ext, interpolation="nearest")
    if image is not None:
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_title(f"Mutual information [bit] (threshold {result.threshold:g})")
    fig.colorbar(im, ax=ax, shrink=0.8, label="MI [bit]")
    ax.set_axis_off()
    if has_rotation:
        _rotation_panel(fig, axes[2], result, ext, image)
    if title:
        fig.suptitle(title)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def _scale_bar(ax: Any, shape: tuple[int, ...], pixel_size: float) -> None:
    """A 1 nm (or longer) scale bar in the lower left corner."""
    if not pixel_size or not np.isfinite(pixel_size):
        return
    width_nm = shape[1] * pixel_size / 10.0
    bar_nm = next((b for b in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500) if b >= width_nm / 6), 1000)
    bar_px = bar_nm * 10.0 / pixel_size
    r, c = shape[0] * 0.93, shape[1] * 0.05
    ax.plot([c, c + bar_px], [r, r], color="white", linewidth=4)
    ax.text(c + bar_px / 2, r - shape[0] * 0.03, f"{bar_nm:g} nm", color="white", ha="center", va="bottom", fontsize=9)


def _rotation_panel(fig: Any, ax: Any, result: AnalysisResult, ext: tuple[float, float, float, float], image: Any) -> None:
    """Local lattice rotation of bulk windows on a cyclic colour map; interface windows grey."""
    import matplotlib

    from .rotation import rotation_fraction, rotation_period

    rot = result.lattice_rotation
    assert rot is not None
    bulk = np.isfinite(rot)
    periods = np.unique(rotation_period(result.class_names)[result.classes[bulk]])
    ax.imshow(np.where(bulk, np.nan, 0.5), cmap="gray", vmin=0, vmax=1, extent=ext, interpolation="nearest")
    cmap = matplotlib.colormaps["twilight_shifted"].copy()
    cmap.set_bad(alpha=0.0)
    if len(periods) == 1:  # one symmetry period: show degrees
        half = float(periods[0]) / 2
        im = ax.imshow(rot, cmap=cmap, vmin=-half, vmax=half, extent=ext, interpolation="nearest")
        label = f"rotation [°] (mod {2 * half:g}°)"
    else:  # mixed periods: one cyclic scale as a fraction of each class's period
        im = ax.imshow(
            rotation_fraction(rot, result.classes, result.class_names),
            cmap=cmap,
            vmin=0,
            vmax=1,
            extent=ext,
            interpolation="nearest",
        )
        label = "rotation / symmetry period"
    if image is not None:
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_title("Local lattice rotation (interface grey)")
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    ax.set_axis_off()
