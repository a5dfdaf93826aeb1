"""Figures of an analysis, in the layout of the paper's Fig. 2 and 3: image, class map, mutual information, rotation.

Every panel is drawn in image coordinates (rows down, pixel centres on whole numbers) over the same extent, with a
scale bar; the MI colour scale is fixed (0 to at least 1 bit) with the threshold marked; the interface is outlined
cell by cell (so also when most windows are interface); unknown windows (outside the model's domain, when the
result has an ``unknown`` map) are light grey; rotations are on a cyclic colour map in [−period/2, period/2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = [
    "MI_SCALE_MAX",
    "UNKNOWN_RGB",
    "FigureMaps",
    "class_colors",
    "figure_title",
    "grid_extent",
    "mi_scale_max",
    "outline_segments",
    "plot_result",
    "short_class_name",
]

#: Colour of unknown windows (a grey no class has; :func:`class_colors` has no grey).
UNKNOWN_RGB = (0.745, 0.745, 0.745)
#: The MI colour scale runs from 0 to at least this [bit].
MI_SCALE_MAX = 1.0
#: Font size of legends, titles and labels [pt]: readable when the figure is printed at about 17 cm wide.
FONT_PT = 11


class FigureMaps(Protocol):
    """What a figure reads of an analysis: an :class:`aistem.core.analysis.AnalysisResult`, or a viewer's own view of
    a streamed result (no conversion, no padding); grid maps of shape (rows, cols).

    ``mutual_information`` None: no MI panel. ``lattice_rotation`` None (or all NaN): no rotation panel.
    ``unknown`` None: no window is unknown. ``origins_px`` (rows, cols, 2): each window's top-left pixel.
    """

    @property
    def classes(self) -> np.ndarray: ...
    @property
    def class_names(self) -> list[str]: ...
    @property
    def interface(self) -> np.ndarray: ...
    @property
    def unknown(self) -> np.ndarray | None: ...
    @property
    def mutual_information(self) -> np.ndarray | None: ...
    @property
    def lattice_rotation(self) -> np.ndarray | None: ...
    @property
    def origins_px(self) -> np.ndarray: ...
    @property
    def window_px(self) -> int: ...
    @property
    def stride_px(self) -> int: ...
    @property
    def pixel_size(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def samples(self) -> int: ...
    @property
    def model_name(self) -> str: ...
    @property
    def model_hash(self) -> str: ...


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


def grid_extent(result: FigureMaps) -> tuple[float, float, float, float]:
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


def mi_scale_max(threshold: float) -> float:
    """Top of the fixed MI colour scale [bit]: 1 bit, or twice the threshold when that is higher."""
    return float(max(MI_SCALE_MAX, 2.0 * threshold))


def short_class_name(name: str) -> str:
    """ "BCC_Fe_100" → "bcc Fe [100]", "HCP_Ti_10m10" → "hcp Ti [10-10]": the class as a microscopist reads it."""
    parts = name.split("_")
    if len(parts) != 3:
        return name
    lattice, element, zone = parts
    return f"{lattice.lower()} {element} [{zone.replace('m', '-')}]"


def figure_title(result: FigureMaps, source: str = "", frame: int | None = None) -> str:
    """One line naming the file, frame, pixel size, window, stride, T and model of the analysis."""
    ps = result.pixel_size
    known = bool(ps) and np.isfinite(ps) and ps > 0
    size = (lambda px: f"{px * ps:.3g} Å ({px} px)") if known else (lambda px: f"{px} px")
    parts = [source or "image"]
    if frame is not None:
        parts.append(f"frame {frame}")
    parts.append(f"{ps:.4g} Å/px" if known else "pixel size unknown")
    parts.append(f"window {size(result.window_px)}")
    parts.append(f"stride {size(result.stride_px)}")
    parts.append(f"T = {result.samples}")
    model = result.model_name or "model ?"
    if result.model_hash:
        model += f" [{result.model_hash[:8]}]"
    parts.append(model)
    return " · ".join(parts)


def outline_segments(mask: np.ndarray, extent: tuple[float, float, float, float]) -> np.ndarray:
    """Cell edges between ``mask`` cells and the rest (or the grid border), as line segments in image coordinates.

    Parameters
    ----------
    mask : ndarray of shape (rows, cols), bool
    extent : (left, right, bottom, top)
        :func:`grid_extent` of the grid [px].

    Returns
    -------
    ndarray of shape (n, 2, 2), float64
        Segments ((x0, y0), (x1, y1)) with x the column and y the row [px].
    """
    m = np.pad(np.asarray(mask, bool), 1)
    left, right, bottom, top = extent
    gr, gc = mask.shape
    sr = (bottom - top) / max(1, gr)
    sc = (right - left) / max(1, gc)
    k, j = np.nonzero(m[1:, 1:-1] != m[:-1, 1:-1])  # horizontal edge above grid row k
    h = np.stack([np.stack([left + j * sc, top + k * sr], -1), np.stack([left + (j + 1) * sc, top + k * sr], -1)], 1)
    i, k2 = np.nonzero(m[1:-1, 1:] != m[1:-1, :-1])  # vertical edge left of grid col k2
    v = np.stack([np.stack([left + k2 * sc, top + i * sr], -1), np.stack([left + k2 * sc, top + (i + 1) * sr], -1)], 1)
    return np.concatenate([h.reshape(-1, 2, 2), v.reshape(-1, 2, 2)]).astype(np.float64)


def _unknown(result: FigureMaps) -> np.ndarray:
    u = getattr(result, "unknown", None)
    return np.zeros(result.classes.shape, bool) if u is None else np.asarray(u, bool)


def plot_result(
    result: FigureMaps,
    image: np.ndarray | None,
    path: str | Path | None = None,
    *,
    title: str = "",
    source: str = "",
    frame: int | None = None,
) -> Any:
    """The paper's figure of one analysis: image, class map (interface outlined), MI, and rotation when measured.

    Parameters
    ----------
    result : FigureMaps
        An :class:`aistem.core.analysis.AnalysisResult`, or any object with its maps (:class:`FigureMaps`).
    image : ndarray of shape (rows, cols), optional
        The analysed image; without it the maps are drawn on their own.
    path : path, optional
        Write the figure (PNG, 150 dpi).
    title : str
        Title; default :func:`figure_title` of ``source`` and ``frame``.
    source : str
        The file the image came from (named in the default title).
    frame : int, optional
        Its frame index.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_rotation = result.lattice_rotation is not None and bool(np.isfinite(result.lattice_rotation).any())
    has_mi = result.mutual_information is not None
    kinds = (
        (["image"] if image is not None else []) + ["class"] + (["mi"] if has_mi else []) + (["rotation"] if has_rotation else [])
    )
    shape = (2, 2) if len(kinds) == 4 else (1, len(kinds))
    size = (11.0, 11.6) if shape == (2, 2) else (5.4 * len(kinds), 6.4)
    with plt.rc_context({"font.size": FONT_PT}):
        fig, axes = plt.subplots(*shape, figsize=size, constrained_layout=True, squeeze=False)
        ext = grid_extent(result)
        for ax, kind in zip(axes.ravel(), kinds, strict=True):
            _base(ax, image, result, ext)
            {"image": _image_panel, "class": _class_panel, "mi": _mi_panel, "rotation": _rotation_panel}[kind](
                fig, ax, result, ext
            )
            _scale_bar(ax, image.shape if image is not None else None, result, ext)
        fig.suptitle(title or figure_title(result, source, frame), fontsize=FONT_PT + 1)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=150)
            plt.close(fig)
    return fig


