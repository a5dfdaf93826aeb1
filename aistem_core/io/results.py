"""Writing results for other tools: HyperSpy files (``.hspy``) and the summary table (CSV) of many frames."""

from __future__ import annotations

import csv
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SUMMARY_FIXED", "format_source", "parse_source", "summary_row", "write_hspy", "write_summary"]

_SOURCE = re.compile(r"^(?P<path>.*) \[signal (?P<index>-?\d+) (?P<title>'.*'|\".*\"), frame (?P<frame>\d+)\]$")


def format_source(path: str | Path, index: int, title: str, frame: int) -> str:
    """A result's ``source``: ``/abs/scan.emd [signal 4 'HAADF', frame 0]`` (:func:`parse_source` reads it back)."""
    return f"{path} [signal {index} {title!r}, frame {frame}]"


def parse_source(source: str) -> tuple[str, int | None, int | None]:
    """(path, signal index, frame) of a result's ``source``; a plain path gives (path, None, None)."""
    m = _SOURCE.match(source)
    if m is None:
        return source, None, None
    return m["path"], int(m["index"]), int(m["frame"])


#: The summary table's first columns; one ``share <class>`` column per class follows.
SUMMARY_FIXED = (
    "file",
    "signal",
    "frame",
    "pixel_size_A",
    "window_px",
    "stride_px",
    "windows",
    "interface_fraction",
    "unknown_fraction",
    "mean_mi_bit",
    "result",
)

#: (attribute, HyperSpy title suffix, quantity) of the maps written, in order.
_MAPS = (
    ("classes", "classes", "class index (see metadata AISTEM.class_names)"),
    ("mutual_information", "mutual information", "mutual information (bit)"),
    ("interface", "interface", "interface (MI > threshold)"),
    ("predictive_entropy", "predictive entropy", "predictive entropy (bit)"),
    ("variation_ratio", "variation ratio", "variation ratio"),
    ("lattice_rotation", "lattice rotation", "lattice rotation (deg)"),
    ("unknown", "unknown", "outside the training domain"),
)


def _extra() -> dict[str, Any]:
    """The keys besides data, axes and metadata that RosettaSciIO's HyperSpy writer expects of a signal."""
    from importlib.metadata import version

    return {
        "original_metadata": {},
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "learning_results": {},
        "models": {},
        "package_info": {"package": "aistem", "package_version": version("aistem")},
    }


def _unknown(result: Any) -> np.ndarray | None:
    u = getattr(result, "unknown", None)  # the domain-check map, where the result has one
    return None if u is None else np.asarray(u)


def summary_row(result: Any, file: str, signal: str, frame: int, result_path: str = "") -> dict[str, Any]:
    """One row of the summary table: the frame's class shares, interface and unknown fractions.

    ``unknown_fraction`` is empty where the result has no ``unknown`` map.
    """
    u = _unknown(result)
    row: dict[str, Any] = {
        "file": file,
        "signal": signal,
        "frame": frame,
        "pixel_size_A": f"{result.pixel_size:.6g}" if math.isfinite(result.pixel_size) else "",
        "window_px": result.window_px,
        "stride_px": result.stride_px,
        "windows": int(result.classes.size),
        "interface_fraction": f"{result.interface_fraction:.6f}",
        "unknown_fraction": f"{float(u.astype(bool).mean()):.6f}" if u is not None and u.size else "",
        "mean_mi_bit": f"{float(np.mean(result.mutual_information)):.6f}",
        "result": result_path,
    }
    for name, share in result.class_fractions().items():
        row[f"share {name}"] = f"{share:.6f}"
    return row


def write_summary(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the summary table (CSV, one row per analysed frame)."""
    path = Path(path)
    names = list(SUMMARY_FIXED) + [k for r in rows for k in r if k not in SUMMARY_FIXED]
    columns = list(dict.fromkeys(names))
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, restval="")
        w.writeheader()
        w.writerows(rows)
    return path


def _grid_axes(result: Any) -> list[dict[str, Any]]:
    """Calibrated axes of the window grid: window centres [Å] (or [px] when the pixel size is unknown)."""
    px = float(result.pixel_size)
    known = math.isfinite(px) and px > 0
    unit, f = ("Å", px) if known else ("px", 1.0)
    o = np.asarray(result.origins_px)
    origin = (o[0, 0] + result.window_px / 2.0) if o.size else np.zeros(2)
    return [
        {
            "name": name,
            "size": int(n),
            "scale": result.stride_px * f,
            "offset": float(origin[i]) * f,
            "units": unit,
            "navigate": False,
        }
        for i, (name, n) in enumerate(zip(("y", "x"), result.classes.shape, strict=True))
    ]


def _signals(result: Any, title: str, meta: dict[str, Any]) -> list[dict[str, Any]]:
    grid = _grid_axes(result)
    out = []
    for attr, suffix, quantity in _MAPS:
        data = _unknown(result) if attr == "unknown" else getattr(result, attr, None)
        if data is None:
            continue
        data = np.asarray(data)
        data = data.astype(np.uint8) if data.dtype == bool else data
        md = {"General": {"title": f"{title}: {suffix}"}, "Signal": {"quantity": quantity}, "AISTEM": meta}
        out.append({"data": data, "axes": [dict(a) for a in grid], "metadata": md, **_extra()})
    prob_axes = [{**a, "navigate": True} for a in grid] + [
        {"name": "class", "size": len(result.class_names), "scale": 1.0, "offset": 0.0, "units": "", "navigate": False}
    ]
    md = {"General": {"title": f"{title}: probabilities"}, "Signal": {"quantity": "class probability"}, "AISTEM": meta}
    out.append({"data": np.asarray(result.probabilities), "axes": prob_axes, "metadata": md, **_extra()})
    return out


def write_hspy(result: Any, path: str | Path, *, title: str = "", signal: str = "", frame: int | None = None) -> Path:
    """Write a result as a HyperSpy file: one signal per map (classes, MI, interface …, probabilities), calibrated
    window-grid axes [Å], the class names and settings in ``metadata.AISTEM``.

    ``hyperspy.api.load(path)`` (or ``rsciio.hspy.file_reader``) gives the list of signals.
    """
    import h5py
    from rsciio.hspy import file_writer

    path = Path(path)
    meta = {
        "class_names": [str(n) for n in result.class_names],
        "model_name": result.model_name,
        "model_hash": result.model_hash,
        "threshold_bit": float(result.threshold),
        "window_px": int(result.window_px),
        "stride_px": int(result.stride_px),
        "pixel_size_A": float(result.pixel_size),
        "samples": int(result.samples),
        "precision": result.precision,
        "source": result.source,
        "signal": signal,
        "frame": -1 if frame is None else int(frame),
    }
    sigs = _signals(result, title or Path(result.source or path.stem).name, meta)
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for i, s in enumerate(sigs):
            part = Path(tmp) / f"{i}.hspy"
            file_writer(str(part), s, show_progressbar=False)
            parts.append(part)
        with h5py.File(path, "w") as out:
            with h5py.File(parts[0], "r") as first:
                for k, v in first.attrs.items():
                    out.attrs[k] = v
            group = out.create_group("Experiments")
            for i, part in enumerate(parts):
                with h5py.File(part, "r") as src:
                    (name,) = list(src["Experiments"].keys())
                    src.copy(src["Experiments"][name], group, name=f"{i:02d} {name}")
    return path
