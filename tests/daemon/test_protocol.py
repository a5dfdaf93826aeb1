"""The wire protocol, the frame queue, settings and storage: pure functions, no sockets, no model."""

from __future__ import annotations

import threading
import time

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aistem.config import load_config
from aistem.core import AnalysisResult
from aistem.core.protocol import (
    FRAME_DTYPES,
    FRAME_PROTOCOL,
    RESULT_PROTOCOL,
    Limits,
    ProtocolError,
    build_result,
    decode_frame,
    decode_message,
    encode_error,
    encode_frame,
    encode_result,
    encode_status,
    pack,
)
from aistem.daemon.queueing import FrameQueue
from aistem.daemon.settings import DaemonSettings
from aistem.daemon.storage import SeriesStore, read_entries, series_filename


def header(**over):
    h = {
        "protocol": FRAME_PROTOCOL,
        "series": "s",
        "index": 3,
        "shape": [4, 5],
        "dtype": "uint16",
        "pixel_size": 0.12,
        "timestamp": 1.7e9,
    }
    h.update(over)
    return {k: v for k, v in h.items() if v is not ...}


def parts(h=None, pixels=None):
    h = header() if h is None else h
    if pixels is None:
        pixels = np.arange(20, dtype="<u2").tobytes()
    return [b"frame", msgpack.packb(h), pixels]


@pytest.mark.parametrize("dtype", FRAME_DTYPES)
def test_frame_round_trip_every_dtype(dtype):
    img = (np.arange(12 * 7).reshape(12, 7) % 50).astype(dtype)
    msg = encode_frame(img, series="run-1", index=42, pixel_size=0.1, timestamp=123.5, detector="HAADF", meta={"kV": 300})
    f = decode_frame(msg)
    assert f.image.dtype == np.dtype(dtype) and f.image.shape == (12, 7)
    np.testing.assert_array_equal(f.image, img)
    assert (f.series, f.index, f.pixel_size, f.timestamp, f.detector, f.meta) == ("run-1", 42, 0.1, 123.5, "HAADF", {"kV": 300})
    assert msgpack.unpackb(msg[1])["protocol"] == FRAME_PROTOCOL


def test_big_endian_and_non_contiguous_input_is_sent_little_endian_c_order():
    img = np.arange(30, dtype=">i4").reshape(5, 6)[:, ::2]
    msg = encode_frame(img, series="s", index=0, pixel_size=0.2)
    assert msg[2] == np.ascontiguousarray(img, dtype="<i4").tobytes()
    np.testing.assert_array_equal(decode_frame(msg).image, img)


def test_encode_frame_refuses_what_the_protocol_cannot_carry():
    with pytest.raises(ValueError, match="2-D"):
        encode_frame(np.zeros((2, 3, 4), np.uint8), series="s", index=0, pixel_size=0.1)
    with pytest.raises(ValueError, match="complex64"):
        encode_frame(np.zeros((3, 3), np.complex64), series="s", index=0, pixel_size=0.1)


BAD = [
    ("wrong protocol", parts(header(protocol="aistem-frame/2")), "bad-protocol"),
    ("no protocol", parts(header(protocol=...)), "missing-key"),
    ("missing pixel_size", parts(header(pixel_size=...)), "missing-key"),
    ("missing shape and dtype", parts(header(shape=..., dtype=...)), "missing-key"),
    ("shape × dtype ≠ buffer", parts(header(dtype="float32")), "size-mismatch"),
    ("short buffer", parts(pixels=b"\x00" * 39), "size-mismatch"),
    ("unsupported dtype", parts(header(dtype="complex64")), "unsupported-dtype"),
    ("int64", parts(header(dtype="int64")), "unsupported-dtype"),
    ("absurd shape", parts(header(shape=[10**9, 10**9])), "too-large"),
    ("too many pixels", parts(header(shape=[9000, 9000])), "too-large"),
    ("negative shape", parts(header(shape=[-4, 5])), "bad-value"),
    ("3-D shape", parts(header(shape=[2, 2, 5])), "bad-value"),
    ("index not an integer", parts(header(index="3")), "bad-value"),
    ("index a bool", parts(header(index=True)), "bad-value"),
    ("pixel size zero", parts(header(pixel_size=0.0)), "bad-value"),
    ("pixel size NaN", parts(header(pixel_size=float("nan"))), "bad-value"),
    ("series not a string", parts(header(series=7)), "bad-value"),
    ("meta not a map", parts(header(meta=[1, 2])), "bad-value"),
    ("header not msgpack", [b"frame", b"\xc1\xc1\xc1", b""], "not-msgpack"),
    ("header not a map", [b"frame", msgpack.packb([1, 2]), b""], "bad-header"),
    ("header too large", [b"frame", msgpack.packb({"x": "a" * 70000}), b""], "header-too-large"),
    ("two parts", parts()[:2], "bad-parts"),
    ("four parts", [*parts(), b"extra"], "bad-parts"),
    ("garbage topic", [b"\x00\xffgarbage"], "unknown-type"),
    ("empty", [], "bad-parts"),
]


