"""The commands: ``aistem serve`` options and shutdown, ``aistem replay`` → daemon, ``aistem record``, ``aistem keys``."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from aistem.cli.main import build_parser, main
from aistem.core import analyze
from aistem.daemon.commands import serve_settings
from aistem.daemon.sources.client import request
from aistem.daemon.sources.record import Recorder
from aistem.daemon.sources.replay import load_recording, load_series, sample_series_path
from aistem.daemon.storage import read_entries, series_filename

from .conftest import FAST, PIXEL_SIZE, Listener, Source, aistem_cli, fast_settings, free_port, sync


def test_serve_options_override_the_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[daemon]\nstatus_interval = 7.0\nmode = "lossless"\n[analysis]\nsamples = 11\n')
    args = build_parser().parse_args(
        [
            *("serve", "--config", str(cfg), "--frames", "tcp://10.0.0.2:6000", "--socket", "pull", "--results", "tcp://*:7000"),
            *("--control", "tcp://127.0.0.1:7001", "--window", "10", "--stride", "2.5", "--threshold", "0.2", "--seed", "4"),
            *("--model", "m.keras", "--batch-size", "64", "--save", str(tmp_path), "--max-pixels", "1000000"),
            *("--log-level", "debug"),
        ]
    )
    s = serve_settings(args)
    assert (s.frames, s.socket, s.mode, s.results, s.control) == (
        "tcp://10.0.0.2:6000",
        "pull",
        "lossless",
        "tcp://*:7000",
        "tcp://127.0.0.1:7001",
    )
    a = s.analysis
    assert (a.window, a.stride, a.samples, a.threshold, a.seed) == (10.0, 2.5, 11, 0.2, 4)
    assert (s.model, s.batch_size, s.save, s.status_interval, s.limits.max_pixels) == ("m.keras", 64, str(tmp_path), 7.0, 1000000)
    assert args.log_level == "DEBUG" and not s.curve.enabled
    d = serve_settings(build_parser().parse_args(["serve"]))
    assert (d.mode, d.socket, d.results, d.analysis.samples) == ("live", "sub", "tcp://127.0.0.1:5556", 100)
    with pytest.raises(ValueError, match="secret_key"):
        serve_settings(build_parser().parse_args(["serve", "--curve"]))


@pytest.mark.parametrize("command", ["serve", "replay", "record"])
def test_every_option_has_help(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    for opt in ("--frames", "--config", "--log-level"):
        assert opt in out
    if command == "serve":
        for opt in ("--socket", "--mode", "--results", "--control", "--window", "--stride", "--samples", "--threshold"):
            assert opt in out
        for opt in ("--model", "--batch-size", "--save", "--max-pixels", "--curve-secret-key"):
            assert opt in out
        assert "[Å]" in out and "[bit]" in out and "[px]" in out


def test_serve_reports_a_missing_model_and_a_taken_port(tmp_path, reference_model, capsys):
    assert main(["serve", "--model", str(tmp_path / "none.h5")]) == 2
    assert "model file not found" in capsys.readouterr().err
    from aistem.daemon.server import Daemon

    src = Source()
    try:
        first = Daemon(fast_settings(src.endpoint), reference_model)
        t = first.serve_in_thread()
        with pytest.raises(RuntimeError, match="cannot bind the result socket"):
            Daemon(fast_settings(src.endpoint, results=first.results_endpoint), reference_model).start()
        first.request_stop()
        t.join(20)
        assert not t.is_alive()
    finally:
        src.close()


def test_load_series_reads_npy_npz_tiff_and_recordings(tmp_path):
    stack = (np.arange(3 * 20 * 30).reshape(3, 20, 30) % 1000).astype(np.uint16)
    np.save(tmp_path / "a.npy", stack)
    np.savez(tmp_path / "b.npz", frames=stack.astype(np.float32), pixel_size=0.2)
    tifffile.imwrite(tmp_path / "c.tif", stack.astype(np.int64), photometric="minisblack")
    with pytest.raises(ValueError, match="pixel size"):
        load_series([tmp_path / "a.npy"])
    a, b, c = load_series([tmp_path / "a.npy", tmp_path / "b.npz", tmp_path / "c.tif"], pixel_size=0.1)
    assert (a.name, len(a), a.frames.dtype, a.pixel_size) == ("a", 3, np.uint16, 0.1)
    assert b.frames.dtype == np.float32 and b.pixel_size == 0.1
    assert c.frames.dtype == np.float64  # int64 is not a wire type: sent as float64
    np.testing.assert_array_equal(c.frames, stack)
    (b2,) = load_series([tmp_path / "b.npz"])
    assert b2.pixel_size == 0.2


def test_publish_series_keeps_the_rate_and_loops_with_distinct_indices():
    import zmq

    from aistem.core.protocol import decode_frame
    from aistem.daemon.sources.base import Series, publish_series
    from aistem.daemon.sources.client import FramePublisher

    s = Series("loop", np.zeros((3, 8, 8), np.uint16), 0.1, indices=[5, 6, 7])
    with FramePublisher("tcp://127.0.0.1:*", "push") as pub:
        pull = zmq.Context.instance().socket(zmq.PULL)
        pull.setsockopt(zmq.LINGER, 0)
        pull.connect(pub.endpoint)
        try:
            t = time.perf_counter()
            assert publish_series(pub, [s], rate=20, loop=True, count=7) == 7
            dt = time.perf_counter() - t
            got = []
            while pull.poll(2000):
                got.append(decode_frame(pull.recv_multipart()).index)
                if len(got) == 7:
                    break
        finally:
            pull.close(0)
    assert got == [5, 6, 7, 8, 9, 10, 11]
    assert 0.28 <= dt < 2.0  # 7 frames at 20 frames/s: 6 intervals of 50 ms


def test_replay_command_to_daemon_every_result_matches_core(reference_model, tmp_path):
    """`aistem replay` (the shipped sample series when installed, else a synthetic one) → daemon → results = analyze."""
    from aistem.daemon.server import Daemon
    from aistem.daemon.sources.sim import synthetic_series

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    sample = sample_series_path()
    if sample is not None:
        frames = load_series([sample])[0].frames
        px = load_series([sample])[0].pixel_size
        files: list[str] = []
        series = "sample"
        analysis = {**FAST, "stride": 12.0}
    else:
        frames = synthetic_series(4, (256, 256))
        px = PIXEL_SIZE
        np.savez(tmp_path / "scan.npz", frames=frames, pixel_size=px)
        files = [str(tmp_path / "scan.npz")]
        series = "scan"
        analysis = FAST
    d = Daemon(fast_settings(endpoint, **analysis), reference_model)
    thread = d.serve_in_thread()
    ls = Listener(d.results_endpoint)
    try:
        sync(ls, d.control_endpoint)
        proc = aistem_cli("replay", *files, "--frames", endpoint, "--rate", "0", "--wait", "2", "--log-level", "warning")
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
        assert f"sent {len(frames)} frame(s)" in out
        results = ls.results(series, len(frames), timeout=120)
        assert [r.index for r in results] == list(range(len(frames)))
        for r in results:
            ref = analyze(frames[r.index], px, model=reference_model, **analysis)
            np.testing.assert_array_equal(r.classes, ref.classes)
            np.testing.assert_allclose(r.mutual_information, ref.mutual_information, atol=1e-6)
    finally:
        d.request_stop()
        thread.join(30)
        ls.close()


def test_record_frames_and_results_then_replay_the_recording(daemon, source, frames, tmp_path):
    ls = Listener(daemon.results_endpoint)
    sync(ls, daemon.control_endpoint)
    rec = Recorder(tmp_path / "rec", source.endpoint, daemon.results_endpoint)
    counts: dict = {}
    t = threading.Thread(target=lambda: counts.update(rec.run(duration=60)), daemon=True)
    t.start()
    try:
        time.sleep(1.0)  # the recorder's subscriptions reach the publishers
        for i in range(3):
            source.send(frames[i], "rec", 10 + i, detector="HAADF", meta={"dwell_us": 2})
        ls.results("rec", 3, timeout=30)
        end = time.monotonic() + 10
        while rec.counts["results"] < 3 and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        rec.stop.set()
        t.join(10)
        ls.close()
    assert counts["frames"] == 3 and counts["results"] == 3
    (s,) = load_recording(tmp_path / "rec" / series_filename("rec", "frames"))
    assert (s.name, s.indices, s.pixel_size, s.detector, s.meta) == ("rec", [10, 11, 12], PIXEL_SIZE, "HAADF", {"dwell_us": 2})
    np.testing.assert_array_equal(s.frames, frames[:3])
    res = read_entries(tmp_path / "rec" / series_filename("rec", "results"))
    assert [h["index"] for h, _ in res] == [10, 11, 12] and res[0][1]["classes"].shape == (4, 4)
    assert load_series([tmp_path / "rec" / series_filename("rec", "frames")])[0].indices == [10, 11, 12]


def test_record_command_stops_after_count(tmp_path, frames):
    src = Source()
    try:
        proc = aistem_cli("record", "--out", tmp_path, "--frames", src.endpoint, "--count", "2", "--log-level", "warning")
        end = time.monotonic() + 60
        i = 0
        while proc.poll() is None and time.monotonic() < end:
            src.send(frames[0], "cli", i)
            i += 1
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=10)
    finally:
        src.close()
    assert proc.returncode == 0, out
    assert "recorded 2 frame(s)" in out
    assert len(read_entries(tmp_path / series_filename("cli", "frames"))) == 2


def test_keys_command(tmp_path, capsys):
    assert main(["keys", str(tmp_path / "k"), "daemon", "viewer"]) == 0
    for name in ("daemon", "viewer"):
        assert (tmp_path / "k" / f"{name}.key").is_file() and (tmp_path / "k" / f"{name}.key_secret").is_file()
    assert "viewer: public" in capsys.readouterr().out


def wait_status(control: str, timeout: float = 90.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            return request("status", control, timeout=1.0)["status"]
        except TimeoutError:
            continue
    raise AssertionError(f"the daemon at {control} never answered")


def wait_running(control: str, timeout: float = 90.0) -> dict:
    """The status once the daemon runs with its frame link connected: while it says ``starting`` (sockets bound
    first, the model still loading) its frame socket is not connected yet, and a PUB source's frames would be lost."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = wait_status(control, timeout=max(end - time.monotonic(), 1.0))
        if st["state"] == "running" and st["frame_link"] == "connected":
            return st
        time.sleep(0.1)
    raise AssertionError(f"the daemon at {control} never started running")


