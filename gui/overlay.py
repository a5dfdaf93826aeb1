"""What the viewer paints over the image, as arrays: class colours, interface outlines, hover text. Pure, no Qt.

The class colours are those of the paper-style figures (:func:`aistem.core.figures.class_colors`), so a class
has the same colour in the live viewer, in exported figures and in reports.
"""

from __future__ import annotations

import numpy as np

from aistem.core.protocol import Result

__all__ = [
    "MI_SCALE_MAX",
    "UNKNOWN_RGBA",
    "class_lut",
    "class_rgba",
    "display_image",
    "hover_text",
    "interface_at",
    "interface_segments",
    "mi_scale",
    "nice_scale_bar",
    "rotation_display",
    "short_class_name",
    "top_classes",
    "unknown_at",
]

#: Colour of "unknown" windows (outside the model's domain): a neutral light grey, a colour no class has.
UNKNOWN_RGBA = np.array([190, 190, 190, 255], np.uint8)
#: The MI colour scale runs from 0 to at least this [bit], fixed: sampling noise never fills the scale.
MI_SCALE_MAX = 1.0


def class_lut(n: int) -> np.ndarray:
    """RGBA colours of n classes, ndarray of shape (n, 4), uint8 (opaque): the figures' colours."""
    from aistem.core import class_colors

    rgb = np.round(class_colors(max(1, n)) * 255.0).astype(np.uint8)
    return np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], axis=1)


def class_rgba(classes: np.ndarray, n_classes: int, unknown: np.ndarray | None = None) -> np.ndarray:
    """Class map (rows, cols) → opaque RGBA image (rows, cols, 4), uint8.

    Class indices outside the class list are transparent; ``unknown`` windows (bool (rows, cols)) are
    :data:`UNKNOWN_RGBA`.
    """
    lut = np.concatenate([class_lut(n_classes), np.zeros((1, 4), np.uint8)])
    idx = np.where(classes.astype(np.int64) < n_classes, classes.astype(np.int64), n_classes)
    out = lut[idx]
    if unknown is not None and unknown.any():
        out[unknown.astype(bool)] = UNKNOWN_RGBA
    return out


def unknown_at(result: Result) -> np.ndarray:
    """Windows outside the model's domain, bool (rows, cols); all False when the daemon sends no ``unknown`` map."""
    u = getattr(result, "unknown", None)
    if u is None:
        u = result.arrays.get("unknown")
    return np.zeros(result.grid, bool) if u is None else np.asarray(u).astype(bool)


def interface_at(result: Result, threshold: float | None = None) -> np.ndarray:
    """Interface mask (rows, cols), bool: MI > ``threshold`` [bit] if given, else the daemon's ``interface``.

    Unknown windows are never interface. Changing the threshold here changes only what is drawn, never the result.
    """
    mi = result.mutual_information
    if threshold is not None and mi is not None:
        mask = np.asarray(mi > threshold)
    elif result.interface is not None:
        mask = result.interface.astype(bool)
    elif mi is not None:
        mask = np.asarray(mi > result.threshold)
    else:
        mask = np.zeros(result.grid, bool)
    return mask & ~unknown_at(result)


def mi_scale(mi: np.ndarray | None, threshold: float) -> float:
    """Top of the MI colour scale [bit]: :data:`MI_SCALE_MAX`, or twice the threshold when that is higher.

    Fixed, never taken from the data (``mi`` is ignored, on purpose): a map of sampling noise (1e-6 bit) stays
    at the bottom colour. The figures use the same scale (:func:`aistem.core.figures.mi_scale_max`).
    """
    from aistem.core import mi_scale_max

    return mi_scale_max(threshold)


def short_class_name(name: str) -> str:
    """The class as a microscopist reads it: "BCC_Fe_100" → "bcc Fe [100]" (as in the figures)."""
    from aistem.core import short_class_name as short

    return short(name)


def rotation_display(result: Result) -> tuple[np.ndarray, tuple[float, float], str, dict[str, float]] | None:
    """What the rotation overlay draws: values, colour-scale range, colour-bar label, period per class shown.

    Angles are in [−period/2, period/2) of their class (``docs/rotation.md``). With one symmetry period among the
    windows that have an angle, the values are degrees on [−P/2, P/2); with several, each angle divided by its
    class's period, on [−0.5, 0.5) (one cyclic scale). None when the result has no rotation map.
    """
    from aistem.core import rotation_period

    rot = result.lattice_rotation
    if rot is None:
        return None
    rot = np.asarray(rot, np.float32)
    names = result.class_names
    period = rotation_period(names)
    cls = np.minimum(result.classes.astype(np.int64), len(names) - 1)
    have = np.isfinite(rot)
    present = sorted({int(c) for c in np.unique(cls[have])}) if have.any() else []
    periods = {names[c]: float(period[c]) for c in present}
    distinct = sorted(set(periods.values()))
    if len(distinct) <= 1:
        p = distinct[0] if distinct else 90.0
        return rot, (-p / 2, p / 2), f"lattice rotation [°], period {p:g}°", periods
    frac = rot / period[cls]
    return frac.astype(np.float32), (-0.5, 0.5), "lattice rotation ÷ period", periods


