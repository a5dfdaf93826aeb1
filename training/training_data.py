"""The training set: descriptors and labels read from a dataset file, and the paper's stratified split."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DESCRIPTOR_KEYS",
    "LABEL_KEYS",
    "SPLIT_RANDOM_STATE",
    "TrainingData",
    "file_sha256",
    "load_training_data",
    "split_data",
]

SPLIT_RANDOM_STATE = 42  # the paper's split seed; fixed so every run and the evaluation see the same validation set
DESCRIPTOR_KEYS = ("descriptors", "x", "X", "features")
LABEL_KEYS = ("labels", "y", "targets")


@dataclass
class TrainingData:
    """A labelled descriptor set.

    Attributes
    ----------
    x : ndarray of shape (N, size, size), float32
        FFT-HAADF descriptors in [0, 1].
    y : ndarray of shape (N,), int64
        Class index of each descriptor.
    class_names : list of str
        Class index → name.
    pixel_size : float
        Pixel size of the simulated images [Å/px].
    window : float
        Window side [Å].
    descriptor : dict
        Descriptor settings (``size`` [px], ``threshold``).
    sha256 : str
        SHA-256 of the data file (hex), recorded in the model's metadata.
    path : str
        Where the data came from.
    domain : dict
        The training domain recorded in the file (``{"lattice_constants": {class: {"a": [min, max],
        "c": [min, max]}}}`` [Å]; see :func:`aistem.training.dataset.training_domain`), stored in the
        model's metadata as ``extra["training_domain"]``; ``{}`` if unknown.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    pixel_size: float = 0.12
    window: float = 12.0
    descriptor: dict[str, Any] = field(default_factory=lambda: {"size": 64, "threshold": 0.1})
    sha256: str = ""
    path: str = ""
    domain: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, n: int | float | None, seed: int = SPLIT_RANDOM_STATE) -> TrainingData:
        """A stratified random subset of ``n`` descriptors (``n`` < 1: that fraction); None or ≥ N: self."""
        if n is None:
            return self
        k = round(n * len(self)) if n < 1 else int(n)
        if k >= len(self):
            return self
        if k < 2 * len(self.class_names):
            raise ValueError(f"a subset of {k} descriptors is too small for {len(self.class_names)} classes")
        from sklearn.model_selection import train_test_split

        idx, _ = train_test_split(np.arange(len(self)), train_size=k, random_state=seed, stratify=self.y)
        idx = np.sort(idx)
        return TrainingData(
            self.x[idx],
            self.y[idx],
            self.class_names,
            self.pixel_size,
            self.window,
            self.descriptor,
            self.sha256,
            self.path,
            self.domain,
        )


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _attr(attrs: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if n in attrs:
            v = attrs[n]
            if isinstance(v, bytes):
                v = v.decode()
            return v
    return default


def _class_names(f: Any, n_classes: int) -> list[str]:
    raw = _attr(f.attrs, "class_names", "classes")
    if raw is None and "class_names" in f:
        raw = list(f["class_names"][()])
    if raw is None:
        from aistem.core import PAPER_CLASS_NAMES

        if n_classes <= len(PAPER_CLASS_NAMES):
            return list(PAPER_CLASS_NAMES)
        return [f"class_{i}" for i in range(n_classes)]
    if isinstance(raw, str):
        raw = json.loads(raw)
    if isinstance(raw, dict):
        raw = [raw[str(i)] for i in range(len(raw))]
    return [s.decode() if isinstance(s, bytes) else str(s) for s in raw]


def load_training_data(path: str | os.PathLike[str], *, hash_file: bool = True) -> TrainingData:
    """Read a descriptor set written by ``aistem simulate`` (HDF5).

    The file holds a descriptor array (``descriptors``; shape (N, size, size) or
    (N, size, size, 1)), integer ``labels`` (N,), and the class names (attribute
    or dataset ``class_names``); the attributes ``pixel_size`` [Å/px],
    ``window`` [Å] and ``threshold`` describe how the descriptors were made.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not HDF5 or lacks the descriptors or labels, or they disagree.
    """
    import h5py

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"training data not found: {p}")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise ValueError(f"{p} is not an HDF5 file: {exc}") from exc
    with f:
        xkey = next((k for k in DESCRIPTOR_KEYS if k in f), None)
        ykey = next((k for k in LABEL_KEYS if k in f), None)
        if xkey is None or ykey is None:
            raise ValueError(
                f"{p} is not a descriptor set: expected datasets 'descriptors' and 'labels', found {sorted(f.keys())}"
            )
        x = np.asarray(f[xkey][()], dtype=np.float32)
        y = np.asarray(f[ykey][()])
        names = _class_names(f, int(y.max()) + 1 if y.size else 0)
        pixel_size = float(_attr(f.attrs, "pixel_size", default=0.12))
        window = float(_attr(f.attrs, "window", "window_size", default=12.0))
        threshold = float(_attr(f.attrs, "threshold", "descriptor_threshold", default=0.1))
        from .dataset import training_domain

        domain = training_domain(f.attrs)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1] != x.shape[2]:
        raise ValueError(f"{p}: descriptors must have shape (N, size, size), got {x.shape}")
    if y.ndim == 2:  # one-hot
        y = y.argmax(axis=1)
    if y.shape != (x.shape[0],):
        raise ValueError(f"{p}: {x.shape[0]} descriptors but labels of shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{p}: labels must be integer class indices, got {y.dtype}")
    if y.size == 0:
        raise ValueError(f"{p} holds no descriptors")
    if y.min() < 0 or y.max() >= len(names):
        raise ValueError(f"{p}: labels run from {y.min()} to {y.max()} but there are {len(names)} class names")
    if not np.isfinite(x).all():
        raise ValueError(f"{p}: descriptors contain NaN or infinite values")
    return TrainingData(
        x=x,
        y=y.astype(np.int64),
        class_names=names,
        pixel_size=pixel_size,
        window=window,
        descriptor={"size": int(x.shape[1]), "threshold": threshold},
        sha256=file_sha256(p) if hash_file else "",
        path=str(p),
        domain=domain,
    )


def split_data(
    data: TrainingData, val_fraction: float = 0.2, random_state: int = SPLIT_RANDOM_STATE
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation split (indices), as in the paper.

    Returns
    -------
    train_idx, val_idx : ndarray of int64
    """
    from sklearn.model_selection import train_test_split

    counts = np.bincount(data.y, minlength=len(data.class_names))
    present = counts[counts > 0]
    if present.size < 2:
        raise ValueError("the training data hold a single class: nothing to learn")
    if present.min() < 2:
        raise ValueError(f"every class needs at least 2 descriptors for a stratified split; counts are {counts.tolist()}")
    idx = np.arange(len(data))
    tr, va = train_test_split(idx, test_size=val_fraction, random_state=random_state, stratify=data.y)
    return np.sort(tr), np.sort(va)
