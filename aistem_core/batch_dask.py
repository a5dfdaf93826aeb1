"""The cluster side of :func:`aistem.core.batch.run_batch`: frames and bands as Dask tasks.

Whole frames are loaded and analysed on the workers (the driver only names them).  A frame with more than
``block_windows`` windows is loaded here once, scattered to the cluster, analysed in bands by the workers and
stitched here.  Results are written as their tasks finish; a task whose worker dies is re-run by the scheduler
(``distributed.scheduler.allowed-failures`` times), and a result file is only ever written whole.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .batch import (
    BatchOutcome,
    FrameJob,
    _band_task,
    _frame_task,
    _grid_of,
    _save_atomic,
    band_halo,
    frame_seed,
    plan_bands,
    stitch_bands,
)

__all__ = ["run_on_cluster"]


def run_on_cluster(
    client: Any,
    todo: list[tuple[FrameJob, Path]],
    model: str | None,
    options: dict[str, Any],
    block_windows: int,
    outcome: BatchOutcome,
    progress: Callable[[int, int], None] | None,
    on_result: Callable[[Path], None] | None,
) -> None:
    """Submit every job (whole or in bands), write results as they come, record failures."""
    from distributed import as_completed

    futures: dict[Any, tuple[str, FrameJob, Path]] = {}
    bands: dict[str, dict[int, Any]] = {}
    band_count: dict[str, int] = {}
    for job, out in todo:
        opts = frame_seed(options)
        split = _split_frame(client, job, opts, model, block_windows, outcome)
        if split is None:  # the frame could not be read here
            continue
        if not split:
            fut = client.submit(_frame_task, job, opts, model, str(out), key=f"frame-{job.name}", pure=False)
            futures[fut] = ("frame", job, out)
            continue
        band_count[job.name] = len(split)
        bands[job.name] = {}
        for i, fut in enumerate(split):
            futures[fut] = (f"band{i}", job, out)
    total, done = len(futures), 0
    order = {job.name: i for i, (job, _) in enumerate(todo)}
    for fut in as_completed(list(futures)):
        kind, job, out = futures[fut]
        done += 1
        try:
            value = fut.result()
        except (ValueError, OSError) as exc:
            outcome.failed[job.name] = str(exc)
        else:
            path = _finish(kind, job, out, value, bands, band_count)
            if path is not None:
                outcome.written.append(path)
                if on_result is not None:
                    on_result(path)
        if progress is not None:
            progress(done, total)
    outcome.written.sort(key=lambda p: order.get(p.stem, len(order)))


def _split_frame(
    client: Any, job: FrameJob, opts: dict[str, Any], model: str | None, block_windows: int, outcome: BatchOutcome
) -> list[Any] | None:
    """Band futures of a frame too large for one task; [] for a frame analysed whole; None if it cannot be read."""
    try:
        image, pixel_size = job.load()
        gr, gc = _grid_of(image, pixel_size, opts).shape
    except (ValueError, OSError) as exc:
        outcome.failed[job.name] = str(exc)
        return None
    if gr * gc <= block_windows or gr < 2:
        return []
    halo = band_halo(opts.get("samples", 100), opts.get("adaptive", False))
    # bands are evaluated on the dense grid: coarse-to-fine decides a cell from its neighbours, which a band edge
    # would cut; dense bands stitch into exactly the single-process dense result (docs/scaling.md)
    opts = {**opts, "coarse_step": None}
    shared = client.scatter(image, broadcast=False)
    return [
        client.submit(_band_task, shared, pixel_size, rows, halo, opts, model, key=f"band-{job.name}-{rows[0]}", pure=False)
        for rows in plan_bands(gr, gc, block_windows)
    ]


def _finish(
    kind: str, job: FrameJob, out: Path, value: Any, bands: dict[str, dict[int, Any]], band_count: dict[str, int]
) -> Path | None:
    """The written path once a frame is complete (a whole frame at once, a banded frame with its last band)."""
    if kind == "frame":
        return Path(value)
    got = bands[job.name]
    got[int(kind.removeprefix("band"))] = value
    if len(got) < band_count[job.name]:
        return None
    result = stitch_bands([got[i] for i in sorted(got)])
    result.source = job.source
    del bands[job.name]
    return _save_atomic(result, out)
