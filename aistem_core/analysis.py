"""``analyze``: the AI-STEM segmentation of one image, and its result."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .adaptive import AdaptiveSettings
from .analysis_result import AnalysisResult
from .backend import get_array_module
from .descriptor_stream import CHUNK as DESCRIPTOR_CHUNK
from .descriptor_stream import DescriptorStream
from .mc_dropout import AnalysisCancelled
from .scale_limits import check_window, window_warning
from .uncertainty import segment_interface, uncertainty_maps
from .windows import WindowGrid, to_pixels, window_grid

__all__ = ["DESCRIPTOR_CHUNK", "AnalysisResult", "analyze", "resolve_windows", "validate_image", "warm_up"]

log = logging.getLogger(__name__)


def validate_image(image: Any) -> Any:
    """Check an image is a finite, real, 2-D array; return it as float32 (same array module).

    Raises
    ------
    ValueError
        With a message that says what is wrong.
    """
    xp = get_array_module(image)
    a = xp.asarray(image)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"expected a single 2-D image (rows, cols), got an array of shape {tuple(a.shape)}")
    if a.dtype.kind not in "uif" or a.dtype.kind == "c":
        raise ValueError(f"unsupported pixel type {a.dtype}: expected integer or real values")
    if a.size == 0:
        raise ValueError("the image is empty")
    a = a.astype(xp.float32, copy=False)
    if not bool(xp.isfinite(a).all()):
        bad = int((~xp.isfinite(a)).sum())
        raise ValueError(f"the image has {bad} NaN or infinite pixel(s)")
    return a


def resolve_windows(
    pixel_size: float | None,
    *,
    window: float | None = 12.0,
    stride: float | None = 1.5,
    window_px: int | None = None,
    stride_px: int | None = None,
) -> tuple[int, int]:
    """Window and stride in pixels, from pixel values if given, else from Å and the pixel size."""
    if window_px is None or stride_px is None:
        if pixel_size is None:
            raise ValueError("the pixel size is unknown: give pixel_size [Å/px] (or window and stride in px)")
    w = int(window_px) if window_px is not None else to_pixels(float(window), float(pixel_size), name="window")  # type: ignore[arg-type]
    s = int(stride_px) if stride_px is not None else to_pixels(float(stride), float(pixel_size), name="stride")  # type: ignore[arg-type]
    if w < 1 or s < 1:
        raise ValueError(f"window and stride must be at least 1 px, got {w} and {s}")
    return w, s


def _read_path(path: str | os.PathLike[str], pixel_size: float | None) -> tuple[np.ndarray, float | None]:
    """The first frame of the default signal of an image file, and its pixel size unless one is given."""
    from .io import read_image

    data = read_image(Path(path))
    return data.frames[0], pixel_size if pixel_size is not None else data.pixel_size


_WARNED: set[tuple[int, float, float]] = set()


def _warn_window(window_px: int, pixel_size: float | None, trained: float) -> None:
    """Log (once per window, pixel size and model window) a window far from the one the model was trained at."""
    text = window_warning(window_px, pixel_size, trained)
    key = (window_px, float(pixel_size or 0), trained)
    if text and key not in _WARNED:
        _WARNED.add(key)
        log.warning(text)


def _as_model(model: Any) -> Any:
    from .model import AistemModel, load_model

    if isinstance(model, AistemModel):
        return model
    if model is None or isinstance(model, (str, Path)):
        return load_model(model)
    raise TypeError(f"model must be a path or an AistemModel, got {type(model).__name__}")


_PREDICTORS: dict[tuple[int, str], Any] = {}


def _predictor(model: Any, precision: str = "float32") -> Any:
    """The compiled MC-dropout sampler of ``model`` (cached: compiling costs seconds)."""
    from .backend import resolve_precision
    from .mc_dropout import MCDropoutPredictor

    precision = resolve_precision(precision)
    key = (id(model.keras_model), precision)
    p = _PREDICTORS.get(key)
    if p is None or p.keras_model is not model.keras_model:
        p = MCDropoutPredictor(model, precision=precision)
        if any(k[0] != key[0] for k in _PREDICTORS):
            _PREDICTORS.clear()  # models come and go in a daemon: keep only the current one's samplers
        _PREDICTORS[key] = p
    return p


def _check_call_sizes(batch_size: Any, samples_per_call: Any) -> None:
    """ValueError unless ``batch_size`` and ``samples_per_call`` are None or whole numbers ≥ 1."""
    for name, v, unit in (("batch_size", batch_size, " of windows"), ("samples_per_call", samples_per_call, "")):
        if v is not None and (isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1):
            raise ValueError(f"{name} must be a whole number{unit} ≥ 1 (or None for the default), got {v!r}")


@contextmanager
def _sized(predictor: Any, batch_size: int | None, samples_per_call: int | None) -> Iterator[Any]:
    """The cached sampler with this call's windows and samples per network call, restored afterwards (it is shared)."""
    before = predictor.windows_per_call, predictor.samples_per_call
    if batch_size is not None:
        predictor.windows_per_call = int(batch_size)
    if samples_per_call is not None:
        predictor.samples_per_call = int(samples_per_call)
    try:
        yield predictor
    finally:
        predictor.windows_per_call, predictor.samples_per_call = before


