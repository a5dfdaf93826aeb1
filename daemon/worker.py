"""The daemon's analysis worker: frames from the queue through :func:`aistem.core.analyze` to the publisher.

One room of :class:`aistem.daemon.server.Daemon`: it gets the shared :class:`~aistem.daemon.state.DaemonState`
(settings, model, queue, counters, stop flags, the ``--save`` store) and two callbacks of the publisher, ``post(parts)``
and ``publish(frame, result, …)``. Per frame, in live mode with the preview on:

* coarse-to-fine (``coarse_step`` > 1, the default): **one** analysis. Its coarse level — every ``coarse_step``-th
  window, full T — is published as the preview (``final: false``) from ``on_coarse``, then the same analysis refines
  it and its result is published with ``final: true``, unless a newer frame is waiting (then the refinement is
  abandoned, counted as superseded, and the preview stays the frame's result);
* dense (``coarse_step`` = 1, ``--dense``): two passes, as before: a preview on a coarser grid with fewer samples
  (``preview_step``, ``preview_samples``), then the full analysis.

Lossless mode, or the preview off: one analysis, one final result. While no frame waits the worker compiles the
network's call shapes for the current settings (warm-up).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from aistem.core.protocol import Frame, encode_error

from .geometry import frame_grid, preview_grid
from .state import DaemonState

__all__ = ["REFINE_SAMPLES_PER_CALL", "AnalysisWorker"]

log = logging.getLogger("aistem.daemon.server")

POLL_MS = 100  # the worker looks at its stop flag at least this often [ms]
#: MC samples per network call of a refinement that a newer frame may supersede: calls of batch_size × 8 samples
#: (not 32) let the newer frame's preview start 4× sooner, at the same cost per sample on a CPU.
REFINE_SAMPLES_PER_CALL = 8

Published = tuple[dict[str, Any], dict[str, Any]]  # a result message's (header, arrays)


@dataclasses.dataclass
class _Job:
    """One frame's analysis: a snapshot of the settings taken when it starts."""

    frame: Frame
    analysis: Any
    preview: Any
    live: bool  # live mode with the preview on
    batch_size: int
    model: Any


