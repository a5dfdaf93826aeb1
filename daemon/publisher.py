"""The daemon's publisher: the one thread that owns the bound result socket (an XPUB).

One room of :class:`aistem.daemon.server.Daemon`: it gets the shared :class:`~aistem.daemon.state.DaemonState`, the
ZeroMQ context and a ``status()`` callback. Every other room posts its messages (results, errors, status) on the
outbox with :meth:`Publisher.post` (the only thing they get from it); the publisher thread sends them, holds results
that no viewer could get yet (:class:`~aistem.daemon.holding.ResultHold`) and sends a status message every
``status_interval``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from aistem.core.protocol import Frame, build_result, encode_status, pack_result

from .holding import ResultHold
from .settings import BY_NAME
from .state import DaemonState

__all__ = ["OUTBOX_SIZE", "RESULT_LINGER_MS", "Publisher", "bind_error", "bind_server_socket"]

log = logging.getLogger("aistem.daemon.server")

OUTBOX_SIZE = 10000  # messages waiting for the publisher thread
POLL_MS = 100  # the publisher looks at its stop flag at least this often [ms]
RESULT_LINGER_MS = 1000  # on exit, time given to the last messages to reach subscribers [ms]


def bind_error(what: str, endpoint: str, option: str, exc: BaseException) -> RuntimeError:
    """A one-line explanation of a failed bind (the port taken by another program, most often)."""
    if isinstance(exc, zmq.ZMQError) and exc.errno == zmq.EADDRINUSE:
        return RuntimeError(
            f"cannot bind the {what} socket to {endpoint}: address already in use (another program, perhaps another "
            f"aistem serve, holds the port; stop it or choose another endpoint with {option})"
        )
    return RuntimeError(f"cannot bind the {what} socket to {endpoint}: {exc}")


def bind_server_socket(
    ctx: zmq.Context, kind: int, settings: Any, name: str, what: str, options: dict[int, int]
) -> tuple[zmq.Socket | None, BaseException | None]:
    """A socket of ``kind`` with ``options``, CURVE server when on, bound to the endpoint of the setting ``name``;
    or (None, a one-line error) when that fails (the socket closed again)."""
    endpoint = BY_NAME[name].get(settings)
    sock: zmq.Socket | None = None
    try:
        sock = ctx.socket(kind)
        for option, value in options.items():
            sock.setsockopt(option, value)
        if settings.curve.enabled:
            from .curve import make_server

            make_server(sock, settings.curve.secret_key)
        sock.bind(endpoint)
        return sock, None
    except Exception as exc:
        if sock is not None:
            sock.close(0)
        return None, bind_error(what, endpoint, BY_NAME[name].option, exc)


def bind_for_thread(
    ctx: zmq.Context,
    kind: int,
    settings: Any,
    name: str,
    what: str,
    options: dict[int, int],
    ready: threading.Event,
    errors: list[BaseException],
) -> tuple[zmq.Socket | None, str | None]:
    """The start of a socket thread: :func:`bind_server_socket`, then ``ready`` set either way; a failure is appended
    to ``errors`` (the daemon's start reports it) and gives (None, None), success (the socket, its bound endpoint)."""
    sock, error = bind_server_socket(ctx, kind, settings, name, what, options)
    endpoint = None
    if sock is None:
        errors.append(error)  # type: ignore[arg-type]
    else:
        endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    ready.set()
    return sock, endpoint


class Publisher:
    """The outbox and the publisher thread of the daemon.

    Parameters
    ----------
    state : DaemonState
    context : zmq.Context
    status : callable
        ``status() -> dict``: the daemon's status message, sent every ``status_interval``.
    """

    def __init__(self, state: DaemonState, context: zmq.Context, status: Callable[[], dict[str, Any]]) -> None:
        self._state = state
        self._ctx = context
        self._status = status
        self._outbox: queue.Queue[list[Any]] = queue.Queue(maxsize=OUTBOX_SIZE)
        self.stopped = threading.Event()  # set by the daemon: send what is left, then close
        self.endpoint: str | None = None

    def post(self, parts: list[Any]) -> None:
        """Queue a message for the publisher (counted as unsent when the outbox is full)."""
        try:
            self._outbox.put_nowait(parts)
        except queue.Full:
            self._state.count("unsent")

    def publish(
        self,
        frame: Frame,
        result: Any,
        t_start: float,
        seed: int | None,
        *,
        stage: int,
        stages: int,
        save: Callable[[Frame, dict[str, Any], dict[str, Any]], None] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Post one result of ``frame`` (the :class:`~aistem.core.AnalysisResult` as it is: the encoder takes what it
        carries); returns its (header, arrays). With ``save`` (a final result), ``save(frame, header, arrays)`` runs
        before it is posted: a result a subscriber has seen is already on disk."""
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
            dropped=self._state.queue.dropped,
            timestamp=frame.timestamp,
            seed=seed,
            final=final,
            stage=stage,
            stages=stages,
            extra={"shape": list(frame.image.shape), "detector": frame.detector},
        )
        if save is not None:
            save(frame, header, arrays)
        self.post(pack_result(header, arrays))
        self._count_published(stage, final, timing["total"])
        log.debug(
            "frame %s #%d: %s, grid %s, %.0f ms",
            frame.series,
            frame.index,
            "final" if final else f"preview {stage}/{stages}",
            header["grid"],
            timing["total"],
        )
        return header, arrays

    def _count_published(self, stage: int, final: bool, total_ms: float) -> None:
        st = self._state
        with st.lock:
            if stage == 1:
                st.counts["processed"] += 1  # a frame counts once, with its first result
            if final:
                st.latencies.append(total_ms)
            else:
                st.counts["previews"] += 1
                st.preview_latencies.append(total_ms)
            st.in_progress = None

    def loop(self, ready: threading.Event, errors: list[BaseException]) -> None:
        """The publisher thread: bind the result socket, then send until :attr:`stopped` and the outbox is empty."""
        s = self._state.settings
        # an XPUB: a PUB that hears subscriptions, so that results nobody could get yet are held
        options = {zmq.SNDHWM: s.results_hwm, zmq.LINGER: 0}
        sock, self.endpoint = bind_for_thread(self._ctx, zmq.XPUB, s, "results", "result", options, ready, errors)
        if sock is None:
            return
        try:
            self._send_until_stopped(sock, s.status_interval)
        finally:
            sock.setsockopt(zmq.LINGER, RESULT_LINGER_MS)
            sock.close()

    def _send_until_stopped(self, sock: zmq.Socket, status_interval: float) -> None:
        """Send what is posted, and a status every ``status_interval`` [s], until stopped and the outbox is empty."""
        next_status = time.monotonic() + status_interval
        hold = ResultHold()
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
                next_status = time.monotonic() + status_interval
                if not self.stopped.is_set():
                    try:
                        sock.send_multipart(encode_status(self._status()))
                    except Exception:  # never let the status stop the results
                        log.exception("status message failed")
            if self.stopped.is_set() and self._outbox.empty():
                break
