"""The one wire codec (aistem.core.protocol): round trips, every older result version read by the viewer's typed
decoder, the coarse-to-fine maps (1.3), CURVE certificate files, and no ZeroMQ or Qt behind it."""

from __future__ import annotations

import subprocess
import sys

import msgpack
import numpy as np
import pytest

from aistem.core import AnalysisResult
from aistem.core import protocol as P

NAMES = ["A", "B", "C"]


def _analysis(grid=(4, 5), *, coarse_to_fine: bool = True) -> AnalysisResult:
    rng = np.random.default_rng(3)
    ii, jj = np.meshgrid(np.arange(grid[0]), np.arange(grid[1]), indexing="ij")
    probs = rng.dirichlet(np.ones(len(NAMES)), size=grid).astype(np.float32)
    mi = rng.uniform(0, 0.3, grid).astype(np.float32)
    level = np.ones(grid, np.int8)
    level[::2, ::2] = 0
    level[1:, 3:] = 2
    return AnalysisResult(
        classes=probs.argmax(-1).astype(np.uint8),
        probabilities=probs,
        mutual_information=mi,
        predictive_entropy=mi * 2,
        variation_ratio=np.zeros(grid, np.float32),
        interface=mi > 0.1,
        class_names=NAMES,
        origins_px=np.stack([2 + ii * 10, 3 + jj * 10], axis=-1),
        window_px=40,
        stride_px=10,
        pixel_size=0.12,
        threshold=0.1,
        samples=16,
        model_name="m",
        model_hash="0" * 16,
        filled=(level == 2) if coarse_to_fine else None,
        refinement_level=level if coarse_to_fine else None,
    )


def test_result_round_trip_through_both_readers_with_filled_and_levels():
    ar = _analysis()
    parts = P.encode_result(ar, series="s", index=3, timing={"total": 5.0}, dropped=1, timestamp=7.0, seed=11)
    parts = [bytes(p) for p in parts]
    msg = P.decode_message(parts)  # the untyped reader (client, record)
    assert msg.kind == "result" and msg.header["protocol"] == P.RESULT_PROTOCOL == "aistem-result/1.3"
    np.testing.assert_array_equal(msg.classes, ar.classes)
    np.testing.assert_array_equal(msg.arrays["filled"].astype(bool), ar.filled)
    assert msg.header["refinement"] == {"coarse": 5, "refined": 9, "filled": 6}  # of the 4 × 5 windows
    r = P.decode(parts)  # the viewer's typed reader
    assert isinstance(r, P.Result) and r.minor_version == 3 and (r.series, r.index, r.timestamp) == ("s", 3, 7.0)
    assert r.filled.dtype == bool and r.filled.shape == ar.classes.shape
    np.testing.assert_array_equal(r.filled, ar.filled)
    np.testing.assert_array_equal(r.refinement_level, ar.refinement_level)
    np.testing.assert_array_equal(r.probabilities, ar.probabilities)
    np.testing.assert_array_equal(r.unknown, np.zeros(ar.classes.shape, bool))
    assert r.origins == (2, 3) and r.grid == (4, 5) and r.cell_at(*r.window_centre(1, 2)) == (1, 2)


def test_a_dense_result_sends_no_filled_map():
    parts = P.encode_result(_analysis(coarse_to_fine=False), series="s", index=0, timing={}, dropped=0)
    r = P.decode(parts)
    assert r.filled is None and r.refinement_level is None and "refinement" not in r.header
    assert [a["name"] for a in r.header["arrays"]][-1] != "filled"