@pytest.mark.parametrize(("what", "msg", "code"), BAD, ids=[b[0] for b in BAD])
def test_bad_frames_are_refused_with_a_code_and_reason(what, msg, code):
    with pytest.raises(ProtocolError) as info:
        decode_frame(msg)
    assert info.value.code == code, info.value.reason
    assert len(info.value.reason) > 10


def test_errors_carry_series_and_index_where_readable():
    with pytest.raises(ProtocolError) as info:
        decode_frame(parts(header(dtype="float32", series="run", index=9)))
    assert (info.value.series, info.value.index) == ("run", 9)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_refused(bad):
    img = np.ones((6, 6), np.float32)
    img[2, 3] = bad
    with pytest.raises(ProtocolError) as info:
        decode_frame(encode_frame(img, series="s", index=1, pixel_size=0.1))
    assert info.value.code == "non-finite" and "1 NaN or infinite" in info.value.reason
    assert decode_frame(encode_frame(img, series="s", index=1, pixel_size=0.1), check_finite=False).image.shape == (6, 6)


def test_size_limits_refuse_before_looking_at_the_buffer():
    lim = Limits(max_rows=100, max_cols=200, max_pixels=10_000)
    ok = np.zeros((100, 100), np.uint8)
    assert decode_frame(encode_frame(ok, series="s", index=0, pixel_size=0.1), lim).image.shape == (100, 100)
    for shape in ([101, 10], [10, 201], [100, 101]):
        with pytest.raises(ProtocolError) as info:
            decode_frame(parts(header(shape=shape), pixels=b""), lim)  # an empty buffer: the limit comes first
        assert info.value.code == "too-large"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=0, max_size=5))
def test_any_garbage_is_a_protocol_error_never_a_crash(raw):
    for msg in (raw, [b"frame", *raw[1:]]):
        try:
            decode_frame(msg)
        except ProtocolError as exc:
            assert exc.code and exc.reason
        try:
            decode_message(msg)
        except ProtocolError:
            pass


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["protocol", "series", "index", "shape", "dtype", "pixel_size", "timestamp", "meta"]),
        st.one_of(st.none(), st.integers(-5, 2**40), st.floats(), st.text(max_size=8), st.lists(st.integers(-3, 20), max_size=3)),
    )
)
def test_any_header_is_validated_never_a_crash(h):
    try:
        f = decode_frame([b"frame", pack(h), b"\x00" * 40])
    except ProtocolError:
        return
    assert f.image.nbytes == 40


def fake_result(grid=(3, 4), n_classes=10):
    rng = np.random.default_rng(0)
    p = rng.random((*grid, n_classes)).astype(np.float32)
    p /= p.sum(-1, keepdims=True)
    mi = rng.random(grid).astype(np.float32) * 0.3
    rr, cc = np.meshgrid(np.arange(grid[0]) * 12, np.arange(grid[1]) * 12, indexing="ij")
    return AnalysisResult(
        classes=p.argmax(-1).astype(np.uint8),
        probabilities=p,
        mutual_information=mi,
        predictive_entropy=mi + 0.1,
        variation_ratio=mi / 2,
        interface=mi > 0.1,
        class_names=[f"c{i}" for i in range(n_classes)],
        origins_px=np.stack([rr, cc], -1).astype(np.int64),
        window_px=100,
        stride_px=12,
        pixel_size=0.12,
        threshold=0.1,
        samples=30,
        model_name="m",
        model_hash="abc",
        timing={"descriptor": 1.0, "inference": 2.0, "total": 3.0},
    )


