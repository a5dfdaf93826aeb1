"""End to end, in one process: acquisition PUB → daemon (real sockets on 127.0.0.1, the paper's model) → viewer SUB.

One daemon serves the module (lossless, saving to HDF5); tests that change its mode put it back.
"""

from __future__ import annotations

import time

import msgpack
import numpy as np
import pytest

from aistem.core import analyze
from aistem.core.protocol import FRAME_DTYPES, FRAME_PROTOCOL, RESULT_PROTOCOL
from aistem.daemon.sources.client import FramePublisher, close_publishers, iter_results, publish_frame, request
from aistem.daemon.storage import read_entries, series_filename

from .conftest import FAST, PIXEL_SIZE, SHAPE, Listener, wait_connected


@pytest.fixture
def connected(daemon, source, listener):
    wait_connected(source, listener, daemon.control_endpoint)
    return listener


def good_header(**over):
    h = {
        "protocol": FRAME_PROTOCOL,
        "series": "bad",
        "index": 0,
        "shape": list(SHAPE),
        "dtype": "uint16",
        "pixel_size": PIXEL_SIZE,
        "timestamp": time.time(),
    }
    h.update(over)
    return {k: v for k, v in h.items() if v is not ...}


def as_dtype(frame: np.ndarray, dtype: str) -> np.ndarray:
    return (frame // 8).astype(dtype) if dtype == "uint8" else frame.astype(dtype)


def test_every_result_arrives_and_matches_core_analyze(daemon, source, connected, frames, reference_model, save_dir):
    sent = [as_dtype(f, FRAME_DTYPES[i % len(FRAME_DTYPES)]) for i, f in enumerate(frames)]  # every wire dtype
    for i, f in enumerate(sent):
        source.send(f, "match", i)
    results = connected.results("match", len(frames), timeout=60)
    assert [r.index for r in results] == list(range(len(frames)))
    for r in results:
        ref = analyze(sent[r.index], PIXEL_SIZE, model=reference_model, **FAST)
        np.testing.assert_array_equal(r.classes, ref.classes)
        np.testing.assert_allclose(r.probabilities, ref.probabilities, atol=1e-6)
        np.testing.assert_allclose(r.mutual_information, ref.mutual_information, atol=1e-6)
        np.testing.assert_array_equal(r.interface, ref.interface.astype(np.uint8))
        np.testing.assert_allclose(r.lattice_rotation, ref.lattice_rotation, atol=1e-4, equal_nan=True)
        h = r.header
        assert h["grid"] == [4, 4] and h["window_px"] == 100 and h["stride_px"] == 50 and h["samples"] == 4
        assert h["model"] == {"name": reference_model.name, "hash": reference_model.hash}
        assert h["class_names"] == list(reference_model.class_names) and h["pixel_size"] == PIXEL_SIZE
        tm = h["timing"]
        assert set(tm) == {"queued", "descriptor", "inference", "analysis", "total"}
        assert tm["total"] >= tm["analysis"] >= tm["inference"] + tm["descriptor"] and tm["inference"] > 0 and h["dropped"] == 0
    # the left grain is fcc Cu [100]: the paper's model says so
    assert (results[0].classes[:, 0] == reference_model.class_names.index("FCC_Cu_100")).all()
    # --save: every result, readable, equal to what was published
    saved = read_entries(save_dir / series_filename("match", "results"))
    assert [h["index"] for h, _ in saved] == list(range(len(frames)))
    for (h, arrays), r in zip(saved, results, strict=True):
        np.testing.assert_array_equal(arrays["probabilities"], r.probabilities)
        assert h["timing"] == r.header["timing"]


BAD_INPUTS = {
    "wrong protocol": ([b"frame", msgpack.packb(good_header(protocol="other/1")), None], "bad-protocol"),
    "missing keys": ([b"frame", msgpack.packb(good_header(pixel_size=..., timestamp=...)), None], "missing-key"),
    "shape × dtype ≠ buffer": ([b"frame", msgpack.packb(good_header(dtype="float32")), None], "size-mismatch"),
    "unsupported dtype": ([b"frame", msgpack.packb(good_header(dtype="complex128")), None], "unsupported-dtype"),
    "NaN pixels": ("nan", "non-finite"),
    "Inf pixels": ("inf", "non-finite"),
    "smaller than one window": ([b"frame", msgpack.packb(good_header(shape=[64, 300])), b"\x00" * 64 * 300 * 2], "too-small"),
    "absurd shape": ([b"frame", msgpack.packb(good_header(shape=[2**31, 2**31])), b"\x00" * 16], "too-large"),
    "absurd pixel size": ([b"frame", msgpack.packb(good_header(pixel_size=1e-320)), None], "bad-value"),
    "non-msgpack garbage": ([b"frame", b"\xc1 not msgpack", b"\x00" * 16], "not-msgpack"),
    "two parts": ([b"frame", msgpack.packb(good_header())], "bad-parts"),
    "four parts": ([b"frame", msgpack.packb(good_header()), None, b"x"], "bad-parts"),
    "one garbage part": ([b"\xde\xad\xbe\xef" * 10], "unknown-type"),
}


@pytest.mark.parametrize("what", list(BAD_INPUTS))
def test_bad_input_gets_an_error_then_the_next_good_frame_is_analysed(what, daemon, source, connected, frames):
    msg, code = BAD_INPUTS[what]
    good_pixels = frames[0].astype("<u2").tobytes()
    before = request("status", daemon.control_endpoint)["status"]
    if isinstance(msg, str):
        img = frames[0].astype(np.float32)
        img[10, 20] = np.nan if msg == "nan" else np.inf
        source.send(img, "bad", 0)
    else:
        source.send_parts([good_pixels if p is None else p for p in msg])
    source.send(frames[1], "good-after-bad", 1)
    err = connected.wait_for(lambda: [e for e in connected.of("error") if e.series != "probe"], 20, f"the error for {what}")
    assert err[0].header["code"] == code, err[0].header
    assert len(err[0].header["reason"]) > 10
    if code not in ("not-msgpack", "bad-parts", "unknown-type"):
        assert err[0].series == "bad" and err[0].index == 0
    result = connected.results("good-after-bad", 1, timeout=30)[0]
    assert result.index == 1 and result.classes.shape == (4, 4)
    after = request("status", daemon.control_endpoint)["status"]
    assert after["frames_rejected"] == before["frames_rejected"] + 1
    assert after["frames_processed"] == before["frames_processed"] + 1


def test_live_mode_drops_and_counts_under_overload(daemon, source, connected, frames):
    assert request("set", daemon.control_endpoint, mode="live")["ok"]
    try:
        before = request("status", daemon.control_endpoint)["status"]
        n = 12
        for i in range(n):  # all at once: far faster than one analysis (~0.5 s)
            source.send(frames[i % len(frames)], "live", i)
        last = connected.wait_for(lambda: [r for r in connected.of("result", "live") if r.index == n - 1], 30, "the newest frame")
        time.sleep(0.3)
        results = connected.of("result", "live")
        st = request("status", daemon.control_endpoint)["status"]
        processed = st["frames_processed"] - before["frames_processed"]
        dropped = st["frames_dropped"] - before["frames_dropped"]
        # live mode previews each frame first (final: false): a frame analysed has one or two results
        assert processed == len({r.index for r in results}) and processed + dropped == n
        assert dropped >= n // 2, (processed, dropped)
        assert [r.index for r in results] == sorted(r.index for r in results)
        assert last[0].header["dropped"] == st["frames_dropped"]
        connected.wait_for(
            lambda: connected.of("status")[-1].header["frames_dropped"] == st["frames_dropped"],
            5,
            "the drops in a status message",
        )
    finally:
        assert request("set", daemon.control_endpoint, mode="lossless")["ok"]


def test_lossless_mode_loses_none(daemon, source, connected, frames):
    before = request("status", daemon.control_endpoint)["status"]
    n = 10
    for i in range(n):
        source.send(frames[i % len(frames)], "lossless", i)
    results = connected.results("lossless", n, timeout=60)
    assert [r.index for r in results] == list(range(n))
    st = request("status", daemon.control_endpoint)["status"]
    assert st["frames_dropped"] == before["frames_dropped"]
    assert all(r.header["timing"]["queued"] >= 0 for r in results)
    assert results[-1].header["timing"]["queued"] > results[0].header["timing"]["queued"]  # they waited their turn


def test_publisher_restart_and_viewers_coming_and_going(daemon, source, connected, frames):
    source.send(frames[0], "restart", 0)
    connected.results("restart", 1)
    source.close()  # the acquisition program stops …
    time.sleep(0.5)
    # … and a new one (here the three-line client) binds the same endpoint
    late = Listener(daemon.results_endpoint)  # a viewer that comes late
    connected.close()  # and the first one goes away
    try:
        end = time.monotonic() + 20
        k = 1
        while not late.of("result", "restart") and time.monotonic() < end:
            publish_frame(frames[k % len(frames)], pixel_size=PIXEL_SIZE, series="restart", index=k, endpoint=source.endpoint)
            k += 1
            time.sleep(0.6)
        assert late.of("result", "restart"), "no result after the publisher restarted"
    finally:
        close_publishers()
        late.close()
        source.restart()  # the module's source again


def test_status_messages_come_periodically(daemon, listener):
    n = len(listener.of("status"))
    listener.wait_for(lambda: len(listener.of("status")) >= n + 2, 5, "two periodic status messages")
    h = listener.of("status")[-1].header
    for key in ("frames_received", "frames_processed", "frames_dropped", "frames_rejected", "queue_length"):
        assert isinstance(h[key], int)
    assert h["model"]["hash"] and h["uptime_s"] > 0 and h["protocol"] == "aistem-status/1"


def test_control_set_reload_and_bad_requests(daemon, source, connected, frames, reference_model_path):
    ep = daemon.control_endpoint
    r = request("set", ep, samples=6, threshold=0.2, rotation=False)
    assert r["ok"] and r["settings"]["samples"] == 6 and r["settings"]["threshold"] == 0.2 and not r["settings"]["rotation"]
    try:
        source.send(frames[2], "set", 0)
        res = connected.results("set", 1)[0]
        assert res.header["samples"] == 6 and res.header["threshold"] == 0.2
        assert "lattice_rotation" not in res.arrays and "mutual_information" in res.arrays
        assert not request("set", ep, samples=0, window=20.0)["ok"]  # all or nothing
        assert request("status", ep)["status"]["settings"]["window"] == FAST["window"]
        bad = request("set", ep, colour="red")
        assert not bad["ok"] and "colour" in bad["reason"]
        assert not request("launch", ep)["ok"]
        missing = request("reload", ep, model="/nonexistent/model.keras")
        assert not missing["ok"] and "not found" in missing["reason"]
        again = request("reload", ep, model=str(reference_model_path))
        assert again["ok"] and again["model"]["name"] == reference_model_path.stem and len(again["model"]["hash"]) == 16
        source.send(frames[3], "set", 1)
        assert connected.results("set", 2)[1].index == 1  # still analysing with the reloaded model
    finally:
        request("set", ep, samples=FAST["samples"], threshold=FAST["threshold"], rotation=True)


def test_garbage_control_request_gets_a_reply(daemon):
    import zmq

    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(daemon.control_endpoint)
    try:
        s.send(b"\xc1 garbage")
        assert s.poll(5000), "no reply"
        reply = msgpack.unpackb(s.recv())
        assert reply["ok"] is False and "msgpack" in reply["reason"]
    finally:
        s.close(0)


def test_push_pull_shares_one_stream_between_two_daemons_losing_none(reference_model, frames):
    from aistem.daemon.server import Daemon

    from .conftest import fast_settings

    pub = FramePublisher("tcp://127.0.0.1:*", kind="push", send_timeout=20)
    daemons = [Daemon(fast_settings(pub.endpoint, socket="pull", queue_length=1), reference_model) for _ in range(2)]
    threads = [d.serve_in_thread() for d in daemons]
    listeners = [Listener(d.results_endpoint) for d in daemons]
    try:
        for d, ls in zip(daemons, listeners, strict=True):
            from .conftest import sync

            sync(ls, d.control_endpoint)
        n = 8
        for i in range(n):
            pub.send(frames[i % len(frames)], pixel_size=PIXEL_SIZE, series="push", index=i)
        listeners[0].wait_for(lambda: sum(len(ls.of("result", "push")) for ls in listeners) >= n, 60, "every pushed frame")
        got = [[r.index for r in ls.of("result", "push")] for ls in listeners]
        assert sorted(got[0] + got[1]) == list(range(n))  # each frame analysed exactly once
        assert got[0] and got[1], f"one daemon got everything: {got}"
    finally:
        for d in daemons:
            d.request_stop()
        for t in threads:
            t.join(30)
        for ls in listeners:
            ls.close()
        pub.close()
    assert not any(t.is_alive() for t in threads)


def test_iter_results_three_lines(daemon, source, connected, frames):
    import threading

    threading.Timer(0.5, lambda: source.send(frames[0], "client", 0)).start()
    got = []
    for m in iter_results(daemon.results_endpoint, timeout=20, series="client"):
        got.append(m)
        break
    assert [(m.kind, m.index) for m in got] == [("result", 0)]
    assert got[0].classes.shape == (4, 4) and got[0].mutual_information.dtype == np.float32
    assert got[0].timing["total"] > 0 and got[0].class_names[3] == "FCC_Cu_100"


def test_a_blank_frame_is_all_unknown_and_the_map_is_saved(daemon, source, connected, frames, save_dir):
    """Issue 22 point 14 / issue 17: a constant frame has no lattice — every window unknown, none interface."""
    source.send(np.full(SHAPE, 1000, np.uint16), "blank", 0)
    source.send(frames[0], "blank", 1)
    blank, good = connected.results("blank", 2, timeout=60)
    assert blank.header["protocol"] == RESULT_PROTOCOL  # 1.2 brought the unknown map; every later 1.x keeps it
    assert blank.arrays["unknown"].dtype == np.uint8 and blank.arrays["unknown"].shape == tuple(blank.header["grid"])
    assert blank.unknown.all() and not blank.interface.any()
    assert np.isnan(blank.lattice_rotation).all()
    assert good.unknown.mean() < 0.5  # the bicrystal's grains are fcc Cu [100] in range: known
    saved = read_entries(save_dir / series_filename("blank", "results"))
    np.testing.assert_array_equal(saved[0][1]["unknown"], blank.unknown)
    np.testing.assert_array_equal(saved[1][1]["unknown"], good.unknown)
