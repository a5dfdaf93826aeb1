"""``aistem relay``: one result stream from several daemons (ZeroMQ fan-in), for viewers and ``record``.

N daemons (``aistem serve --socket pull``, one per GPU or node) share the frames of one PUSH source; each binds
its own results endpoint.  The relay connects an XSUB socket to all of them and binds one XPUB socket: results and
errors pass through unchanged, and the subscriptions of the viewers and recorders travel upstream (ZeroMQ's own
proxy pattern, no scheduler of ours).  The daemons' status messages are not passed on one by one (a viewer would
flicker between them): every ``status_interval`` the relay publishes one status (``aistem-status/1``) whose
counters are the sums over the daemons, with ``daemons`` listing each daemon's own status and how old it is, and
``relay`` naming the upstream endpoints.

Frame order: each daemon publishes in its own order; the viewer keeps the newest frame on screen by series and
index (:func:`aistem.core.protocol.frame_order`) and ``record`` stores results by index.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import zmq

from aistem.core.protocol import DEFAULT_RELAY, STATUS_PROTOCOL, ProtocolError, encode_status, unpack

log = logging.getLogger(__name__)

__all__ = ["Relay", "merge_status"]

POLL_MS = 100
#: Counters summed over the daemons in the relay's status.
SUMMED = (
    "frames_received",
    "frames_processed",
    "frames_dropped",
    "frames_rejected",
    "frames_failed",
    "frames_superseded",
    "previews_published",
    "messages_unsent",
    "queue_length",
)
#: A daemon whose last status is older than this many status intervals is reported as ``silent``.
SILENT_AFTER = 3


def merge_status(daemons: dict[str, tuple[float, dict[str, Any]]], now: float, interval: float) -> dict[str, Any]:
    """The relay's status from the last status of each daemon.

    Parameters
    ----------
    daemons : dict
        Key (the daemon's results endpoint and pid) → (time received [s], its status map).
    now : float
        Current time [s] (same clock as the receive times).
    interval : float
        The relay's status interval [s].
    """
    out: dict[str, Any] = {"protocol": STATUS_PROTOCOL}
    rows = []
    for key, (received, st) in sorted(daemons.items()):
        age = now - received
        rows.append(
            {
                "key": key,
                "age_s": round(age, 3),
                "silent": age > SILENT_AFTER * max(interval, float(st.get("status_interval", interval) or interval)),
                **{k: st.get(k) for k in ("state", "pid", "endpoints", "mode", "socket", "model", "mean_latency_ms")},
                **{k: st.get(k) for k in SUMMED},
            }
        )
    for k in SUMMED:
        out[k] = sum(int(r[k] or 0) for r in rows)
    lat = [r["mean_latency_ms"] for r in rows if isinstance(r["mean_latency_ms"], (int, float))]
    out["mean_latency_ms"] = sum(lat) / len(lat) if lat else None
    states = {r["state"] for r in rows if not r["silent"]}
    out["state"] = "running" if "running" in states else (states.pop() if len(states) == 1 else "waiting")
    models = {(r["model"] or {}).get("hash") for r in rows if isinstance(r["model"], dict)}
    if len(models) == 1 and rows and isinstance(rows[0]["model"], dict):
        out["model"] = rows[0]["model"]
    elif len(models) > 1:
        out["model"] = {"name": "several models", "hash": ",".join(sorted(str(m) for m in models))}
    out["daemons"] = rows
    return out


class Relay:
    """XSUB (connected to every daemon's results) → XPUB (bound for viewers), with a merged status.

    Parameters
    ----------
    upstream : list of str
        Results endpoints of the daemons, e.g. ``tcp://node1:5556``.
    results : str
        Endpoint to bind for viewers and recorders (default ``DEFAULT_RELAY``, port 5566; port ``*``: any free port).
    status_interval : float
        Seconds between merged status messages [s].
    """

    def __init__(self, upstream: list[str], results: str, *, status_interval: float = 2.0, context: zmq.Context | None = None):
        if not upstream:
            raise ValueError("a relay needs at least one daemon results endpoint (--upstream)")
        if not status_interval > 0:
            raise ValueError(f"status interval must be positive, got {status_interval}")
        self.upstream = list(upstream)
        self.status_interval = float(status_interval)
        self._ctx = context or zmq.Context.instance()
        self._stop = threading.Event()
        self._daemons: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.forwarded = 0
        self._xpub = self._ctx.socket(zmq.XPUB)
        self._xpub.setsockopt(zmq.LINGER, 0)
        self._xpub.setsockopt(zmq.SNDHWM, 10000)
        try:
            if results.endswith(":*"):
                port = self._xpub.bind_to_random_port(results.rsplit(":", 1)[0])
                results = f"{results.rsplit(':', 1)[0]}:{port}"
            else:
                self._xpub.bind(results)
        except zmq.ZMQError as exc:
            self._xpub.close(0)
            raise RuntimeError(f"relay: cannot bind {results} ({exc}); is another relay or daemon using it?") from exc
        self.results_endpoint = results
        self._xsub = self._ctx.socket(zmq.XSUB)
        self._xsub.setsockopt(zmq.LINGER, 0)
        self._xsub.setsockopt(zmq.RCVHWM, 10000)
        for ep in self.upstream:
            self._xsub.connect(ep)
        self._xsub.send(b"\x01status")  # the relay's own subscription: it merges the daemons' statuses

    def stop(self) -> None:
        """Ask :meth:`run` to return (from any thread or a signal handler)."""
        self._stop.set()

    def daemons(self) -> dict[str, tuple[float, dict[str, Any]]]:
        with self._lock:
            return dict(self._daemons)

    def run(self) -> None:
        """Forward until :meth:`stop`; then close both sockets."""
        poller = zmq.Poller()
        poller.register(self._xsub, zmq.POLLIN)
        poller.register(self._xpub, zmq.POLLIN)
        next_status = time.monotonic() + self.status_interval
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(POLL_MS))
                if self._xsub in ready:
                    self._from_daemons(self._xsub.recv_multipart(copy=False))
                if self._xpub in ready:
                    self._xsub.send(self._xpub.recv())  # a (un)subscription from a viewer, upstream
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + self.status_interval
                    self._xpub.send_multipart(encode_status(self.status()))
            self._xpub.send_multipart(encode_status({**self.status(), "state": "stopping"}))
        finally:
            self._xsub.close(0)
            self._xpub.close(0)

    def serve_in_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.run, name="aistem-relay", daemon=True)
        t.start()
        return t

    def status(self) -> dict[str, Any]:
        """The merged status (see :func:`merge_status`) plus the relay's own endpoints."""
        st = merge_status(self.daemons(), time.monotonic(), self.status_interval)
        st["relay"] = {"upstream": self.upstream, "results": self.results_endpoint, "forwarded": self.forwarded}
        st["time"] = time.time()
        return st

    def _from_daemons(self, parts: list[Any]) -> None:
        if bytes(parts[0].buffer) == b"status" and len(parts) >= 2:
            try:
                st = unpack(parts[1].buffer)
            except ProtocolError as exc:
                log.warning("relay: undecodable status from a daemon: %s", exc)
                return
            eps = st.get("endpoints") if isinstance(st.get("endpoints"), dict) else {}
            key = f"{eps.get('results', '?')} pid {st.get('pid', '?')}"
            with self._lock:
                self._daemons[key] = (time.monotonic(), st)
            return
        self._xpub.send_multipart(parts, copy=False)
        self.forwarded += 1


def register(sub: Any) -> None:
    """Add ``aistem relay`` to the dispatcher's subparsers."""
    p = sub.add_parser(
        "relay",
        help="merge the results of several daemons into one stream for viewers and record",
        description="Connect to the results endpoints of several daemons (e.g. `aistem serve --socket pull` on "
        "several GPUs sharing one PUSH frame source) and publish their results, errors and one merged status on "
        "one endpoint. Viewers and `aistem record` connect to the relay instead of a daemon (docs/scaling.md).",
    )
    p.add_argument(
        "--upstream",
        action="append",
        required=True,
        metavar="ENDPOINT",
        help="a daemon's results endpoint, e.g. tcp://node1:5556; give one --upstream per daemon",
    )
    p.add_argument("--results", default=DEFAULT_RELAY, metavar="ENDPOINT", help="endpoint to bind (default %(default)s)")
    p.add_argument("--status-interval", type=float, default=2.0, metavar="S", help="seconds between merged statuses [s]")
    p.add_argument("--quiet", action="store_true", help="no start-up line; log warnings and errors only")
    p.set_defaults(func=_relay)


def _relay(args: Any) -> int:
    import signal

    relay = Relay(args.upstream, args.results, status_interval=args.status_interval)
    old = {sig: signal.signal(sig, lambda *_: relay.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    log.info("relay: %d daemon(s) %s → %s", len(relay.upstream), ", ".join(relay.upstream), relay.results_endpoint)
    if not getattr(args, "quiet", False):
        print(f"relaying {len(relay.upstream)} daemon(s) on {relay.results_endpoint}", flush=True)
    try:
        relay.run()
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    return 0