@pytest.mark.parametrize("version", ["aistem-result/1", "aistem-result/1.1", "aistem-result/1.2"])
def test_the_viewer_reads_every_older_minor_version(version):
    """A message as an older daemon wrote it: without the arrays later versions added."""
    ar = _analysis()
    header, arrays = P.build_result(ar, series="old", index=2, timing={}, dropped=0)
    drop = {"filled", "refinement_level"} | ({"unknown"} if version != "aistem-result/1.2" else set())
    arrays = {k: v for k, v in arrays.items() if k not in drop}
    header = {k: v for k, v in header.items() if k != "refinement"}
    header["arrays"] = [a for a in header["arrays"] if a["name"] not in drop]
    header["protocol"] = version
    if version == "aistem-result/1":  # before the live preview: no final/stage keys at all
        for k in ("final", "stage", "stages"):
            header.pop(k)
    r = P.decode(P.pack_result(header, arrays))
    assert isinstance(r, P.Result) and r.minor_version == (0 if version.endswith("/1") else int(version[-1]))
    assert r.final is True and r.stage == (1, 1) and r.filled is None and r.refinement_level is None
    assert (r.unknown is None) == (version != "aistem-result/1.2")
    np.testing.assert_array_equal(r.classes, ar.classes)


def test_a_newer_major_version_is_refused_and_a_newer_minor_read():
    header, arrays = P.build_result(_analysis(), series="s", index=0, timing={}, dropped=0)
    with pytest.raises(P.ProtocolError) as info:
        P.decode(P.pack_result({**header, "protocol": "aistem-result/2"}, arrays))
    assert info.value.code == "bad-protocol"
    r = P.decode(P.pack_result({**header, "protocol": "aistem-result/1.9", "new_key": 1}, arrays))
    assert r.minor_version == 9 and r.filled is not None


def test_encode_result_arrays_and_frames_round_trip():
    img = np.arange(30 * 20, dtype=np.uint16).reshape(30, 20)
    f = P.decode(P.encode_frame(img, "s", 4, 0.2, 1.5, detector="HAADF", meta={"kV": 300}))
    assert isinstance(f, P.Frame) and f.key == ("s", 4) and (f.pixel_size, f.timestamp, f.detector) == (0.2, 1.5, "HAADF")
    np.testing.assert_array_equal(f.image, img)
    classes = np.zeros((2, 3), np.uint8)
    filled = np.array([[0, 1, 1], [0, 0, 1]], bool)
    parts = P.encode_result_arrays(
        "s",
        4,
        {"classes": classes, "unknown": np.zeros((2, 3), bool), "filled": filled},
        window_px=8,
        stride_px=2,
        class_names=NAMES,
    )
    r = P.decode(parts)
    assert msgpack.unpackb(parts[1])["arrays"][2] == {"name": "filled", "dtype": "uint8", "shape": [2, 3]}
    np.testing.assert_array_equal(r.filled, filled)


def test_one_frame_class_and_one_error_code_scheme():
    e = P.decode(P.encode_error("bad pixels", code="non-finite", series="s", index=1))
    assert isinstance(e, P.DaemonError) and e.text() == "daemon error on s #1 (non-finite): bad pixels"
    with pytest.raises(P.ProtocolError) as info:
        P.decode([b"frame", P.pack({"protocol": "aistem-frame/1"}), b""])
    assert info.value.code == "missing-key" and "pixel_size" in str(info.value)
    st = P.decode(P.encode_status({"frames_received": 2}, state="draining"))
    assert isinstance(st, P.Status) and st.text().startswith("draining, received 2")


def test_curve_certificates_read_without_zeromq_match_zeromqs_reader(tmp_path):
    zmq_auth = pytest.importorskip("zmq.auth")
    import zmq

    if not zmq.has("curve"):
        pytest.skip("this libzmq has no CURVE")
    public, secret = zmq_auth.create_certificates(str(tmp_path), "peer")
    assert P.load_public(public) == zmq_auth.load_certificate(public)[0]
    assert P.load_secret(secret) == zmq_auth.load_certificate(secret)
    with pytest.raises(ValueError, match="no secret key"):
        P.load_secret(public)
    with pytest.raises(FileNotFoundError, match="not found"):
        P.load_public(tmp_path / "nobody.key")
    (tmp_path / "junk.key").write_text("hello\n")
    with pytest.raises(ValueError, match="not a ZeroMQ certificate"):
        P.load_public(tmp_path / "junk.key")


def test_the_protocol_package_imports_no_zeromq_qt_or_keras():
    code = (
        "import sys, aistem.core.protocol;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('zmq','PySide6','pyqtgraph','keras','tensorflow')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
