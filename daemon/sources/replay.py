"""``aistem replay``: read recorded frames from files and publish them exactly as an acquisition program would.

Reads ``.npy`` stacks, ``.npz``, multi-page TIFF and microscope files
(every format of :mod:`aistem.core.io`, through RosettaSciIO) with
:func:`aistem.core.io.read_frames`, the ``*.frames.h5`` files written by
``aistem record``, and — with no files — the sample series shipped with the
package.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from aistem.core import sample_series_path
from aistem.core.protocol import FRAME_DTYPES

from .base import Series

__all__ = ["load_recording", "load_series", "sample_series", "sample_series_path", "to_wire_dtype"]

log = logging.getLogger(__name__)


def sample_series() -> Series:
    """The shipped sample series as a :class:`Series` named ``"sample"``.

    Raises
    ------
    FileNotFoundError
        Where the sample series is not installed (it comes with the training data, ``training/data``).
    """
    p = sample_series_path()
    if p is None:
        raise FileNotFoundError(
            "the sample series (aistem.training data/sample_series.npz) is not installed: "
            "give frame files to replay, or --synthetic N for a generated series"
        )
    s = load_series([p])[0]
    s.name = "sample"
    return s


def to_wire_dtype(frames: np.ndarray) -> np.ndarray:
    """Frames in a dtype the protocol carries (bool, int8 → uint8/int16; wider integers, float16 → float)."""
    name = frames.dtype.name
    if name in FRAME_DTYPES:
        return frames
    if frames.dtype == np.bool_:
        target: type = np.uint8
    elif frames.dtype == np.int8:
        target = np.int16
    elif frames.dtype == np.float16:
        target = np.float32
    elif frames.dtype.kind in "iuf":
        target = np.float64
    else:
        raise ValueError(f"frames of type {frames.dtype} cannot be sent: expected integer or real pixels")
    log.info("frames of type %s sent as %s", name, np.dtype(target).name)
    return frames.astype(target)


def load_recording(path: str | Path, pixel_size: float | None = None) -> list[Series]:
    """The series of a ``*.frames.h5`` file written by ``aistem record``, with their original indices
    (``pixel_size`` [Å/px]: for entries without one; overrides theirs when given)."""
    from ..storage import read_entries

    entries = read_entries(path)
    by_series: dict[str, list[tuple[dict, np.ndarray]]] = {}
    for header, arrays in entries:
        if "image" not in arrays:
            raise ValueError(f"{path} holds results, not frames: replay the matching .frames.h5 file")
        by_series.setdefault(str(header.get("series", Path(path).stem)), []).append((header, arrays["image"]))
    out = []
    for name, items in by_series.items():
        shapes = {img.shape for _, img in items}
        if len(shapes) != 1:
            raise ValueError(f"{path}: series {name!r} has frames of several shapes {sorted(shapes)}")
        first = items[0][0]
        px = first.get("pixel_size")
        if px is None and pixel_size is None:
            raise ValueError(f"{path}: series {name!r} has no pixel size in its header: give --pixel-size [Å/px]")
        out.append(
            Series(
                name=name,
                frames=np.stack([img for _, img in items]),
                pixel_size=float(pixel_size if pixel_size is not None else px),
                indices=[int(h["index"]) for h, _ in items],
                detector=first.get("detector"),
                meta=first.get("meta") or {},
            )
        )
    return out


def load_series(
    paths: list[str | Path], *, pixel_size: float | None = None, name: str | None = None, signal: str | int | None = None
) -> list[Series]:
    """Read frame files into series (one per file, named after it; recordings keep their names).

    Parameters
    ----------
    paths : list of path
    pixel_size : float, optional
        [Å/px]: used where a file has none; overrides the file's when given.
    name : str, optional
        Series name for every file (default: the file name without suffix).
    signal : str or int, optional
        Signal of each microscope file (index, or title/detector name); default HAADF/ADF/DF, else the first
        real-space image (:func:`aistem.core.io.read_frames`).

    Raises
    ------
    ValueError
        For an unreadable file or one without a pixel size when none is given.
    """
    from aistem.core.io import read_frames

    out: list[Series] = []
    for p in map(Path, paths):
        if p.name.endswith(".h5"):
            recs = load_recording(p, pixel_size)
            for s in recs:
                if pixel_size is not None:
                    s.pixel_size = float(pixel_size)
                if name:
                    s.name = name
            out.extend(recs)
            continue
        data = read_frames(p, signal)
        log.info("%s: %s, %d frame(s)", p.name, data.meta.get("description", "signal 0"), len(data.frames))
        px = pixel_size if pixel_size is not None else data.pixel_size
        if px is None:
            raise ValueError(f"{p} has no pixel size in its metadata: give --pixel-size [Å/px]")
        detector = data.meta.get("detector") if isinstance(data.meta, dict) else None
        out.append(
            Series(
                name=name or p.name.split(".")[0],
                frames=to_wire_dtype(np.asarray(data.frames)),
                pixel_size=float(px),
                detector=str(detector) if detector else None,
                meta={"source": p.name, "signal": data.meta.get("signal", 0), "signal_title": data.meta.get("title", "")},
            )
        )
    return out