def interface_segments(mask: np.ndarray, result: Result) -> tuple[np.ndarray, np.ndarray]:
    """Outline of the interface cells as line segments (for ``connect="pairs"``), in pixel coordinates.

    Returns
    -------
    rows, cols : ndarray of shape (2·n_segments,), float64
        End points of each segment, consecutive pairs; every edge between an interface cell and a
        non-interface cell (or the grid border) is one segment.
    """
    m = np.pad(mask.astype(bool), 1)
    top, left, _, _ = result.cell_rect()
    s = float(result.stride_px)
    # horizontal edges: between row k-1 and k of the padded mask, i.e. at y = top + (k-1)·s for padded index k
    h = m[1:, 1:-1] != m[:-1, 1:-1]  # shape (R+1, C): edge above grid row k (k = 0..R)
    k, j = np.nonzero(h)
    hr = np.repeat(top + k * s, 2)
    hc = np.stack([left + j * s, left + (j + 1) * s], axis=1).ravel()
    v = m[1:-1, 1:] != m[1:-1, :-1]  # shape (R, C+1): edge left of grid col k
    i, k2 = np.nonzero(v)
    vr = np.stack([top + i * s, top + (i + 1) * s], axis=1).ravel()
    vc = np.repeat(left + k2 * s, 2)
    return np.concatenate([hr, vr]).astype(np.float64), np.concatenate([hc, vc]).astype(np.float64)


def top_classes(probabilities: np.ndarray, class_names: list[str], k: int = 3) -> list[tuple[str, float]]:
    """The k most probable classes of one window, most probable first."""
    p = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(-p, kind="stable")[:k]
    return [(class_names[i] if i < len(class_names) else f"class {i}", float(p[i])) for i in order]


def hover_text(
    result: Result | None,
    row: float,
    col: float,
    *,
    image: np.ndarray | None = None,
    threshold: float | None = None,
) -> str:
    """What the viewer shows for the point (row, col) [px, pixel-centre coordinates].

    Pixel position (and value), then for the grid cell drawn there (and whether the map is the final result or a
    live preview): class, the top three class probabilities,
    mutual information [bit] (and whether it is above the display threshold), lattice rotation [°] if sent; a window
    that a coarse-to-fine analysis filled (interpolated) rather than computed says so.
    """
    r, c = round(row), round(col)
    parts = [f"pixel (row {r}, col {c})"]
    if image is not None and 0 <= r < image.shape[0] and 0 <= c < image.shape[1]:
        parts[0] += f" = {float(image[r, c]):.4g}"
    if result is None:
        return parts[0]
    cell = result.cell_at(row, col)
    if cell is None:
        parts.append("outside the analysed windows")
        return " · ".join(parts)
    i, j = cell
    ci = int(result.classes[i, j])
    name = result.class_names[ci] if ci < len(result.class_names) else f"class {ci}"
    kind = result.kind() if result.final else f"{result.kind()} ({result.samples} samples)"
    filled = result.filled  # coarse-to-fine (1.3): a window interpolated from its cell's corners, not computed
    how = ", filled (interpolated, not computed)" if filled is not None and bool(filled[i, j]) else ""
    parts.append(f"window ({i}, {j}), {kind}{how}")  # "final", or "preview 1/2": the grid and samples differ
    unknown = bool(unknown_at(result)[i, j])
    parts.append(f"unknown (outside the model's domain; nearest {name})" if unknown else name)
    if result.probabilities is not None:
        parts.append("p: " + ", ".join(f"{n} {p:.2f}" for n, p in top_classes(result.probabilities[i, j], result.class_names)))
    mi = result.mutual_information
    if mi is not None:
        t = result.threshold if threshold is None else threshold
        above = bool(np.asarray(mi)[i, j] > t)
        word = ("above" if unknown else "interface") if above else "below"
        parts.append(f"MI {float(mi[i, j]):.3f} bit ({word} {t:g})")
    rot = result.lattice_rotation
    if rot is not None:
        from aistem.core import rotation_period

        v = float(rot[i, j])
        p = float(rotation_period([name])[0]) if ci < len(result.class_names) else 0.0
        parts.append("rotation —" if not np.isfinite(v) else f"rotation {v:+.1f}° (of [−{p / 2:g}°, {p / 2:g}°))")
    used = result.arrays.get("samples_used")
    if used is not None:
        parts.append(f"{int(used[i, j])} of {result.samples} samples")  # adaptive sampling
    return " · ".join(parts)


def display_image(image: np.ndarray, log: bool = False) -> np.ndarray:
    """The frame as drawn: float32, optionally on a log scale (log10 of the value above the minimum + a floor)."""
    a = np.asarray(image, dtype=np.float32)
    if not log:
        return a
    finite = a[np.isfinite(a)]
    lo = float(finite.min()) if finite.size else 0.0
    span = float(finite.max()) - lo if finite.size else 1.0
    floor = max(span * 1e-3, np.finfo(np.float32).tiny) if span > 0 else 1.0
    return np.log10(np.maximum(a - lo, 0.0) + floor).astype(np.float32)


def nice_scale_bar(width_px: int, pixel_size: float | None) -> tuple[float, float] | None:
    """A round scale-bar length about a sixth of the image width: (length [nm], length [px]); None if unknown."""
    if not pixel_size or not np.isfinite(pixel_size) or pixel_size <= 0 or width_px <= 0:
        return None
    width_nm = width_px * pixel_size / 10.0
    steps = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
    nm = next((b for b in steps if b >= width_nm / 6), steps[-1])
    return float(nm), float(nm) * 10.0 / float(pixel_size)
