"""Daemon test fixtures: real ZeroMQ sockets on 127.0.0.1 (free ports), the paper's model, cheap analysis settings.

Analysis is kept cheap — 256×256 frames, 12 Å (100 px) windows every 6 Å (50 px): a 4×4 grid, T = 4 — so a
frame takes well under a second on two cores.
"""

from __future__ import annotations

import faulthandler
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq

from aistem.core.protocol import Message, ProtocolError, decode_message
from aistem.daemon.settings import AnalysisSettings, DaemonSettings
from aistem.daemon.sources.client import FramePublisher, request
from aistem.daemon.sources.sim import synthetic_series

PIXEL_SIZE = 0.12
SHAPE = (256, 256)
FAST = {"window": 12.0, "stride": 6.0, "samples": 4, "seed": 0, "threshold": 0.1, "coarse_step": 1}
ROOT = Path(__file__).resolve().parents[2]


TEST_TIME_LIMIT = 240  # [s] a test still running after this is a hang: dump every thread's stack and exit


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    """Turn a hang (a socket waiting forever) into a loud failure instead of a stuck test run."""
    faulthandler.dump_traceback_later(TEST_TIME_LIMIT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def fast_settings(frames: str, **changes: Any) -> DaemonSettings:
    """Daemon settings for tests: free ports, quick status, cheap analysis."""
    s = DaemonSettings(
        frames=frames,
        results="tcp://127.0.0.1:*",
        control="tcp://127.0.0.1:*",
        status_interval=0.5,
        mode="lossless",
        analysis=AnalysisSettings(**FAST),
    )
    return s.replace(**changes)


def free_port() -> int:
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.REP)
    try:
        return s.bind_to_random_port("tcp://127.0.0.1")
    finally:
        s.close(0)


class Listener:
    """A viewer: a SUB socket on the daemon's results, read by a background thread into :attr:`messages`."""

    def __init__(self, endpoint: str, *, curve: tuple[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.messages: list[Message] = []
        self.undecodable: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._curve = curve
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)

    def _run(self) -> None:
        ctx = zmq.Context.instance()
        s = ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 10000)
        if self._curve:
            from aistem.daemon.curve import make_client

            make_client(s, *self._curve)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(self.endpoint)
        self._ready.set()
        try:
            while not self._stop.is_set():
                if s.poll(50):
                    parts = s.recv_multipart()
                    try:
                        m = decode_message(parts)
                    except ProtocolError as exc:
                        self.undecodable.append(str(exc))
                        continue
                    with self._lock:
                        self.messages.append(m)
        finally:
            s.close(0)

    def of(self, kind: str, series: str | None = None) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.kind == kind and (series is None or m.series == series)]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "messages") -> Any:
        """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = predicate()
            if v:
                return v
            time.sleep(0.02)
        kinds = [(m.kind, m.series, m.index) for m in self.messages[-10:]]
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; last messages: {kinds}")

    def results(self, series: str, n: int, timeout: float = 30.0) -> list[Message]:
        """Wait for ``n`` results of ``series``."""
        return self.wait_for(lambda: (r := self.of("result", series)) and len(r) >= n and r, timeout, f"{n} results of {series}")

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


class Source:
    """The acquisition side, bound to a free port; :meth:`restart` closes it and binds again on the same port."""

    def __init__(self, **kw: Any) -> None:
        self._kw = kw
        self.pub = FramePublisher("tcp://127.0.0.1:*", **kw)
        self.endpoint = self.pub.endpoint

    def send(self, image: np.ndarray, series: str, index: int, **kw: Any) -> None:
        self.pub.send(image, pixel_size=kw.pop("pixel_size", PIXEL_SIZE), series=series, index=index, **kw)

    def send_parts(self, parts: list[Any]) -> None:
        self.pub.send_parts(parts)

    def close(self) -> None:
        self.pub.close()

    def restart(self) -> None:
        self.pub.close()
        self.pub = FramePublisher(self.endpoint, **self._kw)


def sync(listener: Listener, control: str, timeout: float = 15.0, **curve: Any) -> None:
    """Wait until ``listener`` receives the daemon's messages (a status request publishes one)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        n = len(listener.of("status"))
        request("status", control, timeout=5, **curve)
        t = time.monotonic() + 0.3
        while time.monotonic() < t:
            if len(listener.of("status")) > n:
                return
            time.sleep(0.02)
    raise AssertionError("the listener never received the daemon's status")


def wait_connected(source: Source, listener: Listener, control: str, timeout: float = 20.0) -> None:
    """Send cheap probes (8×8 frames, refused as too small) until their errors come back: source → daemon → listener."""
    sync(listener, control)
    tiny = np.zeros((8, 8), np.uint16)
    end = time.monotonic() + timeout
    k = 0
    while time.monotonic() < end:
        source.send(tiny, "probe", k)
        k += 1
        t = time.monotonic() + 0.3
        while time.monotonic() < t:
            if listener.of("error", "probe"):
                listener.clear()
                return
            time.sleep(0.02)
    raise AssertionError("the daemon never received the source's frames")


def stop_keeps_the_preview(daemon: Any, thread: threading.Thread, listener: Listener, series: str) -> None:
    """Stop the daemon during the refinement of ``series`` #0: it stops within 30 s, and the frame's preview stays
    its only result (counted as superseded)."""
    t0 = time.monotonic()
    daemon.request_stop()
    thread.join(30)
    assert not thread.is_alive(), "the daemon did not stop"
    assert time.monotonic() - t0 < 30
    assert [(r.index, r.final) for r in listener.of("result", series)] == [(0, False)]
    assert daemon.status()["frames_superseded"] == 1


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """Six 256×256 uint16 bicrystal frames (two halves of a 1.815 Å square lattice rotated 30°, 0.12 Å/px)."""
    return synthetic_series(6, SHAPE, PIXEL_SIZE)


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    s = Source()
    yield s
    s.close()


@pytest.fixture(scope="module")
def save_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("daemon-save")


@pytest.fixture(scope="module")
def daemon(reference_model: Any, source: Source, save_dir: Path) -> Iterator[Any]:
    """One daemon (in a thread of the test process) for the module: lossless, saving to ``save_dir``."""
    from aistem.daemon.server import Daemon

    d = Daemon(fast_settings(source.endpoint, save=str(save_dir)), reference_model)
    thread = d.serve_in_thread()
    yield d
    d.request_stop()
    thread.join(30)
    assert not thread.is_alive(), "the daemon did not stop"


@pytest.fixture
def listener(daemon: Any) -> Iterator[Listener]:
    ls = Listener(daemon.results_endpoint)
    sync(ls, daemon.control_endpoint)
    yield ls
    ls.close()


def aistem_cli(*args: str, **kw: Any) -> subprocess.Popen:
    """``aistem ARGS`` in a subprocess (``python -m aistem.cli``)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "aistem.cli", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )
