"""``aistem embed``: maps of the network's internal representation (the paper's Fig. 5).

For every window of one or more images, the 128-dimensional activations of
the network's last hidden layer (``dense_hidden``: after its ReLU, before the
final dropout), averaged over Monte-Carlo dropout samples, are embedded in 2-D
with UMAP and drawn twice: coloured by the predicted class, and by the mutual
information [bit].  The embedding is written as data too (``.npz``).

The same MC samples give the activations, the class and the mutual
information, so one pass of the network serves all three.

>>> emb = embed_inputs(["scene.npz"], model="model.keras", samples=30, seed=0)
>>> plot_embedding(emb, "map.png")
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "HIDDEN_LAYER",
    "EmbedInput",
    "Embedding",
    "HiddenSampler",
    "embed_inputs",
    "knn_purity",
    "load_input",
    "plot_embedding",
    "register_embed",
    "umap_embedding",
]

#: Name of the last hidden layer in the project's models (and the paper's, rebuilt by ``load_model``).
HIDDEN_LAYER = "dense_hidden"
#: Defaults of the command.
DEFAULT_NEIGHBORS = 15
DEFAULT_MIN_DIST = 0.1


# --- activations ----------------------------------------------------------------


class HiddenSampler:
    """Monte-Carlo-dropout passes that return the last hidden layer's activations and the class probabilities.

    Dropout is applied explicitly (``keras.random.dropout``) at every ``Dropout``
    layer, so it samples whatever flag the model was saved with.

    Parameters
    ----------
    model : AistemModel or keras.Model
        A Sequential network with a hidden Dense layer named ``dense_hidden``
        (else the last Dense layer before the output is used).
    seed : int
        Seed of the dropout masks.
    """

    def __init__(self, model: Any, seed: int = 0) -> None:
        import keras

        self.keras_model = getattr(model, "keras_model", model)
        layers = list(self.keras_model.layers)
        names = [la.name for la in layers]
        if HIDDEN_LAYER in names:
            hidden = names.index(HIDDEN_LAYER)
        else:
            dense = [i for i, la in enumerate(layers) if isinstance(la, keras.layers.Dense)]
            if len(dense) < 2:
                raise ValueError("the model has no hidden Dense layer before its output")
            hidden = dense[-2]
        self._head = layers[: hidden + 1]
        self._tail = layers[hidden + 1 :]
        self.units = int(layers[hidden].units)
        self.n_classes = int(self.keras_model.output_shape[-1])
        self._seed = keras.random.SeedGenerator(int(seed))

    def _apply(self, layers: list[Any], x: Any) -> Any:
        import keras

        for layer in layers:
            if isinstance(layer, keras.layers.Dropout):
                if float(layer.rate) > 0:
                    x = keras.random.dropout(x, float(layer.rate), seed=self._seed)
            else:
                x = layer(x)
        return x

    def run(
        self,
        descriptors: np.ndarray,
        samples: int,
        *,
        batch: int = 16,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, np.ndarray]:
        """Sample every descriptor ``samples`` times.

        Parameters
        ----------
        descriptors : ndarray of shape (N, size, size), float32
            FFT-HAADF descriptors.
        samples : int
            Monte-Carlo samples per window, T.
        batch : int
            Windows per network call (each call evaluates ``batch × samples`` networks, in pieces of ≤ 512).
        progress : callable, optional
            Called with the number of windows done.

        Returns
        -------
        dict
            ``hidden`` (N, units) float32, the mean activation over the T samples;
            ``probabilities`` (N, C) float32, the mean class probabilities;
            ``mutual_information`` (N,) float32 [bit];
            ``classes`` (N,) int64, the most probable class.
        """
        from keras import ops

        if samples < 1:
            raise ValueError(f"samples must be ≥ 1, got {samples}")
        n = int(descriptors.shape[0])
        hid = np.zeros((n, self.units), np.float32)
        psum = np.zeros((n, self.n_classes), np.float64)
        hsum = np.zeros(n, np.float64)
        reps = max(1, min(samples, 512 // max(1, batch)))
        for start in range(0, n, batch):
            block = np.asarray(descriptors[start : start + batch], np.float32)[..., None]
            b = block.shape[0]
            done = 0
            while done < samples:
                s = min(reps, samples - done)
                x = ops.repeat(ops.convert_to_tensor(block), s, axis=0)  # window-major: (b*s, ...)
                h = self._apply(self._head, x)
                p = self._apply(self._tail, h)
                h = ops.convert_to_numpy(h).reshape(b, s, -1)
                p = ops.convert_to_numpy(p).astype(np.float64).reshape(b, s, -1)
                hid[start : start + b] += h.sum(axis=1)
                psum[start : start + b] += p.sum(axis=1)
                hsum[start : start + b] += (-(p * np.log2(np.maximum(p, 1e-30))).sum(axis=2)).sum(axis=1)
                done += s
            if progress is not None:
                progress(start + b)
        pbar = psum / samples
        entropy = -(pbar * np.log2(np.maximum(pbar, 1e-30))).sum(axis=1)
        mi = np.maximum(entropy - hsum / samples, 0.0)
        return {
            "hidden": hid / np.float32(samples),
            "probabilities": pbar.astype(np.float32),
            "mutual_information": mi.astype(np.float32),
            "classes": np.argmax(pbar, axis=1).astype(np.int64),
        }


# --- inputs --------------------------------------------------------------------------


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
                from aistem.core.io.results import parse_source

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


# --- the embedding -------------------------------------------------------------------


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
        import umap

        reducer = umap.UMAP(
            n_components=2, n_neighbors=int(n_neighbors), min_dist=float(min_dist), random_state=int(seed), n_jobs=1
        )
        out = reducer.fit_transform(np.asarray(features, np.float32))
    return np.asarray(out, np.float32)


def _window_grains(grains: np.ndarray, origins: np.ndarray, window_px: int, purity: float = 0.9) -> np.ndarray:
    """The grain covering ≥ ``purity`` of each window, else −1."""
    out = np.full(len(origins), -1, np.int64)
    for i, (r, c) in enumerate(origins):
        block = grains[r : r + window_px, c : c + window_px].ravel()
        vals, counts = np.unique(block, return_counts=True)
        j = int(np.argmax(counts))
        if counts[j] >= purity * block.size and vals[j] >= 0:
            out[i] = int(vals[j])
    return out


def embed_inputs(
    inputs: Sequence[str | Path | EmbedInput],
    *,
    model: Any = None,
    pixel_size: float | None = None,
    window: float = 12.0,
    stride: float = 3.0,
    window_px: int | None = None,
    stride_px: int | None = None,
    samples: int = 30,
    seed: int = 0,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    min_dist: float = DEFAULT_MIN_DIST,
    progress: Callable[[str, int, int], None] | None = None,
) -> Embedding:
    """Hidden activations of every window of the inputs, and their 2-D UMAP embedding.

    Parameters
    ----------
    inputs : sequence of paths or EmbedInput
        Images, simulated scenes or analysis results (see :func:`load_input`).
    model : path or AistemModel, optional
        The network (None: the shipped default model).
    pixel_size : float, optional
        [Å/px]; overrides the files' metadata.
    window, stride : float
        Window side and step [Å] (a result file's own geometry wins).
    window_px, stride_px : int, optional
        The same in pixels; override the Å values.
    samples : int
        Monte-Carlo samples per window, T.
    seed : int
        Seed of the dropout masks and of UMAP.
    n_neighbors, min_dist : UMAP parameters.
    progress : callable, optional
        ``progress(name, done, total)`` in windows.

    Returns
    -------
    Embedding
    """
    from aistem.core.analysis import DESCRIPTOR_CHUNK, resolve_windows, validate_image
    from aistem.core.descriptor import fft_haadf_descriptor
    from aistem.core.model import AistemModel, load_model
    from aistem.core.windows import extract_windows, window_grid

    if not inputs:
        raise ValueError("no input given")
    if not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples must be a whole number ≥ 1, got {samples!r}")
    m = model if isinstance(model, AistemModel) else load_model(model)
    sampler = HiddenSampler(m, seed=seed)
    size = m.input_size
    thr = float(m.info.descriptor.get("threshold", 0.1))
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("hidden", "classes", "mutual_information", "source", "origins", "grain")
    }
    names: list[str] = []
    wins: list[int] = []
    for k, item in enumerate(inputs):
        inp = item if isinstance(item, EmbedInput) else load_input(item)
        img = validate_image(inp.image)
        px = pixel_size if pixel_size is not None else inp.pixel_size
        w_px = inp.window_px if inp.window_px is not None else window_px
        s_px = inp.stride_px if inp.stride_px is not None else stride_px
        if px is None and (w_px is None or s_px is None):
            raise ValueError(
                f"the pixel size of {inp.name} is not known: give --pixel-size [Å/px], or --window-px and --stride-px"
            )
        w, s = resolve_windows(px, window=window, stride=stride, window_px=w_px, stride_px=s_px)
        if w < size:
            raise ValueError(f"{inp.name}: window of {w} px is smaller than the {size}×{size} descriptor")
        grid = window_grid(img.shape, w, s, pixel_size=px)
        desc = np.empty((grid.size, size, size), np.float32)
        for start in range(0, grid.size, DESCRIPTOR_CHUNK):
            block = extract_windows(img, grid, start, start + DESCRIPTOR_CHUNK)
            desc[start : start + len(block)] = fft_haadf_descriptor(block, threshold=thr, size=size)
        cb = (lambda done, _n=inp.name, _t=grid.size: progress(_n, done, _t)) if progress else None
        out = sampler.run(desc, samples, progress=cb)
        origins = grid.origins.reshape(-1, 2)
        parts["hidden"].append(out["hidden"])
        parts["classes"].append(out["classes"])
        parts["mutual_information"].append(out["mutual_information"])
        parts["source"].append(np.full(grid.size, k, np.int64))
        parts["origins"].append(origins)
        if inp.grains is not None and inp.grains.shape == img.shape:
            parts["grain"].append(_window_grains(np.asarray(inp.grains), origins, w))
        else:
            parts["grain"].append(np.full(grid.size, -1, np.int64))
        names.append(inp.name)
        wins.append(w)
    hidden = np.concatenate(parts["hidden"])
    emb = umap_embedding(hidden, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
    return Embedding(
        embedding=emb,
        hidden=hidden,
        classes=np.concatenate(parts["classes"]),
        mutual_information=np.concatenate(parts["mutual_information"]),
        source=np.concatenate(parts["source"]),
        origins_px=np.concatenate(parts["origins"]).astype(np.int64),
        grain=np.concatenate(parts["grain"]),
        sources=names,
        class_names=list(m.class_names),
        window_px=wins,
        settings={
            "model": m.name,
            "model_hash": m.hash,
            "samples": int(samples),
            "seed": int(seed),
            "n_neighbors": int(n_neighbors),
            "min_dist": float(min_dist),
            "layer": HIDDEN_LAYER,
        },
    )


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


# --- the figure ------------------------------------------------------------------------


def plot_embedding(emb: Embedding, path: str | Path | None = None, *, threshold: float = 0.1, title: str = "") -> Any:
    """Two panels as in the paper's Fig. 5: the embedding coloured by class, and by mutual information.

    Parameters
    ----------
    emb : Embedding
    path : path, optional
        Write the figure here (.png, .pdf, .svg).
    threshold : float
        MI threshold [bit]: windows above it are drawn on top in the class panel with a black edge.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from aistem.core.figures import class_colors

    colors = class_colors(len(emb.class_names))
    xy = emb.embedding
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.6), constrained_layout=True)
    ax = axes[0]
    high = emb.mutual_information > threshold
    size = max(2.0, min(18.0, 4000.0 / max(1, len(xy))))
    ax.scatter(xy[~high, 0], xy[~high, 1], c=colors[emb.classes[~high]], s=size, linewidths=0)
    if high.any():
        ax.scatter(xy[high, 0], xy[high, 1], c=colors[emb.classes[high]], s=size * 1.6, edgecolors="k", linewidths=0.4)
    present = sorted(set(int(c) for c in np.unique(emb.classes)))
    handles = [Line2D([], [], marker="o", ls="", color=colors[c], label=emb.class_names[c]) for c in present]
    if high.any():
        handles.append(Line2D([], [], marker="o", ls="", mfc="w", mec="k", label=f"MI > {threshold:g} bit"))
    ax.legend(handles=handles, fontsize=8, loc="best", frameon=True)
    ax.set_title("hidden representation (UMAP), coloured by predicted class")
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax = axes[1]
    order = np.argsort(emb.mutual_information)  # uncertain windows drawn last, on top
    sc = ax.scatter(xy[order, 0], xy[order, 1], c=emb.mutual_information[order], cmap="viridis", s=size, linewidths=0, vmin=0)
    fig.colorbar(sc, ax=ax, label="mutual information [bit]")
    ax.set_title("coloured by mutual information")
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    sup = title or ", ".join(emb.sources)
    fig.suptitle(
        f"{sup} — {len(xy)} windows, T={emb.settings.get('samples', '?')}, model {emb.settings.get('model', '?')}", fontsize=10
    )
    if path is not None:
        fig.savefig(path, dpi=130)
        plt.close(fig)
    return fig


