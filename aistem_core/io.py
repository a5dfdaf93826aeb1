"""Reading images from disk: ``.npy``, ``.npz``, TIFF, and microscope formats through RosettaSciIO.

This is the core's only file edge; the analysis functions take arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SUPPORTED_SUFFIXES", "ImageData", "read_frames", "read_image"]

MICROSCOPE_SUFFIXES = (".dm3", ".dm4", ".emd", ".mrc")
SUPPORTED_SUFFIXES = (".npy", ".npz", ".tif", ".tiff", *MICROSCOPE_SUFFIXES)

_UNIT_TO_ANGSTROM = {
    "å": 1.0,
    "a": 1.0,
    "angstrom": 1.0,
    "ang": 1.0,
    "nm": 10.0,
    "µm": 1e4,
    "um": 1e4,
    "pm": 0.01,
    "m": 1e10,
    "mm": 1e7,
}


@dataclass
class ImageData:
    """Frames read from a file.

    Attributes
    ----------
    frames : ndarray of shape (N, rows, cols)
        The image(s), as stored (dtype kept).
    pixel_size : float or None
        [Å/px], from the file's metadata when it has one.
    source : str
        The file.
    meta : dict
        Anything else worth keeping (e.g. the detector name).
    """

    frames: np.ndarray
    pixel_size: float | None
    source: str
    meta: dict[str, Any] = field(default_factory=dict)


def _angstrom(scale: Any, units: Any) -> float | None:
    try:
        s = float(scale)
    except (TypeError, ValueError):
        return None
    u = str(units or "").strip().lower().replace("ångström", "angstrom")
    factor = _UNIT_TO_ANGSTROM.get(u)
    if factor is None or not math.isfinite(s) or s <= 0 or (s == 1.0 and u in ("", "px")):
        return None
    return s * factor


def _read_rsciio(path: Path) -> ImageData:
    suffix = path.suffix.lower()
    try:
        if suffix in (".dm3", ".dm4"):
            from rsciio.digitalmicrograph import file_reader
        elif suffix == ".emd":
            from rsciio.emd import file_reader
        else:
            from rsciio.mrc import file_reader
    except ImportError as exc:
        raise ValueError(f"reading {suffix} files needs RosettaSciIO: pip install 'aistem[io]' ({exc})") from exc
    try:
        signals = file_reader(str(path))
    except Exception as exc:  # the readers raise many kinds of errors on bad files
        raise ValueError(f"could not read {path}: {exc}") from exc
    images = [s for s in signals if np.asarray(s["data"]).ndim in (2, 3)]
    if not images:
        raise ValueError(f"{path} holds no 2-D image")
    sig = images[0]
    data = np.asarray(sig["data"])
    axes = sig.get("axes", [])
    px = None
    if len(axes) >= 2:
        px = _angstrom(axes[-1].get("scale"), axes[-1].get("units"))
    frames = data if data.ndim == 3 else data[None]
    return ImageData(frames, px, str(path), {"title": sig.get("metadata", {}).get("General", {}).get("title", "")})


def _read_tiff(path: Path) -> ImageData:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            data = tf.asarray()
            px = None
            page = tf.pages[0]
            desc = getattr(page, "description", "") or ""
            tags = page.tags  # type: ignore[union-attr]
            if "XResolution" in tags and "ResolutionUnit" in tags:
                num, den = tags["XResolution"].value
                unit = tags["ResolutionUnit"].value
                if num and den and int(unit) == 3:  # pixels per cm
                    px = (den / num) * 1e8
            ij = tf.imagej_metadata or {}
            if ij.get("unit") and "XResolution" in tags:
                num, den = tags["XResolution"].value
                if num:
                    px = _angstrom(den / num, ij.get("unit"))
            if "pixel_size" in desc:
                import json

                try:
                    px = float(json.loads(desc)["pixel_size"])
                except (ValueError, KeyError, TypeError):
                    pass
    except (tifffile.TiffFileError, OSError, ValueError) as exc:
        raise ValueError(f"could not read TIFF {path}: {exc}") from exc
    frames = data if data.ndim == 3 else data[None]
    if data.ndim not in (2, 3):
        raise ValueError(f"{path}: expected a 2-D image or a stack, got shape {data.shape}")
    return ImageData(frames, px, str(path))


def _check_npy_size(path: Path) -> None:
    """ValueError unless the ``.npy`` file holds as many bytes as its header claims (checked before allocating)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        fmt = np.lib.format
        read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if read is None:  # a newer format: np.load checks it
            return
        shape, _, dtype = read(f)
        offset = f.tell()
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = path.stat().st_size - offset
    if need > have:
        raise ValueError(
            f"could not read {path}: its header claims shape {tuple(shape)} of {dtype} ({need / 2**30:.3g} GiB) "
            f"but the file holds {have} bytes of data"
        )


def _read_numpy(path: Path) -> ImageData:
    try:
        if path.suffix.lower() == ".npy":
            _check_npy_size(path)
            data = np.load(path, allow_pickle=False)
            px = None
        else:
            with np.load(path, allow_pickle=False) as z:
                key = next((k for k in ("frames", "image", "images", "data") if k in z.files), None)
                if key is None:
                    key = next((k for k in z.files if z[k].ndim in (2, 3)), None)
                if key is None:
                    raise ValueError(f"{path} holds no 2-D image or stack (keys: {z.files})")
                data = z[key]
                px = float(z["pixel_size"]) if "pixel_size" in z.files else None
    except (OSError, EOFError, ValueError, MemoryError) as exc:
        if "holds no 2-D image" in str(exc) or "its header claims" in str(exc):
            raise
        raise ValueError(f"could not read {path}: {type(exc).__name__ if isinstance(exc, MemoryError) else exc}") from exc
    if data.ndim not in (2, 3):
        raise ValueError(f"{path}: expected a 2-D image or a stack (N, rows, cols), got shape {data.shape}")
    return ImageData(data if data.ndim == 3 else data[None], px, str(path))


def read_frames(path: str | Path) -> ImageData:
    """Read one image or a stack of frames, with the pixel size where the file has one.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        For an unsupported or unreadable file, with the reason.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such image file: {p}")
    suffix = p.suffix.lower()
    if suffix in (".npy", ".npz"):
        return _read_numpy(p)
    if suffix in (".tif", ".tiff"):
        return _read_tiff(p)
    if suffix in MICROSCOPE_SUFFIXES:
        return _read_rsciio(p)
    raise ValueError(f"unsupported image format {suffix!r} ({p.name}): use one of {', '.join(SUPPORTED_SUFFIXES)}")


def read_image(path: str | Path, frame: int = 0) -> ImageData:
    """Read one frame (default the first) of a file; ``frames`` then has shape (1, rows, cols)."""
    data = read_frames(path)
    n = data.frames.shape[0]
    if not -n <= frame < n:
        raise ValueError(f"{path} has {n} frame(s); frame {frame} does not exist")
    data.frames = data.frames[frame : frame + 1] if frame >= 0 else data.frames[[frame]]
    return data
