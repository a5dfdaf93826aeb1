"""Batch analysis of many frames, in-process or on a Dask cluster, with large frames split into window bands.

A *job* is one frame to analyse and the ``.npz`` it becomes.  :func:`run_batch` skips jobs whose result is already
there (a re-run resumes), writes every result atomically (a file is there whole or not at all, so a killed worker
leaves nothing half-written), and, on a cluster (:func:`aistem.core.cluster.cluster_client`):

* each worker process loads a model once and keeps it for every later task (:func:`worker_model`);
* a frame of more than ``block_windows`` windows is split into bands of window rows spread over the workers and
  stitched back: the band of rows ``r0 … r1`` is analysed on the image rows it covers plus a halo of window rows on
  either side, wide enough that adaptive sampling (whose stopping rule looks at grid neighbours) decides every kept
  window as the whole frame would; the dropout masks are shared by all windows of a sample, so with the same seed the
  stitched maps equal the single-process maps;
* a worker that dies has its tasks re-run by the scheduler; results already written are kept.

Dask itself is imported only by the caller that passes a client.
"""

from __future__ import annotations

import dataclasses
import math
import os
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .adaptive import AdaptiveSettings, stage_schedule
from .analysis import AnalysisResult, analyze, resolve_windows, validate_image
from .windows import WindowGrid, window_grid

__all__ = [
    "BatchOutcome",
    "FrameJob",
    "analyze_band",
    "band_halo",
    "plan_bands",
    "run_batch",
    "stitch_bands",
    "worker_model",
    "worker_model_loads",
]

#: Frames with more windows than this are split into bands on a cluster [windows].
DEFAULT_BLOCK_WINDOWS = 4096

_MODELS: dict[str, Any] = {}
_MODEL_LOADS: dict[str, int] = {}


@dataclass(frozen=True)
class FrameJob:
    """One frame to analyse.

    Attributes
    ----------
    name : str
        Stem of the result file (``<out_dir>/<name>.npz``), e.g. ``scan-7_frame003``.
    load : callable
        ``load() -> (image, pixel_size)``: the frame, ndarray of shape (rows, cols), and its pixel size [Å/px] or
        None. Runs where the frame is analysed (a worker), so it must be picklable (a module-level function or a
        :func:`functools.partial` of one).
    source : str
        Where the frame comes from (a file name and frame), written into the result.
    """

    name: str
    load: Callable[[], tuple[Any, float | None]]
    source: str = ""


@dataclass
class BatchOutcome:
    """What a batch did.

    Attributes
    ----------
    written : list of Path
        Results written by this run, in job order.
    skipped : list of Path
        Results that were already there (not recomputed).
    failed : dict
        Job name → one-line reason, for jobs whose input could not be analysed.
    """

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def worker_model(path: str | None) -> Any:
    """The model of ``path`` (None: the shipped one), loaded once per process and kept.

    On a Dask worker every task of a batch calls this, so the model is read and built once per worker process.
    """
    key = "" if path is None else str(path)
    if key not in _MODELS:
        from .model import load_model

        _MODELS[key] = load_model(path)
        _MODEL_LOADS[key] = _MODEL_LOADS.get(key, 0) + 1
    return _MODELS[key]


def worker_model_loads() -> dict[str, int]:
    """How many times this process has loaded each model (path → count; "" is the shipped model)."""
    return dict(_MODEL_LOADS)


def band_halo(samples: int, adaptive: bool | AdaptiveSettings) -> int:
    """Window rows of context a band needs on each side so that its kept rows match the whole frame [rows].

    Fixed sampling decides each window alone (0 rows).  Adaptive sampling keeps the grid neighbours of an unsettled
    window sampling (``neighbours`` cells per stage), so a decision can depend on windows up to
    ``neighbours × (stages − 1)`` rows away.
    """
    if adaptive is False:
        return 0
    settings = adaptive if isinstance(adaptive, AdaptiveSettings) else AdaptiveSettings()
    return settings.neighbours * (len(stage_schedule(samples, settings.initial)) - 1)


