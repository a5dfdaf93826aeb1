"""Hardening (issue 22, points 6–11 and 14): open endpoints are flagged, control requests always get a short,
precise reply, frames that could never be saved are refused, bad files get one-line errors, keys are safe."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
import zipfile

import h5py
import numpy as np
import pytest
import zmq

from aistem.core.protocol import encode_frame, pack, unpack
from aistem.daemon.sources.client import request

from .conftest import PIXEL_SIZE, SHAPE, aistem_cli, fast_settings, free_port, wait_connected


@pytest.fixture
def connected(daemon, source, listener):
    wait_connected(source, listener, daemon.control_endpoint)
    return listener


def raw_request(endpoint: str, body: bytes, timeout: float = 10) -> dict:
    s = zmq.Context.instance().socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    try:
        s.connect(endpoint)
        s.send(body)
        assert s.poll(int(timeout * 1000)), "no reply"
        return unpack(s.recv())
    finally:
        s.close(0)


def test_an_open_control_socket_without_curve_is_flagged(reference_model, caplog):
    """Issue 22.6: binding beyond loopback without CURVE is said loudly at start-up and in every status."""
    from aistem.daemon.server import Daemon

    s = fast_settings(f"tcp://127.0.0.1:{free_port()}", results="tcp://0.0.0.0:*", control="tcp://0.0.0.0:*")
    d = Daemon(s, reference_model)
    with caplog.at_level("WARNING", logger="aistem.daemon.server"):
        thread = d.serve_in_thread()
    try:
        port = d.control_endpoint.rsplit(":", 1)[1]
        warnings = request("status", f"tcp://127.0.0.1:{port}")["status"]["warnings"]
        assert len(warnings) == 2 and "control socket" in warnings[0] and "without CURVE" in warnings[0]
        assert any("open to the network without CURVE" in r.getMessage() for r in caplog.records)
    finally:
        d.request_stop()
        thread.join(30)
    assert not thread.is_alive()


def test_a_loopback_daemon_has_no_warning(daemon):
    assert request("status", daemon.control_endpoint)["status"]["warnings"] == []


def test_reload_runs_aside_and_says_nothing_about_paths(daemon, tmp_path):
    """Issue 22.7: a reload that reads a 2 GiB file leaves status answering; its errors are the same whatever the
    path (missing, a directory, not a model), so they do not tell what exists on the daemon's machine."""
    big = tmp_path / "big.keras"
    with open(big, "wb") as f:
        f.truncate(2 << 30)  # sparse: hashed in seconds, then refused as not a zip file
    ep = daemon.control_endpoint
    replies: list[dict] = []
    t = threading.Thread(target=lambda: replies.append(request("reload", ep, model=str(big), timeout=120)))
    t.start()
    try:
        time.sleep(0.3)
        busy = request("reload", ep, model=str(big), timeout=5)
        assert not busy["ok"] and "already in progress" in busy["reason"]
        assert request("status", ep, timeout=5)["ok"]  # answered while the reload reads
    finally:
        t.join(120)
    zipped = tmp_path / "zip.keras"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("hello.txt", "not a model")
    reasons = {request("reload", ep, model=str(p), timeout=60)["reason"] for p in ("/nonexistent/m.keras", tmp_path, zipped)}
    reasons.add(replies[0]["reason"])
    assert len(reasons) == 1, reasons
    assert "internal error" not in reasons.pop()


def test_control_edge_cases_get_a_precise_reply(daemon, caplog):
    """Issue 22.8: oversized requests, non-string keys and a non-string model path are answered, not crashed on."""
    ep = daemon.control_endpoint
    huge = request("set", ep, note="x" * (3 << 19))  # 1.5 MiB
    assert not huge["ok"] and "larger than the limit" in huge["reason"]
    assert "keys must be strings" in raw_request(ep, pack({"command": "set", 1: 2}))["reason"]
    bad = request("reload", ep, model=5)
    assert not bad["ok"] and "model must be the path" in bad["reason"]
    with caplog.at_level("INFO", logger="aistem.daemon.server"):
        assert not request("set", ep, colour="y" * 900_000)["ok"]
    assert max(len(r.getMessage()) for r in caplog.records) < 2000


