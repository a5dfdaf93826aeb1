"""Viewer tests: offscreen Qt, real ZeroMQ sockets on 127.0.0.1, protocol-conformant test publishers."""

from __future__ import annotations

import contextlib
import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import zmq

from aistem.core.protocol import encode_frame
from aistem.core.protocol import encode_result_arrays as encode_result

CLASS_NAMES = [
    "BCC_Fe_100",
    "BCC_Fe_110",
    "BCC_Fe_111",
    "FCC_Cu_100",
    "FCC_Cu_110",
    "FCC_Cu_111",
    "FCC_Cu_211",
    "HCP_Ti_0001",
    "HCP_Ti_10m10",
    "HCP_Ti_2m1m10",
]
SHAPE = (256, 256)
WINDOW, STRIDE = 100, 26
LEFT_CLASS, RIGHT_CLASS = 3, 7
PIXEL_SIZE = 0.12


def bicrystal_image(shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """Square lattice (left) | hexagonal lattice (right), uint16 counts."""
    r, c = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64) * PIXEL_SIZE
    a = 1.815
    sq = np.exp(-(((r / a - np.round(r / a)) * a) ** 2 + ((c / a - np.round(c / a)) * a) ** 2) / (2 * 0.35**2))
    b = 2.95  # hexagonal: rows of columns b apart, every other row shifted by b/2
    rr = r / (b * np.sqrt(3) / 2)
    k = np.round(rr)
    cc = c / b - 0.5 * (k % 2)
    hx = np.exp(-(((rr - k) * b * np.sqrt(3) / 2) ** 2 + ((cc - np.round(cc)) * b) ** 2) / (2 * 0.35**2))
    img = np.where(c < shape[1] // 2 * PIXEL_SIZE, sq, hx)
    return (200 + 1000 * img).astype(np.uint16)


def bicrystal_result_arrays(shape: tuple[int, int] = SHAPE, window: int = WINDOW, stride: int = STRIDE) -> dict[str, np.ndarray]:
    """Maps a perfect model would give on :func:`bicrystal_image`: class by the side of the window centre."""
    g = ((shape[0] - window) // stride + 1, (shape[1] - window) // stride + 1)
    centre_c = np.arange(g[1]) * stride + (window - 1) / 2
    classes = np.where(centre_c[None, :] < shape[1] / 2, LEFT_CLASS, RIGHT_CLASS).astype(np.uint8).repeat(g[0], 0)
    mi = np.exp(-(((centre_c - shape[1] / 2) / 20.0) ** 2))[None, :].repeat(g[0], 0).astype(np.float32) * 0.5
    probs = np.full((*g, len(CLASS_NAMES)), 0.01, np.float32)
    probs[..., LEFT_CLASS] = np.where(classes == LEFT_CLASS, 0.85, 0.06)
    probs[..., RIGHT_CLASS] = np.where(classes == RIGHT_CLASS, 0.85, 0.06)
    return {"classes": classes, "probabilities": probs, "mutual_information": mi, "interface": (mi > 0.1).astype(np.uint8)}


def result_message(index: int, series: str = "bicrystal", **kw) -> list[bytes]:
    arrays = kw.pop("arrays", None) or bicrystal_result_arrays()
    defaults = dict(
        protocol="aistem-result/1",  # the oldest result version: every later 1.x only adds to it
        window_px=WINDOW,
        stride_px=STRIDE,
        class_names=CLASS_NAMES,
        pixel_size=PIXEL_SIZE,
        samples=8,
        threshold=0.1,
        model={"name": "test-model", "hash": "0123456789abcdef"},
        timing={"queued": 1.0, "descriptor": 5.0, "inference": 20.0, "total": 26.0},
        dropped=0,
        timestamp=time.time(),  # the frame's acquisition time, passed on as the daemon does
    )
    defaults.update(kw)
    return encode_result(series, index, arrays, **defaults)


class Publisher:
    """A PUB socket on 127.0.0.1 that (re)sends messages in a thread until stopped: the sending half of the protocol."""

    def __init__(self, port: int = 0, frames: bool = False) -> None:
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        if port:  # rebinding a port just closed: ZeroMQ releases it asynchronously
            deadline = time.monotonic() + 10
            while True:
                try:
                    self.sock.bind(f"tcp://127.0.0.1:{port}")
                    break
                except zmq.ZMQError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            self.port = port
        else:
            self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.fsock: zmq.Socket | None = None
        self.frames_endpoint: str | None = None
        if frames:  # a second PUB, the acquisition side: frame messages go there
            self.fsock = self.ctx.socket(zmq.PUB)
            self.fsock.setsockopt(zmq.LINGER, 0)
            self.frames_endpoint = f"tcp://127.0.0.1:{self.fsock.bind_to_random_port('tcp://127.0.0.1')}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # a ZeroMQ socket is used by one thread at a time: the test's or the loop's
        self.sent = 0

    def send(self, parts: list[bytes]) -> None:
        with self._lock:
            sock = self.fsock if self.fsock is not None and parts[0] == b"frame" else self.sock
            sock.send_multipart(parts)
            self.sent += 1

    def loop(self, make: Callable[[int], list[list[bytes]]], period: float = 0.05) -> Publisher:
        """Send ``make(i)`` (a list of messages) every ``period`` s, i = 0, 1, …, from a thread."""

        def run() -> None:
            i = 0
            while not self._stop.is_set():
                for m in make(i):
                    if self._stop.is_set():  # a long batch ends at the next message, not after it
                        return
                    self.send(m)
                i += 1
                self._stop.wait(period)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the loop, then close the sockets: never while the loop's thread may still be sending on them (a
        socket closed under a sending thread aborts the process inside libzmq)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            assert not self._thread.is_alive(), "the publisher's loop did not stop: its sockets are left open"
        with self._lock:
            self.sock.close(linger=0)
            if self.fsock is not None:
                self.fsock.close(linger=0)


@pytest.fixture
def publisher() -> Iterator[Callable[..., Publisher]]:
    made: list[Publisher] = []

    def make(port: int = 0, frames: bool = False) -> Publisher:
        p = Publisher(port, frames)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture(scope="session")
def qapp():
    import pyqtgraph as pg

    return pg.mkQApp("aistem-view-tests")


def wait_until(cond: Callable[[], bool], timeout: float = 10.0, app=None) -> bool:
    """Poll ``cond`` (processing Qt events if ``app``) until true or ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app is not None:
            app.processEvents()
        if cond():
            return True
        time.sleep(0.02)
    return False


def frame_message(index: int, series: str = "bicrystal", image: np.ndarray | None = None) -> list[bytes]:
    return encode_frame(bicrystal_image() if image is None else image, series, index, PIXEL_SIZE, time.time())


@contextlib.contextmanager
def shown_window(qapp: Any, size: tuple[int, int]) -> Iterator[Any]:
    """A ``ViewerWindow`` of ``size`` (width, height) [px], shown and processed; closed and deleted afterwards."""
    from aistem.gui.window import ViewerWindow

    w = ViewerWindow(None, opacity=1.0)
    w.resize(*size)
    w.show()
    qapp.processEvents()
    try:
        yield w
    finally:
        w.close()
        w.deleteLater()
        qapp.processEvents()