def _base(ax: Any, image: np.ndarray | None, result: FigureMaps, ext: tuple[float, float, float, float]) -> None:
    """The image in grey under every panel, and the same limits for all: the image's, else the grid's."""
    if image is not None:
        ax.imshow(image, cmap="gray", interpolation="nearest")
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
    else:
        ax.set_xlim(ext[0], ext[1])
        ax.set_ylim(ext[2], ext[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _outline(ax: Any, result: FigureMaps, ext: tuple[float, float, float, float], color: str) -> None:
    from matplotlib.collections import LineCollection

    segs = outline_segments(result.interface & ~_unknown(result), ext)
    if len(segs):
        ax.add_collection(LineCollection(list(segs), colors=color, linewidths=1.4, zorder=5))


def _image_panel(fig: Any, ax: Any, result: FigureMaps, ext: tuple[float, float, float, float]) -> None:
    ax.set_title("(a) HAADF image")


def _class_panel(fig: Any, ax: Any, result: FigureMaps, ext: tuple[float, float, float, float]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    names = result.class_names
    colors = class_colors(len(names))
    unknown = _unknown(result)
    rgb = colors[np.minimum(result.classes.astype(np.int64), len(names) - 1)]
    rgb[unknown] = UNKNOWN_RGB
    ax.imshow(rgb, extent=ext, alpha=0.6 if ax.images else 1.0, interpolation="nearest")
    _outline(ax, result, ext, "k")
    bulk = ~unknown & ~result.interface
    counts = np.bincount(result.classes[bulk].astype(np.int64), minlength=len(names))[: len(names)]
    total = max(1, int(bulk.sum()))
    handles: list[Any] = [
        Patch(color=colors[i], label=f"{short_class_name(names[i])}  {100 * counts[i] / total:.0f} %")
        for i in np.argsort(-counts, kind="stable")
        if counts[i]
    ]
    flagged_only = np.setdiff1d(np.unique(result.classes[result.interface & ~unknown]), np.nonzero(counts)[0])
    handles += [Patch(color=colors[i], label=f"{short_class_name(names[i])}  (interface only)") for i in flagged_only]
    n = max(1, result.classes.size)
    if unknown.any():
        handles.append(Patch(color=UNKNOWN_RGB, label=f"unknown  {100 * unknown.sum() / n:.0f} % of windows"))
    iface = (result.interface & ~unknown).sum() / n
    handles.append(Line2D([], [], color="k", lw=1.4, label=f"interface (MI > {result.threshold:g} bit)  {100 * iface:.0f} %"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=FONT_PT - 1, frameon=False)
    ax.set_title("(b) class (% of known bulk windows)")


def _mi_panel(fig: Any, ax: Any, result: FigureMaps, ext: tuple[float, float, float, float]) -> None:
    top = mi_scale_max(result.threshold)
    mi = np.ma.masked_invalid(np.asarray(result.mutual_information, np.float32))
    im = ax.imshow(mi, cmap="viridis", vmin=0.0, vmax=top, extent=ext, interpolation="nearest")
    _outline(ax, result, ext, "w")
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    cb.set_label(f"MI [bit] (fixed scale; threshold {result.threshold:g}, red)")
    cb.ax.axhline(result.threshold, color="red", lw=2.5)
    above = result.interface & ~_unknown(result)
    t = result.threshold
    note = f"all windows below {t:g} bit" if not above.any() else f"{100 * above.mean():.0f} % above {t:g} bit"
    ax.set_title(f"(c) MI: {note}")


def _rotation_panel(fig: Any, ax: Any, result: FigureMaps, ext: tuple[float, float, float, float]) -> None:
    """Local lattice rotation of bulk windows in [−period/2, period/2) on a cyclic colour map; interface: image."""
    import matplotlib

    from .rotation import circular_difference, rotation_period

    rot = result.lattice_rotation
    assert rot is not None
    names = result.class_names
    cls = np.minimum(result.classes.astype(np.int64), len(names) - 1)
    period = rotation_period(names)[cls]
    rot = np.where(np.isfinite(rot), circular_difference(np.asarray(rot, np.float32), 0.0, period), np.nan)
    shown = np.isfinite(rot)
    periods = {names[c]: float(rotation_period(names)[c]) for c in np.unique(cls[shown])}
    cmap = matplotlib.colormaps["twilight_shifted"].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))
    if len(set(periods.values())) == 1:
        half = next(iter(periods.values())) / 2
        im = ax.imshow(np.ma.masked_invalid(rot), cmap=cmap, vmin=-half, vmax=half, extent=ext, interpolation="nearest")
        label = f"rotation [°] in [−{half:g}°, {half:g}°), period {2 * half:g}°"
    else:
        frac = np.ma.masked_invalid(rot / period)
        im = ax.imshow(frac, cmap=cmap, vmin=-0.5, vmax=0.5, extent=ext, interpolation="nearest")
        label = "rotation ÷ period, in [−½, ½)"
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    cb.set_label(label)
    per = ", ".join(f"{short_class_name(n)} {p:g}°" for n, p in periods.items())
    ax.text(0.5, -0.01, f"period: {per}", transform=ax.transAxes, ha="center", va="top", fontsize=FONT_PT - 1, wrap=True)
    ax.set_title("(d) lattice rotation (cyclic; interface: image)")


def _scale_bar(ax: Any, shape: tuple[int, ...] | None, result: FigureMaps, ext: tuple[float, float, float, float]) -> None:
    """A round-length scale bar (about a sixth of the width) in the lower left corner, on the image."""
    ps = result.pixel_size
    if not ps or not np.isfinite(ps) or ps <= 0:
        return
    if shape is not None:
        r0, c0, rows, cols = -0.5, -0.5, float(shape[0]), float(shape[1])
    else:
        r0, c0, rows, cols = ext[3], ext[0], ext[2] - ext[3], ext[1] - ext[0]
    width_nm = cols * ps / 10.0
    bar_nm = next((b for b in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500) if b >= width_nm / 6), 1000)
    bar_px = bar_nm * 10.0 / ps
    r, c = r0 + rows * 0.93, c0 + cols * 0.05
    ax.plot([c, c + bar_px], [r, r], color="white", linewidth=5, solid_capstyle="butt", zorder=6)
    ax.text(
        c + bar_px / 2,
        r - rows * 0.025,
        f"{bar_nm:g} nm",
        color="white",
        ha="center",
        va="bottom",
        zorder=6,
        bbox={"facecolor": "black", "alpha": 0.5, "edgecolor": "none", "pad": 1.5},
    )
