"""``analyze``: the AI-STEM segmentation of one image, and its result."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .adaptive import AdaptiveSettings
from .backend import get_array_module
from .descriptor_stream import CHUNK as DESCRIPTOR_CHUNK
from .descriptor_stream import DescriptorStream
from .mc_dropout import AnalysisCancelled
from .scale_limits import check_window, window_warning
from .uncertainty import segment_interface, uncertainty_maps
from .windows import WindowGrid, to_pixels, window_grid

__all__ = ["DESCRIPTOR_CHUNK", "AnalysisResult", "analyze", "resolve_windows", "validate_image", "warm_up"]

log = logging.getLogger(__name__)


@dataclass
class AnalysisResult:
    """Maps of one analysed image, on the window grid (rows × cols).

    Attributes
    ----------
    classes : ndarray of shape (rows, cols), uint8
        Index of the most probable class (mean over MC samples).
    probabilities : ndarray of shape (rows, cols, n_classes), float32
        Mean class probabilities.
    mutual_information, predictive_entropy : ndarray of shape (rows, cols), float32
        Uncertainties [bit].
    variation_ratio : ndarray of shape (rows, cols), float32
        1 − (votes for the modal class) / T.
    interface : ndarray of shape (rows, cols), bool
        MI > threshold, among the windows that are not ``unknown``.
    class_names : list of str
    origins_px : ndarray of shape (rows, cols, 2), int64
        Top-left pixel (row, col) of each window.
    window_px, stride_px : int
        Window side and step [px].
    pixel_size : float
        [Å/px].
    threshold : float
        MI threshold [bit].
    samples : int
        Monte-Carlo samples per window (T; the most any window got when sampling was adaptive).
    model_name, model_hash : str
    precision : str
        Compute dtype the network ran in (``float32`` or ``bfloat16``; ``auto`` resolved).
    timing : dict
        Milliseconds spent in ``descriptor`` and ``inference``, and ``total``.
    samples_used : ndarray of shape (rows, cols), int32, optional
        Samples drawn for each window (adaptive sampling).
    lattice_rotation : ndarray of shape (rows, cols), float32, optional
        Rotation of each bulk window's lattice against its class's reference [°, counter-clockwise as displayed],
        in [−period/2, period/2) of the projection's rotational symmetry (period 90°, 60° or 180°);
        NaN at interface windows and for classes without a reference
        (:mod:`aistem.core.rotation`).
    source : str
        Where the image came from (a file name), when known.
    filled : ndarray of shape (rows, cols), bool, optional
        Coarse-to-fine analysis (``coarse_step`` > 1): windows not evaluated but filled from their cell's identical
        corners (class, bulk and known status; MI, probabilities and rotation interpolated); None: every window was
        evaluated (the dense grid).
    refinement_level : ndarray of shape (rows, cols), int8, optional
        How each window was obtained: 0 coarse, 1 refined, 2 filled (:mod:`aistem.core.refine`).
    unknown : ndarray of shape (rows, cols), bool
        Windows outside the model's domain (:mod:`aistem.core.domain`: no lattice, a lattice that does not fit the
        predicted class, or a lattice constant outside the trained range); all False when the check was off.
    unknown_reason : ndarray of shape (rows, cols), uint8, optional
        Why (``aistem.core.domain.REASONS``: 0 known, 1 no lattice, 2 pattern does not fit, 3 out of range).
    """

    classes: np.ndarray
    probabilities: np.ndarray
    mutual_information: np.ndarray
    predictive_entropy: np.ndarray
    variation_ratio: np.ndarray
    interface: np.ndarray
    class_names: list[str]
    origins_px: np.ndarray
    window_px: int
    stride_px: int
    pixel_size: float
    threshold: float
    samples: int
    model_name: str = ""
    model_hash: str = ""
    precision: str = "float32"
    timing: dict[str, float] = field(default_factory=dict)
    samples_used: np.ndarray | None = None
    lattice_rotation: np.ndarray | None = None
    source: str = ""
    unknown: np.ndarray = None  # type: ignore[assignment]  # None → all False (see __post_init__)
    unknown_reason: np.ndarray | None = None
    filled: np.ndarray | None = None
    refinement_level: np.ndarray | None = None

    ARRAYS = (
        "classes",
        "probabilities",
        "mutual_information",
        "predictive_entropy",
        "variation_ratio",
        "interface",
        "origins_px",
    )

    def __post_init__(self) -> None:
        if self.unknown is None:
            self.unknown = np.zeros(np.shape(self.classes), bool)
        else:
            self.unknown = np.asarray(self.unknown, bool)
        if self.unknown.shape != np.shape(self.classes):
            raise ValueError(f"unknown map {self.unknown.shape} does not match the class map {np.shape(self.classes)}")

    @property
    def mean_samples(self) -> float:
        """Mean number of MC samples drawn per window (T unless sampling was adaptive)."""
        if self.samples_used is not None and self.samples_used.size:
            return float(self.samples_used.mean())
        return float(self.samples)

    @property
    def grid_shape(self) -> tuple[int, int]:
        return tuple(self.classes.shape)  # type: ignore[return-value]

    @property
    def interface_fraction(self) -> float:
        """Share of all windows that are interface (MI > threshold among the known windows)."""
        return float(self.interface.mean()) if self.interface.size else 0.0

    @property
    def unknown_fraction(self) -> float:
        """Share of all windows outside the model's domain."""
        return float(self.unknown.mean()) if self.unknown.size else 0.0

    @property
    def confident_fraction(self) -> float:
        """Share of all windows given a confident known class (neither unknown nor interface)."""
        return float((~self.unknown & ~self.interface).mean()) if self.unknown.size else 0.0

    def class_fractions(self) -> dict[str, float]:
        """Fraction of the known (not ``unknown``) windows assigned to each class (all 0 when none is known)."""
        known = self.classes[~self.unknown]
        counts = np.bincount(known.ravel(), minlength=len(self.class_names))[: len(self.class_names)]
        total = max(1, known.size)
        return {n: float(c) / total for n, c in zip(self.class_names, counts, strict=True)}

    def with_threshold(self, threshold: float) -> AnalysisResult:
        """The same result segmented at another MI threshold."""
        import dataclasses

        unknown = self.unknown
        if self.unknown_reason is not None:  # a mismatch is interface where MI is high (domain.unknown_from_reason)
            from .domain import unknown_from_reason

            unknown = unknown_from_reason(self.unknown_reason, self.mutual_information, threshold)
        interface = segment_interface(self.mutual_information, threshold) & ~unknown
        rotation = self.lattice_rotation
        if rotation is not None:  # windows that were interface and become bulk stay NaN: they were not measured
            rotation = np.where(interface, np.float32(np.nan), rotation).astype(np.float32)
        return dataclasses.replace(
            self, threshold=float(threshold), interface=interface, unknown=unknown, lattice_rotation=rotation
        )

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` with every map and setting."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {name: getattr(self, name) for name in self.ARRAYS}
        np.savez_compressed(
            path,
            **arrays,
            class_names=np.asarray(self.class_names),
            window_px=self.window_px,
            stride_px=self.stride_px,
            pixel_size=self.pixel_size,
            threshold=self.threshold,
            samples=self.samples,
            model_name=self.model_name,
            model_hash=self.model_hash,
            precision=self.precision,
            source=self.source,
            **{
                k: v
                for k, v in (
                    ("samples_used", self.samples_used),
                    ("lattice_rotation", self.lattice_rotation),
                    ("unknown", self.unknown),
                    ("unknown_reason", self.unknown_reason),
                    ("filled", self.filled),
                    ("refinement_level", self.refinement_level),
                )
                if v is not None
            },  # type: ignore[arg-type]
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> AnalysisResult:
        """Read a result written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(
                **{name: z[name] for name in cls.ARRAYS},
                class_names=[str(s) for s in z["class_names"]],
                window_px=int(z["window_px"]),
                stride_px=int(z["stride_px"]),
                pixel_size=float(z["pixel_size"]),
                threshold=float(z["threshold"]),
                samples=int(z["samples"]),
                model_name=str(z["model_name"]),
                model_hash=str(z["model_hash"]),
                precision=str(z["precision"]) if "precision" in z.files else "float32",
                samples_used=z["samples_used"] if "samples_used" in z.files else None,
                lattice_rotation=z["lattice_rotation"] if "lattice_rotation" in z.files else None,
                source=str(z["source"]) if "source" in z.files else "",
                unknown=z["unknown"].astype(bool) if "unknown" in z.files else None,  # type: ignore[arg-type]  # old: all known
                unknown_reason=z["unknown_reason"] if "unknown_reason" in z.files else None,
                filled=z["filled"] if "filled" in z.files else None,
                refinement_level=z["refinement_level"] if "refinement_level" in z.files else None,
            )


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
        HAADF-STEM image (NumPy or CuPy; any real dtype), or an image file (any format of
        :mod:`aistem.core.io`): its default signal (HAADF/ADF/DF, else the first real-space image), first frame;
        :func:`aistem.core.io.read_image` reads another signal or frame.
    pixel_size : float
        [Å/px]. Needed unless ``window_px`` and ``stride_px`` are both given (or the file gives it).
        A window far from the 12 Å the model was trained at is logged as a warning.
    window, stride : float
        Window side and step [Å] (defaults 12 Å, 1.5 Å).
    window_px, stride_px : int, optional
        The same in pixels; override the Å values.
    samples : int
        Monte-Carlo dropout samples per window (T; paper: 100).
    threshold : float
        Mutual-information threshold for the interface [bit] (paper: 0.1).
    model : path or AistemModel, optional
        The network; None loads the shipped default model.
    seed : int, optional
        Seed of the dropout masks (reproducible results).
    adaptive : bool or AdaptiveSettings
        Adaptive sampling: windows whose class and interface decision are
        settled stop early (``samples`` stays the upper bound). False (the default here): every
        window gets exactly ``samples`` (the paper's procedure). **This default differs from the command line**
        (``aistem analyze`` samples adaptively unless ``--no-adaptive``): pass ``adaptive=True`` for the same.
    precision : str
        Compute dtype of the network: ``float32`` (the default here: the paper's numerics), ``bfloat16``,
        ``float16``, or ``auto`` (:func:`aistem.core.backend.resolve_precision`: bfloat16 on a CPU with native
        bfloat16, else float32). **The command line's default is** ``auto``: pass ``precision="auto"`` for the same.
    rotation : bool
        Measure the local lattice rotation of bulk windows (``lattice_rotation``; about 1 ms per bulk window on a CPU).
    batch_size : int, optional
        Windows per network call of the MC-dropout sampler [windows]; each call evaluates this many windows ×
        up to 32 samples. Larger batches use the CPU/GPU better and need more memory; the results do not depend
        on it (the masks are keyed by seed and sample index, not by call). None: the sampler's current setting
        (32 unless changed, e.g. by ``aistem serve --batch-size``). Applies to this call only.
    progress : callable, optional
        ``progress(done, total)`` in windows.
    cancel : callable, optional
        ``cancel()`` is asked before every block of descriptors, after every network call of the MC sampling and
        before every block of the rotation step; when it returns True the analysis stops with
        :class:`aistem.core.AnalysisCancelled` (the streaming daemon abandons a refinement this way when a newer
        frame arrives, and any analysis on a stop).
    samples_per_call : int, optional
        MC samples per window per network call (None: the sampler's setting, 32). Smaller calls let ``cancel``
        act sooner at about the same cost per sample on a CPU; the masks are keyed by the seed and the sample
        index, so with a ``seed`` the result is the same (to float rounding). Applies to this call only.
    domain : bool or aistem.core.domain.DomainSettings
        Run the domain check (``unknown``: windows without a lattice, whose lattice does not fit the predicted class,
        or whose lattice constant lies outside the model's training range; ``docs/domain-check.md``). True: the
        default thresholds; a ``DomainSettings``: those; False: off (every window known).

    coarse_step : int, optional
        Coarse-to-fine evaluation (:mod:`aistem.core.refine`): every ``coarse_step``-th window first, then every
        window where neighbouring coarse windows differ or are interface/unknown; the rest are filled from their
        identical corners and marked in ``filled``. None or 1: every window (the paper's dense grid).
    on_coarse : callable, optional
        With ``coarse_step``: called with the coarse level as a result of its own (every ``coarse_step``-th window,
        stride ``coarse_step`` × stride) before the refinement — the live preview, the first level of the same
        analysis.
    grid : WindowGrid, optional
        The window grid of ``image``, computed once by the caller (e.g. the daemon, per frame): its window and stride
        [px] override ``window``/``stride``/``window_px``/``stride_px`` (``window`` [Å] still words the error for a
        pixel size too coarse for the descriptor).

    Raises
    ------
    ValueError
        If an argument is out of range (``samples``, ``threshold``, ``batch_size``, ``samples_per_call``, window
        sizes) or the image is not a finite 2-D array.
    AnalysisCancelled
        If ``cancel()`` returned True.

    Returns
    -------
    AnalysisResult
    """
    t0 = time.perf_counter()
    if isinstance(image, str | os.PathLike):
        image, pixel_size = _read_path(image, pixel_size)
    if not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples must be a whole number ≥ 1, got {samples!r}")
    if not (np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a non-negative number of bits, got {threshold!r}")
    _check_call_sizes(batch_size, samples_per_call)
    img = validate_image(image)
    if grid is not None:
        if tuple(img.shape) != tuple(grid.image_shape):
            raise ValueError(f"the window grid is for an image of {grid.image_shape}, got an image of shape {img.shape}")
        w, s = grid.window_px, grid.stride_px
    else:
        w, s = resolve_windows(pixel_size, window=window, stride=stride, window_px=window_px, stride_px=stride_px)
    m = _as_model(model)
    size = m.input_size
    check_window(w, pixel_size, window if window_px is None else None, size)
    _warn_window(w, pixel_size, float(m.info.window))
    if grid is None:
        grid = window_grid(img.shape, w, s, pixel_size=pixel_size)
    n = grid.size
    if coarse_step is not None and coarse_step != 1:
        from .analysis_refine import analyze_coarse

        return analyze_coarse(
            img, grid, m, pixel_size, int(coarse_step), t0,
            samples=samples, threshold=threshold, seed=seed, adaptive=adaptive, precision=precision, rotation=rotation,
            batch_size=batch_size, samples_per_call=samples_per_call, domain=domain, progress=progress, cancel=cancel,
            on_coarse=on_coarse,
        )  # fmt: skip
    thr = float(m.info.descriptor.get("threshold", 0.1))
    # descriptors computed block by block as the sampler asks for them: memory bounded whatever the image size
    descriptors = DescriptorStream(img, grid, size=size, threshold=thr, pixel_size=pixel_size, cancel=cancel)
    t1 = time.perf_counter()
    report = (lambda k: progress(k, n)) if progress else None
    with _sized(_predictor(m, precision), batch_size, samples_per_call) as predictor:
        settings = _adaptive_settings(adaptive)
        if settings is not None:
            stats = predictor.run_adaptive(
                descriptors,
                samples,
                grid_shape=grid.shape,
                settings=settings,
                threshold=threshold,
                seed=seed,
                progress=report,
                cancel=cancel,
            )
        else:
            stats = predictor.run(descriptors, samples, seed=seed, progress=report, cancel=cancel)
    t2 = time.perf_counter()
    t_descriptor = descriptors.seconds  # interleaved with the inference: counted apart
    maps = uncertainty_maps(stats)
    gr, gc = grid.shape
    mi = maps["mutual_information"].reshape(gr, gc)
    classes = maps["classes"].reshape(gr, gc).astype(np.uint8)
    t_dom = time.perf_counter()
    from .domain import model_domain_map

    unknown, reason = model_domain_map(img, grid, classes, m, pixel_size, domain, mi, threshold)
    interface = segment_interface(mi, threshold) & ~unknown
    t3 = time.perf_counter()
    rot = None
    if rotation and cancel is not None and cancel():
        raise AnalysisCancelled("analysis cancelled by the caller before the rotation step")
    if rotation:
        from .rotation import circular_difference, lattice_rotation_map, rotation_period

        rot = lattice_rotation_map(
            img,
            grid,
            classes,
            interface | unknown,  # unknown windows: NaN, not measured
            m.class_names,
            pixel_size=pixel_size if pixel_size is not None else m.info.pixel_size,
            cancel=cancel,
        )
        # report in [−period/2, period/2): a lattice close to its reference reads ≈ 0°, not 0° and 89.9° side by side
        rot = circular_difference(rot, 0.0, rotation_period(m.class_names)[classes]).astype(np.float32)
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
        window_px=w,
        stride_px=s,
        pixel_size=float(pixel_size) if pixel_size is not None else float("nan"),
        threshold=float(threshold),
        samples=int(samples),
        model_name=m.name,
        model_hash=m.hash,
        precision=predictor.precision,
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
