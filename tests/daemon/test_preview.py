"""Live preview (progressive results), end to end on real sockets with the paper's model.

In live mode the daemon publishes a coarse preview of each frame (``final: false``, every 2nd window here, T = 2)
and then its final result (``final: true``, the configured grid and T) — unless a newer frame is waiting, which
supersedes the refinement. Lossless mode publishes only final results. Cheap settings (256×256 frames, 4×4 final
grid, T = 4) keep each frame well under a second.
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from aistem.cli.main import build_parser
from aistem.core import analyze
from aistem.core.protocol import RESULT_PROTOCOL
from aistem.daemon.commands import serve_settings
from aistem.daemon.sources.client import request
from aistem.daemon.storage import read_entries, series_filename

from .conftest import FAST, PIXEL_SIZE, Listener, Source, aistem_cli, fast_settings, stop_keeps_the_preview, wait_connected

PREVIEW = {"preview": True, "preview_step": 2, "preview_samples": 2}


@pytest.fixture(scope="module")
def live_source():
    s = Source()
    yield s
    s.close()


@pytest.fixture(scope="module")
def live_daemon(reference_model, live_source, tmp_path_factory):
    """A live-mode daemon with the preview on (step 2, T = 2), saving to a directory of its own."""
    from aistem.daemon.server import Daemon

    save = tmp_path_factory.mktemp("preview-save")
    d = Daemon(fast_settings(live_source.endpoint, mode="live", save=str(save), **PREVIEW), reference_model)
    d.save_dir = save
    thread = d.serve_in_thread()
    yield d
    d.request_stop()
    thread.join(30)
    assert not thread.is_alive(), "the daemon did not stop"


@pytest.fixture
def viewer(live_daemon, live_source):
    ls = Listener(live_daemon.results_endpoint)
    wait_connected(live_source, ls, live_daemon.control_endpoint)
    yield ls
    ls.close()


def status(d) -> dict:
    return request("status", d.control_endpoint)["status"]


def wait_in_progress(d, series: str, index: int, timeout: float = 30.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        p = status(d)["in_progress"]
        if p is not None and p["series"] == series and p["index"] == index:
            return p
        time.sleep(0.01)
    raise AssertionError(f"{series} #{index} was never being analysed")


def test_preview_then_final_for_the_same_frame(live_daemon, live_source, viewer, frames, reference_model):
    before = status(live_daemon)
    live_source.send(frames[0], "pv", 0)
    preview, final = viewer.results("pv", 2, timeout=60)
    assert (preview.index, final.index) == (0, 0)
    hp, hf = preview.header, final.header
    assert (hp["final"], hp["stage"], hp["stages"]) == (False, 1, 2)
    assert (hf["final"], hf["stage"], hf["stages"]) == (True, 2, 2)
    assert hp["protocol"] == hf["protocol"] == RESULT_PROTOCOL
    # the preview: every 2nd window of the final grid (same window, twice the stride), fewer samples
    assert (hf["grid"], hf["stride_px"], hf["samples"]) == ([4, 4], 50, FAST["samples"])
    assert (hp["grid"], hp["stride_px"], hp["samples"]) == ([2, 2], 100, 2)
    assert hp["window_px"] == hf["window_px"] == 100 and hp["origins"] == hf["origins"] == [0, 0]
    assert preview.classes.shape == (2, 2) and final.classes.shape == (4, 4)
    # each is exactly what aistem.core.analyze gives with those settings
    ref_p = analyze(frames[0], PIXEL_SIZE, window_px=100, stride_px=100, samples=2, model=reference_model, seed=0)
    ref_f = analyze(frames[0], PIXEL_SIZE, model=reference_model, **FAST)
    np.testing.assert_allclose(preview.probabilities, ref_p.probabilities, atol=1e-6)
    np.testing.assert_allclose(final.probabilities, ref_f.probabilities, atol=1e-6)
    # timing: the preview comes first; the final's queue time includes the preview
    tp, tf = hp["timing"], hf["timing"]
    assert set(tp) == set(tf) == {"queued", "descriptor", "inference", "analysis", "total"}
    assert tp["total"] < tf["total"] and tf["queued"] >= tp["total"] - 1.0
    after = status(live_daemon)
    assert after["frames_processed"] - before["frames_processed"] == 1  # one frame, two results
    assert after["previews_published"] - before["previews_published"] == 1
    assert after["frames_superseded"] == before["frames_superseded"]
    assert after["mean_preview_latency_ms"] is not None and after["mean_latency_ms"] > 0
    # --save keeps the final result only
    saved = read_entries(live_daemon.save_dir / series_filename("pv", "results"))
    assert [(h["index"], h["final"]) for h, _ in saved] == [(0, True)]


def test_a_newer_frame_supersedes_the_refinement(live_daemon, live_source, viewer, frames):
    """Frame 1 arrives while frame 0 is analysed: frame 0 keeps its preview, frame 1 gets preview and final."""
    before = status(live_daemon)
    assert request("set", live_daemon.control_endpoint, samples=16)["ok"]  # a longer refinement to arrive during
    try:
        live_source.send(frames[0], "sup", 0)
        wait_in_progress(live_daemon, "sup", 0)
        live_source.send(frames[1], "sup", 1)
        viewer.wait_for(lambda: [r for r in viewer.of("result", "sup") if r.index == 1 and r.final], 60, "frame 1's final")
    finally:
        assert request("set", live_daemon.control_endpoint, samples=FAST["samples"])["ok"]
    got = [(r.index, r.final) for r in viewer.of("result", "sup")]
    assert got == [(0, False), (1, False), (1, True)], got
    after = status(live_daemon)
    assert after["frames_superseded"] - before["frames_superseded"] == 1
    assert after["frames_processed"] - before["frames_processed"] == 2
    assert after["frames_dropped"] == before["frames_dropped"]
    # --save: the superseded frame's preview (marked as such), the other frame's final
    saved = read_entries(live_daemon.save_dir / series_filename("sup", "results"))
    assert [(h["index"], h["final"], h["grid"]) for h, _ in saved] == [(0, False, [2, 2]), (1, True, [4, 4])]


def test_a_fast_stream_newest_frame_wins_and_every_analysed_frame_has_a_result(live_daemon, live_source, viewer, frames):
    before = status(live_daemon)
    n = 16
    for i in range(n):
        live_source.send(frames[i % len(frames)], "burst", i)
        time.sleep(0.05)  # faster than one frame's preview + final (~0.3 s or more)
    viewer.wait_for(lambda: [r for r in viewer.of("result", "burst") if r.index == n - 1 and r.final], 60, "the newest final")
    time.sleep(0.3)
    results = viewer.of("result", "burst")
    after = status(live_daemon)
    processed = after["frames_processed"] - before["frames_processed"]
    dropped = after["frames_dropped"] - before["frames_dropped"]
    superseded = after["frames_superseded"] - before["frames_superseded"]
    indices = [r.index for r in results]
    assert indices == sorted(indices)  # never an older frame after a newer one
    analysed = sorted(set(indices))
    finals = [r.index for r in results if r.final]
    assert len(finals) == len(set(finals))
    assert processed == len(analysed) and processed + dropped == n  # every frame analysed has a result
    assert superseded >= 1 and superseded + len(finals) == processed, (processed, superseded, finals)
    for i in analysed:  # a frame's results: its preview first, then possibly its final
        kinds = [r.final for r in results if r.index == i]
        assert kinds in ([False], [False, True]), (i, kinds)
    assert after["state"] == "running" and after["frames_failed"] == before["frames_failed"]


def test_lossless_mode_publishes_only_final_results(live_daemon, live_source, viewer, frames):
    ep = live_daemon.control_endpoint
    assert request("set", ep, mode="lossless")["ok"]
    try:
        before = status(live_daemon)
        assert before["settings"]["preview"] is True  # on, but lossless mode does not preview
        for i in range(3):
            live_source.send(frames[i], "exact", i)
        results = viewer.results("exact", 3, timeout=60)
        time.sleep(0.3)
        results = viewer.of("result", "exact")
        assert [(r.index, r.final, r.header["stage"], r.header["stages"]) for r in results] == [(i, True, 1, 1) for i in range(3)]
        assert all(r.header["grid"] == [4, 4] for r in results)
        assert status(live_daemon)["previews_published"] == before["previews_published"]
    finally:
        assert request("set", ep, mode="live")["ok"]


def test_preview_settings_at_run_time_and_their_validation(live_daemon, live_source, viewer, frames):
    ep = live_daemon.control_endpoint
    bad = request("set", ep, preview_step=0)
    assert not bad["ok"] and "preview_step" in bad["reason"] and "≥ 1" in bad["reason"]
    bad = request("set", ep, preview="yes")
    assert not bad["ok"] and "true or false" in bad["reason"]
    assert not request("set", ep, preview_samples=-3)["ok"]
    r = request("set", ep, preview=False)
    assert r["ok"] and r["settings"]["preview"] is False and r["settings"]["preview_step"] == 2
    try:
        live_source.send(frames[0], "off", 0)
        viewer.results("off", 1, timeout=60)
        time.sleep(0.5)
        assert [(r.final, r.header["grid"]) for r in viewer.of("result", "off")] == [(True, [4, 4])]
        r = request("set", ep, preview=True, preview_step=4, preview_samples=3)
        assert r["ok"] and (r["settings"]["preview_step"], r["settings"]["preview_samples"]) == (4, 3)
        live_source.send(frames[1], "step4", 0)
        first = viewer.results("step4", 2, timeout=60)[0]
        assert (first.final, first.header["grid"], first.header["stride_px"], first.header["samples"]) == (False, [1, 1], 200, 3)
    finally:
        assert request("set", ep, **PREVIEW)["ok"]


def test_the_daemon_compiles_the_network_while_it_waits_for_frames(reference_model, live_source):
    """Warm-up: with no frame waiting, the daemon compiles the preview's and the final analysis' call shapes."""
    from aistem.core.analysis import _predictor
    from aistem.daemon.server import Daemon

    # batch 7: shapes no other test compiles. Preview: T = 2, fixed → (2, False). Final: T = 4, adaptive, 8 samples
    # per call in live mode → one stage of 4 → (4, True).
    d = Daemon(fast_settings(live_source.endpoint, mode="live", batch_size=7, **PREVIEW), reference_model)
    thread = d.serve_in_thread()
    try:
        end = time.monotonic() + 120
        while not d.status()["warm"] and time.monotonic() < end:
            time.sleep(0.05)
        assert d.status()["warm"], "the daemon did not finish its warm-up while idle"
        assert {(2, False, 7), (4, True, 7)} <= _predictor(reference_model)._warm
        d.apply({"samples": 6})  # new settings: warm again
        assert not d.status()["warm"]
        end = time.monotonic() + 120
        while not d.status()["warm"] and time.monotonic() < end:
            time.sleep(0.05)
        assert (6, True, 7) in _predictor(reference_model)._warm
    finally:
        d.request_stop()
        thread.join(30)
    assert not thread.is_alive()


def test_preview_options_and_config(tmp_path):
    s = serve_settings(build_parser().parse_args(["serve"]))
    assert s.preview.enabled and s.preview.step >= 1 and 1 <= s.preview.samples <= s.analysis.samples
    args = ["serve", "--no-preview", "--preview-step", "3", "--preview-samples", "5"]
    p = serve_settings(build_parser().parse_args(args)).preview
    assert (p.enabled, p.step, p.samples) == (False, 3, 5)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[daemon.preview]\nstep = 0\n")
    with pytest.raises(ValueError, match="preview_step must be a whole number ≥ 1"):
        serve_settings(build_parser().parse_args(["serve", "--config", str(cfg)]))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--preview-samples", "0"])
    assert s.warm_up and not serve_settings(build_parser().parse_args(["serve", "--no-warm-up"])).warm_up
    cfg.write_text('[daemon]\nwarm_up = "yes"\n')
    with pytest.raises(ValueError, match="warm_up must be true or false"):
        serve_settings(build_parser().parse_args(["serve", "--config", str(cfg)]))


def test_serve_on_a_taken_port_prints_one_line_and_exits(reference_model_path):
    """A port held by another program (a plain TCP listener): one clear line, exit status 2, no hang."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = f"tcp://127.0.0.1:{held.getsockname()[1]}"
        proc = aistem_cli(
            "serve", "--model", reference_model_path, "--frames", "tcp://127.0.0.1:1", "--results", taken,
            "--control", "tcp://127.0.0.1:*", "--log-level", "warning",
        )  # fmt: skip
        try:
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 2, out
    # TensorFlow's C++ start-up notice ("oneDNN custom operations are on … round-off errors …", printed on CPUs
    # where oneDNN is on by default, before TF_CPP_MIN_LOG_LEVEL is read) is not ours: only our lines count
    lines = [ln for ln in out.splitlines() if "error" in ln.lower() and "port.cc" not in ln]
    assert lines == [
        f"aistem serve: error: cannot bind the result socket to {taken}: address already in use (another program, "
        "perhaps another aistem serve, holds the port; stop it or choose another endpoint with --results)"
    ], out
    assert "Traceback" not in out


