"""TIFF without RosettaSciIO (the ``io`` extra not installed): tifffile, with ImageJ, resolution-tag and the
project's JSON-description pixel sizes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .signals import SignalInfo
from .units import to_angstrom

__all__ = ["open_tiff", "tiff_pixel_size"]


def open_tiff(path: Path) -> list[tuple[SignalInfo, np.ndarray]]:
    """The one signal of a TIFF as (info, data of shape (rows, cols) or (frames, rows, cols)).

    Raises
    ------
    ValueError
        For an unreadable file or a colour image whose channels differ.
    """
    import tifffile

    from .readers import _grey

    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages[0]
            data = _grey(tf.asarray(), rgb_last=getattr(page, "photometric", None) == tifffile.PHOTOMETRIC.RGB)
            px = _pixel_size(tf)
    except (tifffile.TiffFileError, OSError) as exc:
        raise ValueError(f"could not read TIFF {path}: {exc}") from exc
    kind = {2: "image", 3: "stack"}.get(data.ndim, "other")
    note = "" if px is not None else "no pixel size in the file"
    return [(SignalInfo(0, path.stem, kind, tuple(data.shape), px if kind != "other" else None, note=note), data)]


def tiff_pixel_size(path: Path) -> float | None:
    """[Å/px] from a TIFF's ImageJ unit, resolution tags (per cm) or JSON description (``pixel_size``); else None."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            return _pixel_size(tf)
    except (tifffile.TiffFileError, OSError, ValueError, TypeError, KeyError):
        return None


def _pixel_size(tf: Any) -> float | None:
    page = tf.pages[0]
    desc = getattr(page, "description", "") or ""
    tags = page.tags
    px = None
    if "XResolution" in tags and "ResolutionUnit" in tags:
        num, den = tags["XResolution"].value
        if num and den and int(tags["ResolutionUnit"].value) == 3:  # pixels per cm
            px = (den / num) * 1e8
    ij = tf.imagej_metadata or {}
    if ij.get("unit") and "XResolution" in tags:
        num, den = tags["XResolution"].value
        px = to_angstrom(den / num, ij.get("unit")) if num else px
    if "pixel_size" in desc:
        try:
            px = float(json.loads(desc)["pixel_size"])
        except (ValueError, KeyError, TypeError):
            pass
    return px
