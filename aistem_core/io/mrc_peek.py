"""A quick look at an MRC file's image: its 1024-byte header (and FEI's extended header), read with numpy.

RosettaSciIO's MRC reader builds a dask array and computes it even when not lazy (``dask.array``: ≈ 0.5 s of CPU
before it can say anything). This look reads the header with RosettaSciIO's own header layout
(``rsciio.mrc._api.get_std_dtype_list``, numpy only) and computes the shape and pixel size as that reader does, so
that ``aistem analyze`` can report a pixel size too coarse (or an image smaller than one window) before the full
read. It decides nothing else: a Direct Electron movie, an unknown data mode, a file shorter than its header claims
or anything unexpected is left to the full reader (``[]``).
"""

from __future__ import annotations

from pathlib import Path

from .velox_peek import VeloxImage

__all__ = ["mrc_images"]

#: Size of the MRC standard header [bytes], and the extended header that RosettaSciIO reads as FEI's.
_HEADER = 1024
_FEI_NEXT = 128 * 1024


def mrc_images(path: str | Path) -> list[VeloxImage]:
    """The one image (or stack) of a plain MRC file, with its pixel size [Å/px]; ``[]`` when the look cannot tell.

    Returns
    -------
    list of VeloxImage
        ``detector`` is empty; ``shape`` (rows, cols) of one frame; ``frames`` 1 for an image.
    """
    p = Path(path)
    if "movie" in str(p):  # RosettaSciIO then looks for Direct Electron metadata files beside it
        return []
    try:
        import numpy as np
        from rsciio.mrc._api import get_data_type, get_fei_dtype_list, get_std_dtype_list

        with open(p, "rb") as f:
            std = np.fromfile(f, dtype=get_std_dtype_list("<"), count=1)
            if len(std) != 1:
                return []
            nxt = int(std["NEXT"][0])
            fei = np.fromfile(f, dtype=get_fei_dtype_list("<"), count=1024) if nxt == _FEI_NEXT else None
            if fei is not None and len(fei) != 1024:
                return []
        dtype = get_data_type(std["MODE"])
        cols, rows, n = (int(std[k][0]) for k in ("NX", "NY", "NZ"))
        if min(cols, rows, n) < 1 or p.stat().st_size < _HEADER + nxt + cols * rows * n * dtype.itemsize:
            return []
        if fei is not None:
            scale_nm = float(fei["pixel_size"][0]) * 1e9
        else:
            mx = float(std["MX"][0])
            scale_nm = float((std["Xlen"] / std["MX"])[0]) / 10 if mx != 0 else 1.0
        if rows < 2 or cols < 2:  # the reader squeezes axes of length 1: not an image then
            return []
        return [VeloxImage("", (rows, cols), n, scale_nm * 10.0)]
    except Exception:  # a look only: the full reader reports what is wrong with the file
        return []
