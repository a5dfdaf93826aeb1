"""The viewer on a real daemon (``aistem.daemon.server.Daemon``) running the paper's model.

A test acquisition publisher sends a bicrystal — square lattice (FCC_Cu_100) on the left, hexagonal lattice
(HCP_Ti_0001) on the right — the daemon analyses it, and the viewer must show the two class colours on the two
sides in its screenshot, the right read-out under the pointer, and come back by itself after the daemon restarts.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from aistem.gui.overlay import class_lut
from tests.gui.conftest import LEFT_CLASS, RIGHT_CLASS, frame_message, wait_until

server = pytest.importorskip("aistem.daemon.server", reason="the daemon (issue 5) is not there yet")
settings_mod = pytest.importorskip("aistem.daemon.settings")

TIMEOUT = 90.0  # s: first analysis includes TensorFlow's warm-up on a slow CI machine


def _free_port() -> int:
    """A TCP port nobody listens on (closed synchronously, unlike a ZeroMQ socket's)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _daemon(frames: str, results: str, model, **changes):
    st = settings_mod.DaemonSettings(
        frames=frames,
        results=results,
        control="tcp://127.0.0.1:*",
        status_interval=0.5,
        analysis=settings_mod.AnalysisSettings(window=12.0, stride=3.0, samples=8, threshold=0.1, seed=0),
    ).replace(**{"preview": False, **changes})  # frames come faster than a refinement here: final results only
    d = server.Daemon(st, model)
    d.start()
    return d, d.serve_in_thread()


def _stop(d, thread) -> None:
    d.request_stop()
    thread.join(30)
    assert not thread.is_alive()


@pytest.fixture
def live(publisher, reference_model, qapp):
    """Acquisition publisher → real daemon → viewer window, all on 127.0.0.1."""
    from aistem.gui.receiver import Receiver
    from aistem.gui.window import ViewerWindow

    acq = publisher(frames=True)
    acq.loop(lambda i: [frame_message(i)], period=0.4)
    results = f"tcp://127.0.0.1:{_free_port()}"
    d, t = _daemon(acq.frames_endpoint, results, reference_model)
    rec = Receiver(results, acq.frames_endpoint).start()
    w = ViewerWindow(rec, opacity=1.0)
    w.resize(1100, 760)
    w.show()
    state = {"daemon": d, "thread": t}
    try:
        yield w, state, acq, reference_model
    finally:
        rec.stop()
        w.close()
        w.deleteLater()
        qapp.processEvents()
        if state["daemon"] is not None:
            _stop(state["daemon"], state["thread"])


def _rgb(img, w, row, col):
    y, x = w.view_to_window(row, col)
    c = img.pixelColor(x, y)
    return np.array([c.red(), c.green(), c.blue()], float)


def test_real_daemon_bicrystal_two_colours_and_hover(live, qapp, tmp_path):
    from pyqtgraph.Qt import QtCore, QtGui
    from PySide6.QtTest import QTest

    w, _, _, _ = live
    assert wait_until(lambda: w.result is not None and w.frame_matches_result, TIMEOUT, qapp), w.status_label.text()
    r = w.result
    assert r.model_name and r.samples == 8 and r.class_names[LEFT_CLASS] == "FCC_Cu_100"
    assert r.class_names[RIGHT_CLASS] == "HCP_Ti_0001"
    i = r.grid[0] // 2
    assert r.classes[i, 0] == LEFT_CLASS and r.classes[i, -1] == RIGHT_CLASS
    img = QtGui.QImage(str(w.screenshot(tmp_path / "daemon.png")))
    lut = class_lut(len(r.class_names)).astype(float)
    np.testing.assert_allclose(_rgb(img, w, *r.window_centre(i, 0)), lut[LEFT_CLASS][:3], atol=2)
    np.testing.assert_allclose(_rgb(img, w, *r.window_centre(i, r.grid[1] - 1)), lut[RIGHT_CLASS][:3], atol=2)
    # hover over a chosen point on the right grain, with a real mouse move
    row, col = r.window_centre(i, r.grid[1] - 1)
    y, x = w.view_to_window(row, col)
    vp = w.glw.viewport()
    QTest.mouseMove(vp, vp.mapFrom(w, QtCore.QPoint(x, y)))
    qapp.processEvents()
    text = w.hover_label.text()
    shown = w.result  # the result under the pointer (a newer one may have come)
    j = shown.grid[1] - 1
    assert f"window ({i}, {j})" in text and " · HCP_Ti_0001 · p: HCP_Ti_0001 " in text, text
    assert f"MI {shown.mutual_information[i, j]:.3f} bit" in text
    status = w.status_label.text()
    assert "frames/s" in status and f"model {shown.model_name}" in status and "dropped" in status


def test_viewer_reconnects_when_the_daemon_restarts(live, qapp):
    w, state, acq, model = live
    assert wait_until(lambda: w.result is not None, TIMEOUT, qapp), w.status_label.text()
    results = w.receiver.endpoints["results"]
    _stop(state["daemon"], state["thread"])
    state["daemon"] = None
    assert wait_until(lambda: "results: not connected (retrying)" in w.status_label.text(), 20, qapp)
    restarted = time.time()
    state["daemon"], state["thread"] = _daemon(acq.frames_endpoint, results, model)
    assert wait_until(lambda: w.result is not None and w.result.received > restarted, TIMEOUT, qapp), w.status_label.text()
    assert wait_until(lambda: "not connected" not in w.status_label.text(), 10, qapp)


def test_real_daemon_live_preview_then_final_in_the_viewer(publisher, reference_model, qapp):
    """Live mode with the preview on: the window draws the coarse preview of a frame, then its final result."""
    from aistem.gui.receiver import Receiver
    from aistem.gui.window import ViewerWindow

    acq = publisher(frames=True)
    acq.loop(lambda i: [frame_message(i)], period=4.0)  # slower than preview + refinement: every frame refines
    results = f"tcp://127.0.0.1:{_free_port()}"
    d, t = _daemon(acq.frames_endpoint, results, reference_model, stride=6.0, samples=8, preview=True, coarse_step=2)
    rec = Receiver(results, acq.frames_endpoint).start()
    w = ViewerWindow(rec, opacity=1.0)
    w.show()
    drawn: list[tuple[int, bool, tuple[int, int], str]] = []

    def record(win) -> None:
        if win.result is not None and (not drawn or drawn[-1][:2] != (win.result.index, win.result.final)):
            drawn.append((win.result.index, win.result.final, win.result.grid, win.status_label.text()))

    w.add_tick_callback(record)
    try:

        def preview_then_final() -> bool:
            for k in range(len(drawn) - 1):
                (i, f, _, _), (j, g, _, _) = drawn[k], drawn[k + 1]
                if i == j and not f and g:
                    return True
            return False

        assert wait_until(preview_then_final, TIMEOUT, qapp), drawn
        k = next(k for k in range(len(drawn) - 1) if drawn[k][0] == drawn[k + 1][0] and not drawn[k][1] and drawn[k + 1][1])
        (i, _, grid_p, status_p), (_, _, grid_f, status_f) = drawn[k], drawn[k + 1]
        assert grid_p == (2, 2) and grid_f == (4, 4)  # the coarse level (every 2nd window) first, then the whole grid
        assert f"#{i} preview 1/2 (2×2 windows)" in status_p and f"#{i} final (4×4 windows)" in status_f
        assert rec.counters["previews_ignored"] == 0
    finally:
        rec.stop()
        w.close()
        w.deleteLater()
        qapp.processEvents()
        _stop(d, t)
