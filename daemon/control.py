"""The daemon's control socket: a ROUTER that answers REQ clients, one request at a time per client.

A ROUTER (not a REP) so that a slow request — ``reload`` reads and hashes a model file, seconds for a large one —
runs in a thread of its own while ``status``, ``set`` and ``stop`` from other clients are answered at once. Every
request gets a reply: one over :data:`MAX_REQUEST_BYTES` gets ``ok: false`` saying so (parts up to
:data:`MAX_PART_BYTES` are read; ZeroMQ drops a peer that sends a larger one).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import zmq

from aistem.core.protocol import ProtocolError, pack, unpack

__all__ = ["MAX_PART_BYTES", "MAX_REQUEST_BYTES", "describe_request", "parse_request", "serve_control"]

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1 << 20  # the largest request answered [bytes]
MAX_PART_BYTES = 64 << 20  # the largest part read at all (ZeroMQ MAXMSGSIZE of the control socket) [bytes]
LOG_CHARS = 300  # a request is logged up to this many characters


def describe_request(req: Any) -> str:
    """A request for the log: at most :data:`LOG_CHARS` characters, however large it was."""
    text = repr(req)
    return text if len(text) <= LOG_CHARS else f"{text[:LOG_CHARS]}… ({len(text)} characters)"


def parse_request(parts: list[bytes]) -> tuple[dict[str, Any] | None, str | None]:
    """(request map, None), or (None, the reason it is refused): one msgpack map, string keys, a ``command``."""
    if len(parts) != 1:
        return None, f"a request is one msgpack map, got {len(parts)} parts"
    if len(parts[0]) > MAX_REQUEST_BYTES:
        return None, f"request of {len(parts[0])} bytes is larger than the limit of {MAX_REQUEST_BYTES} bytes"
    try:
        req = unpack(parts[0], max_bytes=MAX_REQUEST_BYTES)
    except ProtocolError as exc:
        return None, exc.reason
    bad = [k for k in req if not isinstance(k, str)]
    if bad:
        return None, f"request keys must be strings, got {describe_request(bad[:5])}"
    return req, None


def serve_control(
    sock: zmq.Socket,
    handle: Callable[[dict[str, Any]], dict[str, Any]],
    slow: Callable[[dict[str, Any]], bool],
    stop: threading.Event,
    poll_ms: int,
) -> None:
    """Answer requests on the ROUTER ``sock`` until ``stop``; requests for which ``slow(req)`` is true run in a
    thread (one at a time: a second gets ``ok: false``) and are answered when done."""
    done: queue.Queue[tuple[list[bytes], dict[str, Any]]] = queue.Queue()
    busy = threading.Event()

    def run_slow(envelope: list[bytes], req: dict[str, Any]) -> None:
        try:
            reply = handle(req)
        except Exception as exc:  # never lose the reply
            log.exception("control request failed")
            reply = {"ok": False, "reason": f"internal error: {type(exc).__name__}"}
        busy.clear()
        done.put((envelope, reply))

    while not stop.is_set():
        while not done.empty():
            envelope, reply = done.get_nowait()
            sock.send_multipart([*envelope, pack(reply)])
        if not sock.poll(poll_ms, zmq.POLLIN):
            continue
        msg = sock.recv_multipart()
        if b"" in msg[1:]:  # REQ: [identity, …, b"", body…]
            cut = msg.index(b"", 1) + 1
        else:  # a DEALER without the empty delimiter
            cut = 1
        envelope, body = msg[:cut], msg[cut:]
        req, refused = parse_request(body)
        if req is None:
            reply: dict[str, Any] = {"ok": False, "reason": refused}
        elif slow(req):
            if busy.is_set():
                reply = {"ok": False, "reason": f"a {req.get('command')} is already in progress: try again when it is done"}
            else:
                busy.set()
                threading.Thread(target=run_slow, args=(envelope, req), name="aistem-control-slow", daemon=True).start()
                continue
        else:
            try:
                reply = handle(req)
            except Exception as exc:  # a request must never kill the control thread
                log.exception("control request failed")
                reply = {"ok": False, "reason": f"internal error: {type(exc).__name__}"}
        sock.send_multipart([*envelope, pack(reply)])