def test_result_round_trip_has_every_documented_key_and_array():
    r = fake_result()
    timing = {"queued": 0.5, "descriptor": 1.0, "inference": 2.0, "total": 4.0}
    msg = encode_result(r, series="s", index=5, timing=timing, dropped=2, timestamp=10.0, seed=0)
    m = decode_message(msg)
    assert m.kind == "result" and (m.series, m.index) == ("s", 5)
    h = m.header
    for key in ("protocol", "series", "index", "grid", "window_px", "stride_px", "origins", "pixel_size", "class_names"):
        assert key in h
    for key in ("samples", "threshold", "model", "timing", "dropped", "arrays"):
        assert key in h
    assert h["protocol"] == RESULT_PROTOCOL and h["grid"] == [3, 4] and h["origins"] == [0, 0]
    assert h["model"] == {"name": "m", "hash": "abc"} and h["timing"] == timing and h["dropped"] == 2
    assert [a["name"] for a in h["arrays"]][:4] == ["classes", "probabilities", "mutual_information", "interface"]
    assert m.classes.dtype == np.uint8 and m.interface.dtype == np.uint8 and m.probabilities.dtype == np.float32
    np.testing.assert_array_equal(m.classes, r.classes)
    np.testing.assert_array_equal(m.probabilities, r.probabilities)
    np.testing.assert_array_equal(m.interface, r.interface.astype(np.uint8))
    np.testing.assert_array_equal(m.mutual_information, r.mutual_information)
    assert m.probabilities.shape == (3, 4, 10)


def test_result_decoding_checks_parts_against_the_header():
    h, arrays = build_result(fake_result(), series="s", index=0, timing={}, dropped=0)
    msg = encode_result(fake_result(), series="s", index=0, timing={}, dropped=0)
    with pytest.raises(ProtocolError, match="arrays"):
        decode_message(msg[:-1])
    bad = [*msg[:2], b"\x00", *msg[3:]]
    with pytest.raises(ProtocolError) as info:
        decode_message(bad)
    assert info.value.code == "size-mismatch"
    assert list(arrays) == [a["name"] for a in h["arrays"]]


def test_typed_decoder_reads_the_daemons_results():
    from aistem.core import protocol as gui

    msg = encode_result(fake_result(), series="s", index=5, timing={"total": 1.0}, dropped=1, timestamp=10.0)
    r = gui.decode([bytes(p) for p in msg])
    assert (r.series, r.index, r.grid, r.window_px, r.stride_px, r.dropped) == ("s", 5, (3, 4), 100, 12, 1)
    np.testing.assert_array_equal(r.classes, fake_result().classes)
    e = gui.decode(encode_error("bad frame", code="non-finite", series="s", index=2))
    assert e.reason == "bad frame" and e.index == 2
    st_ = gui.decode(encode_status({"frames_received": 3, "frames_processed": 2, "mean_latency_ms": 5.0}))
    assert "received 3" in st_.text()


def test_error_and_status_messages():
    e = decode_message(encode_error("the frame has 3 NaN pixel(s)", code="non-finite", series="s", index=4))
    assert e.kind == "error" and e.header["reason"].startswith("the frame") and e.header["code"] == "non-finite"
    assert (e.series, e.index) == ("s", 4)
    e2 = decode_message(encode_error("garbage"))
    assert e2.series is None and e2.index is None
    s = decode_message(encode_status({"frames_received": 3}))
    assert s.kind == "status" and s.header["frames_received"] == 3 and s.header["protocol"] == "aistem-status/1"


# -- queue -----------------------------------------------------------------------------------------------------------


def test_live_queue_keeps_the_newest_and_counts_the_rest():
    q = FrameQueue("live")
    for i in range(5):
        assert q.put(i)
    assert len(q) == 1 and q.dropped == 4
    assert q.get(0.01) == 4 and q.get(0.01) is None


def test_lossless_queue_keeps_order_and_blocks_when_full():
    q = FrameQueue("lossless", capacity=3)
    for i in range(3):
        assert q.put(i, timeout=0.1)
    t = time.monotonic()
    assert not q.put(3, timeout=0.2)
    assert time.monotonic() - t >= 0.19
    got = []
    th = threading.Thread(target=lambda: got.append(q.put(3, timeout=5)))
    th.start()
    assert q.get(1) == 0
    th.join(5)
    assert got == [True] and [q.get(0.1) for _ in range(3)] == [1, 2, 3] and q.dropped == 0


