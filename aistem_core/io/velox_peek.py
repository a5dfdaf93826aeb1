"""A quick look at the images of a Velox EMD file (h5py and their JSON metadata only).

RosettaSciIO's Velox reader imports pint, dask, sparse and numba (≈ 2 s of CPU) before it can say anything; this look
takes a few milliseconds, so that ``aistem analyze`` can report a pixel size too coarse for every image of the file
before it reads the file in full. It decides nothing else: what it cannot read, it leaves to the full reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .units import to_angstrom

__all__ = ["VeloxImage", "velox_images"]


@dataclass(frozen=True)
class VeloxImage:
    """One image of a Velox file.

    Attributes
    ----------
    detector : str
    shape : tuple of int
        (rows, cols) of one frame.
    frames : int
    pixel_size : float or None
        [Å/px] of the column axis, None where the metadata gives none.
    """

    detector: str
    shape: tuple[int, int]
    frames: int
    pixel_size: float | None


def velox_images(path: str | Path) -> list[VeloxImage]:
    """The images (``/Data/Image/*``) of a Velox EMD file; ``[]`` for another file or anything unexpected."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            group = f.get("Data/Image")
            if group is None or "Version" not in f:
                return []
            out = []
            for g in group.values():
                data, md = g.get("Data"), g.get("Metadata")
                if data is None or md is None or data.ndim != 3 or md.ndim != 2:
                    return []
                meta = json.loads(bytes(md[:, 0]).rstrip(b"\0").decode("utf-8", "replace"))
                result = meta.get("BinaryResult", {}) or {}
                size = result.get("PixelSize", {}) or {}
                px = to_angstrom(size.get("width"), result.get("PixelUnitX"))
                rows, cols, frames = (int(n) for n in data.shape)
                out.append(VeloxImage(str(result.get("Detector") or ""), (rows, cols), frames, px))
            return out
    except Exception:  # a look only: the full reader reports what is wrong with the file
        return []
