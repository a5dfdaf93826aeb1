"""The ``unknown`` map of an analysis: summaries over known windows only, ``.npz`` round trip, ``analyze`` wiring."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from aistem.core import analyze
from aistem.core.analysis import AnalysisResult
from tests.conftest import square_lattice


def _result(unknown=None):
    classes = np.array([[0, 0, 1, 2], [0, 1, 1, 2]], np.uint8)
    mi = np.array([[0.01, 0.5, 0.02, 0.3], [0.01, 0.01, 0.2, 0.02]], np.float32)
    g = classes.shape
    return AnalysisResult(
        classes=classes,
        probabilities=np.full((*g, 3), 1 / 3, np.float32),
        mutual_information=mi,
        predictive_entropy=mi,
        variation_ratio=np.zeros(g, np.float32),
        interface=(mi > 0.1) & (~unknown if unknown is not None else True),
        class_names=["a", "b", "c"],
        origins_px=np.zeros((*g, 2), np.int64),
        window_px=100,
        stride_px=12,
        pixel_size=0.12,
        threshold=0.1,
        samples=4,
        unknown=unknown,
    )


def test_summaries_count_classes_over_known_windows_and_state_unknown_and_interface():
    unknown = np.array([[False, False, True, True], [False, True, False, True]])
    r = _result(unknown)
    assert r.unknown_fraction == pytest.approx(0.5)
    # known windows: (0,0) a, (0,1) a [interface], (1,0) a, (1,2) b [interface]
    assert r.class_fractions() == pytest.approx({"a": 0.75, "b": 0.25, "c": 0.0})
    assert r.interface_fraction == pytest.approx(2 / 8)  # (0,3) and the MI of unknown windows do not count
    assert r.confident_fraction == pytest.approx(2 / 8)
    t = r.with_threshold(0.0)  # every known window becomes interface, no unknown window does
    np.testing.assert_array_equal(t.interface, ~unknown)
    everything = _result(np.ones((2, 4), bool))
    assert everything.class_fractions() == {"a": 0.0, "b": 0.0, "c": 0.0} and everything.unknown_fraction == 1.0
    assert not _result().unknown.any() and _result().unknown.dtype == bool  # no map: every window known
    with pytest.raises(ValueError, match="unknown map"):
        dataclasses.replace(_result(), unknown=np.zeros((3, 3), bool))


def test_npz_round_trip_and_older_files_without_unknown(tmp_path):
    unknown = np.array([[True, False, False, True], [False, False, False, True]])
    r = _result(unknown)
    r.unknown_reason = unknown.astype(np.uint8) * 2
    path = r.save(tmp_path / "r.npz")
    z = np.load(path)
    assert z["unknown"].shape == (2, 4)
    back = AnalysisResult.load(path)
    np.testing.assert_array_equal(back.unknown, unknown)
    np.testing.assert_array_equal(back.unknown_reason, r.unknown_reason)
    old = {k: z[k] for k in z.files if k not in ("unknown", "unknown_reason")}  # a file from before the check
    np.savez(tmp_path / "old.npz", **old)
    o = AnalysisResult.load(tmp_path / "old.npz")
    assert o.unknown.shape == (2, 4) and not o.unknown.any() and o.unknown_reason is None


def test_a_blank_frame_is_all_unknown_never_interface_and_has_no_rotation(small_model):
    r = analyze(np.full((130, 130), 7, np.uint16), 0.12, model=small_model, samples=3, seed=0, stride=1.5)
    assert r.unknown.all() and not r.interface.any() and r.unknown_fraction == 1.0
    assert np.isnan(r.lattice_rotation).all() and r.confident_fraction == 0.0
    assert "domain" in r.timing
    off = analyze(np.full((130, 130), 7, np.uint16), 0.12, model=small_model, samples=3, seed=0, domain=False)
    assert not off.unknown.any() and off.unknown_reason is None


def test_a_known_lattice_stays_known_with_the_paper_model(reference_model):
    r = analyze(square_lattice((180, 180)), 0.12, model=reference_model, samples=8, seed=0, stride=1.5)
    assert r.unknown_fraction == 0.0
    assert r.class_fractions()["FCC_Cu_100"] == 1.0