class AnalysisWorker:
    """The worker thread's part of the daemon (:meth:`work` runs in the thread that calls ``Daemon.run``).

    Parameters
    ----------
    state : DaemonState
    post : callable
        ``post(parts)``: queue a message (an ``error``) for the publisher.
    publish : callable
        :meth:`aistem.daemon.publisher.Publisher.publish`: post one result of a frame.
    """

    def __init__(self, state: DaemonState, post: Callable[[list[Any]], None], publish: Callable[..., Published]) -> None:
        self._state = state
        self._post = post
        self._publish_result = publish
        self._warm_done: tuple[Any, ...] | None = None  # the settings the network was last fully compiled for
        self._warm_failed: tuple[Any, ...] | None = None  # settings whose warm-up failed (not retried)

    # -- the loop and the warm-up --------------------------------------------------------------------------------
    def work(self) -> None:
        """Analyse frames from the queue until a stop, or until a drain has emptied it; warm up while idle."""
        st = self._state
        while not st.stop.is_set():
            frame = st.queue.get(timeout=POLL_MS / 1000)
            if frame is None:
                if st.drain.is_set() and st.receiver_done.is_set() and len(st.queue) == 0:
                    break
                self._warm_up()
                continue
            self._process(frame)

    def _warm_plan(self) -> tuple[Any, int, str, list[dict[str, Any]]]:
        """(model, batch size, precision, the :func:`aistem.core.analysis.warm_up` keyword sets) for the
        current settings: the dense preview's shapes first (what a live frame needs first), then the analysis'."""
        st = self._state
        with st.lock:
            a, preview, mode = st.settings.analysis, st.settings.preview, st.settings.mode
            model, batch = st.model, st.settings.batch_size
        plan: list[dict[str, Any]] = []
        live_preview = mode == "live" and preview.enabled
        if live_preview and a.coarse_step == 1:
            plan.append({"samples": min(preview.samples, a.samples), "adaptive": False})
        plan.append(
            {"samples": a.samples, "adaptive": a.adaptive, "samples_per_call": REFINE_SAMPLES_PER_CALL if live_preview else None}
        )
        return model, batch, a.precision, plan

    @property
    def warm(self) -> bool:
        """The network is compiled for the current settings."""
        return self._warm_done is not None and self._warm_done == self._warm_key()

    def _warm_key(self, plan: tuple[Any, int, str, list[dict[str, Any]]] | None = None) -> tuple[Any, ...] | None:
        """What the compiled shapes depend on: model, batch size, precision and the keyword sets of ``plan``."""
        if self._state.model is None:
            return None
        model, batch, precision, kws = plan or self._warm_plan()
        return (id(model.keras_model), batch, precision, repr(kws))

    def _warm_up(self) -> None:
        """While no frame waits: compile the network's call shapes for the current settings (once per settings);
        gives way to a frame, a stop or a drain between two compilations and resumes at the next idle moment."""
        st = self._state
        if not st.settings.warm_up or st.model is None:
            return
        planned = self._warm_plan()
        model, batch, precision, plan = planned
        key = self._warm_key(planned)
        if key in (self._warm_done, self._warm_failed):
            return
        interrupted = False

        def stop() -> bool:
            nonlocal interrupted
            interrupted = interrupted or len(st.queue) > 0 or st.drain.is_set() or st.stop.is_set()
            return interrupted

        t = time.perf_counter()
        compiled = 0
        try:
            from aistem.core import warm_up

            for kw in plan:
                compiled += warm_up(model, precision=precision, batch_size=batch, stop=stop, **kw)
                if interrupted:
                    break
        except Exception:  # never fatal: the first frame compiles what is missing
            log.exception("warm-up failed; the first frame compiles the network instead")
            self._warm_failed = key
            return
        if not interrupted:
            self._warm_done = key
        if compiled:
            log.info(
                "warm-up: compiled %d network call shapes in %.1f s%s",
                compiled,
                time.perf_counter() - t,
                " (paused for a frame)" if interrupted else "",
            )

    # -- one frame -----------------------------------------------------------------------------------------------
    def _process(self, frame: Frame) -> None:
        """Analyse one frame and publish its result(s) (see the module docstring)."""
        with self._state.lock:
            s = self._state.settings
            job = _Job(
                frame,
                dataclasses.replace(s.analysis),
                dataclasses.replace(s.preview),
                s.mode == "live" and s.preview.enabled,
                s.batch_size,
                self._state.model,
            )
        a = job.analysis
        try:
            grid = frame_grid(frame.image.shape, frame.pixel_size, a.window, a.stride)
        except ValueError as exc:
            self._failed(frame, exc)
            return
        if a.coarse_step > 1:
            self._process_coarse(job, grid)
        else:
            self._process_dense(job, grid)

    def _process_coarse(self, job: _Job, grid: Any) -> None:
        """Coarse-to-fine: one analysis; in live mode its coarse level is published first, as the preview."""
        from aistem.core import AnalysisCancelled

        frame, a = job.frame, job.analysis
        stages = 2 if job.live else 1
        shown: list[Published] = []  # the preview published, while it is the frame's result
        t_start = time.perf_counter()

        def on_coarse(coarse: Any) -> None:
            shown.append(self._publish(frame, coarse, t_start, a.seed, stage=1, stages=2))
            self._set_in_progress(frame, 2, 2)

        def cancel() -> bool:  # before the preview only a stop cancels; after it, a newer frame too
            return self._refinement_gives_way() if shown else self._state.stop.is_set()

        self._set_in_progress(frame, 1, stages)
        try:
            result = self._analyse(
                job,
                grid,
                t_start,
                coarse_step=a.coarse_step,
                on_coarse=on_coarse if job.live else None,
                cancel=cancel,
                samples_per_call=REFINE_SAMPLES_PER_CALL if job.live else None,
            )
        except AnalysisCancelled:
            if shown:
                self._superseded(frame, shown[0])
            else:
                self._cancelled(frame)
            return
        except Exception as exc:
            self._failed(frame, exc, preview=shown[0] if shown else None)
            return
        self._publish(frame, result, t_start, a.seed, stage=stages, stages=stages, save=True)

    def _process_dense(self, job: _Job, grid: Any) -> None:
        """Dense: live mode with the preview on, stage 1 (coarser grid, few samples, ``final: false``) then stage 2
        (the configured analysis, ``final: true``) unless a newer frame waits before or arrives during it (then the
        refinement is abandoned and counted as superseded: the preview stays the frame's result). Else one stage."""
        from aistem.core import AnalysisCancelled

        frame, a = job.frame, job.analysis
        plan = self._preview_plan(grid, a, job.preview) if job.live else None
        stages = 1 if plan is None else 2
        shown: Published | None = None  # the preview published, while it is the frame's result
        if plan is not None:
            coarse, samples = plan
            self._set_in_progress(frame, 1, stages)
            t_start = time.perf_counter()
            try:
                result = self._analyse(job, coarse, t_start, samples=samples, adaptive=False, cancel=self._state.stop.is_set)
            except AnalysisCancelled:
                self._cancelled(frame)
                return
            except Exception as exc:
                self._failed(frame, exc)
                return
            shown = self._publish(frame, result, t_start, a.seed, stage=1, stages=stages)
            if self._refinement_gives_way():
                self._superseded(frame, shown)
                return
        self._set_in_progress(frame, stages, stages)
        t_start = time.perf_counter()
        try:
            if plan is None:  # a stop without drain cancels it within one network call (or one descriptor block)
                result = self._analyse(job, grid, t_start, cancel=self._state.stop.is_set)
            else:  # asked after every network call: a newer frame waits at most one call for the CPU/GPU
                result = self._analyse(
                    job, grid, t_start, cancel=self._refinement_gives_way, samples_per_call=REFINE_SAMPLES_PER_CALL
                )
        except AnalysisCancelled:
            if plan is None:
                self._cancelled(frame)
            else:
                self._superseded(frame, shown)
            return
        except Exception as exc:
            self._failed(frame, exc, preview=shown)
            return
        self._publish(frame, result, t_start, a.seed, stage=stages, stages=stages, save=True)

    @staticmethod
    def _preview_plan(grid: Any, a: Any, preview: Any) -> tuple[Any, int] | None:
        """(grid, samples) of the dense preview, or None when there is none (off, or not cheaper)."""
        if not preview.enabled:
            return None
        samples = min(preview.samples, a.samples)
        coarse = preview_grid(grid, preview.step)
        if coarse.size * samples >= grid.size * a.samples:
            return None  # the preview would cost as much as the result itself
        return coarse, samples

    def _refinement_gives_way(self) -> bool:
        """A live refinement stops for a newer frame, and on stop (SIGTERM, Ctrl-C, control ``stop`` without
        drain): its preview, already published, stays the frame's result, so stopping never waits minutes."""
        return self._newer_frame_waiting() or self._state.stop.is_set()

    def _newer_frame_waiting(self) -> bool:
        """In live mode, a newer frame is waiting: the frame in hand's refinement gives way to it."""
        return len(self._state.queue) > 0 and self._state.queue.mode == "live"

    def _set_in_progress(self, frame: Frame, stage: int, stages: int) -> None:
        self._state.set_in_progress(frame, stage, stages)

    def _publish(
        self, frame: Frame, result: Any, t_start: float, seed: int | None, *, stage: int, stages: int, save: bool = False
    ) -> Published:
        """Post one result of ``frame`` through the publisher; a saved one (``save``) is on disk before it is sent."""
        return self._publish_result(frame, result, t_start, seed, stage=stage, stages=stages, save=self._save if save else None)

    @staticmethod
    def _analyse(job: _Job, grid: Any, t_start: float, **override: Any) -> Any:
        """``aistem.core.analyze`` of the job's frame on ``grid`` with its settings (``override``: samples,
        adaptive, cancel, samples_per_call, coarse_step, on_coarse); ``t_start`` is when the caller's clock started."""
        from aistem.core import analyze

        a, frame = job.analysis, job.frame
        kw: dict[str, Any] = dict(
            window=a.window,
            samples=a.samples,
            threshold=a.threshold,
            model=job.model,
            seed=a.seed,
            adaptive=a.adaptive,
            precision=a.precision,
            rotation=a.rotation,
            domain=a.domain,
            batch_size=job.batch_size,
            grid=grid,
        )
        kw.update(override)
        return analyze(frame.image, frame.pixel_size, **kw)

    # -- the frame's outcome -------------------------------------------------------------------------------------
    def _superseded(self, frame: Frame, preview: Published | None) -> None:
        """A newer frame is waiting: the preview already published stays the result of ``frame``."""
        with self._state.lock:
            self._state.counts["superseded"] += 1
            self._state.in_progress = None
        log.debug("frame %s #%d: refinement superseded by a newer frame", frame.series, frame.index)
        if preview is not None:
            self._save(frame, *preview)

    def _cancelled(self, frame: Frame) -> None:
        """A stop without drain came during the analysis of ``frame``: it ends with an ``error``, never silently."""
        with self._state.lock:
            self._state.counts["cancelled"] += 1
            self._state.in_progress = None
        reason = "analysis cancelled: the daemon is stopping (stop without drain)"
        log.warning("frame %s #%d: %s", frame.series, frame.index, reason)
        self._post(encode_error(reason, code="cancelled", series=frame.series, index=frame.index))

    def _failed(self, frame: Frame, exc: Exception, preview: Published | None = None) -> None:
        with self._state.lock:
            self._state.counts["failed"] += 1
            self._state.in_progress = None
        expected = isinstance(exc, ValueError)
        (log.warning if expected else log.exception)("frame %s #%d not analysed: %s", frame.series, frame.index, exc)
        code = "analysis-failed" if expected else "internal-error"
        self._post(encode_error(f"analysis failed: {exc}", code=code, series=frame.series, index=frame.index))
        if preview is not None:  # the refinement failed: the preview stays the frame's result
            self._save(frame, *preview)

    def _save(self, frame: Frame, header: dict[str, Any], arrays: dict[str, Any]) -> None:
        """With ``--save``: append the frame's result (its final one, or its preview when that stays its result)."""
        store = self._state.store
        if store is None:
            return
        try:
            store.append(frame.series, frame.index, {**header, "meta": frame.meta}, arrays)
        except Exception as exc:  # a full disk must not stop the analysis
            log.exception("saving frame %s #%d failed", frame.series, frame.index)
            self._post(encode_error(f"saving failed: {exc}", code="storage-failed", series=frame.series, index=frame.index))
