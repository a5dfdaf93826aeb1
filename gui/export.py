"""The viewer's Export: the view (PNG), its maps (.npz) and a paper-style figure (PNG) of the result on screen."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aistem.core.protocol import Frame, Result

from .overlay import interface_at, unknown_at

__all__ = ["WireFigureMaps", "export_maps", "export_view", "figure_maps", "file_stem"]


def file_stem(result: Result | None, frame: Frame | None) -> str:
    """``SERIES_00042`` of the result (else of the frame, else ``view``), safe as a file name."""
    src = result if result is not None else frame
    stem = f"{src.series}_{src.index:05d}" if src is not None else "view"
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)


def export_maps(path: Path, result: Result | None, frame: Frame | None, threshold: float) -> Path:
    """Write the frame and the result's maps, the displayed interface and threshold, to ``path`` (.npz)."""
    arrays: dict[str, Any] = {}
    if frame is not None:
        arrays["image"] = np.asarray(frame.image)
    if result is not None:
        arrays.update({k: np.asarray(v) for k, v in result.arrays.items()})
        arrays["interface_displayed"] = interface_at(result, threshold)
        arrays["display_threshold"] = np.float64(threshold)
        arrays["class_names"] = np.asarray(result.class_names)
        arrays["header"] = np.asarray(json.dumps(result.header, default=str))
    np.savez_compressed(path, **arrays)
    return path


@dataclass(frozen=True)
class WireFigureMaps:
    """A streamed result's maps as :func:`aistem.core.figures.plot_result` reads them (:class:`~aistem.core.figures.FigureMaps`).

    The wire result's own arrays, unconverted and unpadded: a map the daemon did not send stays None (its panel is
    left out). ``interface`` and ``threshold`` are the display's; ``origins_px`` the windows' top-left pixels.
    """

    classes: np.ndarray
    class_names: list[str]
    interface: np.ndarray
    unknown: np.ndarray
    mutual_information: np.ndarray | None
    lattice_rotation: np.ndarray | None
    origins_px: np.ndarray
    window_px: int
    stride_px: int
    pixel_size: float
    threshold: float
    samples: int
    model_name: str
    model_hash: str


def figure_maps(r: Result, frame: Frame | None, threshold: float) -> WireFigureMaps:
    """The maps of the wire result ``r`` for the figure, with the display ``threshold`` [bit]."""
    rows = r.origins[0] + np.arange(r.grid[0]) * r.stride_px
    cols = r.origins[1] + np.arange(r.grid[1]) * r.stride_px
    origins = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1).astype(np.int64)
    return WireFigureMaps(
        classes=np.asarray(r.classes),
        class_names=list(r.class_names),
        interface=interface_at(r, threshold),
        unknown=unknown_at(r),
        mutual_information=r.mutual_information,
        lattice_rotation=r.lattice_rotation,
        origins_px=origins,
        window_px=r.window_px,
        stride_px=r.stride_px,
        pixel_size=float(r.pixel_size or (frame.pixel_size if frame else 0.0) or 0.0),
        threshold=threshold,
        samples=r.samples,
        model_name=r.model_name,
        model_hash=r.model_hash,
    )


def export_view(
    view: Any, result: Result | None, frame: Frame | None, frame_matches: bool, threshold: float, directory: Path
) -> dict[str, Path]:
    """Write the view (PNG of the widget ``view``), the maps (.npz) and, with a result, the paper-style figure (PNG).

    Parameters
    ----------
    view : QWidget
        The panels' widget, grabbed as it is on screen.
    result, frame : optional
        What is on screen; ``frame_matches``: the frame is the result's own (then it is drawn under the figure's maps).
    threshold : float
        Display threshold of the MI [bit].
    directory : Path
        Where to write (made if needed).

    Returns
    -------
    dict
        ``view``, ``maps`` and (when there is a result) ``figure`` → path.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem(result, frame)
    path = directory / f"{stem}_view.png"
    if not view.grab().save(str(path), "PNG"):
        raise OSError(f"cannot write {path}")
    out = {"view": path, "maps": export_maps(directory / f"{stem}_maps.npz", result, frame, threshold)}
    if result is not None:
        from aistem.core import plot_result

        image = np.asarray(frame.image, np.float32) if frame is not None and frame_matches else None
        out["figure"] = directory / f"{stem}_figure.png"
        source = f"{result.series} #{result.index}"
        plot_result(figure_maps(result, frame, threshold), image, out["figure"], source=source)
    return out