# --- the command ------------------------------------------------------------------------


def register_embed(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``aistem embed`` to the CLI."""
    p = sub.add_parser(
        "embed",
        help="2-D UMAP map of the network's hidden representation of every window (paper Fig. 5)",
        description="Mean (over MC-dropout samples) activations of the last hidden layer (128-d) of every window of "
        "one or more images, embedded in 2-D with UMAP; a figure coloured by class and by mutual information [bit], "
        "and the embedding as .npz.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="RESULT_OR_IMAGE",
        help="images (.npy/.npz/.tif/.dm4/…), simulated scenes (.npz), or analysis results (.npz with their image)",
    )
    p.add_argument("--out", required=True, help="figure file (.png, .pdf or .svg)")
    p.add_argument("--data", help="embedding data file (.npz; default: beside --out with the suffix .npz)")
    p.add_argument("--model", help="model file (.keras, or the paper's .h5); default: the shipped model")
    p.add_argument("--pixel-size", type=float, help="pixel size [Å/px]; overrides the files' metadata")
    p.add_argument("--window", type=float, default=12.0, help="window side [Å] (default 12)")
    p.add_argument("--stride", type=float, default=3.0, help="step between windows [Å] (default 3)")
    p.add_argument("--window-px", type=int, help="window side [px]; overrides --window")
    p.add_argument("--stride-px", type=int, help="step between windows [px]; overrides --stride")
    p.add_argument("--samples", type=int, default=30, help="Monte-Carlo dropout samples per window, T (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed of the dropout masks and of UMAP (default 0)")
    p.add_argument("--neighbors", type=int, default=DEFAULT_NEIGHBORS, help=f"UMAP n_neighbors (default {DEFAULT_NEIGHBORS})")
    p.add_argument("--min-dist", type=float, default=DEFAULT_MIN_DIST, help=f"UMAP min_dist (default {DEFAULT_MIN_DIST})")
    p.add_argument("--threshold", type=float, default=0.1, help="MI threshold [bit] marked in the class panel (default 0.1)")
    p.add_argument("--no-activations", action="store_true", help="leave the 128-d activations out of the data file")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run_embed)


def run_embed(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ValueError("--out must name a .png, .pdf or .svg file")
    data = Path(args.data) if args.data else out.with_suffix(".npz")
    if data.suffix != ".npz":
        raise ValueError("--data must name a .npz file")
    for path, flag in ((out, "--out"), (data, "--data")):
        if not path.parent.exists():
            raise FileNotFoundError(f"{flag}: directory {path.parent} does not exist")
    for path in args.inputs:
        if not Path(path).is_file():
            raise FileNotFoundError(f"no such file: {path}")
    for name in ("samples", "neighbors"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be ≥ 1")
    if args.pixel_size is not None and not (math.isfinite(args.pixel_size) and args.pixel_size > 0):
        raise ValueError(f"--pixel-size must be a positive number of Å/px, got {args.pixel_size}")

    def progress(name: str, done: int, total: int) -> None:
        if not args.quiet and (done == total or done % 256 < 16):
            print(f"\r  {name}: {done}/{total} windows", end="\n" if done == total else "", file=sys.stderr, flush=True)

    emb = embed_inputs(
        args.inputs,
        model=args.model,
        pixel_size=args.pixel_size,
        window=args.window,
        stride=args.stride,
        window_px=args.window_px,
        stride_px=args.stride_px,
        samples=args.samples,
        seed=args.seed,
        n_neighbors=args.neighbors,
        min_dist=args.min_dist,
        progress=progress,
    )
    emb.save(data, activations=not args.no_activations)
    plot_embedding(emb, out, threshold=args.threshold)
    print(f"{len(emb.embedding)} windows from {len(emb.sources)} image(s), T={args.samples}, model {emb.settings['model']}")
    print(f"  figure: {out}")
    print(f"  data:   {data}")
    return 0