def plan_bands(grid_rows: int, grid_cols: int, block_windows: int) -> list[tuple[int, int]]:
    """Split ``grid_rows`` window rows into bands of about ``block_windows`` windows: [(r0, r1), …], r1 exclusive."""
    if block_windows < 1:
        raise ValueError(f"block_windows must be ≥ 1, got {block_windows}")
    rows_per_band = max(1, block_windows // max(1, grid_cols))
    n = math.ceil(grid_rows / rows_per_band)
    return [(i * rows_per_band, min(grid_rows, (i + 1) * rows_per_band)) for i in range(n)]


def _map_fields(result: AnalysisResult, grid_rows: int, fn: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
    """``fn`` applied to every per-window map of ``result`` (arrays whose first axis is the grid's rows)."""
    out = {}
    for f in dataclasses.fields(result):
        v = getattr(result, f.name)
        if isinstance(v, np.ndarray) and v.ndim >= 2 and v.shape[0] == grid_rows and v.shape[1] == result.grid_shape[1]:
            out[f.name] = fn(v)
    return out


def analyze_band(image: Any, pixel_size: float | None, rows: tuple[int, int], *, halo: int = 0, **options: Any) -> AnalysisResult:
    """Analyse the window rows ``rows[0] … rows[1] − 1`` of ``image``, as :func:`aistem.core.analyze` would.

    Parameters
    ----------
    image : ndarray of shape (rows, cols)
    pixel_size : float or None
        [Å/px].
    rows : (int, int)
        First and one-past-last window row of the band.
    halo : int
        Window rows of context analysed on each side and dropped (:func:`band_halo`).
    **options
        Keyword arguments of :func:`aistem.core.analyze` (window, stride, samples, model, seed, …).

    Returns
    -------
    AnalysisResult
        Maps of the band's windows only, with ``origins_px`` in the coordinates of the whole image.
    """
    img = validate_image(image)
    grid = _grid_of(img, pixel_size, options)
    w, s = grid.window_px, grid.stride_px
    gr, _ = grid.shape
    r0, r1 = rows
    if not 0 <= r0 < r1 <= gr:
        raise ValueError(f"band rows {r0}…{r1} outside the grid's 0…{gr}")
    h0, h1 = max(0, r0 - halo), min(gr, r1 + halo)
    crop = img[h0 * s : (h1 - 1) * s + w]
    res = analyze(crop, pixel_size, **options)
    keep = slice(r0 - h0, r0 - h0 + (r1 - r0))
    maps = _map_fields(res, h1 - h0, lambda a: np.ascontiguousarray(a[keep]))
    maps["origins_px"] = maps["origins_px"] + np.array([h0 * s, 0], dtype=maps["origins_px"].dtype)
    return dataclasses.replace(res, **maps)


def stitch_bands(bands: list[AnalysisResult]) -> AnalysisResult:
    """One result from the bands of one frame, in row order (the inverse of splitting with :func:`plan_bands`)."""
    if not bands:
        raise ValueError("no bands to stitch")
    first = bands[0]
    names = list(_map_fields(first, first.grid_shape[0], lambda a: a))
    maps: dict[str, Any] = {n: np.concatenate([getattr(b, n) for b in bands], axis=0) for n in names}
    timing: dict[str, float] = {}
    for b in bands:
        for k, v in b.timing.items():
            timing[k] = timing.get(k, 0.0) + v
    return dataclasses.replace(first, **maps, timing=timing)


def _save_atomic(result: AnalysisResult, out: Path) -> Path:
    """Write ``out`` whole or not at all (a temporary file renamed into place)."""
    tmp = out.with_name(f".{out.stem}.{uuid.uuid4().hex[:8]}.part.npz")
    try:
        result.save(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _frame_task(job: FrameJob, options: dict[str, Any], model_path: str | None, out: str) -> str:
    """Worker side: load, analyse and save one whole frame."""
    image, pixel_size = job.load()
    result = analyze(image, pixel_size, model=worker_model(model_path), **options)
    result.source = job.source
    return str(_save_atomic(result, Path(out)))


def _band_task(
    image: Any, pixel_size: float | None, rows: tuple[int, int], halo: int, options: dict[str, Any], model_path: str | None
) -> AnalysisResult:
    """Worker side: one band of a large frame."""
    return analyze_band(image, pixel_size, rows, halo=halo, model=worker_model(model_path), **options)


def _grid_of(image: Any, pixel_size: float | None, options: dict[str, Any]) -> WindowGrid:
    """The window grid ``analyze(image, pixel_size, **options)`` lays over the image."""
    w, s = resolve_windows(
        pixel_size,
        window=options.get("window", 12.0),
        stride=options.get("stride", 1.5),
        window_px=options.get("window_px"),
        stride_px=options.get("stride_px"),
    )
    return window_grid(tuple(np.shape(image)), w, s, pixel_size=pixel_size)


def _pending(jobs: Iterable[FrameJob], out_dir: Path, outcome: BatchOutcome) -> Iterator[tuple[FrameJob, Path]]:
    names: set[str] = set()
    for job in jobs:
        if job.name in names:
            raise ValueError(f"two jobs write the same result {job.name}.npz: give the frames distinct names")
        names.add(job.name)
        out = out_dir / f"{job.name}.npz"
        if out.exists():
            outcome.skipped.append(out)
        else:
            yield job, out


def run_batch(
    jobs: Iterable[FrameJob],
    out_dir: str | Path,
    *,
    model: str | None = None,
    client: Any = None,
    block_windows: int = DEFAULT_BLOCK_WINDOWS,
    progress: Callable[[int, int], None] | None = None,
    on_result: Callable[[Path], None] | None = None,
    **options: Any,
) -> BatchOutcome:
    """Analyse every job into ``out_dir/<name>.npz``, skipping results already there.

    Parameters
    ----------
    jobs : iterable of FrameJob
    out_dir : path
        Created if missing.
    model : str, optional
        Model file (None: the shipped model); each process loads it once.
    client : distributed.Client, optional
        Run on this Dask cluster; None runs in this process, one frame after another.
    block_windows : int
        On a cluster, frames with more windows are split into bands of about this many windows [windows].
    progress : callable, optional
        ``progress(done, total)`` in tasks (frames and bands).
    on_result : callable, optional
        Called with each result path as soon as it is written.
    **options
        Keyword arguments of :func:`aistem.core.analyze` (window, stride, samples, seed, adaptive, precision, …).
        With ``seed`` None each frame gets its own random seed, shared by its bands.

    Returns
    -------
    BatchOutcome
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outcome = BatchOutcome()
    todo = list(_pending(jobs, out_dir, outcome))
    if client is None:
        _run_local(todo, model, options, outcome, progress, on_result)
    else:
        from .batch_dask import run_on_cluster

        run_on_cluster(client, todo, model, options, block_windows, outcome, progress, on_result)
    return outcome


def _run_local(
    todo: list[tuple[FrameJob, Path]],
    model: str | None,
    options: dict[str, Any],
    outcome: BatchOutcome,
    progress: Callable[[int, int], None] | None,
    on_result: Callable[[Path], None] | None,
) -> None:
    for i, (job, out) in enumerate(todo):
        try:
            path = Path(_frame_task(job, options, model, str(out)))
        except (ValueError, OSError) as exc:
            outcome.failed[job.name] = str(exc)
        else:
            outcome.written.append(path)
            if on_result is not None:
                on_result(path)
        if progress is not None:
            progress(i + 1, len(todo))


def frame_seed(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with a concrete seed (drawn when None), so that the bands of one frame share their masks."""
    if options.get("seed") is None:
        return {**options, "seed": secrets.randbits(31)}
    return options
