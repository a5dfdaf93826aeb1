"""A tiny labelled descriptor set for the training tests: square lattices of three spacings, real descriptors.

``toy_dataset(path)`` writes an HDF5 file in the layout of ``aistem simulate``
(``descriptors`` (N, 64, 64) float32, ``labels`` (N,), attributes
``class_names``, ``pixel_size``, ``window``, ``threshold``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aistem.core.descriptor import fft_haadf_descriptor
from aistem.core.synthetic import square_lattice

TOY_CLASSES = ("square_1.6", "square_2.2", "square_2.9")
TOY_SPACINGS = (1.6, 2.2, 2.9)  # [Å]
TOY_PIXEL_SIZE = 0.12  # [Å/px]
TOY_WINDOW_PX = 72


def toy_descriptors(n_per_class: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors (N, 64, 64) float32 and labels (N,) int64 of rotated, noisy square lattices."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for label, spacing in enumerate(TOY_SPACINGS):
        wins = []
        for _ in range(n_per_class):
            img = square_lattice((TOY_WINDOW_PX, TOY_WINDOW_PX), spacing=spacing, pixel_size=TOY_PIXEL_SIZE,
                                 angle=float(rng.uniform(-8, 8)))
            wins.append(img + 0.1 * rng.standard_normal(img.shape).astype(np.float32))
        xs.append(fft_haadf_descriptor(np.stack(wins)))
        ys.append(np.full(n_per_class, label))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def toy_dataset(path: Path, n_per_class: int = 30, seed: int = 0) -> Path:
    import h5py

    x, y = toy_descriptors(n_per_class, seed)
    with h5py.File(path, "w") as f:
        f.create_dataset("descriptors", data=x, compression="gzip")
        f.create_dataset("labels", data=y)
        f.attrs["class_names"] = json.dumps(list(TOY_CLASSES))
        f.attrs["pixel_size"] = TOY_PIXEL_SIZE
        f.attrs["window"] = TOY_WINDOW_PX * TOY_PIXEL_SIZE
        f.attrs["threshold"] = 0.1
    return path


def test_toy_classes_are_distinct() -> None:
    x, y = toy_descriptors(4)
    assert x.shape == (12, 64, 64) and x.min() >= 0 and x.max() <= 1
    means = np.stack([x[y == k].mean(axis=0) for k in range(3)])
    # class means differ by more than the spread inside a class: the toy task is learnable
    within = max(float(np.abs(x[y == k] - means[k]).mean()) for k in range(3))
    between = min(float(np.abs(means[i] - means[j]).mean()) for i in range(3) for j in range(i + 1, 3))
    assert between > 0.5 * within
