"""Talk to the daemon from an acquisition script or a viewer: send frames, read results, send control requests.

Three lines in an acquisition script (Nion Swift, DigitalMicrograph Python, a detector SDK)::

    from aistem.daemon.sources.client import publish_frame, iter_results
    publish_frame(image, pixel_size=0.12, series="scan-7")        # binds tcp://127.0.0.1:5555 on first use
    for r in iter_results(timeout=30): print(r.series, r.index, r.classes.shape, r.mutual_information.max())

``publish_frame`` is the acquisition side of the protocol: it binds a PUB (or
PUSH) socket once and keeps it; the daemon connects to it.  The first frames
published before a daemon has connected are lost with PUB (that is what PUB
does); use ``kind="push"`` for a lossless stream.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from aistem.core.protocol import (
    DEFAULT_CONTROL,
    DEFAULT_FRAMES,
    DEFAULT_RESULTS,
    Message,
    ProtocolError,
    decode_message,
    encode_frame,
    pack,
    unpack,
)

__all__ = [
    "DEFAULT_CONTROL",
    "DEFAULT_FRAMES",
    "DEFAULT_RESULTS",
    "FramePublisher",
    "close_publishers",
    "iter_results",
    "publish_frame",
    "request",
]

log = logging.getLogger(__name__)

PUBLISHER_KINDS = ("pub", "push")


class FramePublisher:
    """The acquisition side: a bound PUB or PUSH socket that sends ``aistem-frame/1`` messages.

    Parameters
    ----------
    endpoint : str
        Where to bind (port ``*``: any free port; :attr:`endpoint` then says which).
    kind : str
        ``"pub"`` (any number of subscribers; frames are dropped when nobody listens or a subscriber is
        ``hwm`` messages behind) or ``"push"`` (frames shared out among the connected daemons; a send waits
        while none can take it).
    hwm : int
        Send high-water mark [messages].
    send_timeout : float
        PUSH only: longest wait for a daemon to take a frame [s].
    curve_secret_key : path, optional
        This side's secret certificate: frames are then encrypted (CURVE server).
    curve_authorized_keys : path, optional
        Directory of the public certificates of daemons allowed to connect (with ``curve_secret_key``).
    context : zmq.Context, optional
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_FRAMES,
        kind: str = "pub",
        *,
        hwm: int = 64,
        send_timeout: float = 10.0,
        curve_secret_key: str | Path | None = None,
        curve_authorized_keys: str | Path | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        if kind not in PUBLISHER_KINDS:
            raise ValueError(f"kind must be one of {', '.join(PUBLISHER_KINDS)}, got {kind!r}")
        self.kind = kind
        self.send_timeout = float(send_timeout)
        self._own_context = context is None
        self._ctx = context or zmq.Context()
        self._auth = None
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}
        self._topics: set[bytes] = set()
        sock = self._ctx.socket(zmq.XPUB if kind == "pub" else zmq.PUSH)  # XPUB: a PUB that hears subscribers
        sock.setsockopt(zmq.LINGER, 1000)
        sock.setsockopt(zmq.SNDHWM, int(hwm))
        try:
            if curve_secret_key:
                from ..curve import Authenticator, make_server

                self._auth = Authenticator(self._ctx, curve_authorized_keys)
                make_server(sock, curve_secret_key)
            sock.bind(endpoint)
        except (zmq.ZMQError, OSError, ValueError) as exc:
            sock.close(0)
            self._stop_auth()
            if self._own_context:
                self._ctx.term()
            if isinstance(exc, zmq.ZMQError):
                raise OSError(f"cannot bind the frame socket to {endpoint}: {exc}") from exc
            raise
        self._sock = sock
        self.endpoint: str = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.sent = 0

    def _stop_auth(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None

    def _read_subscriptions(self) -> None:
        """PUB: take the subscriptions that arrived (non-blocking); :attr:`subscribed` says whether any is on."""
        while True:
            try:
                msg = self._sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if msg[:1] == b"\x01":
                self._topics.add(bytes(msg[1:]))
            elif msg[:1] == b"\x00":
                self._topics.discard(bytes(msg[1:]))

    def wait_for_receiver(self, timeout: float) -> bool:
        """Wait until a daemon can take a frame — PUB: one has subscribed; PUSH: one is connected — at most
        ``timeout`` seconds. Returns whether one can."""
        end = time.monotonic() + timeout
        with self._lock:
            while True:
                if self.kind == "push":
                    if self._sock.poll(0, zmq.POLLOUT):
                        return True
                else:
                    self._read_subscriptions()
                    if any(b"frame".startswith(t) for t in self._topics):
                        return True
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._sock.poll(int(min(left, 0.05) * 1000) or 1, zmq.POLLIN)

    def send_parts(self, parts: list[Any]) -> bool:
        """Send a raw multipart message (for tests of malformed input). Returns False if it could not be sent."""
        with self._lock:
            if self.kind == "pub":
                self._read_subscriptions()
            if self.kind == "push":
                if not self._sock.poll(int(self.send_timeout * 1000), zmq.POLLOUT):
                    raise TimeoutError(f"no daemon took a frame from {self.endpoint} within {self.send_timeout} s")
            try:
                self._sock.send_multipart(parts, copy=len(parts[-1]) < 65536 if parts else True)
            except zmq.Again:
                return False
            self.sent += 1
            return True

    def send(
        self,
        image: np.ndarray,
        *,
        pixel_size: float,
        series: str = "live",
        index: int | None = None,
        timestamp: float | None = None,
        detector: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> int:
        """Send one frame.

        Parameters
        ----------
        image : ndarray of shape (rows, cols)
            uint8, uint16, int16, int32, float32 or float64.
        pixel_size : float
            [Å/px].
        series : str
            Name of the series (one results file per series).
        index : int, optional
            Frame number; default: one more than the last one sent in this series (from 0).
        timestamp : float, optional
            Acquisition time [Unix s]; default: now.
        detector : str, optional
        meta : dict, optional

        Returns
        -------
        int
            The index sent.

        Raises
        ------
        TimeoutError
            PUSH: no daemon took the frame within ``send_timeout``.
        """
        if index is None:
            index = self._next.get(series, 0)
        self._next[series] = int(index) + 1
        parts = encode_frame(
            image, series=series, index=int(index), pixel_size=pixel_size, timestamp=timestamp, detector=detector, meta=meta
        )
        self.send_parts(parts)
        return int(index)

    def close(self) -> None:
        """Close the socket (waiting up to 1 s for frames still queued) and its context if it owns it."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None  # type: ignore[assignment]
        self._stop_auth()
        if self._own_context:
            self._ctx.term()

    def __enter__(self) -> FramePublisher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_PUBLISHERS: dict[tuple[str, str], FramePublisher] = {}
_PUBLISHERS_LOCK = threading.Lock()


def publish_frame(
    image: np.ndarray,
    *,
    pixel_size: float,
    series: str = "live",
    index: int | None = None,
    endpoint: str = DEFAULT_FRAMES,
    kind: str = "pub",
    timestamp: float | None = None,
    detector: str | None = None,
    meta: dict[str, Any] | None = None,
    connect_wait: float = 5.0,
) -> int:
    """Send one frame to the daemon(s), binding ``endpoint`` on first use and keeping it bound.

    Parameters
    ----------
    image, pixel_size, series, index, timestamp, detector, meta
        As :meth:`FramePublisher.send`.
    endpoint : str
        Where the acquisition side binds (the daemon's ``--frames``).
    kind : str
        ``"pub"`` or ``"push"``.
    connect_wait : float
        On first use, the longest wait for a daemon to subscribe (PUB) or connect (PUSH) before the first frame is
        sent [s]; the wait ends as soon as one has (a daemon retries its connection every second at most).

    Returns
    -------
    int
        The index sent.
    """
    key = (endpoint, kind)
    with _PUBLISHERS_LOCK:
        pub = _PUBLISHERS.get(key)
        if pub is None:
            pub = FramePublisher(endpoint, kind)
            _PUBLISHERS[key] = pub
            if connect_wait > 0 and not pub.wait_for_receiver(connect_wait):
                log.warning("no daemon took frames from %s within %g s: the first frame may be lost", endpoint, connect_wait)
    return pub.send(image, pixel_size=pixel_size, series=series, index=index, timestamp=timestamp, detector=detector, meta=meta)


@atexit.register
def close_publishers() -> None:
    """Close the sockets opened by :func:`publish_frame`."""
    with _PUBLISHERS_LOCK:
        while _PUBLISHERS:
            _, pub = _PUBLISHERS.popitem()
            pub.close()


def _curve_client(sock: zmq.Socket, secret: str | Path | None, server: str | Path | None) -> None:
    if secret or server:
        if not (secret and server):
            raise ValueError("CURVE needs both this client's secret certificate and the server's public certificate")
        from ..curve import make_client

        make_client(sock, secret, server)


def iter_results(
    endpoint: str = DEFAULT_RESULTS,
    *,
    timeout: float | None = None,
    kinds: Iterable[str] = ("result",),
    series: str | None = None,
    curve_secret_key: str | Path | None = None,
    curve_server_key: str | Path | None = None,
    context: zmq.Context | None = None,
) -> Iterator[Message]:
    """Subscribe to the daemon and yield what it publishes, decoded.

    Parameters
    ----------
    endpoint : str
        The daemon's result endpoint (``--results``).
    timeout : float, optional
        Stop after this many seconds without a message [s]; None: never.
    kinds : iterable of str
        Message kinds to yield: ``"result"``, ``"error"``, ``"status"``.
    series : str, optional
        Only this series (results and errors).
    curve_secret_key, curve_server_key : path, optional
        This viewer's secret certificate and the daemon's public certificate, when the daemon uses CURVE.
    context : zmq.Context, optional

    Yields
    ------
    Message
        ``kind``, ``header`` and ``arrays``; a result's maps are attributes too: ``r.classes`` (uint8, rows × cols),
        ``r.probabilities`` (float32, rows × cols × classes), ``r.mutual_information`` (float32 [bit]),
        ``r.interface`` (uint8 0/1), ``r.unknown`` (uint8 0/1), from a coarse-to-fine daemon ``r.filled`` (uint8
        0/1) and ``r.refinement_level`` (int8), and header keys such as ``r.timing``, ``r.class_names``. For the
        typed, checked reading use :func:`aistem.core.protocol.result_from_message`.
    """
    ctx = context or zmq.Context.instance()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 256)
    sock.setsockopt(zmq.RECONNECT_IVL, 100)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
    try:
        _curve_client(sock, curve_secret_key, curve_server_key)
        for kind in kinds:
            sock.setsockopt(zmq.SUBSCRIBE, str(kind).encode())
        sock.connect(endpoint)
        last = time.monotonic()
        while True:
            wait = 200 if timeout is None else max(0, min(200, int((last + timeout - time.monotonic()) * 1000)))
            if sock.poll(wait, zmq.POLLIN):
                parts = sock.recv_multipart(copy=False)
                last = time.monotonic()
                try:
                    msg = decode_message(parts)
                except ProtocolError as exc:
                    log.warning("undecodable message skipped: %s", exc)
                    continue
                if series is not None and msg.kind in ("result", "error") and msg.series != series:
                    continue
                yield msg
            elif timeout is not None and time.monotonic() - last >= timeout:
                return
    finally:
        sock.close(0)


def request(
    command: str,
    endpoint: str = DEFAULT_CONTROL,
    *,
    timeout: float = 10.0,
    curve_secret_key: str | Path | None = None,
    curve_server_key: str | Path | None = None,
    context: zmq.Context | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Send one control request and return the daemon's reply.

    Parameters
    ----------
    command : str
        ``"status"``, ``"set"`` (with ``window``/``stride`` [Å], ``samples``, ``threshold`` [bit], ``mode``,
        ``seed``, ``batch_size``), ``"reload"`` (optional ``model`` path) or ``"stop"`` (optional ``drain``).
    endpoint : str
        The daemon's control endpoint (``--control``).
    timeout : float
        [s].

    Returns
    -------
    dict
        ``ok`` (bool) and ``status``, ``settings``, ``model`` or ``reason``.

    Raises
    ------
    TimeoutError
        If no reply came within ``timeout``.
    """
    ctx = context or zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        _curve_client(sock, curve_secret_key, curve_server_key)
        sock.connect(endpoint)
        sock.send(pack({"command": command, **params}))
        if not sock.poll(int(timeout * 1000), zmq.POLLIN):
            raise TimeoutError(f"no reply from the daemon at {endpoint} within {timeout} s")
        return unpack(sock.recv())
    finally:
        sock.close(0)
