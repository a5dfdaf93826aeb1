"""The summary table and the HyperSpy result files: what a microscopist opens in the tools they use."""

import csv

import numpy as np
import pytest

from aistem.core.analysis import AnalysisResult
from aistem.core.io.results import summary_row, write_hspy, write_summary


def _result(pixel_size=0.12):
    classes = np.array([[0, 1, 1], [2, 2, 2]], np.uint8)
    probs = np.eye(3, dtype=np.float32)[classes]
    return AnalysisResult(
        classes=classes, probabilities=probs, mutual_information=np.full((2, 3), 0.05, np.float32),
        predictive_entropy=np.zeros((2, 3), np.float32), variation_ratio=np.zeros((2, 3), np.float32),
        interface=np.array([[1, 0, 0], [0, 0, 0]], bool), class_names=["a", "b", "c"],
        origins_px=np.stack(np.meshgrid(np.arange(2) * 10, np.arange(3) * 10, indexing="ij"), -1),
        window_px=100, stride_px=10, pixel_size=pixel_size, threshold=0.1, samples=4, source="x.dm4",
    )  # fmt: skip


def test_summary_rows_with_and_without_unknown_windows(tmp_path):
    r = _result()  # no domain check: every window known
    row = summary_row(r, "x.dm4", "signal 0 'HAADF'", 3, "x_f003.npz")
    assert float(row["unknown_fraction"]) == 0 and float(row["interface_fraction"]) == pytest.approx(1 / 6, abs=1e-6)
    assert [float(row[f"share {n}"]) for n in "abc"] == pytest.approx([1 / 6, 2 / 6, 3 / 6], abs=1e-6)
    r.unknown = np.array([[1, 1, 0], [0, 0, 0]], bool)  # the domain-check map, where analysis adds one
    row2 = summary_row(r, "x.dm4", "signal 0 'HAADF'", 4)
    assert float(row2["unknown_fraction"]) == pytest.approx(2 / 6, abs=1e-6)
    write_summary([row, row2], tmp_path / "s.csv")
    with open(tmp_path / "s.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["frame"] for r in rows] == ["3", "4"] and list(rows[0])[:3] == ["file", "signal", "frame"]


def test_hspy_result_reads_back_with_calibrated_axes_and_class_names(tmp_path):
    pytest.importorskip("rsciio", reason="the io extra (RosettaSciIO) is not installed")
    from rsciio.hspy import file_reader

    r = _result()
    r.unknown = np.zeros((2, 3), bool)
    write_hspy(r, tmp_path / "r.hspy", signal="signal 0 'HAADF'", frame=2)
    sigs = file_reader(str(tmp_path / "r.hspy"))
    titles = [s["metadata"]["General"]["title"].split(": ")[-1] for s in sigs]
    assert titles == ["classes", "mutual information", "interface", "predictive entropy", "variation ratio", "unknown",
                      "probabilities"]  # fmt: skip
    classes = sigs[0]
    np.testing.assert_array_equal(classes["data"], r.classes)
    meta = classes["metadata"]["AISTEM"]
    assert list(meta["class_names"]) == ["a", "b", "c"] and meta["frame"] == 2 and meta["window_px"] == 100
    rows, cols = classes["axes"]
    assert rows["units"] == cols["units"] == "Å"
    assert cols["scale"] == pytest.approx(1.2) and cols["offset"] == pytest.approx(6.0)  # window centres [Å]
    np.testing.assert_array_equal(sigs[-1]["data"], r.probabilities)
    unknown_px = _result(pixel_size=float("nan"))
    write_hspy(unknown_px, tmp_path / "px.hspy")
    assert file_reader(str(tmp_path / "px.hspy"))[0]["axes"][0]["units"] == "px"


def test_source_names_signal_and_frame_and_embed_reads_them_back(tmp_path):
    pytest.importorskip("rsciio", reason="the io extra (RosettaSciIO) is not installed")
    from aistem.core.io.results import format_source, parse_source
    from aistem.training.embed import load_input
    from tests.cli.test_info_and_files import _two_signal_hspy

    assert parse_source(format_source("/a b/c.emd", 4, "HAADF", 2)) == ("/a b/c.emd", 4, 2)
    assert parse_source("/x/y.npy") == ("/x/y.npy", None, None)
    path = _two_signal_hspy(tmp_path)
    r = _result()
    r.source = format_source(path, 1, "HAADF", 1)
    r.save(tmp_path / "r.npz")
    inp = load_input(tmp_path / "r.npz")
    from aistem.core.io import read_image

    np.testing.assert_array_equal(inp.image, read_image(path, frame=1).frames[0].astype(np.float32))
    assert not np.array_equal(inp.image, read_image(path, frame=0).frames[0])
