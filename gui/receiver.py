"""Background receiver: SUB sockets on the daemon's results and the acquisition frames, newest-wins hand-over.

A thread polls the sockets (``zmq.Poller`` with a timeout, so a stop request is seen within ~0.1 s), decodes
every message, and keeps only what the display needs: the newest result, the recent frames (to pair a result with
its own image) and counters. The window takes a :class:`Snapshot` at its redraw rate; results that arrive faster
than it redraws are counted (``skipped``), never queued, so a fast stream cannot freeze the window.

A live preview (``final: false``) is handed over like any result — it shows the frame's map until the final one
arrives — except when the final result of the same or a newer frame is already here: then it is counted
(``previews_ignored``) and dropped, so a late preview never hides a final map.

SUB sockets *connect*, and ZeroMQ reconnects them by itself when the daemon restarts; a socket monitor tells the
window whether each endpoint is connected right now.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from aistem.core.protocol import (
    DaemonError,
    Frame,
    ProtocolError,
    Result,
    Status,
    decode,
    frame_order,
    load_public,
    load_secret,
    preview_outdated,
)

__all__ = ["Receiver", "Snapshot", "curve_keys"]

log = logging.getLogger(__name__)

RATE_WINDOW_S = 5.0  # a fast stream's rate is measured over the last few seconds …
RATE_MIN_COUNT = 5  # … or over the last few arrivals, for a slow one (a daemon taking 10 s per frame)
RATE_MAX_AGE_S = 120.0  # arrivals older than this never count


@dataclass
class Snapshot:
    """What the window needs to draw, taken at one moment.

    Attributes
    ----------
    result : Result or None
        Newest result, if one arrived since the previous snapshot (else None).
    frame : Frame or None
        With a result: its frame if buffered (else None). Without: the newest frame if new, else None.
    newest_frame : Frame or None
        Newest frame received (new or not).
    latest_result : Result or None
        Newest result received (new or not).
    counters : dict
        results (previews included), final_results, previews, previews_ignored (arrived after the final result of
        the same or a newer frame), finals_late (final results of an older frame arriving after a newer frame's, as
        from several daemons behind a relay: counted in the class shares, not drawn), frames, errors, rejected,
        skipped (results never drawn; a preview overtaken by its own frame's final result is not counted), and
        per-endpoint ``connected``.
    results_per_s, frames_per_s : float
        Arrival rates over the last few seconds (results: frames with a result, a preview and its final count once).
    latency_ms : float or None
        Mean (over the last final results) of result arrival − frame acquisition timestamp.
    preview_latency_ms : float or None
        The same over the last previews (None when the daemon sends none).
    status : Status or None
        Newest daemon status.
    last_error : str or None
        Newest daemon error or undecodable message.
    idle_s : float
        Seconds since the last frame or result (inf if none yet).
    """

    result: Result | None = None
    frame: Frame | None = None
    newest_frame: Frame | None = None
    latest_result: Result | None = None
    counters: dict[str, Any] = field(default_factory=dict)
    results_per_s: float = 0.0
    frames_per_s: float = 0.0
    latency_ms: float | None = None
    preview_latency_ms: float | None = None
    status: Status | None = None
    last_error: str | None = None
    idle_s: float = float("inf")


def curve_keys(server_certificate: str, client_certificate: str | None = None) -> tuple[bytes, bytes, bytes]:
    """CURVE keys for one SUB socket: the server's public key and the viewer's key pair.

    Parameters
    ----------
    server_certificate : path
        The server's public certificate (``NAME.key`` from ``aistem keys``, or its ``.key_secret``).
    client_certificate : path, optional
        The viewer's secret certificate (``NAME.key_secret``); default: a fresh key pair (enough when the daemon
        admits any client that knows its public key).

    Returns
    -------
    tuple of bytes
        (server_public, client_public, client_secret), Z85.
    """
    if not zmq.has("curve"):
        raise RuntimeError("this libzmq has no CURVE support: encrypted endpoints cannot be used")
    server_public = load_public(server_certificate)
    if client_certificate:
        public, secret = load_secret(client_certificate)
    else:
        public, secret = zmq.curve_keypair()
    return (server_public, public, secret)


class Receiver:
    """Subscribe to results and frames in a background thread.

    Parameters
    ----------
    results : str or None
        The daemon's result endpoint, e.g. ``tcp://127.0.0.1:5556``.
    frames : str or None
        The acquisition frame endpoint (PUB), e.g. ``tcp://127.0.0.1:5555``.
    frame_buffer : int
        Frames kept to pair with their results (those still being analysed).
    frame_buffer_bytes : int
        … and at most this many bytes of them (the newest frame is always kept).
    context : zmq.Context, optional
        Default: the process-wide instance.
    curve : dict, optional
        ZeroMQ CURVE per endpoint (``"results"``, ``"frames"``): ``(server_public, client_public, client_secret)``
        keys (Z85 bytes); endpoints not named are unencrypted. See :func:`curve_keys`.
    """

    def __init__(
        self,
        results: str | None,
        frames: str | None = None,
        *,
        frame_buffer: int = 64,
        frame_buffer_bytes: int = 256 * 2**20,
        context: zmq.Context | None = None,
        curve: dict[str, tuple[bytes, bytes, bytes]] | None = None,
    ) -> None:
        if not results and not frames:
            raise ValueError("give a results endpoint, a frames endpoint, or both")
        self.endpoints = {"results": results, "frames": frames}
        self.curve = dict(curve or {})
        unknown = set(self.curve) - set(self.endpoints)
        if unknown:
            raise ValueError(f"curve keys for unknown endpoint(s) {sorted(unknown)}: use 'results' or 'frames'")
        self._ctx = context or zmq.Context.instance()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._frames: collections.OrderedDict[tuple[str, int], Frame] = collections.OrderedDict()
        self._frame_buffer = int(frame_buffer)
        self._frame_buffer_bytes = int(frame_buffer_bytes)
        self._frame_bytes = 0
        self._pending_result: Result | None = None
        self._pending_frame: Frame | None = None
        self._latest_result: Result | None = None
        self._newest_frame: Frame | None = None
        self._status: Status | None = None
        self._last_error: str | None = None
        self._last_message = 0.0
        self._result_times: collections.deque[float] = collections.deque(maxlen=512)
        self._frame_times: collections.deque[float] = collections.deque(maxlen=512)
        self._latencies: collections.deque[float] = collections.deque(maxlen=50)
        self._preview_latencies: collections.deque[float] = collections.deque(maxlen=50)
        self._newest_final: Result | None = None  # the final result of the newest frame so far
        self._last_result_key: tuple[str, int] | None = None
        self.connected = {k: False for k, v in self.endpoints.items() if v}
        self.counters: dict[str, int] = {
            "results": 0,
            "frames": 0,
            "errors": 0,
            "rejected": 0,
            "skipped": 0,
            "final_results": 0,
            "previews": 0,
            "previews_ignored": 0,
            "finals_late": 0,
        }
        self.class_counts: np.ndarray = np.zeros(0, np.int64)
        self.class_names: list[str] = []
        self.interface_sum = 0.0
        self.unknown_sum = 0.0  # sum over final results of their unknown share (aistem-result/1.2)
        self.started = 0.0
        self.first_result_at: float | None = None
        self.last_result_at: float | None = None
        self.results_event = threading.Condition(self._lock)
        self.failure: BaseException | None = None

    # -- life cycle --------------------------------------------------------------------------------------------

    def start(self) -> Receiver:
        """Open the sockets and start the thread (returns self)."""
        if self._thread is not None:
            return self
        self.started = time.time()
        self._stop.clear()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="aistem-view-receiver", daemon=True)
        self._thread.start()
        ready.wait(5.0)
        if self.failure is not None:
            raise RuntimeError(f"cannot subscribe: {self.failure}") from self.failure
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the thread to stop, wait for it (at most ``timeout`` s) and close the sockets."""
        self._stop.set()
        t = self._thread
        if t is not None:
            t.join(timeout)
        self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- hand-over ---------------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Take what arrived since the previous snapshot (newest result and its frame) and the counters."""
        now = time.time()
        with self._lock:
            res, self._pending_result = self._pending_result, None
            frame = self._frames.get(res.key) if res is not None else self._pending_frame
            self._pending_frame = None
            return Snapshot(
                result=res,
                frame=frame,
                newest_frame=self._newest_frame,
                latest_result=self._latest_result,
                counters={**self.counters, "connected": dict(self.connected)},
                results_per_s=self._rate(self._result_times, now),
                frames_per_s=self._rate(self._frame_times, now),
                latency_ms=float(np.mean(self._latencies)) if self._latencies else None,
                preview_latency_ms=float(np.mean(self._preview_latencies)) if self._preview_latencies else None,
                status=self._status,
                last_error=self._last_error,
                idle_s=(now - self._last_message) if self._last_message else float("inf"),
            )

    def frame_for(self, key: tuple[str, int]) -> Frame | None:
        """The buffered frame of (series, index), if still there."""
        with self._lock:
            return self._frames.get(key)

    def wait_results(self, n: int, timeout: float) -> bool:
        """Block until ``n`` results have arrived (True) or ``timeout`` s passed (False)."""
        deadline = time.monotonic() + timeout
        with self.results_event:
            while self.counters["results"] < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.results_event.wait(min(left, 0.2))
            return True

    @staticmethod
    def _rate(times: collections.deque[float], now: float) -> float:
        """Arrivals per second: over the last RATE_WINDOW_S s, or the last RATE_MIN_COUNT arrivals if that is
        longer; 0 once nothing has come for three mean intervals (at least RATE_WINDOW_S)."""
        recent = [t for t in times if now - t <= RATE_MAX_AGE_S]
        if len(recent) < 2:
            return 0.0
        in_window = [t for t in recent if now - t <= RATE_WINDOW_S]
        use = in_window if len(in_window) >= RATE_MIN_COUNT else recent[-RATE_MIN_COUNT:]
        if len(use) < 2:
            return 0.0
        interval = (use[-1] - use[0]) / (len(use) - 1)
        if now - use[-1] > max(RATE_WINDOW_S, 3 * interval):
            return 0.0
        return 1.0 / max(interval, 1e-6)

    # -- the thread --------------------------------------------------------------------------------------------

    def _socket(self, curve: tuple[bytes, bytes, bytes] | None) -> zmq.Socket:
        s = self._ctx.socket(zmq.SUB)
        if curve is not None:
            s.curve_serverkey, s.curve_publickey, s.curve_secretkey = curve
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 64)
        s.setsockopt(zmq.RECONNECT_IVL, 100)
        s.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        return s

    def _run(self, ready: threading.Event) -> None:
        socks: dict[zmq.Socket, str] = {}
        monitors: dict[zmq.Socket, str] = {}
        try:
            poller = zmq.Poller()
            for name, ep in self.endpoints.items():
                if not ep:
                    continue
                s = self._socket(self.curve.get(name))
                socks[s] = name
                m = s.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)  # before connect: no event lost
                monitors[m] = name
                s.connect(ep)
                poller.register(s, zmq.POLLIN)
                poller.register(m, zmq.POLLIN)
        except Exception as exc:  # bad endpoint: reported by start()
            self.failure = exc
            ready.set()
            self._close(socks, monitors)
            return
        ready.set()
        try:
            while not self._stop.is_set():
                events = dict(poller.poll(100))
                for sock in events:
                    if sock in monitors:
                        self._on_monitor(sock, monitors[sock])
                    else:
                        self._drain(sock)
        except Exception as exc:  # pragma: no cover - reported in the status line, never silently
            log.exception("receiver stopped")
            self.failure = exc
            with self._lock:
                self._last_error = f"receiver stopped: {exc}"
        finally:
            self._close(socks, monitors)

    @staticmethod
    def _close(socks: dict[zmq.Socket, str], monitors: dict[zmq.Socket, str]) -> None:
        for s in socks:
            try:
                s.disable_monitor()
            except zmq.ZMQError:
                pass
        for m in monitors:
            m.close(linger=0)
        for s in socks:
            s.close(linger=0)

    def _on_monitor(self, mon: zmq.Socket, name: str) -> None:
        while True:
            try:
                evt = recv_monitor_message(mon, flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            with self._lock:
                if evt["event"] == zmq.EVENT_CONNECTED:
                    self.connected[name] = True
                elif evt["event"] == zmq.EVENT_DISCONNECTED:
                    self.connected[name] = False

    def _drain(self, sock: zmq.Socket, limit: int = 256) -> None:
        for _ in range(limit):
            try:
                parts = sock.recv_multipart(flags=zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            self._handle(parts)

    def _handle(self, parts: list[bytes]) -> None:
        now = time.time()
        try:
            msg = decode(parts, now)
        except ProtocolError as exc:
            with self._lock:
                self.counters["rejected"] += 1
                self._last_error = f"rejected message: {exc}"
            return
        with self._lock:
            if isinstance(msg, (Frame, Result)):
                self._last_message = now  # status messages do not end "waiting for frames"
            if isinstance(msg, Frame):
                self.counters["frames"] += 1
                self._frame_times.append(now)
                old = self._frames.pop(msg.key, None)
                if old is not None:
                    self._frame_bytes -= old.image.nbytes
                self._frames[msg.key] = msg
                self._frame_bytes += msg.image.nbytes
                while len(self._frames) > 1 and (
                    len(self._frames) > self._frame_buffer or self._frame_bytes > self._frame_buffer_bytes
                ):
                    _, dropped = self._frames.popitem(last=False)
                    self._frame_bytes -= dropped.image.nbytes
                self._newest_frame = msg
                self._pending_frame = msg
            elif isinstance(msg, Result):
                self._on_result(msg, now)
            elif isinstance(msg, DaemonError):
                self.counters["errors"] += 1
                self._last_error = msg.text()
            elif isinstance(msg, Status):
                self._status = msg

    def _on_result(self, res: Result, now: float) -> None:  # called with the lock held
        self.counters["results"] += 1
        if not res.final:
            self.counters["previews"] += 1
            if preview_outdated(res, self._newest_final):
                self.counters["previews_ignored"] += 1  # never hide the final map of this or a newer frame
                self.results_event.notify_all()
                return
        elif self._newest_final is None or frame_order(res, self._newest_final) >= 0:
            self._newest_final = res
        else:  # the final of an older frame, late (several daemons behind a relay): counted, never shown over a newer one
            self.counters["finals_late"] += 1
            self._count_final(res)
            self.results_event.notify_all()
            return
        pending = self._pending_result
        if pending is not None and not (not pending.final and pending.key == res.key):
            self.counters["skipped"] += 1  # a preview overtaken by its own refinement was not missed
        self._pending_result = res
        self._latest_result = res
        if res.key != self._last_result_key:  # a frame's preview and final count once in the rate
            self._result_times.append(now)
            self._last_result_key = res.key
        self.first_result_at = self.first_result_at or now
        self.last_result_at = now
        ts = res.timestamp
        if ts is None:
            f = self._frames.get(res.key)
            ts = f.timestamp if f is not None else None
        if ts is not None:
            (self._latencies if res.final else self._preview_latencies).append((now - ts) * 1000.0)
        if res.final:
            self._count_final(res)
        self.results_event.notify_all()

    def _count_final(self, res: Result) -> None:  # called with the lock held
        self.counters["final_results"] += 1
        n = len(res.class_names)
        if self.class_names != res.class_names:
            self.class_names = list(res.class_names)
            self.class_counts = np.zeros(n, np.int64)
        unknown = res.unknown
        known = res.classes[~unknown] if unknown is not None else res.classes.ravel()  # classes of known windows
        self.class_counts += np.bincount(known.astype(np.int64), minlength=n)[:n]
        if unknown is not None and unknown.size:
            self.unknown_sum += float(unknown.mean())
        iface = res.interface
        if iface is not None and iface.size:
            self.interface_sum += float(iface.astype(bool).mean())
