"""The viewer on real ZeroMQ sockets: test publishers speak the wire protocol on 127.0.0.1 as the daemon does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from aistem.core.protocol import encode_error, encode_status
from aistem.gui.overlay import class_lut
from tests.gui.conftest import LEFT_CLASS, RIGHT_CLASS, frame_message, result_message, wait_until

AISTEM = [sys.executable, "-m", "aistem.cli"]


def _stream(i: int, series: str = "bicrystal") -> list[list[bytes]]:
    return [frame_message(i, series), result_message(i, series)]


def test_receiver_pairs_results_with_their_frames_and_counts_refinements(publisher):
    from aistem.gui.receiver import Receiver

    p = publisher(frames=True)
    p.loop(
        lambda i: [
            frame_message(i),
            result_message(i, final=False),
            result_message(i, final=True),
            encode_status(frames_received=i),
        ],
        period=0.03,
    )
    with Receiver(p.endpoint, p.frames_endpoint) as rec:
        assert rec.wait_results(8, timeout=10)
        assert wait_until(lambda: rec.snapshot().status is not None, 5)
        # the frame of a recent result is buffered (the frame SUB may have joined a little later than the result SUB)
        paired: list = []

        def has_frame() -> bool:
            r = rec.snapshot().latest_result
            f = rec.frame_for(r.key) if r is not None else None
            paired[:] = [f] if f is not None else []
            return bool(paired)

        assert wait_until(has_frame, 5)
        assert paired[0].image.shape == (256, 256)
        s = rec.snapshot()
        assert s.counters["connected"] == {"results": True, "frames": True}
        assert s.latency_ms is not None and 0 <= s.latency_ms < 2000
        assert s.results_per_s > 1 and s.frames_per_s > 1
    assert not rec.running  # stopped: the counters no longer move
    c = rec.counters
    assert 3 <= c["final_results"] and c["results"] - 1 <= 2 * c["final_results"] <= c["results"] + 1
    assert rec.class_counts.sum() == c["final_results"] * s.latest_result.classes.size


def _class_pixels(path, k):
    from pyqtgraph.Qt import QtGui

    img = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, : 3 * img.width()]
    a = a.reshape(img.height(), img.width(), 3).astype(int)
    c = class_lut(10)[k][:3].astype(int)
    return np.nonzero(np.abs(a - c).max(axis=2) <= 2)


def test_run_view_headless_writes_screenshot_and_summary(publisher, qapp, tmp_path):
    from aistem.gui import run_view

    p = publisher(frames=True)
    p.loop(_stream, period=0.05)
    out = run_view(
        p.endpoint,
        p.frames_endpoint,
        screenshot=tmp_path / "view.png",
        after=3,
        timeout=20,
        opacity=1.0,
        summary=tmp_path / "s.json",
    )
    assert out["ok"] and not out["timed_out"] and out["results"] >= 3
    assert out["class_fractions"] == pytest.approx({"FCC_Cu_100": 4 / 7, "HCP_Ti_0001": 3 / 7}, abs=1e-3)
    assert out["interface_fraction"] == pytest.approx(1 / 7, abs=1e-3)
    assert out["frames_per_second"] > 2 and out["model"] == {"name": "test-model", "hash": "0123456789abcdef"}
    assert json.loads((tmp_path / "s.json").read_text())["results"] == out["results"]
    # the two grains: large areas of the two class colours, the FCC one left of the HCP one
    left_rows, left_cols = _class_pixels(out["screenshot"], LEFT_CLASS)
    right_rows, right_cols = _class_pixels(out["screenshot"], RIGHT_CLASS)
    assert left_cols.size > 20000 and right_cols.size > 15000
    assert np.median(left_cols) + 150 < np.median(right_cols)
    assert abs(np.median(left_rows) - np.median(right_rows)) < 40


def test_reconnects_after_the_daemon_restarts(publisher, qapp):
    from aistem.gui.receiver import Receiver
    from aistem.gui.window import ViewerWindow

    first = publisher(frames=True)
    port = first.port
    first.loop(lambda i: [*_stream(i, "before"), encode_error("test error", series="before", index=i)], period=0.05)
    rec = Receiver(first.endpoint).start()
    w = ViewerWindow(rec)
    try:
        w.show()
        assert wait_until(lambda: w.result is not None and w.result.series == "before", 10, qapp)
        assert wait_until(lambda: "daemon error on before" in w.status_label.text(), 5, qapp)
        first.close()  # the daemon stops …
        assert wait_until(lambda: "results: not connected (retrying)" in w.status_label.text(), 10, qapp)
        assert wait_until(lambda: "waiting for frames" in w.status_label.text(), 10, qapp)
        second = publisher(port, frames=True)  # … and comes back on the same endpoint
        second.loop(lambda i: _stream(i, "after"), period=0.05)
        assert wait_until(lambda: w.result is not None and w.result.series == "after", 15, qapp)
        assert wait_until(lambda: "not connected" not in w.status_label.text(), 5, qapp)
        assert "after #" in w.status_label.text()
    finally:
        rec.stop()
        w.close()
        w.deleteLater()
        qapp.processEvents()


def test_a_fast_stream_never_freezes_the_window(publisher, qapp):
    from pyqtgraph.Qt import QtCore

    from aistem.gui.receiver import Receiver
    from aistem.gui.window import ViewerWindow

    rp = publisher()
    # as fast as the socket takes them; every batch newer frames (a repeated older frame would be a late result)
    rp.loop(lambda i: [result_message(50 * i + k) for k in range(50)], period=0.0)
    rec = Receiver(rp.endpoint).start()
    w = ViewerWindow(rec, redraw_hz=10)
    gaps: list[float] = []
    last = [time.monotonic()]

    def beat() -> None:
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    timer = QtCore.QTimer()
    timer.timeout.connect(beat)
    try:
        w.show()
        timer.start(20)
        t0 = time.monotonic()
        draws0 = w.results_drawn
        while time.monotonic() - t0 < 2.0:
            qapp.processEvents()
            time.sleep(0.005)
        timer.stop()
        drawn = w.results_drawn - draws0
        assert rec.counters["results"] > 200
        assert 5 <= drawn <= 25  # ~10 redraws/s, not one per result
        assert rec.counters["skipped"] > rec.counters["results"] / 2
        assert max(gaps[1:]) < 0.5  # the event loop kept running
    finally:
        rec.stop()
        w.close()
        w.deleteLater()
        qapp.processEvents()


def test_timeout_gives_up_and_shows_what_it_waits_for(qapp, tmp_path):
    import zmq

    from aistem.gui import run_view

    s = zmq.Context.instance().socket(zmq.PUB)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    s.close(linger=0)
    t0 = time.monotonic()
    out = run_view(f"tcp://127.0.0.1:{port}", screenshot=tmp_path / "w.png", after=2, timeout=1.5)
    assert 1.4 < time.monotonic() - t0 < 8
    assert out["timed_out"] and not out["ok"] and out["results"] == 0
    assert (tmp_path / "w.png").stat().st_size > 1000


def test_view_command_line(publisher, tmp_path):
    pub = publisher(frames=True)
    pub.loop(_stream, period=0.05)
    shot = tmp_path / "cli.png"
    args = ["view", "--results", pub.endpoint, "--frames", pub.frames_endpoint, "--screenshot", shot, "--after", "2"]
    args += ["--timeout", "30", "--overlay", "both", "--summary", tmp_path / "cli.json"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    p = subprocess.run([*AISTEM, *map(str, args)], capture_output=True, text=True, timeout=90, env=env)
    assert p.returncode == 0, p.stderr
    assert f"screenshot: {shot}" in p.stdout and shot.stat().st_size > 10000
    assert json.loads((tmp_path / "cli.json").read_text())["results"] >= 2
    nobody = subprocess.run(
        [*AISTEM, "view", "--results", "tcp://127.0.0.1:9", "--screenshot", tmp_path / "x.png", "--timeout", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert nobody.returncode == 3 and "gave up after 1 s: 0 of 1 result(s)" in nobody.stderr
    bad = subprocess.run([*AISTEM, "view", "--opacity", "2"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr


def test_encrypted_results_with_curve_certificates(tmp_path):
    import zmq
    import zmq.auth

    from aistem.gui.receiver import Receiver, curve_keys

    if not zmq.has("curve"):
        pytest.skip("this libzmq has no CURVE support")
    server_public_file, server_secret_file = zmq.auth.create_certificates(tmp_path, "daemon")
    _, viewer_secret_file = zmq.auth.create_certificates(tmp_path, "viewer")
    server_public, server_secret = zmq.auth.load_certificate(server_secret_file)
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.curve_server = True
    pub.curve_secretkey, pub.curve_publickey = server_secret, server_public
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    ep = f"tcp://127.0.0.1:{port}"
    plain = Receiver(ep).start()  # no keys: the handshake fails, nothing is read
    secure = Receiver(ep, curve={"results": curve_keys(str(server_public_file), str(viewer_secret_file))}).start()
    fresh = Receiver(ep, curve={"results": curve_keys(str(server_public_file))}).start()  # ephemeral viewer key
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (secure.counters["results"] and fresh.counters["results"]):
            pub.send_multipart(result_message(0))
            time.sleep(0.05)
        assert secure.counters["results"] > 0 and fresh.counters["results"] > 0
        assert plain.counters["results"] == 0 and not plain.snapshot().counters["connected"]["results"]
    finally:
        for r in (plain, secure, fresh):
            r.stop()
        pub.close(linger=0)
    with pytest.raises(ValueError, match="no secret key"):
        curve_keys(str(server_public_file), str(server_public_file))


def test_default_endpoints_come_from_the_config(tmp_path):
    import argparse

    from aistem.gui.commands import default_endpoints

    def ns(**kw):
        base = dict(results=None, frames=None, no_frames=False, config=None)
        return argparse.Namespace(**{**base, **kw})

    assert default_endpoints(ns()) == ("tcp://127.0.0.1:5556", "tcp://127.0.0.1:5555")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[daemon]\nresults = "tcp://*:6000"\nframes = "tcp://10.0.0.2:6001"\n')
    assert default_endpoints(ns(config=cfg)) == ("tcp://127.0.0.1:6000", "tcp://10.0.0.2:6001")
    assert default_endpoints(ns(results="tcp://h:1", no_frames=True)) == ("tcp://h:1", None)
    with pytest.raises(ValueError, match="no fixed port"):
        default_endpoints(ns(results="tcp://127.0.0.1:*"))


def test_frame_buffer_is_bounded_in_bytes(publisher):
    from aistem.gui.receiver import Receiver

    p = publisher(frames=True)
    p.loop(lambda i: [frame_message(i)], period=0.01)
    with Receiver(None, p.frames_endpoint, frame_buffer_bytes=5 * 256 * 256 * 2) as rec:
        assert wait_until(lambda: rec.counters["frames"] >= 12, 10)
        assert len(rec._frames) == 5 and rec._frame_bytes == 5 * 256 * 256 * 2
        newest = rec.snapshot().newest_frame
        assert rec.frame_for(newest.key) is newest


def test_ctrl_c_stops_the_viewer(tmp_path):
    import signal

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    p = subprocess.Popen(
        [*AISTEM, "view", "--results", "tcp://127.0.0.1:9", "--no-frames", "--summary", str(tmp_path / "s.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        ready = ""
        while "press Ctrl-C to stop" not in ready:  # the window is up and Ctrl-C is ours
            line = p.stderr.readline()
            assert line, f"viewer ended before it was ready: {ready}"
            ready += line
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 130 and "interrupted" in err
    assert json.loads((tmp_path / "s.json").read_text())["interrupted"] is True


def test_closing_a_publisher_never_closes_its_socket_under_the_sending_thread(publisher):
    """Issue 22.13: the abort inside libzmq came from a test publisher closing its socket after a 5 s join had
    timed out, while its loop thread was still sending on it (a socket used by two threads). Closing now stops
    the loop between two messages and closes the socket only when the thread has ended."""
    p = publisher()
    sending = threading.Event()

    def slow_batch(i: int):
        for k in range(100):  # a batch far longer than any join timeout would allow
            sending.set()
            time.sleep(0.05)
            yield result_message(i * 100 + k)

    p.loop(slow_batch, period=0.0)
    assert sending.wait(10)
    t0 = time.monotonic()
    p.close()
    assert time.monotonic() - t0 < 3, "the loop did not stop between two messages"
    assert p._thread is not None and not p._thread.is_alive() and p.sock.closed


def test_receiver_counts_classes_over_known_windows_only(publisher):
    """A 1.2 result on a real socket: the class counts leave out unknown windows, the unknown share is summed."""
    from aistem.gui.receiver import Receiver
    from tests.gui.conftest import bicrystal_result_arrays

    arrays = bicrystal_result_arrays()
    unknown = np.zeros(arrays["classes"].shape, np.uint8)
    unknown[:, : unknown.shape[1] // 4] = 1
    arrays = {**arrays, "unknown": unknown}
    p = publisher()
    p.loop(lambda i: [result_message(i, arrays=arrays, protocol="aistem-result/1.2")], period=0.03)
    with Receiver(p.endpoint) as rec:
        assert rec.wait_results(3, timeout=10)
    finals = rec.counters["final_results"]
    known = arrays["classes"][unknown == 0]
    np.testing.assert_array_equal(rec.class_counts[: len(np.bincount(known))], np.bincount(known) * finals)
    assert rec.unknown_sum == pytest.approx(finals * unknown.mean())
