"""``aistem embed``: maps of the network's internal representation (the paper's Fig. 5).

For every window of one or more images, the 128-dimensional activations of
the network's last hidden layer (``dense_hidden``: after its ReLU, before the
final dropout), averaged over Monte-Carlo dropout samples, are embedded in 2-D
with UMAP and drawn twice: coloured by the predicted class, and by the mutual
information [bit].  The embedding is written as data too (``.npz``).

The windows, descriptors and MC samples are those of ``aistem analyze`` (the core's
:class:`~aistem.core.descriptor_stream.DescriptorStream` and
:class:`~aistem.core.mc_dropout.MCDropoutPredictor` with ``hidden_layer``): the same
samples give the activations, the class and the mutual information, so one pass of
the network serves all three.

>>> emb = embed_inputs(["scene.npz"], model="model.keras", samples=30, seed=0)
>>> plot_embedding(emb, "map.png")
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .embed_inputs import EmbedInput, load_input, window_grains
from .embed_plot import plot_embedding
from .embedding import DEFAULT_MIN_DIST, DEFAULT_NEIGHBORS, Embedding, knn_purity, min_windows, umap_embedding

__all__ = [
    "HIDDEN_LAYER",
    "EmbedInput",
    "Embedding",
    "embed_inputs",
    "hidden_activations",
    "knn_purity",
    "load_input",
    "min_windows",
    "plot_embedding",
    "register_embed",
    "umap_embedding",
]

#: Name of the last hidden layer in the project's models (and the paper's, rebuilt by ``load_model``).
HIDDEN_LAYER = "dense_hidden"


def hidden_activations(
    inp: EmbedInput,
    predictor: Any,
    *,
    threshold: float,
    samples: int,
    seed: int,
    pixel_size: float | None,
    window: float,
    stride: float,
    window_px: int | None,
    stride_px: int | None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """MC-mean hidden activations, class and mutual information of every window of one image.

    The windows, descriptors and samples of ``analyze``: :func:`~aistem.core.analysis.validate_image`,
    :func:`~aistem.core.windows.window_grid`, :class:`~aistem.core.descriptor_stream.DescriptorStream` (with the pixel
    size) and ``predictor.run_with_hidden`` (an :class:`~aistem.core.mc_dropout.MCDropoutPredictor` made with
    ``hidden_layer``), descriptors with spectrum ``threshold``. A result file's own window geometry wins over
    ``window``/``stride`` [Å] and their px values; ``progress(done, total)`` counts windows.

    Returns
    -------
    dict
        ``hidden`` (N, units) float32, ``classes`` (N,) int64, ``mutual_information`` (N,) float32 [bit],
        ``origins`` (N, 2) int64 [px], ``grain`` (N,) int64 (−1 without a grain map), ``window_px`` int.
    """
    from aistem.core import DescriptorStream, resolve_windows, uncertainty_maps, validate_image, window_grid

    img = validate_image(inp.image)
    px = pixel_size if pixel_size is not None else inp.pixel_size
    w_px = inp.window_px if inp.window_px is not None else window_px
    s_px = inp.stride_px if inp.stride_px is not None else stride_px
    if px is None and (w_px is None or s_px is None):
        raise ValueError(f"the pixel size of {inp.name} is not known: give --pixel-size [Å/px], or --window-px and --stride-px")
    w, s = resolve_windows(px, window=window, stride=stride, window_px=w_px, stride_px=s_px)
    size = predictor.input_size
    if w < size:
        raise ValueError(f"{inp.name}: window of {w} px is smaller than the {size}×{size} descriptor")
    grid = window_grid(img.shape, w, s, pixel_size=px)
    desc = DescriptorStream(img, grid, size=size, threshold=threshold, pixel_size=px)
    cb = (lambda done: progress(done, grid.size)) if progress is not None else None
    stats, hidden = predictor.run_with_hidden(desc, samples, seed=seed, progress=cb)
    maps = uncertainty_maps(stats)
    origins = grid.origins.reshape(-1, 2).astype(np.int64)
    has_grains = inp.grains is not None and inp.grains.shape == img.shape
    return {
        "hidden": hidden,
        "classes": maps["classes"].astype(np.int64),
        "mutual_information": maps["mutual_information"],
        "origins": origins,
        "grain": window_grains(np.asarray(inp.grains), origins, w) if has_grains else np.full(grid.size, -1, np.int64),
        "window_px": np.int64(w),
    }


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
    from aistem.core import AistemModel, MCDropoutPredictor, load_model

    if not inputs:
        raise ValueError("no input given")
    if not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples must be a whole number ≥ 1, got {samples!r}")
    m = model if isinstance(model, AistemModel) else load_model(model)
    predictor = MCDropoutPredictor(m, hidden_layer=HIDDEN_LAYER)
    threshold = float(m.info.descriptor.get("threshold", 0.1))
    parts: list[dict[str, np.ndarray]] = []
    names: list[str] = []
    for item in inputs:
        inp = item if isinstance(item, EmbedInput) else load_input(item)
        names.append(inp.name)
        cb = (lambda done, total, _n=inp.name: progress(_n, done, total)) if progress else None
        geometry = {"window": window, "stride": stride, "window_px": window_px, "stride_px": stride_px}
        part = hidden_activations(
            inp, predictor, threshold=threshold, samples=int(samples), seed=seed, pixel_size=pixel_size, progress=cb, **geometry
        )
        parts.append(part)
    umap = {"n_neighbors": int(n_neighbors), "min_dist": float(min_dist)}
    return _embedding(parts, names, m, {"samples": int(samples), "seed": int(seed), **umap})


def _embedding(parts: list[dict[str, np.ndarray]], names: list[str], m: Any, settings: dict[str, Any]) -> Embedding:
    """The :class:`Embedding` of the images' windows (``parts`` from :func:`hidden_activations`): their UMAP map
    with ``settings`` (``samples``, ``seed``, ``n_neighbors``, ``min_dist``)."""

    def cat(key: str) -> np.ndarray:
        return np.concatenate([p[key] for p in parts])

    hidden = cat("hidden")
    emb = umap_embedding(hidden, n_neighbors=settings["n_neighbors"], min_dist=settings["min_dist"], seed=settings["seed"])
    return Embedding(
        embedding=emb,
        hidden=hidden,
        classes=cat("classes"),
        mutual_information=cat("mutual_information"),
        source=np.concatenate([np.full(len(p["classes"]), k, np.int64) for k, p in enumerate(parts)]),
        origins_px=cat("origins"),
        grain=cat("grain"),
        sources=names,
        class_names=list(m.class_names),
        window_px=[int(p["window_px"]) for p in parts],
        settings={"model": m.name, "model_hash": m.hash, **settings, "layer": HIDDEN_LAYER},
    )


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