@pytest.mark.parametrize(
    ("what", "kw", "says"),
    [
        ("nul", {"series": "a\x00b"}, "control characters"),
        ("binary-meta-key", {"meta": {b"k": 1}}, "meta keys must be strings"),
        ("nested-meta-key", {"meta": {"stage": {7: "x"}}}, "meta keys must be strings"),
        ("tiny-pixel", {"pixel_size": 5e-324}, "pixel_size must be a number"),
    ],
)
def test_frames_that_could_not_be_saved_are_refused_on_arrival(daemon, source, connected, frames, what, kw, says):
    """Issue 22.9 and 22.14 (pixel size 5e-324): a one-line `bad-value` error, and the next frame is analysed."""
    series = kw.pop("series", what)
    parts = encode_frame(frames[0], series=series, index=0, pixel_size=kw.pop("pixel_size", PIXEL_SIZE), **kw)
    source.send_parts(parts)
    err = connected.wait_for(lambda: [m for m in connected.of("error") if says in m.header["reason"]], 20, says)
    assert err[0].header["code"] == "bad-value"
    source.send(frames[1], f"after-{what}", 0)
    assert connected.results(f"after-{what}", 1)


def test_a_float64_frame_beyond_float32_is_non_finite(daemon, source, connected):
    """Issue 22.14: finite 1e300 pixels would be infinite in the analysis: `non-finite`, not `analysis-failed`."""
    source.send(np.full(SHAPE, 1e300), "huge", 0)
    err = connected.wait_for(lambda: connected.of("error", "huge"), 20, "the error")
    assert err[0].header["code"] == "non-finite" and "float32" in err[0].header["reason"]


def test_bind_first_a_taken_port_fails_before_the_model_loads(tmp_path):
    """Issue 22.14: with the port taken and a model file that does not exist, the port is what is reported."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = f"tcp://127.0.0.1:{held.getsockname()[1]}"
        proc = aistem_cli("serve", "--model", tmp_path / "none.keras", "--results", taken, "--control", "tcp://127.0.0.1:*")
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "address already in use" in out and "none.keras" not in out, out


def _npy_claiming(path, shape) -> None:
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": shape})
        f.write(b"\0" * 64)


@pytest.mark.parametrize("command", ["analyze", "replay"])
def test_a_npy_header_claiming_100000_squared_is_one_line(tmp_path, command):
    """Issue 22.10: no traceback, the file named."""
    p = tmp_path / "huge.npy"
    _npy_claiming(p, (100000, 100000))
    args = [command, p, "--pixel-size", "0.12"] + (["--frames", f"tcp://127.0.0.1:{free_port()}"] if command == "replay" else [])
    proc = aistem_cli(*args)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in out, out
    assert "huge.npy" in out and "header claims shape (100000, 100000)" in out


def test_recordings_without_pixel_size_and_with_a_bad_header(tmp_path):
    """Issue 22.10: `--pixel-size` covers entries without one; a header that is not JSON names the file."""
    from aistem.daemon.sources.replay import load_series
    from aistem.daemon.storage import SeriesStore, read_entries

    store = SeriesStore(tmp_path, "frames")
    for i in range(2):
        store.append("rec", i, {"series": "rec", "index": i}, {"image": np.zeros((128, 128), np.uint16)})
    store.close()
    path = next(tmp_path.glob("*.frames.h5"))
    with pytest.raises(ValueError, match="no pixel size.*--pixel-size"):
        load_series([path])
    s = load_series([path], pixel_size=0.2)[0]
    assert s.pixel_size == 0.2 and s.indices == [0, 1]
    with h5py.File(path, "r+") as f:
        g = f["entries"][sorted(f["entries"])[0]]
        g.attrs["header"] = "{not json"
    with pytest.raises(ValueError, match=f"{path.name}.*not JSON"):
        read_entries(path)


def test_keys_are_secret_from_the_first_byte_and_never_replaced(tmp_path):
    """Issue 22.11: the secret file is created 0600 (not chmod-ed later); a second run refuses to overwrite."""
    from aistem.cli.main import main
    from aistem.daemon.curve import create_keys, load_public, load_secret

    old = os.umask(0)  # the widest umask: only the mode given at creation protects the file
    try:
        public, secret = create_keys(tmp_path, "daemon")
    finally:
        os.umask(old)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert load_secret(secret)[0] == load_public(public)
    before = secret.read_bytes()
    with pytest.raises(FileExistsError, match="exists already"):
        create_keys(tmp_path, "daemon")
    assert main(["keys", str(tmp_path), "daemon"]) == 2
    assert secret.read_bytes() == before