def test_a_taken_control_port_closes_every_socket(reference_model, live_source):
    """The result socket is bound when the control bind fails: it is closed again, so the caller's context
    terminates (no hang) and the result port is free for the next try."""
    import threading

    import zmq

    from aistem.daemon.server import Daemon

    ctx = zmq.Context()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = f"tcp://127.0.0.1:{held.getsockname()[1]}"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            results = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
        d = Daemon(fast_settings(live_source.endpoint, results=results, control=taken), reference_model, context=ctx)
        threads_before = set(threading.enumerate())
        with pytest.raises(RuntimeError, match="cannot bind the control socket .* address already in use .* --control"):
            d.start()
    assert d.finished.is_set() and not [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    done = threading.Event()
    threading.Thread(target=lambda: (ctx.term(), done.set()), daemon=True).start()
    assert done.wait(10), "ctx.term() hangs: a socket was left open"
    again = zmq.Context.instance().socket(zmq.PUB)
    try:
        deadline = time.monotonic() + 10
        while True:  # ZeroMQ releases a closed socket's port asynchronously
            try:
                again.bind(results)
                break
            except zmq.ZMQError:
                assert time.monotonic() < deadline, f"{results} still bound"
                time.sleep(0.05)
    finally:
        again.close(0)


def test_stop_during_a_refinement_keeps_the_preview_and_does_not_wait(reference_model, frames):
    """SIGTERM/stop in live mode abandons the refinement in hand (minutes at T = 100 on a CPU): the preview stays."""
    from aistem.daemon.server import Daemon

    src = Source()
    d = Daemon(fast_settings(src.endpoint, mode="live", **PREVIEW), reference_model)
    thread = d.serve_in_thread()
    ls = Listener(d.results_endpoint)
    try:
        wait_connected(src, ls, d.control_endpoint)
        assert request("set", d.control_endpoint, samples=1000, stride=1.5)["ok"]  # a refinement far longer than the test
        src.send(frames[0], "stop", 0)
        ls.wait_for(lambda: ls.of("result", "stop"), 60, "the preview")
        wait_in_progress(d, "stop", 0)
        stop_keeps_the_preview(d, thread, ls, "stop")
    finally:
        d.request_stop()
        thread.join(30)
        ls.close()
        src.close()
