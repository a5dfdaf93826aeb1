"""The images ``aistem embed`` reads: image files, simulated scenes, analysis results with their image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["EmbedInput", "load_input", "window_grains"]


@dataclass
class EmbedInput:
    """One image to embed, with what is known about it.

    Attributes
    ----------
    name : str
        Label (the file name).
    image : ndarray of shape (rows, cols), float32
    pixel_size : float or None
        [Å/px].
    window_px, stride_px : int or None
        Window geometry taken from a result file (None: from the command's options).
    grains : ndarray of shape (rows, cols), int, or None
        Ground-truth grain of every pixel (simulated scenes only).
    """

    name: str
    image: np.ndarray
    pixel_size: float | None = None
    window_px: int | None = None
    stride_px: int | None = None
    grains: np.ndarray | None = None


def load_input(path: str | Path, signal: int | None = None, frame: int = 0) -> EmbedInput:
    """Read an image file, a simulated scene (``.npz`` with ``image``), or an ``aistem analyze`` result.

    A result (``.npz`` with ``classes`` and ``mutual_information``) gives the
    window geometry and pixel size; it must also hold the analysed image (key
    ``image``) or its file (key ``source``), because the activations are computed
    from the image's windows.

    Parameters
    ----------
    path : path
    signal : int, optional
        Signal of a microscope file (default: its HAADF/ADF/DF or first image); a result's ``source`` names it.
    frame : int
        Frame of a stack (a result's ``source`` names it).

    Raises
    ------
    FileNotFoundError, ValueError
    """
    from aistem.core.io import read_image

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    if p.suffix.lower() == ".npz":
        try:
            z = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"could not read {p}: {exc}") from exc
        with z:
            files = set(z.files)
            if {"classes", "mutual_information"} <= files and "image" not in files:
                if "source" not in files:
                    raise ValueError(
                        f"{p} is an analysis result without its image: embed needs the image's windows; "
                        "pass the image file itself (or a result saved with a 'source' or 'image' entry)"
                    )
                from aistem.core.io import parse_source

                source, signal, frame = parse_source(str(z["source"]))  # "scan.emd [signal 4 'HAADF', frame 2]"
                src = Path(source)
                if not src.is_absolute():
                    src = p.parent / src
                inp = load_input(src, signal, frame or 0)
                inp.name = p.name
                inp.window_px = int(z["window_px"]) if "window_px" in files else None
                inp.stride_px = int(z["stride_px"]) if "stride_px" in files else None
                if "pixel_size" in files and np.isfinite(float(z["pixel_size"])):
                    inp.pixel_size = float(z["pixel_size"])
                return inp
            if "image" in files:
                image = np.asarray(z["image"], np.float32)
                if image.ndim == 3 and image.shape[0] == 1:
                    image = image[0]
                if image.ndim != 2:
                    raise ValueError(f"{p}: 'image' must be 2-D, got shape {image.shape}")
                px = float(z["pixel_size"]) if "pixel_size" in files else None
                grains = np.asarray(z["grains"]) if "grains" in files else None
                wpx = int(z["window_px"]) if "window_px" in files else None
                spx = int(z["stride_px"]) if "stride_px" in files else None
                return EmbedInput(p.name, image, px, wpx, spx, grains)
    data = read_image(p, frame, signal)
    return EmbedInput(p.name, np.asarray(data.frames[0], np.float32), data.pixel_size)


def window_grains(grains: np.ndarray, origins: np.ndarray, window_px: int, purity: float = 0.9) -> np.ndarray:
    """The grain covering ≥ ``purity`` of each window, else −1."""
    out = np.full(len(origins), -1, np.int64)
    for i, (r, c) in enumerate(origins):
        block = grains[r : r + window_px, c : c + window_px].ravel()
        vals, counts = np.unique(block, return_counts=True)
        j = int(np.argmax(counts))
        if counts[j] >= purity * block.size and vals[j] >= 0:
            out[i] = int(vals[j])
    return out
