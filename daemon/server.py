"""The streaming daemon: frames in over ZeroMQ, every frame analysed, results out.

Four threads, each owning its own socket:

* the **receiver** connects to the acquisition program's frame socket (SUB or
  PULL), decodes and validates each message, and puts good frames in the
  :class:`~aistem.daemon.queueing.FrameQueue` (live: newest wins; lossless:
  in order, with back-pressure) and bad ones on the outbox as ``error``
  messages — so frames keep being drained and counted while the analysis runs;
* the **worker** (the thread that calls :meth:`Daemon.run`) takes frames from
  the queue, runs :func:`aistem.core.analyze` with the one model loaded at
  start, posts the result and, with ``--save``, appends it to the series' HDF5
  file. In live mode with the preview on (``[daemon.preview]``) it first posts a
  coarse preview (``final: false``), then refines it to the configured analysis
  (``final: true``) unless a newer frame is waiting — then the refinement is
  abandoned (counted as superseded) and the newest frame is taken;
* the **publisher** owns the bound PUB socket: it sends whatever is posted
  (results, errors, status) and a status message every ``status_interval``;
* the **control** thread owns the bound REP socket and answers ``status``,
  ``set``, ``reload`` and ``stop`` requests.

SIGINT/SIGTERM (when run in the main thread) finish the frame in hand, publish
it and exit; a second signal aborts at once.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import logging
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq

from aistem.core.protocol import (
    Frame,
    ProtocolError,
    build_result,
    decode_frame,
    encode_error,
    encode_status,
    pack_result,
)

from .control import MAX_PART_BYTES, describe_request, parse_request, serve_control
from .holding import ResultHold
from .link import FrameLink, LinkDrop
from .queueing import FrameQueue
from .settings import RANGES, DaemonSettings

__all__ = ["SETTABLE", "Daemon"]

log = logging.getLogger(__name__)

#: Keys a control ``set`` request may change.
SETTABLE = (
    "window",
    "stride",
    "samples",
    "threshold",
    "mode",
    "seed",
    "batch_size",
    "adaptive",
    "precision",
    "rotation",
    "domain",
    "preview",
    "preview_step",
    "preview_samples",
)
OUTBOX_SIZE = 10000  # messages waiting for the publisher thread
POLL_MS = 100  # every socket loop looks at its stop flag at least this often [ms]
RESULT_LINGER_MS = 1000  # on exit, time given to the last messages to reach subscribers [ms]
#: MC samples per network call of a refinement that a newer frame may supersede: calls of batch_size × 8 samples
#: (not 32) let the newer frame's preview start 4× sooner, at the same cost per sample on a CPU.
REFINE_SAMPLES_PER_CALL = 8
#: A lossless drain reads frames until the source has been quiet this long: frames already sent are not left behind [s].
DRAIN_QUIET_S = 0.5
#: A frame-link failure that repeats (a plaintext source on a CURVE link) is published and logged once per this [s].
LINK_REPORT_S = 10.0


def _loopback(endpoint: str | None) -> bool:
    """``endpoint`` is reachable from this machine only (loopback TCP, ipc, inproc)."""
    if not endpoint or not endpoint.startswith("tcp://"):
        return True
    host = endpoint[len("tcp://") :].rsplit(":", 1)[0].strip("[]").lower()
    if host == "localhost" or host == "::1" or host.startswith("127."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # an interface name or host name: not known to be local
        return False


def open_endpoint_warnings(settings: DaemonSettings, results: str | None, control: str | None) -> list[str]:
    """Warnings for sockets bound beyond this machine without CURVE (said at start-up and in every status)."""
    if settings.curve.enabled:
        return []
    out = []
    if not _loopback(control):
        out.append(
            f"the control socket {control} is open to the network without CURVE: anyone who can reach it can change "
            "the settings, load a model file and stop the daemon; use --curve (aistem keys) or a 127.0.0.1 endpoint"
        )
    if not _loopback(results):
        out.append(f"the result socket {results} is open to the network without CURVE: anyone can read the results")
    return out


def _bind_error(what: str, endpoint: str, option: str, exc: BaseException) -> RuntimeError:
    """A one-line explanation of a failed bind (the port taken by another program, most often)."""
    if isinstance(exc, zmq.ZMQError) and exc.errno == zmq.EADDRINUSE:
        return RuntimeError(
            f"cannot bind the {what} socket to {endpoint}: address already in use (another program, perhaps another "
            f"aistem serve, holds the port; stop it or choose another endpoint with {option})"
        )
    return RuntimeError(f"cannot bind the {what} socket to {endpoint}: {exc}")


class Daemon:
    """The AI-STEM streaming service.

    Parameters
    ----------
    settings : DaemonSettings
    model : AistemModel, optional
        The network, loaded once; None loads ``settings.model`` (or the shipped default) at :meth:`start`.
    context : zmq.Context, optional
        Default: a context of its own, terminated on exit.

    Examples
    --------
    >>> daemon = Daemon(DaemonSettings(results="tcp://127.0.0.1:*", control="tcp://127.0.0.1:*"), model)
    >>> daemon.start()                  # binds, loads the model, starts the socket threads
    >>> thread = daemon.serve_in_thread()
    >>> daemon.results_endpoint         # e.g. 'tcp://127.0.0.1:40123'
    >>> daemon.request_stop(); thread.join()
    """

    def __init__(self, settings: DaemonSettings, model: Any = None, *, context: zmq.Context | None = None) -> None:
        self.settings = copy.deepcopy(settings).validate()
        self._model = model
        self._own_context = context is None
        self._ctx = context or zmq.Context()
        self.queue = FrameQueue(self.settings.mode, self.settings.queue_length)
        self._outbox: queue.Queue[list[Any]] = queue.Queue(maxsize=OUTBOX_SIZE)
        self._lock = threading.RLock()
        self._counts = {
            "received": 0,
            "processed": 0,
            "rejected": 0,
            "failed": 0,
            "unsent": 0,
            "superseded": 0,
            "previews": 0,
            "cancelled": 0,
            "abandoned": 0,
            "too_large": 0,
            "handshake_failed": 0,
            "link_drops": 0,
        }
        self._link: FrameLink | None = None
        self._warnings: list[str] = []  # said at start-up and in every status (e.g. control open to the network)
        self._link_reported: dict[str, float] = {}
        self._drain_since: float | None = None
        self._latencies: deque[float] = deque(maxlen=100)  # final results [ms]
        self._preview_latencies: deque[float] = deque(maxlen=100)  # previews [ms]
        self._in_progress: dict[str, Any] | None = None
        self._started_at = time.time()
        self._stop = threading.Event()  # stop after the frame in hand
        self._drain = threading.Event()  # stop reading; analyse what is queued, then stop
        self._receiver_done = threading.Event()
        self._publisher_stop = threading.Event()
        self._control_stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._auth: Any = None
        self._store: Any = None
        self._started = False
        self._closed = False
        self.finished = threading.Event()
        self.results_endpoint: str | None = None
        self.control_endpoint: str | None = None
        self._batch_applied: tuple[int, int] | None = None
        self._warm_done: tuple[Any, ...] | None = None  # the settings the network was last fully compiled for
        self._warm_failed: tuple[Any, ...] | None = None  # settings whose warm-up failed (not retried)

    # -- life cycle ----------------------------------------------------------------------------------------------
    def start(self) -> Daemon:
        """Load the model (if not given), bind the result and control sockets, connect to the frames.

        Raises
        ------
        RuntimeError
            If a socket cannot be bound (e.g. the port is taken) or CURVE cannot be set up.
        """
        if self._started:
            return self
        s = self.settings
        try:
            if s.curve.enabled:
                from .curve import Authenticator, load_secret

                load_secret(s.curve.secret_key)  # fail early, with the file name, if it is missing or not secret
                self._auth = Authenticator(self._ctx, s.curve.authorized_keys or None)
            # bind first: a taken port fails at once, not after the model has loaded (seconds)
            self._start_thread("aistem-publisher", self._publisher_loop)
            self._start_thread("aistem-control", self._control_loop)
            if self._model is None:
                from aistem.core import load_model

                self._model = load_model(s.model)
            if s.save:
                from .storage import SeriesStore

                self._store = SeriesStore(s.save, "results")
            self._start_thread("aistem-receiver", self._receiver_loop)
        except BaseException:
            self._shutdown()
            raise
        self._started = True
        self._started_at = time.time()
        self._warnings = open_endpoint_warnings(self.settings, self.results_endpoint, self.control_endpoint)
        for w in self._warnings:
            log.warning("%s", w)
        m = self._model
        log.info(
            "serving: frames from %s (%s, %s mode), results on %s, control on %s, model %s (%s)%s",
            s.frames,
            s.socket,
            s.mode,
            self.results_endpoint,
            self.control_endpoint,
            m.name,
            m.hash,
            ", CURVE on" if s.curve.enabled else "",
        )
        return self

    def _start_thread(self, name: str, target: Callable[[threading.Event, list[BaseException]], None]) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []
        t = threading.Thread(target=target, args=(ready, errors), name=name, daemon=True)
        t.start()
        self._threads.append(t)  # joined by _shutdown whatever happens next, so that no socket outlives the context
        if not ready.wait(30):
            raise RuntimeError(f"{name} thread did not start")
        if errors:
            t.join(5)
            raise errors[0]

    def run(self, *, install_signals: bool = True) -> int:
        """Serve until stopped (control ``stop``, :meth:`request_stop`, SIGINT or SIGTERM). Returns 0."""
        self.start()
        restore: dict[int, Any] = {}
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                restore[sig] = signal.signal(sig, self._on_signal)
        try:
            self._work()
        finally:
            for sig, old in restore.items():
                signal.signal(sig, old)
            self._shutdown()
        return 0

    def serve_in_thread(self) -> threading.Thread:
        """Run :meth:`run` in a background thread (no signal handlers); the thread ends when the daemon stops."""
        self.start()
        t = threading.Thread(target=self.run, kwargs={"install_signals": False}, name="aistem-worker", daemon=True)
        t.start()
        return t

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._stop.is_set():
            raise KeyboardInterrupt  # a second signal: do not wait for the frame in hand
        log.info(
            "%s: stopping; the frame in hand is cancelled within one network call (a second signal aborts at once)",
            signal.Signals(signum).name,
        )
        self.request_stop(drain=False)

    def request_stop(self, drain: bool = False) -> None:
        """Stop reading frames; ``drain`` analyses the frames already waiting first, else only the frame in hand."""
        self._drain.set()  # only events here: this also runs inside signal handlers
        if not drain:
            self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._drain.is_set()

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._drain.set()
        self.queue.close()
        for t in self._threads:
            if t.name == "aistem-receiver":
                t.join(10)
        self._abandoned(self.queue.take_all())
        if self._started:
            self._post(encode_status(self.status()))
        self._publisher_stop.set()
        self._control_stop.set()
        alive = []
        for t in self._threads:
            t.join(10)
            if t.is_alive():
                alive.append(t.name)
        if self._store is not None:
            self._store.close()
        if self._auth is not None:
            self._auth.stop()
        if alive:  # destroying the context would close their sockets under them: libzmq aborts the process
            log.error("thread(s) %s did not stop: their sockets and the ZeroMQ context are left open", ", ".join(alive))
        elif self._own_context:
            self._ctx.destroy(linger=0)  # every thread has closed its socket; this only guards against a leak
        self.finished.set()
        if self._started:
            c = self._counts
            log.info(
                "stopped: %d frames received, %d analysed (%d refinements superseded), %d dropped, %d rejected, %d failed",
                c["received"],
                c["processed"],
                c["superseded"],
                self.queue.dropped,
                c["rejected"],
                c["failed"],
            )

    # -- the worker ----------------------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            frame = self.queue.get(timeout=POLL_MS / 1000)
            if frame is None:
                if self._drain.is_set() and self._receiver_done.is_set() and len(self.queue) == 0:
                    break
                self._warm_up()
                continue
            self._process(frame)

    def _warm_plan(self) -> tuple[Any, int, str, list[dict[str, Any]]]:
        """(model, batch size, precision, the :func:`aistem.core.analysis.warm_up` keyword sets) for the
        current settings: the preview's shapes first (what a live frame needs first), then the final analysis'."""
        with self._lock:
            a, preview, mode = self.settings.analysis, self.settings.preview, self.settings.mode
            model, batch = self._model, self.settings.batch_size
        plan: list[dict[str, Any]] = []
        live_preview = mode == "live" and preview.enabled
        if live_preview:
            plan.append({"samples": min(preview.samples, a.samples), "adaptive": False})
        plan.append(
            {"samples": a.samples, "adaptive": a.adaptive, "samples_per_call": REFINE_SAMPLES_PER_CALL if live_preview else None}
        )
        return model, batch, a.precision, plan

    def _warm_key(self, plan: tuple[Any, int, str, list[dict[str, Any]]] | None = None) -> tuple[Any, ...] | None:
        """What the compiled shapes depend on: model, batch size, precision and the keyword sets of ``plan``."""
        if self._model is None:
            return None
        model, batch, precision, kws = plan or self._warm_plan()
        return (id(model.keras_model), batch, precision, repr(kws))

    def _warm_up(self) -> None:
        """While no frame waits: compile the network's call shapes for the current settings (once per settings);
        gives way to a frame, a stop or a drain between two compilations and resumes at the next idle moment."""
        if not self.settings.warm_up or self._model is None:
            return
        planned = self._warm_plan()
        model, batch, precision, plan = planned
        key = self._warm_key(planned)
        if key in (self._warm_done, self._warm_failed):
            return
        interrupted = False

        def stop() -> bool:
            nonlocal interrupted
            interrupted = interrupted or len(self.queue) > 0 or self._drain.is_set() or self._stop.is_set()
            return interrupted

        t = time.perf_counter()
        compiled = 0
        try:
            from aistem.core.analysis import warm_up

            self._apply_batch_size(model, batch)
            for kw in plan:
                compiled += warm_up(model, precision=precision, stop=stop, **kw)
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

    def _apply_batch_size(self, model: Any, batch_size: int) -> None:
        """Windows per network call: set on the core's cached predictor of ``model``."""
        key = (id(model.keras_model), batch_size)
        if self._batch_applied == key:
            return
        try:
            from aistem.core.analysis import _predictor

            _predictor(model).windows_per_call = int(batch_size)
        except (ImportError, AttributeError) as exc:  # a core without the cache: keep its default
            log.warning("batch size %d not applied: %s", batch_size, exc)
        self._batch_applied = key

    def _process(self, frame: Frame) -> None:
        """Analyse one frame and publish its result(s).

        Live mode with the preview on: stage 1 (coarse grid, few samples) is published with ``final: false``;
        stage 2 (the configured analysis) follows with ``final: true`` unless a newer frame is waiting before or
        arrives during it (then the refinement is abandoned and counted as superseded: the preview stays the
        frame's result). Otherwise one stage, ``final: true``.
        """
        from aistem.core import AnalysisCancelled

        with self._lock:
            a = dataclasses.replace(self.settings.analysis)
            preview = dataclasses.replace(self.settings.preview)
            mode = self.settings.mode
            batch_size = self.settings.batch_size
            model = self._model
        plan = self._preview_plan(frame, a, preview) if mode == "live" else None
        stages = 1 if plan is None else 2
        try:
            self._apply_batch_size(model, batch_size)
        except Exception:  # never fatal: the core keeps its default
            log.exception("batch size not applied")
        shown: tuple[dict[str, Any], dict[str, Any]] | None = None  # the preview published, while it is the frame's result
        if plan is not None:
            stride_px, samples = plan
            self._set_in_progress(frame, 1, stages)
            try:
                result, t_start = self._analyse(
                    frame, model, a, stride_px=stride_px, samples=samples, adaptive=False, cancel=self._stop.is_set
                )
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
        try:
            if plan is None:  # a stop without drain cancels it within one network call (or one descriptor block)
                result, t_start = self._analyse(frame, model, a, cancel=self._stop.is_set)
            else:  # asked after every network call: a newer frame waits at most one call for the CPU/GPU
                result, t_start = self._analyse(
                    frame, model, a, cancel=self._refinement_gives_way, samples_per_call=REFINE_SAMPLES_PER_CALL
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
        final = self._publish(frame, result, t_start, a.seed, stage=stages, stages=stages)
        self._save(frame, *final)

    def _preview_plan(self, frame: Frame, a: Any, preview: Any) -> tuple[int, int] | None:
        """(stride [px], samples) of the preview of ``frame``, or None when there is none (off, or not cheaper)."""
        if not preview.enabled:
            return None
        from aistem.core.windows import to_pixels

        try:
            w = to_pixels(a.window, frame.pixel_size, name="window")
            s = to_pixels(a.stride, frame.pixel_size, name="stride")
        except ValueError:
            return None  # the full analysis reports it
        rows, cols = frame.image.shape
        samples = min(preview.samples, a.samples)
        stride_px = s * preview.step

        def windows(step: int) -> int:
            return max(0, (rows - w) // step + 1) * max(0, (cols - w) // step + 1)

        if windows(stride_px) * samples >= windows(s) * a.samples:
            return None  # the preview would cost as much as the result itself
        return stride_px, samples

    def _refinement_gives_way(self) -> bool:
        """A live refinement stops for a newer frame, and on stop (SIGTERM, Ctrl-C, control ``stop`` without
        drain): its preview, already published, stays the frame's result, so stopping never waits minutes."""
        return self._newer_frame_waiting() or self._stop.is_set()

    def _newer_frame_waiting(self) -> bool:
        """In live mode, a newer frame is waiting: the frame in hand's refinement gives way to it."""
        return len(self.queue) > 0 and self.queue.mode == "live"

    def _set_in_progress(self, frame: Frame, stage: int, stages: int) -> None:
        with self._lock:
            self._in_progress = {"series": frame.series, "index": frame.index, "stage": stage, "stages": stages}

    def _analyse(self, frame: Frame, model: Any, a: Any, **override: Any) -> tuple[Any, float]:
        """``aistem.core.analyze`` of ``frame`` with the settings ``a`` (``override``: stride_px, samples,
        adaptive, cancel, samples_per_call). Returns (result, start time [perf_counter s])."""
        from aistem.core import analyze

        kw: dict[str, Any] = {
            "window": a.window,
            "stride": a.stride,
            "samples": a.samples,
            "threshold": a.threshold,
            "model": model,
            "seed": a.seed,
            "adaptive": a.adaptive,
            "precision": a.precision,
            "rotation": a.rotation,
            "domain": a.domain,
        }
        kw.update(override)
        if "stride_px" in kw:  # the preview: the same window in px as the final grid, a multiple of its stride
            from aistem.core.windows import to_pixels

            kw["window_px"] = to_pixels(a.window, frame.pixel_size, name="window")
        t_start = time.perf_counter()
        return analyze(frame.image, frame.pixel_size, **kw), t_start

    def _publish(
        self, frame: Frame, result: Any, t_start: float, seed: int | None, *, stage: int, stages: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Post one result of ``frame``; returns its (header, arrays)."""
        t_done = time.perf_counter()
        final = stage == stages
        timing = {
            "queued": (t_start - frame.received_perf) * 1e3,
            "descriptor": float(result.timing.get("descriptor", 0.0)),
            "inference": float(result.timing.get("inference", 0.0)),
            "analysis": float(result.timing.get("total", (t_done - t_start) * 1e3)),
            "total": (t_done - frame.received_perf) * 1e3,
        }
        header, arrays = build_result(
            result,
            series=frame.series,
            index=frame.index,
            timing=timing,
            dropped=self.queue.dropped,
            timestamp=frame.timestamp,
            seed=seed,
            final=final,
            stage=stage,
            stages=stages,
            extra={"shape": list(frame.image.shape), "detector": frame.detector},
        )
        self._post(pack_result(header, arrays))
        with self._lock:
            if stage == 1:
                self._counts["processed"] += 1  # a frame counts once, with its first result
            if final:
                self._latencies.append(timing["total"])
            else:
                self._counts["previews"] += 1
                self._preview_latencies.append(timing["total"])
            self._in_progress = None
        log.debug(
            "frame %s #%d: %s, grid %s, %.0f ms",
            frame.series,
            frame.index,
            "final" if final else f"preview {stage}/{stages}",
            header["grid"],
            timing["total"],
        )
        return header, arrays

    def _superseded(self, frame: Frame, preview: tuple[dict[str, Any], dict[str, Any]] | None) -> None:
        """A newer frame is waiting: the preview already published stays the result of ``frame``."""
        with self._lock:
            self._counts["superseded"] += 1
            self._in_progress = None
        log.debug("frame %s #%d: refinement superseded by a newer frame", frame.series, frame.index)
        if preview is not None:
            self._save(frame, *preview)

    def _cancelled(self, frame: Frame) -> None:
        """A stop without drain came during the analysis of ``frame``: it ends with an ``error``, never silently."""
        with self._lock:
            self._counts["cancelled"] += 1
            self._in_progress = None
        reason = "analysis cancelled: the daemon is stopping (stop without drain)"
        log.warning("frame %s #%d: %s", frame.series, frame.index, reason)
        self._post(encode_error(reason, code="cancelled", series=frame.series, index=frame.index))

    def _failed(self, frame: Frame, exc: Exception, preview: tuple[dict[str, Any], dict[str, Any]] | None = None) -> None:
        with self._lock:
            self._counts["failed"] += 1
            self._in_progress = None
        expected = isinstance(exc, ValueError)
        (log.warning if expected else log.exception)("frame %s #%d not analysed: %s", frame.series, frame.index, exc)
        code = "analysis-failed" if expected else "internal-error"
        self._post(encode_error(f"analysis failed: {exc}", code=code, series=frame.series, index=frame.index))
        if preview is not None:  # the refinement failed: the preview stays the frame's result
            self._save(frame, *preview)

    def _save(self, frame: Frame, header: dict[str, Any], arrays: dict[str, Any]) -> None:
        """With ``--save``: append the frame's result (its final one, or its preview when that stays its result)."""
        if self._store is None:
            return
        try:
            self._store.append(frame.series, frame.index, {**header, "meta": frame.meta}, arrays)
        except Exception as exc:  # a full disk must not stop the analysis
            log.exception("saving frame %s #%d failed", frame.series, frame.index)
            self._post(encode_error(f"saving failed: {exc}", code="storage-failed", series=frame.series, index=frame.index))

    # -- outbox and publisher ------------------------------------------------------------------------------------
    def _post(self, parts: list[Any]) -> None:
        try:
            self._outbox.put_nowait(parts)
        except queue.Full:
            with self._lock:
                self._counts["unsent"] += 1

    def _publisher_loop(self, ready: threading.Event, errors: list[BaseException]) -> None:
        s = self.settings
        sock: zmq.Socket | None = None
        try:
            sock = self._ctx.socket(zmq.XPUB)  # a PUB that hears subscriptions: results nobody could get are held
            sock.setsockopt(zmq.SNDHWM, s.results_hwm)
            sock.setsockopt(zmq.LINGER, 0)
            if s.curve.enabled:
                from .curve import make_server

                make_server(sock, s.curve.secret_key)
            sock.bind(s.results)
            self.results_endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        except Exception as exc:
            if sock is not None:
                sock.close(0)
            errors.append(_bind_error("result", s.results, "--results", exc))
            ready.set()
            return
        ready.set()
        next_status = time.monotonic() + s.status_interval
        hold = ResultHold()
        try:
            while True:
                wait = max(0.0, min(POLL_MS / 1000, next_status - time.monotonic()))
                try:
                    parts = self._outbox.get(timeout=wait)
                except queue.Empty:
                    parts = None
                try:
                    if parts is not None:
                        hold.send(sock, parts)
                    else:
                        hold.read_subscriptions(sock)
                        hold.flush(sock)
                except zmq.ZMQError as exc:
                    log.error("publishing failed: %s", exc)
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + s.status_interval
                    if not self._publisher_stop.is_set():
                        try:
                            sock.send_multipart(encode_status(self.status()))
                        except Exception:  # never let the status stop the results
                            log.exception("status message failed")
                if self._publisher_stop.is_set() and self._outbox.empty():
                    break
        finally:
            sock.setsockopt(zmq.LINGER, RESULT_LINGER_MS)
            sock.close()

    # -- receiver ------------------------------------------------------------------------------------------------
    def _receiver_loop(self, ready: threading.Event, errors: list[BaseException]) -> None:
        s = self.settings
        sock: zmq.Socket | None = None
        try:
            sock = self._ctx.socket(zmq.SUB if s.socket == "sub" else zmq.PULL)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVHWM, self._receive_hwm())
            sock.setsockopt(zmq.MAXMSGSIZE, s.limits.max_message_bytes)
            sock.setsockopt(zmq.RECONNECT_IVL, 100)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            sock.setsockopt(zmq.HEARTBEAT_IVL, 2000)  # notice a vanished acquisition PC, then reconnect
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 6000)
            if s.curve.enabled and s.curve.frames_public_key:
                from .curve import make_client

                make_client(sock, s.curve.secret_key, s.curve.frames_public_key)
            if s.socket == "sub":
                sock.setsockopt(zmq.SUBSCRIBE, b"")  # everything: malformed messages get an error too
            link = FrameLink(
                sock,
                s.frames,
                max_message_bytes=s.limits.max_message_bytes,
                curve=bool(s.curve.enabled and s.curve.frames_public_key),
            )
        except Exception as exc:
            if sock is not None:
                sock.close(0)
            errors.append(RuntimeError(f"cannot connect the frame socket to {s.frames}: {exc}"))
            ready.set()
            return
        self._link = link
        ready.set()
        last_frame = time.monotonic()
        try:
            while self._keep_reading(last_frame):
                readable, drop = link.poll(POLL_MS)
                if drop is not None:
                    self._link_dropped(drop)
                if not readable:
                    continue
                parts = sock.recv_multipart(copy=False)
                try:
                    self._receive(parts)
                except Exception as exc:  # a bug must not stop the daemon from reading frames
                    log.exception("frame handling failed")
                    self._post(encode_error(f"internal error: {exc}", code="internal-error"))
                last_frame = time.monotonic()  # after the back-pressure wait: the quiet time counts while reading
        finally:
            link.close()
            self._receiver_done.set()

    def _receive_hwm(self) -> int:
        """The frame socket's receive high-water mark: 1 for lossless PUSH/PULL, so that frames not yet taken wait
        at the sender (back-pressure) instead of in a buffer that a stop would throw away."""
        s = self.settings
        return 1 if s.socket == "pull" and s.mode == "lossless" else s.frames_hwm

    def _keep_reading(self, last_frame: float) -> bool:
        """The receiver goes on: until a stop; on a drain, in lossless mode until the source has been quiet for
        :data:`DRAIN_QUIET_S` (every frame already sent is taken and analysed), in live mode not at all."""
        if self._stop.is_set():
            return False
        if not self._drain.is_set():
            return True
        if self.queue.mode != "lossless":
            return False
        if self._drain_since is None:
            self._drain_since = time.monotonic()
        return time.monotonic() - max(last_frame, self._drain_since) < DRAIN_QUIET_S

    def _link_dropped(self, drop: LinkDrop) -> None:
        """ZeroMQ dropped the frame source (and :class:`FrameLink` reconnected): count, log and publish why."""
        key = "too_large" if drop.code == "too-large" else "handshake_failed"
        now = time.monotonic()
        with self._lock:
            self._counts[key] += 1
            self._counts["link_drops"] += 1
            last = self._link_reported.get(drop.code)
            self._link_reported[drop.code] = now if last is None or now - last >= LINK_REPORT_S else last
            quiet = last is not None and now - last < LINK_REPORT_S
        if quiet:  # a plaintext source fails every reconnection: one report per LINK_REPORT_S, every one counted
            log.debug("frame link dropped again (%s)", drop.code)
            return
        log.error("%s", drop.reason)
        self._post(encode_error(drop.reason, code=drop.code))

    def _receive(self, parts: list[Any]) -> None:
        from aistem.core.windows import to_pixels

        with self._lock:
            self._counts["received"] += 1
            limits = self.settings.limits
            window = self.settings.analysis.window
        try:
            frame = decode_frame(parts, limits)
            w = to_pixels(window, frame.pixel_size, name="window")
            rows, cols = frame.image.shape
            if rows < w or cols < w:
                raise ProtocolError(
                    "too-small",
                    f"frame of {rows}×{cols} px is smaller than one window of {w} px ({window} Å at {frame.pixel_size} Å/px)",
                    series=frame.series,
                    index=frame.index,
                )
        except ProtocolError as exc:
            with self._lock:
                self._counts["rejected"] += 1
            where = f"{exc.series} #{exc.index}" if exc.series is not None or exc.index is not None else "unidentified"
            log.warning("rejected frame (%s): %s: %s", where, exc.code, exc.reason)
            self._post(encode_error(exc.reason, code=exc.code, series=exc.series, index=exc.index))
            return
        except (ValueError, OverflowError) as exc:  # a pixel size so small that the window has no pixel count
            with self._lock:
                self._counts["rejected"] += 1
            self._post(encode_error(str(exc), code="bad-value", series=frame.series, index=frame.index))
            return
        while not self.queue.put(frame, timeout=POLL_MS / 1000):  # lossless and full: back-pressure
            if self._stop.is_set() or self.queue.closed:
                self._abandoned([frame])
                return

    def _abandoned(self, frames: list[Frame]) -> None:
        """Frames taken but not analysed because of a stop without drain: counted, logged and published."""
        if not frames:
            return
        with self._lock:
            self._counts["abandoned"] += len(frames)
        for f in frames:
            log.warning("frame %s #%d not analysed: the daemon stopped without drain", f.series, f.index)
            self._post(
                encode_error(
                    "not analysed: the daemon stopped without drain", code="not-analysed", series=f.series, index=f.index
                )
            )

    # -- control -------------------------------------------------------------------------------------------------
    def _control_loop(self, ready: threading.Event, errors: list[BaseException]) -> None:
        s = self.settings
        sock: zmq.Socket | None = None
        try:
            sock = self._ctx.socket(zmq.ROUTER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_PART_BYTES)
            if s.curve.enabled:
                from .curve import make_server

                make_server(sock, s.curve.secret_key)
            sock.bind(s.control)
            self.control_endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        except Exception as exc:
            if sock is not None:
                sock.close(0)
            errors.append(_bind_error("control", s.control, "--control", exc))
            ready.set()
            return
        ready.set()
        try:
            serve_control(sock, self.answer, lambda req: req.get("command") == "reload", self._control_stop, POLL_MS)
        finally:
            sock.close(0)

    def handle_request(self, parts: list[bytes]) -> dict[str, Any]:
        """Answer one control request (a one-part msgpack map with ``command``)."""
        req, refused = parse_request(parts)
        return {"ok": False, "reason": refused} if req is None else self.answer(req)

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        """The reply to a decoded control request (string keys, :func:`~aistem.daemon.control.parse_request`)."""
        cmd = req.get("command")
        (log.debug if cmd == "status" else log.info)("control request: %s", describe_request(req))
        if cmd == "status":
            st = self.status()
            self._post(encode_status(st))
            return {"ok": True, "status": st}
        if cmd == "set":
            return self.apply({k: v for k, v in req.items() if k != "command"})
        if cmd == "reload":
            model = req.get("model")
            if model is not None and not isinstance(model, str):
                return {
                    "ok": False,
                    "reason": f"model must be the path of a model file (a string), got {describe_request(model)}",
                }
            return self.reload(model)
        if cmd == "stop":
            drain = req.get("drain", True)
            if not isinstance(drain, bool):
                return {"ok": False, "reason": f"drain must be true or false, got {describe_request(drain)}"}
            self.request_stop(drain=drain)
            return {"ok": True, "state": "draining" if drain else "stopping"}
        return {"ok": False, "reason": f"unknown command {describe_request(cmd)}: expected status, set, reload or stop"}

    def apply(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change settings at run time (all or nothing). Returns the control reply."""
        unknown = sorted(set(changes) - set(SETTABLE))
        if unknown:
            return {"ok": False, "reason": f"cannot set {', '.join(unknown)}: settable are {', '.join(SETTABLE)}"}
        if not changes:
            return {"ok": False, "reason": f"nothing to set: give one or more of {', '.join(SETTABLE)}"}
        with self._lock:
            try:
                new = self.settings.replace(**changes)
            except (ValueError, TypeError) as exc:
                return {"ok": False, "reason": str(exc)}
            old_mode = self.settings.mode
            self.settings = new
            if new.mode != old_mode:
                self.queue.set_mode(new.mode)
        log.info("settings changed: %s", describe_request(changes))
        return {"ok": True, "settings": self.settings_dict()}

    def reload(self, path: str | None = None) -> dict[str, Any]:
        """Load another model file (None: the current file again, or the shipped default); the next frame uses it."""
        from aistem.core import load_model

        with self._lock:
            current = getattr(self._model, "path", None)
        target = path or current
        try:
            model = load_model(target)
        except Exception as exc:  # the detail stays in the log: a reply must not tell which paths exist here
            log.warning("reload of %s failed: %s: %s", target, type(exc).__name__, exc)
            return {
                "ok": False,
                "reason": f"model not loaded, keeping {self._model.name}: not found, not readable or not a model file "
                "(the daemon's log says which)",
            }
        with self._lock:
            self._model = model
            self.settings = dataclasses.replace(self.settings, model=model.path)
        log.info("model reloaded: %s (%s) from %s", model.name, model.hash, model.path)
        return {"ok": True, "model": self.model_dict()}

    # -- state ---------------------------------------------------------------------------------------------------
    def model_dict(self) -> dict[str, Any]:
        m = self._model
        return {"name": getattr(m, "name", ""), "hash": getattr(m, "hash", ""), "path": getattr(m, "path", None)}

    def settings_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "window": s.analysis.window,
            "stride": s.analysis.stride,
            "samples": s.analysis.samples,
            "threshold": s.analysis.threshold,
            "seed": s.analysis.seed,
            "adaptive": s.analysis.adaptive,
            "precision": s.analysis.precision,
            "rotation": s.analysis.rotation,
            "domain": s.analysis.domain,
            "mode": s.mode,
            "batch_size": s.batch_size,
            "preview": s.preview.enabled,
            "preview_step": s.preview.step,
            "preview_samples": s.preview.samples,
        }

    def status(self) -> dict[str, Any]:
        """Counters and state, as sent in ``status`` messages (see ``docs/protocol.md``)."""
        with self._lock:
            c = dict(self._counts)
            lat = list(self._latencies)
            plat = list(self._preview_latencies)
            in_progress = dict(self._in_progress) if self._in_progress else None
            settings = self.settings_dict()
        state = "stopping" if self._stop.is_set() else "draining" if self._drain.is_set() else "running"
        if state == "running" and self._model is None:
            state = "starting"  # the sockets are bound first; the model is loading
        return {
            "state": state,
            "frames_received": c["received"],
            "frames_processed": c["processed"],
            "frames_dropped": self.queue.dropped,
            "frames_rejected": c["rejected"],
            "frames_failed": c["failed"],
            "frames_superseded": c["superseded"],
            "previews_published": c["previews"],
            "frames_cancelled": c["cancelled"],
            "frames_not_analysed": c["abandoned"],
            "frame_link": self._link.state if self._link is not None else "closed",
            "frame_link_drops": c["link_drops"],
            "frame_link_too_large": c["too_large"],
            "frame_link_handshake_failed": c["handshake_failed"],
            "warnings": list(self._warnings),
            "messages_unsent": c["unsent"],
            "queue_length": len(self.queue),
            "in_progress": in_progress,
            "warm": self._warm_done is not None and self._warm_done == self._warm_key(),
            "mean_latency_ms": (sum(lat) / len(lat)) if lat else None,
            "mean_preview_latency_ms": (sum(plat) / len(plat)) if plat else None,
            "model": self.model_dict(),
            "uptime_s": time.time() - self._started_at,
            "mode": self.settings.mode,
            "socket": self.settings.socket,
            "settings": settings,
            "ranges": {k: [r.low, r.high] for k, r in RANGES.items() if not k.startswith("limits.")},
            "endpoints": {"frames": self.settings.frames, "results": self.results_endpoint, "control": self.control_endpoint},
            "pid": os.getpid(),
            "time": time.time(),
        }
