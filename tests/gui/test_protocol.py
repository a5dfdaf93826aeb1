"""Decoding the wire messages: round trips, geometry, and every rejection names what is wrong."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from aistem.core.protocol import (
    DaemonError,
    Frame,
    ProtocolError,
    Result,
    Status,
    decode,
    encode_error,
    encode_frame,
    encode_status,
)
from tests.gui.conftest import CLASS_NAMES, STRIDE, WINDOW, bicrystal_result_arrays, result_message


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "float32", "float64"])
def test_frame_round_trip_every_dtype(dtype):
    img = (np.arange(12 * 7) % 50).reshape(12, 7).astype(dtype)
    f = decode(encode_frame(img, "s1", 4, 0.12, 1700000000.5, detector="HAADF", meta={"kV": 300}))
    assert isinstance(f, Frame)
    assert f.image.dtype == np.dtype(dtype) and f.image.shape == (12, 7)
    np.testing.assert_array_equal(f.image, img)
    assert (f.series, f.index, f.pixel_size, f.timestamp, f.detector, f.meta) == (
        "s1",
        4,
        0.12,
        1700000000.5,
        "HAADF",
        {"kV": 300},
    )


def test_result_round_trip_and_geometry():
    r = decode(result_message(7, origins=(3, 5), final=False))
    assert isinstance(r, Result)
    a = bicrystal_result_arrays()
    for k, v in a.items():
        np.testing.assert_array_equal(r.arrays[k], v)
    assert r.grid == a["classes"].shape and r.class_names == CLASS_NAMES and r.final is False
    assert (r.model_name, r.model_hash, r.samples, r.timing["total"]) == ("test-model", "0123456789abcdef", 8, 26.0)
    # cell (i, j) is a stride block centred on window (i, j)'s centre
    top, left, h, w = r.cell_rect()
    for i, j in [(0, 0), (2, 4), (r.grid[0] - 1, r.grid[1] - 1)]:
        cr, cc = r.window_centre(i, j)
        assert cr == 3 + i * STRIDE + (WINDOW - 1) / 2 and cc == 5 + j * STRIDE + (WINDOW - 1) / 2
        assert top + (i + 0.5) * STRIDE == pytest.approx(cr) and left + (j + 0.5) * STRIDE == pytest.approx(cc)
        assert r.cell_at(cr, cc) == (i, j)
        assert r.cell_at(cr + STRIDE / 2 - 0.01, cc - STRIDE / 2 + 0.01) == (i, j)
    assert r.cell_at(top - 0.01, left + 1) is None and r.cell_at(top + h + 0.01, left + 1) is None
    assert (h, w) == (r.grid[0] * STRIDE, r.grid[1] * STRIDE)
    assert r.covered_shape() == (3 + (r.grid[0] - 1) * STRIDE + WINDOW, 5 + (r.grid[1] - 1) * STRIDE + WINDOW)


def test_optional_lattice_rotation_and_model_as_string():
    a = bicrystal_result_arrays()
    a["lattice_rotation"] = np.where(a["interface"] > 0, np.nan, 12.5).astype(np.float32)
    parts = result_message(1, arrays=a, model="plain-name")
    r = decode(parts)
    assert r.model_name == "plain-name"
    assert np.isnan(r.lattice_rotation[a["interface"] > 0]).all()


def test_error_and_status():
    e = decode(encode_error("image is all NaN", series="s", index=3))
    assert isinstance(e, DaemonError) and (e.series, e.index, e.reason) == ("s", 3, "image is all NaN")
    assert e.text() == "daemon error on s #3 (error): image is all NaN"
    # the daemon's own form: series/index nil when unreadable, and a machine-readable code
    raw = [
        b"error",
        msgpack.packb({"protocol": "aistem-error/1", "series": None, "index": None, "code": "not-msgpack", "reason": "bad"}),
    ]
    e = decode(raw)
    assert (e.series, e.index, e.code) == ("", -1, "not-msgpack") and e.text() == "daemon error (not-msgpack): bad"
    s = decode(
        encode_status(
            frames_received=10,
            frames_processed=9,
            frames_dropped=1,
            queue_length=2,
            mean_latency_ms=140.0,
            model={"name": "m"},
            uptime_s=61.2,
        )
    )
    assert isinstance(s, Status)
    text = s.text()
    assert decode(encode_status(state="draining", frames_received=1)).text().startswith("draining, received 1")
    for needle in ("received 10", "processed 9", "dropped 1", "queue 2", "140 ms", "model m", "up 61 s"):
        assert needle in text


def _header(parts):
    return msgpack.unpackb(parts[1])


def _with_header(parts, **changes):
    h = _header(parts)
    h.update(changes)
    return [parts[0], msgpack.packb(h), *parts[2:]]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: _with_header(p, protocol="aistem-result/2"), "is not 'aistem-result/1"),
        (lambda p: p[:-1], "lists 4 arrays but 3 array parts came"),
        (lambda p: [*p[:-1], p[-1][:-1]], "bytes for shape"),
        (lambda p: _with_header(p, grid=[2, 2]), "not the grid"),
        (lambda p: _with_header(p, class_names=["a"]), "class names"),
        (lambda p: [p[0], b"\xc1", *p[2:]], "not msgpack"),
        (lambda p: [b"hello", *p[1:]], "unknown message type"),
    ],
)
def test_bad_results_are_rejected_with_a_reason(mutate, message):
    with pytest.raises(ProtocolError, match=message):
        decode(mutate(result_message(0)))


def test_bad_frames_are_rejected_with_a_reason():
    good = encode_frame(np.zeros((4, 4), np.uint16), "s", 0, 0.1)
    with pytest.raises(ProtocolError, match=r"\(32 bytes\)"):
        decode([good[0], good[1], good[2][:-2]])
    with pytest.raises(ProtocolError, match="complex64"):
        decode(_with_header(good, dtype="complex64"))
    h = _header(good)
    del h["index"]
    with pytest.raises(ProtocolError, match="misses 'index'"):
        decode([good[0], msgpack.packb(h), good[2]])
    with pytest.raises(ValueError, match="dtype"):
        encode_frame(np.zeros((4, 4), np.int64), "s", 0, 0.1)


def test_reads_what_the_daemon_writes():
    from aistem.core import protocol as dp
    from aistem.core.analysis import AnalysisResult

    a = bicrystal_result_arrays()
    g = a["classes"].shape
    ii, jj = np.meshgrid(np.arange(g[0]), np.arange(g[1]), indexing="ij")
    ar = AnalysisResult(
        classes=a["classes"],
        probabilities=a["probabilities"],
        mutual_information=a["mutual_information"],
        predictive_entropy=a["mutual_information"] * 2,
        variation_ratio=np.zeros(g, np.float32),
        interface=a["interface"].astype(bool),
        class_names=CLASS_NAMES,
        origins_px=np.stack([4 + ii * STRIDE, 6 + jj * STRIDE], axis=-1),
        window_px=WINDOW,
        stride_px=STRIDE,
        pixel_size=0.12,
        threshold=0.1,
        samples=8,
        model_name="m",
        model_hash="h" * 16,
    )
    r = decode(dp.encode_result(ar, series="s", index=5, timing={"total": 12.0}, dropped=2, timestamp=1.5e9))
    assert isinstance(r, Result) and (r.series, r.index, r.dropped, r.timestamp, r.final) == ("s", 5, 2, 1.5e9, True)
    assert r.origins == (4, 6) and r.grid == g and (r.model_name, r.model_hash) == ("m", "h" * 16)
    np.testing.assert_array_equal(r.classes, a["classes"])
    np.testing.assert_array_equal(r.interface.astype(bool), a["interface"].astype(bool))
    img = (np.arange(20 * 30) % 7).reshape(20, 30).astype(np.uint16)
    f = decode(dp.encode_frame(img, series="s", index=5, pixel_size=0.12, timestamp=3.0))
    assert isinstance(f, Frame) and f.timestamp == 3.0
    np.testing.assert_array_equal(f.image, img)
    e = decode(dp.encode_error("bad pixels", code="non-finite", series="s", index=5))
    assert e.text() == "daemon error on s #5 (non-finite): bad pixels"
    assert isinstance(decode(dp.encode_status({"frames_received": 3})), Status)


def test_unknown_map_of_a_1_2_result_and_none_from_older_daemons():
    from aistem.core import protocol as dp
    from aistem.core.analysis import AnalysisResult
    from aistem.core.protocol import ProtocolError, result_minor_version

    a = bicrystal_result_arrays()
    g = a["classes"].shape
    unknown = np.zeros(g, bool)
    unknown[:, :2] = True
    ar = AnalysisResult(
        classes=a["classes"],
        probabilities=a["probabilities"],
        mutual_information=a["mutual_information"],
        predictive_entropy=a["mutual_information"],
        variation_ratio=np.zeros(g, np.float32),
        interface=a["interface"].astype(bool) & ~unknown,
        class_names=CLASS_NAMES,
        origins_px=np.zeros((*g, 2), np.int64),
        window_px=WINDOW,
        stride_px=STRIDE,
        pixel_size=0.12,
        threshold=0.1,
        samples=8,
        unknown=unknown,
    )
    parts = dp.encode_result(ar, series="s", index=1, timing={}, dropped=0)
    r = decode(parts)
    assert r.header["protocol"] == "aistem-result/1.3" and r.minor_version == 3
    assert r.arrays["unknown"].dtype == np.uint8 and r.arrays["unknown"].shape == g
    assert r.unknown.dtype == bool
    np.testing.assert_array_equal(r.unknown, unknown)
    # a daemon of 1.0/1.1: no map, and the viewer says so
    old = decode(result_message(1))
    assert old.unknown is None and old.minor_version == 0
    assert result_minor_version({"protocol": "aistem-result/1.1"}) == 1 and result_minor_version({}) == 0
    # a 1.2 result must carry it
    h = msgpack.unpackb(parts[1])
    keep = [i for i, s in enumerate(h["arrays"]) if s["name"] != "unknown"]
    h["arrays"] = [h["arrays"][i] for i in keep]
    with pytest.raises(ProtocolError, match="no 'unknown' array"):
        decode([parts[0], msgpack.packb(h), *[parts[2 + i] for i in keep]])
