"""Results published while no viewer is subscribed are held for the first one that subscribes.

The daemon's result socket is an XPUB: it hears subscriptions. A result sent while no subscription matches it
would vanish (that is what PUB does) — e.g. the README's three lines, where ``iter_results`` subscribes just after
``publish_frame`` sent the frame. :class:`ResultHold` keeps such results (at most :data:`HOLD_COUNT`, for
:data:`HOLD_S`) and hands them out when a matching subscription arrives. A viewer already subscribed never gets a
result twice: only results that nobody could receive are held.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import zmq

__all__ = ["HOLD_COUNT", "HOLD_S", "ResultHold"]

HOLD_COUNT = 8  # results held at most [messages]
HOLD_S = 10.0  # a held result older than this is dropped [s]


class ResultHold:
    """Subscriptions of an XPUB socket and the messages held until one matches (used by its sending thread only)."""

    def __init__(self) -> None:
        self.topics: set[bytes] = set()
        self._held: deque[tuple[float, list[Any]]] = deque(maxlen=HOLD_COUNT)

    def read_subscriptions(self, sock: zmq.Socket) -> None:
        """Take every (un)subscription waiting on ``sock`` (non-blocking)."""
        while True:
            try:
                msg = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if msg[:1] == b"\x01":
                self.topics.add(bytes(msg[1:]))
            elif msg[:1] == b"\x00":
                self.topics.discard(bytes(msg[1:]))

    def wanted(self, topic: bytes) -> bool:
        """Some subscriber takes messages of ``topic``."""
        return any(topic.startswith(t) for t in self.topics)

    def send(self, sock: zmq.Socket, parts: list[Any]) -> None:
        """Send ``parts``; a result nobody is subscribed to is held instead; held results go out once wanted."""
        self.read_subscriptions(sock)
        self.flush(sock)
        topic = bytes(parts[0])
        if topic == b"result" and not self.wanted(topic):
            self._held.append((time.monotonic(), parts))
            return
        sock.send_multipart(parts, copy=False)

    def flush(self, sock: zmq.Socket) -> None:
        """Send the held results if a subscriber wants them now; drop those older than :data:`HOLD_S`."""
        now = time.monotonic()
        while self._held and now - self._held[0][0] > HOLD_S:
            self._held.popleft()
        if self._held and self.wanted(b"result"):
            while self._held:
                sock.send_multipart(self._held.popleft()[1], copy=False)
