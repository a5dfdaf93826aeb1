"""``aistem record``: subscribe to frames (and results) and write them to disk, to capture an acquisition for replay.

Frames go to ``OUT/<series>.frames.h5``, results to ``OUT/<series>.results.h5``
(the layout of :mod:`aistem.daemon.storage`), each message flushed as it comes.
``aistem replay OUT/<series>.frames.h5`` sends the frames again, with their
series names and indices.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import zmq

from aistem.core.protocol import DEFAULT_FRAMES, Limits, ProtocolError, decode_frame, decode_message

from ..storage import SeriesStore

__all__ = ["Recorder"]

log = logging.getLogger(__name__)


class Recorder:
    """Writes every frame (and result) it receives to one HDF5 file per series.

    Parameters
    ----------
    out : path
        Directory (created).
    frames : str, optional
        Frame endpoint to connect to (the acquisition side binds); None: no frames.
    results : str, optional
        The daemon's result endpoint; None: no results.
    socket : str
        ``"sub"`` (a copy of the stream; the default) or ``"pull"`` (takes frames out of a PUSH stream).
    limits : Limits, optional
    curve_secret_key : path, optional
        The recorder's own secret certificate (for CURVE).
    frames_public_key, results_public_key : path, optional
        The public certificates of the frame source and of the daemon, where they use CURVE.
    """

    def __init__(
        self,
        out: str | Path,
        frames: str | None = DEFAULT_FRAMES,
        results: str | None = None,
        *,
        socket: str = "sub",
        limits: Limits | None = None,
        curve_secret_key: str | Path | None = None,
        frames_public_key: str | Path | None = None,
        results_public_key: str | Path | None = None,
    ) -> None:
        if frames is None and results is None:
            raise ValueError("nothing to record: give a frame endpoint, a result endpoint or both")
        if socket not in ("sub", "pull"):
            raise ValueError(f"socket must be sub or pull, got {socket!r}")
        self.out = Path(out)
        self.frames, self.results, self.socket = frames, results, socket
        self.limits = limits or Limits()
        self.curve_secret_key = curve_secret_key
        self.frames_public_key, self.results_public_key = frames_public_key, results_public_key
        self.counts = {"frames": 0, "results": 0, "errors": 0, "skipped": 0}
        self.stop = threading.Event()

    def _socket(self, ctx: zmq.Context, kind: int, endpoint: str, server_key: str | Path | None) -> zmq.Socket:
        s = ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 1000)
        s.setsockopt(zmq.MAXMSGSIZE, self.limits.max_message_bytes)
        s.setsockopt(zmq.RECONNECT_IVL, 100)
        s.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        if server_key:
            from ..curve import make_client

            if not self.curve_secret_key:
                raise ValueError("CURVE needs the recorder's own secret certificate (--curve-secret-key)")
            make_client(s, self.curve_secret_key, server_key)
        if kind == zmq.SUB:
            s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(endpoint)
        return s

    def run(self, *, duration: float | None = None, count: int | None = None) -> dict[str, int]:
        """Record until :attr:`stop` is set, ``duration`` seconds have passed or ``count`` frames were written.

        Returns
        -------
        dict
            Messages written: ``frames``, ``results``, ``errors`` (logged only), ``skipped`` (undecodable).
        """
        ctx = zmq.Context()
        socks: dict[zmq.Socket, str] = {}
        frame_store = SeriesStore(self.out, "frames")
        result_store = SeriesStore(self.out, "results")
        end = None if duration is None else time.monotonic() + duration
        try:
            if self.frames:
                kind = zmq.SUB if self.socket == "sub" else zmq.PULL
                socks[self._socket(ctx, kind, self.frames, self.frames_public_key)] = "frames"
            if self.results:
                socks[self._socket(ctx, zmq.SUB, self.results, self.results_public_key)] = "results"
            poller = zmq.Poller()
            for s in socks:
                poller.register(s, zmq.POLLIN)
            log.info("recording to %s: frames from %s, results from %s", self.out, self.frames, self.results)
            while not self.stop.is_set():
                if end is not None and time.monotonic() >= end:
                    break
                if count is not None and self.counts["frames"] >= count:
                    break
                for s, _ in poller.poll(100):
                    self._handle(socks[s], s.recv_multipart(copy=False), frame_store, result_store)
        finally:
            for s in socks:
                s.close(0)
            ctx.term()
            frame_store.close()
            result_store.close()
        log.info("recorded %s", self.counts)
        return dict(self.counts)

    def _handle(self, what: str, parts: list, frame_store: SeriesStore, result_store: SeriesStore) -> None:
        try:
            if what == "frames":
                f = decode_frame(parts, self.limits, check_finite=False)
                frame_store.append(f.series, f.index, f.header, {"image": f.image})
                self.counts["frames"] += 1
                return
            msg = decode_message(parts)
        except ProtocolError as exc:
            self.counts["skipped"] += 1
            log.warning("skipped a message from the %s socket: %s", what, exc)
            return
        if msg.kind == "result":
            result_store.append(str(msg.series), int(msg.index or 0), msg.header, msg.arrays)
            self.counts["results"] += 1
        elif msg.kind == "error":
            self.counts["errors"] += 1
            log.info("daemon error for %s #%s: %s", msg.series, msg.index, msg.header.get("reason"))
