"""The daemon's frame link: the connected SUB/PULL socket, watched by a ZeroMQ socket monitor.

ZeroMQ drops a connected peer for good after a protocol error — a message part over ``MAXMSGSIZE`` or a failed
handshake (a plaintext source where CURVE is expected) — without telling the application: no reconnection
follows, and the link stays silent. :class:`FrameLink` reads the socket's monitor events; when a disconnection is
not followed by ZeroMQ's own reconnection attempt within :data:`RECONNECT_GRACE_S`, it reports why (a
:class:`LinkDrop`) and connects again (``disconnect`` + ``connect`` on the same socket: subscriptions and options
stay). Only the thread that owns the frame socket may use a :class:`FrameLink`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

__all__ = ["RECONNECT_GRACE_S", "FrameLink", "LinkDrop"]

#: After a disconnection, ZeroMQ announces its own reconnection at once (``EVENT_CONNECT_RETRIED``); without one
#: within this time the peer was dropped for good [s].
RECONNECT_GRACE_S = 0.3
#: After a failed handshake, wait this long before connecting again (a plaintext source would fail every time) [s].
HANDSHAKE_RETRY_S = 1.0

_HANDSHAKE_FAILED = {
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "no detail",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "protocol error",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "authentication refused",
}
_ALIVE = (
    zmq.EVENT_CONNECTED,
    zmq.EVENT_CONNECT_DELAYED,
    zmq.EVENT_CONNECT_RETRIED,
    zmq.EVENT_HANDSHAKE_SUCCEEDED,
)


@dataclass
class LinkDrop:
    """Why the frame link was dropped (and reconnected).

    Attributes
    ----------
    code : str
        ``too-large`` (dropped after the handshake: a message part over the size limit) or ``handshake-failed``.
    reason : str
        One line for the log and the ``error`` message.
    """

    code: str
    reason: str


class FrameLink:
    """The frame socket and its monitor.

    Parameters
    ----------
    sock : zmq.Socket
        The SUB or PULL socket, options set, not yet connected.
    endpoint : str
        What to connect to.
    max_message_bytes : int
        The socket's ``MAXMSGSIZE``, for the explanation of a drop [bytes].
    curve : bool
        CURVE is on (explains a failed handshake).
    """

    def __init__(self, sock: zmq.Socket, endpoint: str, *, max_message_bytes: int, curve: bool) -> None:
        self.sock = sock
        self.endpoint = endpoint
        self.max_message_bytes = int(max_message_bytes)
        self.curve = bool(curve)
        self.monitor = sock.get_monitor_socket()
        self.state = "connecting"
        self._dropped_at: float | None = None  # a disconnection waiting for ZeroMQ's own retry
        self._handshake: str | None = None  # the last failed handshake's detail, until the next success
        self._reconnect_at: float | None = None
        self._poller = zmq.Poller()
        self._poller.register(sock, zmq.POLLIN)
        self._poller.register(self.monitor, zmq.POLLIN)
        sock.connect(endpoint)

    def poll(self, timeout_ms: int) -> tuple[bool, LinkDrop | None]:
        """Wait up to ``timeout_ms`` for a frame; handle monitor events. Returns (a frame is readable, a drop)."""
        events = dict(self._poller.poll(timeout_ms))
        drop = None
        if self.monitor in events:
            while self.monitor.poll(0):
                self._event(parse_monitor_message(self.monitor.recv_multipart()))
        now = time.monotonic()
        if self._dropped_at is not None and now - self._dropped_at >= RECONNECT_GRACE_S:
            drop = self._explain()
            self._dropped_at = None
            self.state = "reconnecting"
            self._reconnect_at = now + (HANDSHAKE_RETRY_S if drop.code == "handshake-failed" else 0.0)
        if self._reconnect_at is not None and now >= self._reconnect_at:
            self._reconnect_at = None
            self.reconnect()
        return self.sock in events, drop

    def _event(self, ev: dict[str, Any]) -> None:
        e = ev["event"]
        if e == zmq.EVENT_DISCONNECTED:
            self._dropped_at = time.monotonic()
            self.state = "disconnected"
        elif e in _HANDSHAKE_FAILED:
            self._handshake = f"{_HANDSHAKE_FAILED[e]}, code {ev['value']:#x}"
        elif e in _ALIVE:
            self._dropped_at = None  # ZeroMQ reconnects by itself (the source restarted, the network blinked)
            if e == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._handshake = None
                self.state = "connected"
            elif e == zmq.EVENT_CONNECTED and not self.curve:
                self.state = "connected"
            elif e != zmq.EVENT_CONNECTED:
                self.state = "connecting"

    def _explain(self) -> LinkDrop:
        if self._handshake is not None:
            hint = (
                "a source without the CURVE key (or with another one) is bound there"
                if self.curve
                else "the source speaks CURVE (or not ZeroMQ) while this daemon has no CURVE key for it"
            )
            return LinkDrop(
                "handshake-failed",
                f"the frame link to {self.endpoint} failed its ZeroMQ handshake ({self._handshake}): {hint}; "
                f"connecting again in {HANDSHAKE_RETRY_S:g} s",
            )
        return LinkDrop(
            "too-large",
            f"ZeroMQ dropped the frame link to {self.endpoint} after a protocol error, most likely a message part "
            f"larger than the limit of {self.max_message_bytes} bytes (the largest frame allowed by the size limits, "
            "in float64, plus its header); the frame was lost, frames in flight with it; reconnected",
        )

    def reconnect(self) -> None:
        """Connect again to the endpoint (ZeroMQ does not after dropping a peer for a protocol error)."""
        try:
            self.sock.disconnect(self.endpoint)
        except zmq.ZMQError:  # the endpoint was already forgotten
            pass
        self.sock.connect(self.endpoint)
        self.state = "connecting"

    def close(self) -> None:
        """Close the monitor and the socket (linger 0)."""
        try:
            self.sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self.monitor.close(0)
        self.sock.close(0)
