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
TOY_WINDOW_PX = 100  # 12 Å at 0.12 Å/px: the analysis window, so scene windows give the same descriptors


def toy_descriptors(n_per_class: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors (N, 64, 64) float32 and labels (N,) int64 of rotated, noisy square lattices."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for label, spacing in enumerate(TOY_SPACINGS):
        wins = []
        for _ in range(n_per_class):
            img = square_lattice(
                (TOY_WINDOW_PX, TOY_WINDOW_PX), spacing=spacing, pixel_size=TOY_PIXEL_SIZE, angle=float(rng.uniform(-8, 8))
            )
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


def amorphous_patch(shape: tuple[int, int], rng: np.random.Generator, pixel_size: float = TOY_PIXEL_SIZE) -> np.ndarray:
    """Gaussian columns at random positions (no lattice), same density and width as the lattices."""
    n = int(shape[0] * shape[1] * pixel_size**2 / 2.2**2)
    pos = rng.uniform(0, 1, (n, 2)) * np.asarray(shape)
    r, c = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    img = np.zeros(shape, np.float32)
    s2 = 2 * (0.35 / pixel_size) ** 2
    for pr, pc in pos:
        r0, r1 = max(0, int(pr) - 8), min(shape[0], int(pr) + 9)
        c0, c1 = max(0, int(pc) - 8), min(shape[1], int(pc) + 9)
        img[r0:r1, c0:c1] += np.exp(-((r[r0:r1, c0:c1] - pr) ** 2 + (c[r0:r1, c0:c1] - pc) ** 2) / s2)
    return np.clip(img, 0, 1)


def toy_scene(size: int = 360, seed: int = 0):
    """A labelled scene: left half class 0, right-top class 2, right-bottom amorphous (label 10).

    Returns a :class:`aistem.training.evaluate.Scene` (image (size, size) float32, labels int).
    """
    from aistem.training.evaluate import Scene

    rng = np.random.default_rng(seed)
    h = size // 2
    img = square_lattice((size, size), spacing=TOY_SPACINGS[0], angle=5.0)
    labels = np.zeros((size, size), np.int64)
    img[:h, h:] = square_lattice((h, size - h), spacing=TOY_SPACINGS[2], angle=-3.0)
    labels[:h, h:] = 2
    img[h:, h:] = amorphous_patch((size - h, size - h), rng)
    labels[h:, h:] = 10
    img = img + 0.1 * rng.standard_normal(img.shape).astype(np.float32)
    return Scene(
        "toy scene", img.astype(np.float32), labels, list(TOY_CLASSES), TOY_PIXEL_SIZE, amorphous_code=10, boundary_code=11
    )


_TRAINED: dict[str, Path] = {}


def trained_toy_model(tmp_root: Path) -> Path:
    """A model trained on the toy set (once per test session; ~15 s on 2 cores)."""
    if "model" not in _TRAINED or not _TRAINED["model"].is_file():
        from aistem.training.train import TrainSettings, load_training_data, train_model

        data = load_training_data(toy_dataset(tmp_root / "toy.h5", 40))
        out = tmp_root / "toy_model.keras"
        train_model(data, out, TrainSettings(epochs=10, batch_size=16, learning_rate=3e-3, patience=10, seed=1), echo=None)
        _TRAINED["model"] = out
        _TRAINED["data"] = tmp_root / "toy.h5"
    return _TRAINED["model"]


def test_toy_classes_are_distinct() -> None:
    x, y = toy_descriptors(4)
    assert x.shape == (12, 64, 64) and x.min() >= 0 and x.max() <= 1
    means = np.stack([x[y == k].mean(axis=0) for k in range(3)])
    # class means differ by more than the spread inside a class: the toy task is learnable
    within = max(float(np.abs(x[y == k] - means[k]).mean()) for k in range(3))
    between = min(float(np.abs(means[i] - means[j]).mean()) for i in range(3) for j in range(i + 1, 3))
    assert between > 0.5 * within
