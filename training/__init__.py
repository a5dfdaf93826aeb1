"""Training data and training: simulated HAADF images (abTEM), augmentation, test scenes, the shipped sample series.

Light to import: abTEM, ASE, h5py and Keras are imported by the submodules that need them.

>>> from aistem.training import load_sample_series
>>> frames, info = load_sample_series()      # (10, 512, 512) uint16, pixel size info["pixel_size"] [Å/px]
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["load_sample_series", "sample_series_path"]

SAMPLE_SERIES = "sample_series.npz"


def sample_series_path() -> Path:
    """Path of the shipped sample series ``aistem/training/data/sample_series.npz``.

    Raises
    ------
    FileNotFoundError
        If the package was installed without its data.
    """
    p = Path(str(resources.files(__name__).joinpath("data", SAMPLE_SERIES)))
    if not p.is_file():
        raise FileNotFoundError(f"sample series not found at {p}; make it with `aistem simulate series --out {p}`")
    return p


def load_sample_series(path: str | Path | None = None) -> tuple[Any, dict[str, Any]]:
    """The sample frame series (a drifting scan across a polycrystal, with scan noise) and its ground truth.

    Parameters
    ----------
    path : path, optional
        A series written by ``aistem simulate series`` (default: the shipped one).

    Returns
    -------
    frames : ndarray of shape (N, rows, cols), uint16
    info : dict
        ``pixel_size`` [Å/px], ``labels`` (N, rows, cols) uint8 ground truth
        (legend ``label_names``), ``shift_px`` (N, 2) true drift (row, col) [px]
        relative to frame 0, ``grain_map`` (N, rows, cols) grain id per pixel,
        ``grain_classes`` and ``rotations_deg`` of the grains, and the simulation settings.
    """
    import numpy as np

    p = Path(path) if path is not None else sample_series_path()
    with np.load(p, allow_pickle=False) as z:
        frames = z["frames"]
        info: dict[str, Any] = json.loads(str(z["info"]))
        for k in z.files:
            if k not in ("frames", "info"):
                info[k] = z[k]
    info["pixel_size"] = float(info["pixel_size"])
    return frames, info
