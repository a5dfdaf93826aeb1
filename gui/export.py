"""The viewer's Export: the view (PNG), its maps (.npz) and a paper-style figure (PNG) of the result on screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from aistem.core.protocol import Frame, Result

from .overlay import interface_at, unknown_at

__all__ = ["export_maps", "figure_result", "file_stem"]


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


def figure_result(r: Result, frame: Frame | None, threshold: float) -> Any:
    """The wire result as an :class:`aistem.core.analysis.AnalysisResult` for :func:`aistem.core.figures.plot_result`."""
    from aistem.core.analysis import AnalysisResult

    grid = r.grid
    nan = np.full(grid, np.nan, np.float32)
    ii, jj = np.meshgrid(np.arange(grid[0]), np.arange(grid[1]), indexing="ij")
    origins = np.stack([r.origins[0] + ii * r.stride_px, r.origins[1] + jj * r.stride_px], axis=-1).astype(np.int64)
    n = len(r.class_names)
    probs = r.probabilities if r.probabilities is not None else np.zeros((*grid, n), np.float32)
    mi = r.mutual_information if r.mutual_information is not None else nan
    ar = AnalysisResult(
        classes=np.asarray(r.classes),
        probabilities=np.asarray(probs),
        mutual_information=np.asarray(mi),
        predictive_entropy=nan,
        variation_ratio=nan,
        interface=interface_at(r, threshold),
        class_names=list(r.class_names),
        origins_px=origins,
        window_px=r.window_px,
        stride_px=r.stride_px,
        pixel_size=float(r.pixel_size or (frame.pixel_size if frame else 0.0) or 0.0),
        threshold=threshold,
        samples=r.samples,
        model_name=r.model_name,
        model_hash=r.model_hash,
        lattice_rotation=None if r.lattice_rotation is None else np.asarray(r.lattice_rotation, np.float32),
    )
    ar.unknown = unknown_at(r)  # type: ignore[attr-defined]  # (a field of AnalysisResult once it has one)
    return ar
