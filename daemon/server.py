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
:class:`~aistem.daemon.receiver.Receiver`, :class:`~aistem.daemon.worker.AnalysisWorker`,
:class:`~aistem.daemon.publisher.Publisher` and :class:`~aistem.daemon.controller.Controller`
are the four threads' objects, built here around one shared
:class:`~aistem.daemon.state.DaemonState`, each given only the callbacks it
needs; :mod:`~aistem.daemon.settings` is the one table of settings.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from aistem.core.protocol import encode_status

from .controller import Controller
from .publisher import Publisher
from .receiver import Receiver
from .settings import SETTABLE, DaemonSettings, status_ranges
from .state import DaemonState
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


class Daemon:
    """The AI-STEM streaming service: builds the rooms, starts and stops their threads, reports the status.

    The rooms share one :class:`~aistem.daemon.state.DaemonState` and get only the callbacks they need: the
    :class:`~aistem.daemon.receiver.Receiver` and the :class:`~aistem.daemon.worker.AnalysisWorker` the publisher's
    ``post`` (and the worker its ``publish``), the :class:`~aistem.daemon.controller.Controller` ``status``, ``post``
    and ``request_stop``, the :class:`~aistem.daemon.publisher.Publisher` ``status``.

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
        self.state = DaemonState(copy.deepcopy(settings).validate(), model)
        self.queue = self.state.queue
        self._own_context = context is None
        self._ctx = context or zmq.Context()
        self.publisher = Publisher(self.state, self._ctx, self.status)
        post = self.publisher.post
        self.receiver = Receiver(self.state, self._ctx, post)
        self.worker = AnalysisWorker(self.state, post, self.publisher.publish)
        self.controller = Controller(self.state, self._ctx, self.status, post, self._stop_request)
        self._warnings: list[str] = []  # said at start-up and in every status (e.g. control open to the network)
        self._started_at = time.time()
        self._threads: list[threading.Thread] = []
        self._auth: Any = None
        self._started = False
        self._closed = False
        self.finished = threading.Event()

    # -- what the tests, the command line and control clients use ------------------------------------------------
    @property
    def settings(self) -> DaemonSettings:
        """The current settings (control ``set`` and ``reload`` replace them)."""
        return self.state.settings

    @property
    def results_endpoint(self) -> str | None:
        """The bound result endpoint (a port ``*`` resolved), once started."""
        return self.publisher.endpoint

    @property
    def control_endpoint(self) -> str | None:
        """The bound control endpoint (a port ``*`` resolved), once started."""
        return self.controller.endpoint

    def apply(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change settings at run time (all or nothing): :meth:`Controller.apply`."""
        return self.controller.apply(changes)

    def reload(self, path: str | None = None) -> dict[str, Any]:
        """Load another model file: :meth:`Controller.reload`."""
        return self.controller.reload(path)

    def handle_request(self, parts: list[bytes]) -> dict[str, Any]:
        """Answer one control request: :meth:`Controller.handle_request`."""
        return self.controller.handle_request(parts)

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        """The reply to a decoded control request: :meth:`Controller.answer`."""
        return self.controller.answer(req)

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
        s, st = self.settings, self.state
        try:
            if s.curve.enabled:
                from .curve import Authenticator, load_secret

                load_secret(s.curve.secret_key)  # fail early, with the file name, if it is missing or not secret
                self._auth = Authenticator(self._ctx, s.curve.authorized_keys or None)
            # bind first: a taken port fails at once, not after the model has loaded (seconds)
            self._start_thread("aistem-publisher", self.publisher.loop)
            self._start_thread("aistem-control", self.controller.loop)
            if st.model is None:
                from aistem.core import load_model

                model = load_model(s.model)
                with st.lock:
                    st.model = model
            if s.save:
                from .storage import SeriesStore

                st.store = SeriesStore(s.save, "results")
            self._start_thread("aistem-receiver", self.receiver.loop)
        except BaseException:
            self._shutdown()
            raise
        self._started = True
        self._started_at = time.time()
        self._warnings = open_endpoint_warnings(self.settings, self.results_endpoint, self.control_endpoint)
        for w in self._warnings:
            log.warning("%s", w)
        m = st.model
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
            self.worker.work()
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
        if self.state.stop.is_set():
            raise KeyboardInterrupt  # a second signal: do not wait for the frame in hand
        log.info(
            "%s: stopping; the frame in hand is cancelled within one network call (a second signal aborts at once)",
            signal.Signals(signum).name,
        )
        self.request_stop(drain=False)

    def request_stop(self, drain: bool = False) -> None:
        """Stop reading frames; ``drain`` analyses the frames already waiting first, else only the frame in hand."""
        self.state.drain.set()  # only events here: this also runs inside signal handlers
        if not drain:
            self.state.stop.set()

    def _stop_request(self, drain: bool) -> None:
        self.request_stop(drain=drain)

    @property
    def stopping(self) -> bool:
        """A stop (or drain) has been asked for."""
        return self.state.drain.is_set()

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        st = self.state
        st.stop.set()
        st.drain.set()
        st.queue.close()
        for t in self._threads:
            if t.name == "aistem-receiver":
                t.join(10)
        self.receiver.abandon(st.queue.take_all())
        if self._started:
            self.publisher.post(encode_status(self.status()))
        self.publisher.stopped.set()
        self.controller.stopped.set()
        alive = []
        for t in self._threads:
            t.join(10)
            if t.is_alive():
                alive.append(t.name)
        if st.store is not None:
            st.store.close()
        if self._auth is not None:
            self._auth.stop()
        if alive:  # destroying the context would close their sockets under them: libzmq aborts the process
            log.error("thread(s) %s did not stop: their sockets and the ZeroMQ context are left open", ", ".join(alive))
        elif self._own_context:
            self._ctx.destroy(linger=0)  # every thread has closed its socket; this only guards against a leak
        self.finished.set()
        if self._started:
            c = st.counts
            log.info(
                "stopped: %d frames received, %d analysed (%d refinements superseded), %d dropped, %d rejected, %d failed",
                c["received"],
                c["processed"],
                c["superseded"],
                st.queue.dropped,
                c["rejected"],
                c["failed"],
            )

    def status(self) -> dict[str, Any]:
        """Counters and state, as sent in ``status`` messages (see ``docs/protocol.md``)."""
        st = self.state
        with st.lock:
            c = dict(st.counts)
            lat = list(st.latencies)
            plat = list(st.preview_latencies)
            in_progress = dict(st.in_progress) if st.in_progress else None
            settings = self.controller.settings_dict()
            model = self.controller.model_dict()
        state = "stopping" if st.stop.is_set() else "draining" if st.drain.is_set() else "running"
        if state == "running" and st.model is None:
            state = "starting"  # the sockets are bound first; the model is loading
        return {
            "state": state,
            "frames_received": c["received"],
            "frames_processed": c["processed"],
            "frames_dropped": st.queue.dropped,
            "frames_rejected": c["rejected"],
            "frames_failed": c["failed"],
            "frames_superseded": c["superseded"],
            "previews_published": c["previews"],
            "frames_cancelled": c["cancelled"],
            "frames_not_analysed": c["abandoned"],
            "frame_link": self.receiver.link.state if self.receiver.link is not None else "closed",
            "frame_link_drops": c["link_drops"],
            "frame_link_too_large": c["too_large"],
            "frame_link_handshake_failed": c["handshake_failed"],
            "warnings": list(self._warnings),
            "messages_unsent": c["unsent"],
            "queue_length": len(st.queue),
            "in_progress": in_progress,
            "warm": self.worker.warm,
            "mean_latency_ms": (sum(lat) / len(lat)) if lat else None,
            "mean_preview_latency_ms": (sum(plat) / len(plat)) if plat else None,
            "model": model,
            "uptime_s": time.time() - self._started_at,
            "mode": self.settings.mode,
            "socket": self.settings.socket,
            "settings": settings,
            "ranges": status_ranges(),
            "endpoints": {"frames": self.settings.frames, "results": self.results_endpoint, "control": self.control_endpoint},
            "pid": os.getpid(),
            "time": time.time(),
        }