def start_serve(model: Path, frames: str, tmp_path: Path, *extra: str):
    results, control = (f"tcp://127.0.0.1:{free_port()}" for _ in range(2))
    proc = aistem_cli(
        "serve", "--model", model, "--frames", frames, "--results", results, "--control", control, "--mode", "lossless",
        "--seed", "0", "--save", tmp_path / "save", "--status-interval", "0.5", *extra,
    )  # fmt: skip
    try:
        wait_running(control)
    except AssertionError:
        proc.kill()
        raise AssertionError(proc.communicate(timeout=10)[0]) from None
    return proc, results, control


def test_sigterm_stops_at_once_and_accounts_for_the_frame_in_hand(reference_model_path, frames, tmp_path):
    """SIGTERM cancels the analysis in hand within one network call (issue 22.5): the frame in hand ends with its
    result (its preview, in live mode, when the refinement was cut) or with an ``error`` ``cancelled``."""
    src = Source()
    proc, results, control = start_serve(
        reference_model_path, src.endpoint, tmp_path, "--window", "12", "--stride", "3", "--samples", "20"
    )
    ls = Listener(results)
    try:
        sync(ls, control)
        end = time.monotonic() + 30
        i = 0
        while wait_status(control)["in_progress"] is None and time.monotonic() < end:
            src.send(frames[0], "term", i)
            i += 1
            time.sleep(0.3)
        in_hand = wait_status(control)["in_progress"]
        assert in_hand is not None, "no frame was being analysed"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
        assert "the frame in hand is cancelled within one network call" in out and "stopped:" in out
        assert "Traceback" not in out

        def accounted() -> list[int]:
            cancelled = [m.index for m in ls.of("error", "term") if m.header.get("code") == "cancelled"]
            return [r.index for r in ls.of("result", "term")] + cancelled

        assert in_hand["index"] in ls.wait_for(lambda: in_hand["index"] in accounted() and accounted(), 5, "the frame in hand")
        assert ls.wait_for(lambda: [m for m in ls.of("status") if m.header["state"] == "stopping"], 5, "the last status")
        path = tmp_path / "save" / series_filename("term", "results")
        saved = read_entries(path) if path.exists() else []  # no file when the only frame in hand was cancelled
        assert [h["index"] for h, _ in saved] == [r.index for r in ls.of("result", "term")]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        ls.close()
        src.close()


@pytest.mark.slow
def test_a_crash_loses_at_most_the_frame_in_hand(reference_model_path, frames, tmp_path):
    src = Source()
    proc, results, control = start_serve(
        reference_model_path, src.endpoint, tmp_path, "--window", "12", "--stride", "6", "--samples", "4"
    )
    ls = Listener(results)
    try:
        sync(ls, control)
        for i in range(30):
            src.send(frames[i % len(frames)], "crash", i)
        ls.results("crash", 3, timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        published = len(ls.of("result", "crash"))
    finally:
        if proc.poll() is None:
            proc.kill()
        ls.close()
        src.close()
    saved = read_entries(tmp_path / "save" / series_filename("crash", "results"))
    assert len(saved) >= published - 1 >= 2  # at most the frame in hand (published, not yet flushed) is lost
    assert [h["index"] for h, _ in saved] == list(range(len(saved)))
