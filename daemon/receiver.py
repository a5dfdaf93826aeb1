"""The daemon's receiver: the one thread that owns the frame socket (SUB or PULL, connected).

One room of :class:`aistem.daemon.server.Daemon`: it gets the shared :class:`~aistem.daemon.state.DaemonState`, the
ZeroMQ context and ``post(parts)`` (the publisher's outbox). It decodes and validates each message, checks the frame against the
window geometry (:func:`~aistem.daemon.geometry.frame_grid`, computed here once per frame shape, pixel size and
settings and looked up by the worker) and puts good frames in the :class:`~aistem.daemon.queueing.FrameQueue`
(live: newest wins; lossless: in order, with back-pressure) and bad ones on the outbox as ``error`` messages — so
frames keep being drained and counted while the analysis runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from aistem.core.protocol import Frame, ProtocolError, decode_frame, encode_error

from .geometry import FrameTooSmall, frame_grid
from .link import FrameLink, LinkDrop
from .state import DaemonState

__all__ = ["DRAIN_QUIET_S", "LINK_REPORT_S", "Receiver"]

log = logging.getLogger("aistem.daemon.server")

POLL_MS = 100  # the receiver looks at its stop flag at least this often [ms]
#: A lossless drain reads frames until the source has been quiet this long: frames already sent are not left behind [s].
DRAIN_QUIET_S = 0.5
#: A frame-link failure that repeats (a plaintext source on a CURVE link) is published and logged once per this [s].
LINK_REPORT_S = 10.0


class Receiver:
    """The receiver thread of the daemon.

    Parameters
    ----------
    state : DaemonState
    context : zmq.Context
    post : callable
        ``post(parts)``: queue a message (an ``error``) for the publisher.
    """

    def __init__(self, state: DaemonState, context: zmq.Context, post: Callable[[list[Any]], None]) -> None:
        self._state = state
        self._ctx = context
        self._post = post
        self.link: FrameLink | None = None
        self._link_reported: dict[str, float] = {}
        self._drain_since: float | None = None

    def loop(self, ready: threading.Event, errors: list[BaseException]) -> None:
        """The receiver thread: connect the frame socket, then read frames until a stop (or the end of a drain)."""
        s = self._state.settings
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
        self.link = link
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
            self._state.receiver_done.set()

    def _receive_hwm(self) -> int:
        """The frame socket's receive high-water mark: 1 for lossless PUSH/PULL, so that frames not yet taken wait
        at the sender (back-pressure) instead of in a buffer that a stop would throw away."""
        s = self._state.settings
        return 1 if s.socket == "pull" and s.mode == "lossless" else s.frames_hwm

    def _keep_reading(self, last_frame: float) -> bool:
        """The receiver goes on: until a stop; on a drain, in lossless mode until the source has been quiet for
        :data:`DRAIN_QUIET_S` (every frame already sent is taken and analysed), in live mode not at all."""
        st = self._state
        if st.stop.is_set():
            return False
        if not st.drain.is_set():
            return True
        if st.queue.mode != "lossless":
            return False
        if self._drain_since is None:
            self._drain_since = time.monotonic()
        return time.monotonic() - max(last_frame, self._drain_since) < DRAIN_QUIET_S

    def _link_dropped(self, drop: LinkDrop) -> None:
        """ZeroMQ dropped the frame source (and :class:`FrameLink` reconnected): count, log and publish why."""
        key = "too_large" if drop.code == "too-large" else "handshake_failed"
        now = time.monotonic()
        with self._state.lock:
            self._state.counts[key] += 1
            self._state.counts["link_drops"] += 1
            last = self._link_reported.get(drop.code)
            self._link_reported[drop.code] = now if last is None or now - last >= LINK_REPORT_S else last
            quiet = last is not None and now - last < LINK_REPORT_S
        if quiet:  # a plaintext source fails every reconnection: one report per LINK_REPORT_S, every one counted
            log.debug("frame link dropped again (%s)", drop.code)
            return
        log.error("%s", drop.reason)
        self._post(encode_error(drop.reason, code=drop.code))

    def _receive(self, parts: list[Any]) -> None:
        st = self._state
        with st.lock:
            st.counts["received"] += 1
            limits = st.settings.limits
            a = st.settings.analysis
        try:
            frame = decode_frame(parts, limits)
            frame_grid(frame.image.shape, frame.pixel_size, a.window, a.stride)  # computed once, looked up by the worker
        except FrameTooSmall as exc:
            st.count("rejected")
            log.warning("rejected frame (%s #%d): too-small: %s", frame.series, frame.index, exc)
            self._post(encode_error(str(exc), code="too-small", series=frame.series, index=frame.index))
            return
        except ProtocolError as exc:
            st.count("rejected")
            where = f"{exc.series} #{exc.index}" if exc.series is not None or exc.index is not None else "unidentified"
            log.warning("rejected frame (%s): %s: %s", where, exc.code, exc.reason)
            self._post(encode_error(exc.reason, code=exc.code, series=exc.series, index=exc.index))
            return
        except (ValueError, OverflowError) as exc:  # a pixel size so small that the window has no pixel count
            st.count("rejected")
            self._post(encode_error(str(exc), code="bad-value", series=frame.series, index=frame.index))
            return
        while not st.queue.put(frame, timeout=POLL_MS / 1000):  # lossless and full: back-pressure
            if st.stop.is_set() or st.queue.closed:
                self.abandon([frame])
                return

    def abandon(self, frames: list[Frame]) -> None:
        """Frames taken but not analysed because of a stop without drain: counted, logged and published."""
        if not frames:
            return
        self._state.count("abandoned", len(frames))
        for f in frames:
            log.warning("frame %s #%d not analysed: the daemon stopped without drain", f.series, f.index)
            self._post(
                encode_error(
                    "not analysed: the daemon stopped without drain", code="not-analysed", series=f.series, index=f.index
                )
            )