def test_switching_to_live_keeps_only_the_newest():
    q = FrameQueue("lossless", capacity=8)
    for i in range(5):
        q.put(i)
    assert q.set_mode("live") == 4 and q.dropped == 4 and q.get(0) == 4
    with pytest.raises(ValueError, match="mode"):
        q.set_mode("fast")


# -- settings and storage ----------------------------------------------------------------------------------------------


def test_settings_come_from_the_config_and_are_validated(tmp_path):
    s = DaemonSettings.from_config(load_config())
    assert (s.socket, s.mode, s.results) == ("sub", "live", "tcp://127.0.0.1:5556")
    assert s.analysis.window == 12.0 and s.analysis.seed is None and s.model is None
    assert s.limits.max_pixels == 8192 * 8192
    user = tmp_path / "u.toml"
    user.write_text('[daemon]\nmode = "lossless"\n[daemon.limits]\nmax_rows = 512\n[analysis]\nseed = 3\n')
    s2 = DaemonSettings.from_config(load_config(user))
    assert s2.mode == "lossless" and s2.limits.max_rows == 512 and s2.analysis.seed == 3
    assert s2.replace(seed=-1).analysis.seed is None
    for bad in ({"mode": "fast"}, {"socket": "req"}, {"samples": 0}, {"window": -1.0}, {"threshold": float("nan")}):
        with pytest.raises(ValueError):
            s.replace(**bad)


def test_every_daemon_config_key_is_documented():
    from aistem.config import default_config_text

    lines = default_config_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "[daemon]")
    for i, ln in enumerate(lines[start:], start):
        if "=" in ln and not ln.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"config key without a comment: {ln}"


def test_storage_appends_flushes_and_reads_back(tmp_path):
    r = fake_result()
    with SeriesStore(tmp_path) as store:
        for i in range(3):
            h, arrays = build_result(r, series="a/b c", index=i, timing={"total": 1.0}, dropped=0, extra={"meta": {"x": b"\x01"}})
            path = store.append("a/b c", i, h, arrays)
        entries = read_entries(path)  # readable while still open for writing
        assert len(entries) == 3
    assert path.name == series_filename("a/b c", "results") and path.name.startswith("a_b_c-")
    with SeriesStore(tmp_path) as store:  # a restarted daemon appends
        h, arrays = build_result(r, series="a/b c", index=0, timing={}, dropped=0)
        store.append("a/b c", 0, h, arrays)
    entries = read_entries(path)
    assert [e[0]["index"] for e in entries] == [0, 1, 2, 0]
    np.testing.assert_array_equal(entries[1][1]["probabilities"], r.probabilities)
    assert entries[0][0]["meta"] == {"x": {"base64": "AQ=="}}
    with pytest.raises(ValueError, match="not an AI-STEM"):
        import h5py

        with h5py.File(tmp_path / "other.h5", "w"):
            pass
        read_entries(tmp_path / "other.h5")


def test_daemon_modules_import_no_keras_tensorflow_or_training():
    import subprocess
    import sys

    code = (
        "import sys, aistem.daemon, aistem.daemon.commands, aistem.daemon.server, aistem.daemon.sources.replay, "
        "aistem.daemon.sources.record, aistem.daemon.sources.sim, aistem.daemon.curve, aistem.daemon.storage;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('keras','tensorflow','PySide6','abtem')"
        " or m.startswith('aistem.training') or m.startswith('aistem.gui')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_lattice_rotation_and_adaptive_settings_travel():
    """The rotation map is one of the result arrays; adaptive/precision are settings the daemon validates."""
    import pytest

    from aistem.config import load_config
    from aistem.core.protocol import RESULT_ARRAYS
    from aistem.daemon.settings import DaemonSettings

    assert ("lattice_rotation", "lattice_rotation", "float32") in RESULT_ARRAYS
    s = DaemonSettings.from_config(load_config())
    assert s.analysis.rotation is True and s.analysis.adaptive is True  # adaptive by default, off by a switch
    assert s.replace(adaptive=False, precision="bfloat16").analysis.adaptive is False
    assert s.replace(adaptive=True, precision="bfloat16").analysis.precision == "bfloat16"
    with pytest.raises(ValueError, match="precision"):
        s.replace(precision="int4")
