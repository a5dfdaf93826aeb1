"""The 2-D embedding of hidden activations: its data (:class:`Embedding`), UMAP, and the k-NN purity score."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEFAULT_MIN_DIST", "DEFAULT_NEIGHBORS", "Embedding", "knn_purity", "min_windows", "umap_embedding"]

#: UMAP defaults of ``aistem embed``.
DEFAULT_NEIGHBORS = 15
DEFAULT_MIN_DIST = 0.1


@dataclass
class Embedding:
    """2-D UMAP embedding of the hidden activations of every window of some images.

    Attributes
    ----------
    embedding : ndarray of shape (N, 2), float32
        UMAP coordinates (dimensionless).
    hidden : ndarray of shape (N, 128), float32
        Mean activations of the last hidden layer over the MC samples.
    classes : ndarray of shape (N,), int64
        Predicted class.
    mutual_information : ndarray of shape (N,), float32
        [bit].
    source : ndarray of shape (N,), int64
        Index of each window's image in ``sources``.
    origins_px : ndarray of shape (N, 2), int64
        Top-left pixel (row, col) of each window in its image.
    grain : ndarray of shape (N,), int64
        Ground-truth grain of the window (simulated scenes: the grain covering ≥ 90 % of it), else −1.
    sources : list of str
    class_names : list of str
    window_px : list of int
        Window side of each image [px].
    settings : dict
        Model, samples, seed, UMAP parameters.
    """

    embedding: np.ndarray
    hidden: np.ndarray
    classes: np.ndarray
    mutual_information: np.ndarray
    source: np.ndarray
    origins_px: np.ndarray
    grain: np.ndarray
    sources: list[str]
    class_names: list[str]
    window_px: list[int] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path, *, activations: bool = True) -> Path:
        """Write an ``.npz`` (the activations too unless ``activations=False``)."""
        path = Path(path)
        arrays: dict[str, Any] = {
            "embedding": self.embedding,
            "classes": self.classes,
            "mutual_information": self.mutual_information,
            "source": self.source,
            "origins_px": self.origins_px,
            "grain": self.grain,
            "sources": np.asarray(self.sources),
            "class_names": np.asarray(self.class_names),
            "window_px": np.asarray(self.window_px, np.int64),
            "settings": json.dumps(self.settings),
        }
        if activations:
            arrays["hidden"] = self.hidden
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Embedding:
        with np.load(path, allow_pickle=False) as z:
            n = z["embedding"].shape[0]
            return cls(
                embedding=z["embedding"],
                hidden=z["hidden"] if "hidden" in z.files else np.zeros((n, 0), np.float32),
                classes=z["classes"],
                mutual_information=z["mutual_information"],
                source=z["source"],
                origins_px=z["origins_px"],
                grain=z["grain"],
                sources=[str(s) for s in z["sources"]],
                class_names=[str(s) for s in z["class_names"]],
                window_px=[int(v) for v in z["window_px"]],
                settings=json.loads(str(z["settings"])),
            )


def min_windows(n_neighbors: int) -> int:
    """Fewest windows UMAP is asked to embed: n_neighbors + 1 (each point needs that many neighbours), and at least 10."""
    return max(10, int(n_neighbors) + 1)


def umap_embedding(
    features: np.ndarray, *, n_neighbors: int = DEFAULT_NEIGHBORS, min_dist: float = DEFAULT_MIN_DIST, seed: int = 0
) -> np.ndarray:
    """2-D UMAP of feature vectors, reproducible for a fixed seed.

    Parameters
    ----------
    features : ndarray of shape (N, D)
    n_neighbors : int
        UMAP's neighbourhood size.
    min_dist : float
        UMAP's minimum distance in the embedding.
    seed : int
        Random state (UMAP then runs single-threaded, so the result is reproducible).

    Returns
    -------
    ndarray of shape (N, 2), float32

    Raises
    ------
    ValueError
        When there are too few windows.
    """
    n = int(features.shape[0])
    need = min_windows(n_neighbors)
    if n < need:
        raise ValueError(
            f"only {n} window(s) to embed: UMAP with {n_neighbors} neighbours needs at least {need}; "
            "use a smaller stride, more or larger images, or fewer --neighbors"
        )
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)  # sklearn/umap deprecations we cannot change
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        # grains of different classes share no nearest neighbours, so the neighbour graph falls apart into one
        # component per grain: what an embedding that separates the grains should give; UMAP lays out each component
        # on its own and says so
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        import umap

        reducer = umap.UMAP(
            n_components=2, n_neighbors=int(n_neighbors), min_dist=float(min_dist), random_state=int(seed), n_jobs=1
        )
        out = reducer.fit_transform(np.asarray(features, np.float32))
    return np.asarray(out, np.float32)


def knn_purity(points: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each point's k nearest neighbours (Euclidean) that share its label.

    Parameters
    ----------
    points : ndarray of shape (N, D)
    labels : ndarray of shape (N,)
    k : int

    Returns
    -------
    float in [0, 1]
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points, np.float64)
    lab = np.asarray(labels)
    if len(pts) <= k:
        raise ValueError(f"need more than k={k} points, got {len(pts)}")
    _, idx = cKDTree(pts).query(pts, k=k + 1)
    return float((lab[idx[:, 1:]] == lab[:, None]).mean())
