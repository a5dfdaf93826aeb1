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
  file. In live mode with the preview on (``[daemon.preview]``) it first posts
  a preview (``final: false``) — the coarse level of the coarse-to-fine
  analysis — then the refined result (``final: true``) unless a newer frame is
  waiting — then the refinement is abandoned (counted as superseded) and the
  newest frame is taken;
* the **publisher** owns the bound PUB socket: it sends whatever is posted
  (results, errors, status) and a status message every ``status_interval``;
* the **control** thread owns the bound REP socket and answers ``status``,
  ``set``, ``reload`` and ``stop`` requests.

SIGINT/SIGTERM (when run in the main thread) finish the frame in hand, publish
it and exit; a second signal aborts at once.

Rooms: this module is the life cycle (start, threads, stop) and the status;
:mod:`~aistem.daemon.receiver`, :mod:`~aistem.daemon.worker`,
:mod:`~aistem.daemon.publisher` and :mod:`~aistem.daemon.controller` are the
four threads' parts, :mod:`~aistem.daemon.settings` the one table of settings.
"""

from __future__ import annotations

import copy
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

from aistem.core.protocol import encode_status

from .controller import Controller
from .link import FrameLink
from .publisher import OUTBOX_SIZE, Publisher
from .queueing import FrameQueue
from .receiver import Receiver
from .settings import SETTABLE, DaemonSettings, status_ranges
from .worker import REFINE_SAMPLES_PER_CALL, AnalysisWorker

__all__ = ["REFINE_SAMPLES_PER_CALL", "SETTABLE", "Daemon", "open_endpoint_warnings"]

log = logging.getLogger(__name__)

POLL_MS = 100  # every socket loop looks at its stop flag at least this often [ms]


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


class Daemon(Receiver, AnalysisWorker, Publisher, Controller):
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
            "ranges": status_ranges(),
            "endpoints": {"frames": self.settings.frames, "results": self.results_endpoint, "control": self.control_endpoint},
            "pid": os.getpid(),
            "time": time.time(),
        }
