"""Reliability (issue 22): the frame link survives protocol errors, lossless stays lossless, stops are prompt and
accounted for, settings have ranges. Real sockets, real daemons (in a thread or a process), the paper's model."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import zmq

from aistem.daemon.sources.client import FramePublisher, request

from .conftest import PIXEL_SIZE, Listener, Source, fast_settings, sync, wait_connected


def errors(ls: Listener, code: str) -> list:
    return [m for m in ls.of("error") if m.header.get("code") == code]


def serve(settings, model):
    from aistem.daemon.server import Daemon

    d = Daemon(settings, model)
    return d, d.serve_in_thread()


def stop(d, thread) -> None:
    d.request_stop()
    thread.join(30)
    assert not thread.is_alive(), "the daemon did not stop"


def test_an_oversized_part_is_reported_and_the_frame_link_comes_back(reference_model, frames):
    """Issue 22.1: ZeroMQ drops a peer that sends a part over MAXMSGSIZE and never reconnects by itself."""
    src = Source()
    s = fast_settings(src.endpoint)
    s.limits = dataclasses.replace(s.limits, max_pixels=65536)  # MAXMSGSIZE = 65536 × 8 + 64 KiB < 2 MiB
    d, thread = serve(s, reference_model)
    ls = Listener(d.results_endpoint)
    try:
        wait_connected(src, ls, d.control_endpoint)
        src.send_parts([b"frame", b"\x80", b"\0" * (2 << 20)])
        err = ls.wait_for(lambda: errors(ls, "too-large"), 10, "a too-large error")
        assert "reconnected" in err[0].header["reason"] and str(s.limits.max_message_bytes) in err[0].header["reason"]
        st = request("status", d.control_endpoint)["status"]
        assert st["frame_link_too_large"] == 1 and st["frame_link_drops"] == 1
        wait_connected(src, ls, d.control_endpoint)  # probes get through again
        src.send(frames[0], "after", 0)
        assert ls.results("after", 1)[0].index == 0
        assert request("status", d.control_endpoint)["status"]["frame_link"] == "connected"
    finally:
        stop(d, thread)
        ls.close()
        src.close()


def test_a_plaintext_source_on_a_curve_frame_link_does_not_kill_it(reference_model, frames, tmp_path):
    """Issue 22.2: the acquisition program started once without its key must not cut the link for good."""
    from aistem.daemon.curve import create_keys

    k = {name: create_keys(tmp_path, name) for name in ("daemon", "microscope")}
    plain = zmq.Context.instance().socket(zmq.PUB)
    plain.setsockopt(zmq.LINGER, 0)
    port = plain.bind_to_random_port("tcp://127.0.0.1")
    endpoint = f"tcp://127.0.0.1:{port}"
    s = fast_settings(endpoint)
    s.curve.enabled = True
    s.curve.secret_key = str(k["daemon"][1])
    s.curve.frames_public_key = str(k["microscope"][0])
    d, thread = serve(s, reference_model)
    curve = {"curve_secret_key": k["daemon"][1], "curve_server_key": k["daemon"][0]}
    ls = Listener(d.results_endpoint, curve=(k["daemon"][1], k["daemon"][0]))
    src = None
    try:
        sync(ls, d.control_endpoint, **curve)
        err = ls.wait_for(lambda: errors(ls, "handshake-failed"), 10, "a handshake-failed error")
        assert "CURVE" in err[0].header["reason"] and endpoint in err[0].header["reason"]
        time.sleep(2.5)  # a few seconds of a plaintext source on the port
        plain.close(0)
        deadline = time.monotonic() + 10
        while True:  # the legitimate CURVE source binds the same port (released asynchronously)
            try:
                src = FramePublisher(endpoint, curve_secret_key=k["microscope"][1])
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        end = time.monotonic() + 20
        i = 0
        while not ls.of("result", "curve") and time.monotonic() < end:
            src.send(frames[0], pixel_size=PIXEL_SIZE, series="curve", index=i)
            i += 1
            time.sleep(0.5)
        assert ls.results("curve", 1)
        st = request("status", d.control_endpoint, **curve)["status"]
        assert st["frame_link_handshake_failed"] >= 1 and st["frame_link"] == "connected"
        assert len(errors(ls, "handshake-failed")) == 1  # repeated failures are counted, reported once per 10 s
    finally:
        stop(d, thread)
        ls.close()
        plain.close(0)
        if src is not None:
            src.close()


def test_a_lossless_drain_analyses_every_frame_already_sent(reference_model, frames):
    """Issue 22.4: PUSH/PULL, 24 frames sent at once, `stop drain=true` while most are still at the sender."""
    pub = FramePublisher("tcp://127.0.0.1:*", kind="push", send_timeout=30, hwm=1000)
    d, thread = serve(fast_settings(pub.endpoint, socket="pull", queue_length=2), reference_model)
    ls = Listener(d.results_endpoint)
    n = 24
    try:
        sync(ls, d.control_endpoint)
        for i in range(n):
            pub.send(frames[i % len(frames)], pixel_size=PIXEL_SIZE, series="drain", index=i)
        ls.results("drain", 1, timeout=60)
        st = request("status", d.control_endpoint)["status"]
        taken = st["frames_received"] - st["frames_processed"]
        assert taken <= 2 + 2 + 1, f"the daemon took {taken} frames ahead of the analysis: not bounded"  # queue + hwm + in hand
        assert request("stop", d.control_endpoint, drain=True) == {"ok": True, "state": "draining"}
        thread.join(120)
        assert not thread.is_alive()
        got = ls.wait_for(lambda: (r := ls.of("result", "drain")) and len(r) >= n and r, 10, "every frame")
        assert [r.index for r in got] == list(range(n))
        for r in got:  # the wait in the daemon (its queue) is part of the latency
            t = r.header["timing"]
            assert t["total"] >= t["queued"] + t["analysis"] - 1.0
        st = d.status()
        assert st["frames_not_analysed"] == 0 and st["frames_processed"] == n
    finally:
        stop(d, thread)
        ls.close()
        pub.close()


def test_stop_without_drain_cancels_the_frame_in_hand_and_accounts_for_the_rest(reference_model, frames):
    """Issue 22.5: a lossless frame at the largest T stops within one network call; queued frames are reported."""
    src = Source()
    d, thread = serve(fast_settings(src.endpoint, stride=1.5, samples=1000, adaptive=False, batch_size=1), reference_model)
    ls = Listener(d.results_endpoint)
    try:
        wait_connected(src, ls, d.control_endpoint)
        for i in range(3):
            src.send(frames[i], "cancel", i)
        end = time.monotonic() + 30
        while (st := d.status())["in_progress"] is None or st["queue_length"] < 2:  # one in hand, two taken
            assert time.monotonic() < end, "no frame in hand"
            time.sleep(0.02)
        t0 = time.monotonic()
        assert request("stop", d.control_endpoint, drain=False)["state"] == "stopping"
        thread.join(30)
        assert time.monotonic() - t0 < 10 and not thread.is_alive()
        ls.wait_for(lambda: errors(ls, "cancelled") and len(errors(ls, "not-analysed")) == 2, 5, "the accounting")
        assert [m.index for m in errors(ls, "cancelled")] == [0]
        assert [m.index for m in errors(ls, "not-analysed")] == [1, 2]
        st = d.status()
        assert (st["frames_cancelled"], st["frames_not_analysed"], st["frames_processed"]) == (1, 2, 0)
    finally:
        stop(d, thread)
        ls.close()
        src.close()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("samples", 10**9),
        ("batch_size", 10**9),
        ("window", 1e9),
        ("preview_samples", 10**6),
        ("stride", 1e-9),
        ("preview_step", 10**6),
        ("threshold", 1e9),
        ("seed", 2**40),
        ("seed", "x"),
        ("samples", 0),
    ],
)
def test_every_setting_has_a_range(key, value):
    """Issue 22.5 (ranges) and 22.14 (a seed of "x"): one table gives every setting its range and its message."""
    from aistem.daemon.settings import RANGES, DaemonSettings

    with pytest.raises(ValueError, match=key) as exc:
        DaemonSettings().replace(**{key: value})
    assert "'<'" not in str(exc.value)
    if key in RANGES and not isinstance(value, str):
        lo, hi = RANGES[key].low, RANGES[key].high
        assert f"{lo:g}" in str(exc.value) and f"{hi:g}" in str(exc.value)


def test_ranges_reach_argparse_config_control_and_status(daemon, tmp_path):
    from aistem.cli.main import build_parser
    from aistem.daemon.commands import serve_settings
    from aistem.daemon.settings import RANGES, DaemonSettings

    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--samples", "5000"])
    cfg = tmp_path / "c.toml"
    cfg.write_text("[daemon]\nbatch_size = 100000\n")
    with pytest.raises(ValueError, match="batch_size"):
        serve_settings(build_parser().parse_args(["serve", "--config", str(cfg)]))
    reply = request("set", daemon.control_endpoint, samples=10**9)
    assert not reply["ok"] and "samples" in reply["reason"] and "1000" in reply["reason"]
    st = request("status", daemon.control_endpoint)["status"]
    assert st["ranges"]["samples"] == [RANGES["samples"].low, RANGES["samples"].high]
    assert set(st["ranges"]) >= set(st["settings"]) - {"mode", "adaptive", "precision", "rotation", "domain", "preview"}
    assert DaemonSettings().validate()


@pytest.mark.parametrize("drain", ["false", 0, None, "yes"])
def test_stop_drain_must_be_a_boolean(daemon, drain):
    """Issue 22.14: `drain: "false"` was taken as true."""
    reply = request("stop", daemon.control_endpoint, drain=drain)
    assert reply["ok"] is False and "drain" in reply["reason"]
    assert not daemon.stopping


def test_frame_link_state_in_status_and_numpy_pixels(daemon):
    st = request("status", daemon.control_endpoint)["status"]
    assert st["frame_link"] in ("connected", "connecting")
    assert np.isfinite(st["uptime_s"])


def test_the_readmes_three_lines_get_the_first_frames_result_every_time(reference_model, tmp_path):
    """Issue 22.12: `publish_frame` then `iter_results`, in that order, in a fresh process each time, against a
    running daemon whose reconnection back-off is at its longest (1 s): the first frame's result arrives."""
    import subprocess
    import sys

    from .conftest import ROOT, free_port

    frames_ep = f"tcp://127.0.0.1:{free_port()}"
    s = fast_settings(frames_ep, mode="live")
    d, thread = serve(s, reference_model)
    script = tmp_path / "three_lines.py"
    script.write_text(
        "import sys\n"
        "from aistem.daemon.sources.sim import synthetic_series\n"
        "image = synthetic_series(1, (256, 256), 0.12)[0]\n"
        "from aistem.daemon.sources.client import publish_frame, iter_results\n"
        f"publish_frame(image, pixel_size=0.12, series=sys.argv[1], endpoint={frames_ep!r})\n"
        f"for r in iter_results({d.results_endpoint!r}, timeout=30):\n"
        "    print(r.series, r.index, r.classes.shape)\n"
        "    if r.series == sys.argv[1] and r.final: break\n"
    )
    try:
        time.sleep(3)  # nobody bound on the frame port yet: the daemon's reconnection interval grows to 1 s
        for k in range(3):
            out = subprocess.run(
                [sys.executable, str(script), f"readme-{k}"], cwd=ROOT, capture_output=True, text=True, timeout=90
            )
            assert out.returncode == 0, out.stderr
            mine = [line.split()[:2] for line in out.stdout.splitlines() if line.startswith(f"readme-{k} ")]
            assert mine and mine[0] == [f"readme-{k}", "0"], (out.stdout, out.stderr)  # held results of others may come first
            time.sleep(1.5)  # the port closed with the process: the daemon retries every second again
    finally:
        stop(d, thread)
