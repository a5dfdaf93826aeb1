"""The analysis of any set of windows, for coarse-to-fine evaluation (:mod:`aistem.core.refine`).

:func:`window_evaluator` returns ``evaluate(rows, cols)``: for the listed windows of a grid, the same per-window
pipeline as :func:`aistem.core.analyze` — descriptor, MC-dropout sampling (shared masks: a window's samples depend on
the seed and the sample index only, so a window evaluated alone equals the same window in the dense grid), uncertainty,
domain check, interface, lattice rotation — ``chunk`` windows at a time, so memory stays bounded.  Adaptive sampling
decides each window alone here; the dense grid's rule also keeps grid neighbours of unsettled windows sampling, which
:func:`analyze_coarse` restores after the refinement by continuing those windows from the samples they already drew
(:meth:`WindowEvaluator.top_up`, :func:`neighbour_samples`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .adaptive import AdaptiveSettings, stage_schedule
from .backend import asnumpy, get_array_module
from .descriptor import fft_haadf_descriptor
from .mc_dropout import AnalysisCancelled
from .uncertainty import MCStats, uncertainty_maps
from .windows import WindowGrid

__all__ = ["EVALUATE_CHUNK", "WindowEvaluator", "analyze_coarse", "domain_checker", "window_evaluator"]

#: Windows cut, described and sampled at a time [windows] (100 px windows: 40 MB of float32 windows).
EVALUATE_CHUNK = 1024


def window_evaluator(
    image: Any,
    grid: WindowGrid,
    model: Any,
    predictor: Any,
    *,
    samples: int,
    threshold: float,
    seed: int,
    adaptive: AdaptiveSettings | None,
    domain: Any,
    rotation: bool,
    pixel_size: float,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = EVALUATE_CHUNK,
    timing: dict[str, float] | None = None,
) -> WindowEvaluator:
    """``evaluate(rows, cols) -> maps`` for windows of ``grid`` (see the module docstring).

    Parameters
    ----------
    image : ndarray of shape (rows, cols), float32
    grid : WindowGrid
    model : AistemModel
    predictor : MCDropoutPredictor
    seed : int
        Seed of the dropout masks; the same for every call, so that every window has the dense grid's samples.
    adaptive : AdaptiveSettings or None
        None: every window gets ``samples``.
    domain : bool or DomainSettings
        The domain check (False: every window known).
    pixel_size : float
        [Å/px].
    progress : callable, optional
        ``progress(k)`` with the number of windows evaluated so far.
    timing : dict, optional
        Milliseconds spent in ``descriptor``, ``inference``, ``domain`` and ``rotation`` are added to it.

    Returns
    -------
    WindowEvaluator
        Called with (rows, cols): maps of shape (M, …): classes, probabilities, mutual_information,
        predictive_entropy, variation_ratio, samples_used, unknown, unknown_reason, interface and (with
        ``rotation``) lattice_rotation [°, in [−period/2, period/2)]; :meth:`WindowEvaluator.top_up` continues
        windows already evaluated to more samples.
    """
    o = {"threshold": threshold, "domain": domain, "rotation": rotation, "pixel_size": pixel_size}
    return WindowEvaluator(image, grid, model, predictor, samples, seed, adaptive, o, cancel, progress, chunk, timing)


class WindowEvaluator:
    """The per-window pipeline on any windows of a grid, keeping each evaluated window's MC sums so that
    :meth:`top_up` can continue it from the samples already drawn (see :func:`window_evaluator`)."""

    def __init__(
        self, image: Any, grid: WindowGrid, model: Any, predictor: Any, samples: int, seed: int,
        adaptive: AdaptiveSettings | None, o: dict[str, Any], cancel: Any, progress: Any, chunk: int, timing: Any,
    ) -> None:  # fmt: skip
        self.xp = get_array_module(image)
        self.view = _window_view(image, grid)
        self.model, self.predictor, self.samples, self.seed, self.adaptive = model, predictor, samples, seed, adaptive
        self.o, self.cancel, self.progress, self.chunk = o, cancel, progress, chunk
        self.thr = float(model.info.descriptor.get("threshold", 0.1))
        self.done = 0
        self.lap = _Laps(timing if timing is not None else {})
        c = int(predictor.n_classes)
        self.prob_sum = np.zeros((*grid.shape, c), np.float64)  # MC sums of every evaluated window, for top_up
        self.entropy_sum = np.zeros(grid.shape, np.float64)
        self.votes = np.zeros((*grid.shape, c), np.int32)
        self.n = np.zeros(grid.shape, np.int32)

    def _cut(self, rows: np.ndarray, cols: np.ndarray) -> tuple[Any, Any]:
        """Windows (M, w, w) and their descriptors (M, size, size)."""
        if self.cancel is not None and self.cancel():
            raise AnalysisCancelled("analysis cancelled by the caller")
        self.lap.start()
        xp, m = self.xp, self.model
        windows = xp.ascontiguousarray(self.view[xp.asarray(rows), xp.asarray(cols)])
        desc = fft_haadf_descriptor(windows, threshold=self.thr, size=m.input_size, pixel_size=self.o["pixel_size"])
        self.lap("descriptor")
        return windows, desc

    def _stored(self, rows: np.ndarray, cols: np.ndarray) -> MCStats:
        return MCStats(self.prob_sum[rows, cols], self.entropy_sum[rows, cols], self.votes[rows, cols], self.n[rows, cols])

    def _one_chunk(self, rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
        windows, desc = self._cut(rows, cols)
        p, t, seed, cancel = self.predictor, self.samples, self.seed, self.cancel
        if self.adaptive is not None:
            stats = p.run_adaptive(desc, t, settings=self.adaptive, threshold=self.o["threshold"], seed=seed, cancel=cancel)
        else:
            stats = p.run(desc, t, seed=seed, cancel=cancel)
        self.lap("inference")
        self.prob_sum[rows, cols], self.entropy_sum[rows, cols] = stats.prob_sum, stats.entropy_sum
        self.votes[rows, cols], self.n[rows, cols] = stats.vote_counts, stats.samples
        out = _window_maps(stats, windows, self.model, lap=self.lap, **self.o)
        self.done += len(rows)
        if self.progress is not None:
            self.progress(self.done)
        return out

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
        ch = self.chunk
        parts = [self._one_chunk(rows[a : a + ch], cols[a : a + ch]) for a in range(0, len(rows), ch)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def top_up(self, rows: np.ndarray, cols: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
        """Continue evaluated windows to ``target`` samples each (stage boundaries of the adaptive schedule).

        Only the samples not drawn yet are drawn, stage by stage as in :meth:`MCDropoutPredictor.run_adaptive`
        (the same compiled calls): each stage once for every window that needs it. Returns the windows' maps,
        as :meth:`__call__`, with their new sums; equal, to float rounding, to windows sampled to ``target`` at once.
        """
        target = np.asarray(target, np.int32)
        initial = self.adaptive.initial if self.adaptive is not None else self.samples
        parts = []
        for a in range(0, len(rows), self.chunk):
            r, c, t = rows[a : a + self.chunk], cols[a : a + self.chunk], target[a : a + self.chunk]
            windows, desc = self._cut(r, c)
            before = 0
            for stage in stage_schedule(self.samples, initial):
                need = np.flatnonzero((self.n[r, c] == before) & (t >= stage))
                if need.size:
                    s = self.predictor.run_range(
                        desc[self.xp.asarray(need)], before, stage - before, seed=self.seed, cancel=self.cancel
                    )
                    rr, cc = r[need], c[need]
                    self.prob_sum[rr, cc] += s.prob_sum
                    self.entropy_sum[rr, cc] += s.entropy_sum
                    self.votes[rr, cc] += s.vote_counts
                    self.n[rr, cc] = stage
                before = stage
            self.lap("inference")
            parts.append(_window_maps(self._stored(r, c), windows, self.model, lap=self.lap, **self.o))
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class _Laps:
    """Milliseconds per step, added to a timing dict."""

    def __init__(self, spent: dict[str, float]) -> None:
        self.spent = spent
        self.clock = time.perf_counter()

    def start(self) -> None:
        self.clock = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.spent[name] = self.spent.get(name, 0.0) + (now - self.clock) * 1e3
        self.clock = now


def _window_view(image: Any, grid: WindowGrid) -> Any:
    """Every window of ``grid`` as a view, (grid rows, grid cols, window_px, window_px)."""
    xp = get_array_module(image)
    w, s = grid.window_px, grid.stride_px
    gr, gc = grid.shape
    return xp.lib.stride_tricks.sliding_window_view(image, (w, w))[::s, ::s][:gr, :gc]


def _window_maps(
    stats: Any, windows: Any, model: Any, *, pixel_size: float, domain: Any, threshold: float, rotation: bool, lap: _Laps
) -> dict[str, np.ndarray]:
    """Per-window maps from MC statistics: uncertainties, domain check, interface and rotation, each (M, …)."""
    names = list(model.class_names)
    maps = {k: np.asarray(v) for k, v in uncertainty_maps(stats).items()}
    classes = maps["classes"].astype(np.uint8)
    out = {
        "classes": classes,
        "probabilities": maps["probabilities"],
        "mutual_information": maps["mutual_information"],
        "predictive_entropy": maps["predictive_entropy"],
        "variation_ratio": maps["variation_ratio"],
        "samples_used": np.asarray(stats.samples).astype(np.int32),
    }
    out["unknown"], out["unknown_reason"] = _domain(windows, classes, names, model, pixel_size, domain)
    if domain:  # a mismatch where the network is uncertain is an interface window (domain.unknown_from_reason)
        from .domain import unknown_from_reason

        out["unknown"] = unknown_from_reason(out["unknown_reason"], out["mutual_information"], threshold)
    out["interface"] = (out["mutual_information"] > threshold) & ~out["unknown"]
    lap("domain")
    if rotation:
        out["lattice_rotation"] = _rotation(windows, classes, out["interface"] | out["unknown"], names, pixel_size)
        lap("rotation")
    return out


def domain_checker(
    image: Any, grid: WindowGrid, model: Any, *, domain: Any, pixel_size: float, chunk: int = EVALUATE_CHUNK
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None:
    """``check(rows, cols, classes) -> unknown``: the domain check of filled windows with the class they were given
    (no network: about 1 ms of CPU per window), or None when the check is off."""
    if domain is False or domain is None:
        return None
    xp = get_array_module(image)
    view = _window_view(image, grid)
    names = list(model.class_names)

    def check(rows: np.ndarray, cols: np.ndarray, classes: np.ndarray) -> np.ndarray:
        out = np.zeros(len(rows), bool)
        for a in range(0, len(rows), chunk):
            windows = xp.ascontiguousarray(view[xp.asarray(rows[a : a + chunk]), xp.asarray(cols[a : a + chunk])])
            out[a : a + chunk] = _domain(windows, classes[a : a + chunk].astype(np.uint8), names, model, pixel_size, domain)[0]
        return out

    return check


def _domain(windows: Any, classes: np.ndarray, names: list[str], model: Any, pixel_size: float, domain: Any) -> tuple[Any, Any]:
    if domain is False or domain is None:
        return np.zeros(len(classes), bool), np.zeros(len(classes), np.uint8)
    from .domain import DomainSettings, TrainingDomain, domain_check

    check = domain_check(
        windows,
        classes,
        names,
        pixel_size=pixel_size,
        domain=TrainingDomain.from_model_info(model.info.extra, names),
        settings=domain if isinstance(domain, DomainSettings) else None,
    )
    return asnumpy(check.unknown).astype(bool), asnumpy(check.reason).astype(np.uint8)


def _rotation(windows: Any, classes: np.ndarray, skip: np.ndarray, names: list[str], pixel_size: float) -> np.ndarray:
    from .rotation import circular_difference, lattice_rotation, rotation_period

    rot = asnumpy(lattice_rotation(windows, classes, skip, names, pixel_size=pixel_size)).astype(np.float32)
    # report in [−period/2, period/2) as the dense analysis does
    return np.asarray(circular_difference(rot, 0.0, rotation_period(names)[classes]), np.float32)


def analyze_coarse(img: Any, grid: WindowGrid, m: Any, pixel_size: float | None, k: int, t0: float, **o: Any) -> Any:
    """:func:`aistem.core.analyze` with coarse-to-fine evaluation of the window grid (``coarse_step`` = k)."""
    import secrets

    from .analysis import _adaptive_settings, _predictor, _sized
    from .refine import coarse_to_fine
    from .rotation import rotation_period

    if not isinstance(k, int) or k < 1:
        raise ValueError(f"coarse_step must be a whole number ≥ 1, got {k!r}")
    seed = o["seed"] if o["seed"] is not None else secrets.randbits(31)  # one seed for every level
    o = {**o, "window_px": grid.window_px}
    n = grid.size
    report = (lambda done: o["progress"](done, n)) if o["progress"] else None
    px = pixel_size if pixel_size is not None else m.info.pixel_size
    timing: dict[str, float] = {"descriptor": 0.0, "inference": 0.0, "domain": 0.0, "rotation": 0.0}
    settings = _adaptive_settings(o["adaptive"])
    with _sized(_predictor(m, o["precision"]), o["batch_size"], o["samples_per_call"]) as predictor:
        evaluate = window_evaluator(
            img, grid, m, predictor,
            samples=o["samples"], threshold=o["threshold"], seed=seed, adaptive=settings, domain=o["domain"],
            rotation=o["rotation"], pixel_size=px, cancel=o["cancel"], progress=report, timing=timing,
        )  # fmt: skip
        on_level = None
        if o.get("on_coarse") is not None:

            def on_level(_level: int, part: Any) -> None:
                o["on_coarse"](_coarse_result(part, grid, m, k, pixel_size, o, predictor.precision, t0))

        check = domain_checker(img, grid, m, domain=o["domain"], pixel_size=px)
        ref = coarse_to_fine(
            grid.shape, evaluate, k=k, period=rotation_period(m.class_names), on_level=on_level, check=check
        )  # fmt: skip
        if settings is not None and settings.neighbours > 0:
            _top_up(ref, evaluate, settings.neighbours)
        precision = predictor.precision
    if o["progress"]:
        o["progress"](n, n)
    return _result(
        ref.maps, grid.origins, grid.stride_px, m, pixel_size, o, precision,
        filled=ref.filled,
        refinement_level=ref.level,
        timing={**timing, "total": (time.perf_counter() - t0) * 1e3, "evaluated_fraction": ref.evaluated_fraction},
    )  # fmt: skip


def neighbour_samples(samples_used: np.ndarray, evaluated: np.ndarray, neighbours: int) -> np.ndarray:
    """Samples the dense grid's adaptive rule gives each window because of its grid neighbours.

    In the dense grid (:meth:`MCDropoutPredictor.run_adaptive` with ``grid_shape``) the windows next to (4-connected,
    ``neighbours`` steps) a window still unsettled keep sampling as long as it does; a window's samples are those of
    its longest-sampled neighbour at least.

    Parameters
    ----------
    samples_used : ndarray of shape (rows, cols), int
        Samples each window drew by its own stopping rule.
    evaluated : ndarray of shape (rows, cols), bool
        Windows that were sampled (filled windows count as none).
    neighbours : int
        ``AdaptiveSettings.neighbours``.

    Returns
    -------
    ndarray of shape (rows, cols), int32
    """
    from scipy.ndimage import generate_binary_structure, grey_dilation

    out = np.where(evaluated, samples_used, 0).astype(np.int32)
    for _ in range(neighbours):
        out = grey_dilation(out, footprint=generate_binary_structure(2, 1), mode="constant", cval=0)
    return out


def _top_up(ref: Any, evaluate: WindowEvaluator, neighbours: int) -> None:
    """Give each evaluated window (in place) the samples the dense grid's neighbour rule would have given it.

    The masks are keyed by the seed and the sample index, so a window sampled to T there and here holds the same
    samples: continuing each window from the samples it drew to its neighbours' count (:func:`neighbour_samples`,
    :meth:`WindowEvaluator.top_up`) reproduces the dense grid's window wherever its own stopping rule ended earlier
    than a neighbour's.
    """
    evaluated = ~ref.filled
    used = ref.maps["samples_used"]
    target = neighbour_samples(used, evaluated, neighbours)
    rows, cols = np.nonzero(evaluated & (target > used))
    if rows.size == 0:
        return
    out = evaluate.top_up(rows, cols, target[rows, cols])
    for name, values in out.items():
        if name in ref.maps:
            ref.maps[name][rows, cols] = values


def _coarse_result(
    part: Any, grid: WindowGrid, m: Any, k: int, pixel_size: float | None, o: dict[str, Any], precision: str, t0: float
) -> Any:
    """The coarse level as a result of its own: the regular sub-grid of every k-th window (stride k × stride)."""
    import time

    gr, gc = grid.shape
    rows, cols = np.arange(0, gr, k), np.arange(0, gc, k)
    sub = np.ix_(rows, cols)
    mp = {name: a[sub] for name, a in part.maps.items()}
    timing = {"total": (time.perf_counter() - t0) * 1e3}
    return _result(mp, grid.origins[sub], grid.stride_px * k, m, pixel_size, o, precision, timing=timing)


def _result(
    mp: dict[str, np.ndarray],
    origins: np.ndarray,
    stride_px: int,
    m: Any,
    pixel_size: float | None,
    o: dict[str, Any],
    precision: str,
    **extra: Any,
) -> Any:
    """An :class:`~aistem.core.AnalysisResult` from per-window maps on a grid of ``origins``."""
    from .analysis import AnalysisResult

    return AnalysisResult(
        classes=mp["classes"].astype(np.uint8),
        probabilities=mp["probabilities"].astype(np.float32),
        mutual_information=mp["mutual_information"].astype(np.float32),
        predictive_entropy=mp["predictive_entropy"].astype(np.float32),
        variation_ratio=mp["variation_ratio"].astype(np.float32),
        interface=mp["interface"].astype(bool),
        class_names=list(m.class_names),
        origins_px=origins,
        window_px=int(o["window_px"]),
        stride_px=int(stride_px),
        pixel_size=float(pixel_size) if pixel_size is not None else float("nan"),
        threshold=float(o["threshold"]),
        samples=int(o["samples"]),
        model_name=m.name,
        model_hash=m.hash,
        precision=precision,
        samples_used=mp["samples_used"].astype(np.int32),
        lattice_rotation=mp["lattice_rotation"].astype(np.float32) if "lattice_rotation" in mp else None,
        unknown=mp["unknown"].astype(bool),
        unknown_reason=mp["unknown_reason"].astype(np.uint8),
        **extra,
    )