def _adaptive_settings(adaptive: bool | AdaptiveSettings) -> AdaptiveSettings | None:
    if not adaptive:
        return None
    return adaptive if isinstance(adaptive, AdaptiveSettings) else AdaptiveSettings()


def warm_up(
    model: Any = None,
    *,
    samples: int = 100,
    adaptive: bool | AdaptiveSettings = False,
    precision: str = "float32",
    batch_size: int | None = None,
    samples_per_call: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Compile the MC-dropout sampler for :func:`analyze` with these settings, before the first image.

    The first :func:`analyze` of a process otherwise pays for tracing (and compiling) each network-call shape it
    uses; the shapes do not depend on the image (:meth:`MCDropoutPredictor.call_shapes`), so a daemon can do this
    while it waits for frames.

    Parameters
    ----------
    model, samples, adaptive, precision, batch_size, samples_per_call
        As for :func:`analyze`.
    stop : callable, optional
        Asked before each shape; True ends the warm-up early (e.g. a frame has arrived).

    Returns
    -------
    int
        The number of shapes compiled (0 when all were already).

    Raises
    ------
    ValueError
        If ``samples``, ``batch_size`` or ``samples_per_call`` is out of range.
    """
    _check_call_sizes(batch_size, samples_per_call)
    with _sized(_predictor(_as_model(model), precision), batch_size, samples_per_call) as predictor:
        return int(predictor.warm_up(samples, _adaptive_settings(adaptive), stop=stop))


def analyze(
    image: Any,
    pixel_size: float | None = None,
    *,
    window: float = 12.0,
    stride: float = 1.5,
    window_px: int | None = None,
    stride_px: int | None = None,
    samples: int = 100,
    threshold: float = 0.1,
    model: Any = None,
    seed: int | None = None,
    adaptive: bool | AdaptiveSettings = False,
    precision: str = "float32",
    rotation: bool = True,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    samples_per_call: int | None = None,
    domain: bool | Any = True,
    coarse_step: int | None = None,
    on_coarse: Callable[[AnalysisResult], None] | None = None,
    grid: WindowGrid | None = None,
) -> AnalysisResult:
    """Classify every window of an image and measure its uncertainty (AI-STEM).

    Parameters
    ----------
    image : ndarray of shape (rows, cols), or path
        HAADF-STEM image (NumPy or CuPy; any real dtype), or an image file (:mod:`aistem.core.io`: its default signal,
        first frame).
    pixel_size : float
        [Å/px]; needed unless ``window_px`` and ``stride_px`` are given (or the file gives it).
    window, stride : float
        Window side and step [Å] (12 Å, 1.5 Å); ``window_px``, ``stride_px`` [px] override them. A window far from
        the model's training window is logged as a warning.
    samples, threshold : int, float
        MC-dropout samples per window (T; paper: 100); the MI threshold of the interface [bit] (paper: 0.1).
    model, seed : optional
        The network (path or AistemModel; None: the shipped default); the seed of the dropout masks (reproducible).
    adaptive : bool or AdaptiveSettings
        Stop windows whose class and interface decision are settled (``samples`` stays the upper bound). False here,
        the paper's procedure; **the command line samples adaptively** (pass True for the same).
    precision : str
        ``float32`` (here), ``bfloat16``, ``float16`` or ``auto`` (bfloat16 on a CPU with native bfloat16; **the
        command line's default**; :func:`aistem.core.backend.resolve_precision`).
    rotation, domain : bool
        Measure the lattice rotation of bulk windows (``lattice_rotation``); run the domain check (``unknown``;
        a ``DomainSettings`` gives its thresholds; ``docs/domain-check.md``).
    batch_size, samples_per_call : int, optional
        Windows (default 32) and samples per window (default 32) per network call, for this call only; the masks are
        keyed by seed and sample index, so the result does not depend on them (to float rounding).
    progress, cancel : callable, optional
        ``progress(done, total)`` in windows; ``cancel()`` asked between blocks and network calls: True stops the
        analysis with :class:`aistem.core.AnalysisCancelled`.
    coarse_step, on_coarse : int, callable, optional
        Coarse-to-fine (``docs/coarse-to-fine.md``): every ``coarse_step``-th window, then only where the map can
        change; the rest filled, marked in ``filled``. None or 1: every window (the paper's grid). ``on_coarse`` gets
        the coarse level as a result of its own (stride ``coarse_step`` × stride) first: the live preview.
    grid : WindowGrid, optional
        The window grid of ``image`` computed once by the caller (the daemon, per frame); overrides window and stride.

    Raises
    ------
    ValueError, AnalysisCancelled
        An argument out of range or an image that is not a finite 2-D array; ``cancel()`` returned True.

    Returns
    -------
    AnalysisResult
    """
    t0 = time.perf_counter()
    known = grid
    o = {k: v for k, v in locals().items() if k not in ("image", "pixel_size", "coarse_step", "on_coarse", "t0", "grid", "known")}
    img, pixel_size, m, grid = _prepare(image, pixel_size, known, **o)
    if coarse_step is not None and coarse_step != 1:
        from .analysis_refine import analyze_coarse

        return analyze_coarse(img, grid, m, pixel_size, int(coarse_step), t0, on_coarse=on_coarse, **o)
    return _analyze_dense(img, grid, m, pixel_size, t0, **o)


def _prepare(
    image: Any, pixel_size: float | None, grid: WindowGrid | None, **a: Any
) -> tuple[Any, float | None, Any, WindowGrid]:
    """Checked image (float32), pixel size, model and window grid (``grid`` when the caller has it) of an
    :func:`analyze` call (ValueError if bad)."""
    if isinstance(image, str | os.PathLike):
        image, pixel_size = _read_path(image, pixel_size)
    samples, threshold = a["samples"], a["threshold"]
    if not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples must be a whole number ≥ 1, got {samples!r}")
    if not (np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a non-negative number of bits, got {threshold!r}")
    _check_call_sizes(a["batch_size"], a["samples_per_call"])
    img = validate_image(image)
    if grid is not None:
        if tuple(img.shape) != tuple(grid.image_shape):
            raise ValueError(f"the window grid is for an image of {grid.image_shape}, got an image of shape {img.shape}")
        w, s = grid.window_px, grid.stride_px
    else:
        w, s = resolve_windows(
            pixel_size, window=a["window"], stride=a["stride"], window_px=a["window_px"], stride_px=a["stride_px"]
        )
    m = _as_model(a["model"])
    check_window(w, pixel_size, a["window"] if a["window_px"] is None else None, m.input_size)
    _warn_window(w, pixel_size, float(m.info.window))
    return img, pixel_size, m, grid if grid is not None else window_grid(img.shape, w, s, pixel_size=pixel_size)


def _sample(descriptors: Any, grid: WindowGrid, m: Any, o: dict[str, Any]) -> tuple[Any, str]:
    """MC-dropout statistics of every window of the dense grid (adaptive or fixed), and the precision it ran in."""
    n = grid.size
    report = (lambda k: o["progress"](k, n)) if o["progress"] else None
    with _sized(_predictor(m, o["precision"]), o["batch_size"], o["samples_per_call"]) as predictor:
        settings = _adaptive_settings(o["adaptive"])
        if settings is not None:
            stats = predictor.run_adaptive(
                descriptors, o["samples"], grid_shape=grid.shape, settings=settings, threshold=o["threshold"],
                seed=o["seed"], progress=report, cancel=o["cancel"],
            )  # fmt: skip
        else:
            stats = predictor.run(descriptors, o["samples"], seed=o["seed"], progress=report, cancel=o["cancel"])
        return stats, predictor.precision


def _rotation_map(
    img: Any, grid: WindowGrid, classes: np.ndarray, skip: np.ndarray, m: Any, pixel_size: float | None, cancel: Any
) -> np.ndarray:
    """Lattice rotation of every window not in ``skip`` [°, in [−period/2, period/2)], NaN elsewhere."""
    from .rotation import circular_difference, lattice_rotation_map, rotation_period

    if cancel is not None and cancel():
        raise AnalysisCancelled("analysis cancelled by the caller before the rotation step")
    rot = lattice_rotation_map(
        img, grid, classes, skip, m.class_names,
        pixel_size=pixel_size if pixel_size is not None else m.info.pixel_size, cancel=cancel,
    )  # fmt: skip
    # report in [−period/2, period/2): a lattice close to its reference reads ≈ 0°, not 0° and 89.9° side by side
    return circular_difference(rot, 0.0, rotation_period(m.class_names)[classes]).astype(np.float32)


def _analyze_dense(img: Any, grid: WindowGrid, m: Any, pixel_size: float | None, t0: float, **o: Any) -> AnalysisResult:
    """:func:`analyze` on every window of the grid (the paper's procedure)."""
    thr = float(m.info.descriptor.get("threshold", 0.1))
    # descriptors computed block by block as the sampler asks for them: memory bounded whatever the image size
    descriptors = DescriptorStream(img, grid, size=m.input_size, threshold=thr, pixel_size=pixel_size, cancel=o["cancel"])
    t1 = time.perf_counter()
    stats, precision = _sample(descriptors, grid, m, o)
    t2 = time.perf_counter()
    t_descriptor = descriptors.seconds  # interleaved with the inference: counted apart
    maps = uncertainty_maps(stats)
    gr, gc = grid.shape
    mi = maps["mutual_information"].reshape(gr, gc)
    classes = maps["classes"].reshape(gr, gc).astype(np.uint8)
    t_dom = time.perf_counter()
    from .domain import model_domain_map

    unknown, reason = model_domain_map(img, grid, classes, m, pixel_size, o["domain"], mi, o["threshold"])
    interface = segment_interface(mi, o["threshold"]) & ~unknown
    t3 = time.perf_counter()
    rot = _rotation_map(img, grid, classes, interface | unknown, m, pixel_size, o["cancel"]) if o["rotation"] else None
    t4 = time.perf_counter()
    return AnalysisResult(
        classes=classes,
        probabilities=maps["probabilities"].reshape(gr, gc, -1),
        mutual_information=mi,
        predictive_entropy=maps["predictive_entropy"].reshape(gr, gc),
        variation_ratio=maps["variation_ratio"].reshape(gr, gc),
        interface=interface,
        class_names=list(m.class_names),
        origins_px=grid.origins,
        window_px=grid.window_px,
        stride_px=grid.stride_px,
        pixel_size=float(pixel_size) if pixel_size is not None else float("nan"),
        threshold=float(o["threshold"]),
        samples=int(o["samples"]),
        model_name=m.name,
        model_hash=m.hash,
        precision=precision,
        samples_used=stats.samples.reshape(gr, gc).astype(np.int32),
        lattice_rotation=rot,
        unknown=unknown,
        unknown_reason=reason,
        timing={
            "descriptor": (t1 - t0 + t_descriptor) * 1e3,
            "inference": (t2 - t1 - t_descriptor) * 1e3,
            "domain": (t3 - t_dom) * 1e3,
            "rotation": (t4 - t3) * 1e3,
            "total": (time.perf_counter() - t0) * 1e3,
        },
    )
