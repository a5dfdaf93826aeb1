"""Batch analysis in-process: bands of window rows stitched back equal the whole frame."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from aistem.core import analyze
from aistem.core.batch import FrameJob, analyze_band, band_halo, plan_bands, run_batch, stitch_bands
from aistem.core.synthetic import square_lattice

OPTS = {"window_px": 100, "stride_px": 20, "samples": 16, "seed": 3, "rotation": True}


def _bicrystal() -> np.ndarray:
    """Two square lattices side by side (a boundary the network sees as uncertain), 260×220 px."""
    a = square_lattice((260, 220), angle=0.0)
    b = square_lattice((260, 220), angle=30.0)
    img = np.where(np.arange(220)[None, :] < 110, a, b).astype(np.float32)
    return img


def _load(seed: int) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(seed)
    return (square_lattice((180, 180), angle=float(rng.uniform(0, 90))) + rng.normal(0, 0.05, (180, 180))).astype(
        np.float32
    ), 0.12


def test_plan_bands_cover_every_row_once() -> None:
    for rows, cols, block in [(1, 5, 3), (7, 3, 6), (10, 10, 1), (4, 100, 1000)]:
        bands = plan_bands(rows, cols, block)
        covered = [r for r0, r1 in bands for r in range(r0, r1)]
        assert covered == list(range(rows))
    with pytest.raises(ValueError, match="block_windows"):
        plan_bands(3, 3, 0)


def test_halo_is_zero_for_fixed_sampling_and_grows_with_stages() -> None:
    assert band_halo(100, False) == 0
    assert band_halo(100, True) == 4  # stages 8, 16, 32, 64, 100: four transitions, one neighbour each
    assert band_halo(8, True) == 0


# the fixed-T variant is the simpler one (adaptive sampling crosses the band edges too): make test-slow
@pytest.mark.parametrize("adaptive", [pytest.param(False, marks=pytest.mark.slow), True])
def test_stitched_bands_equal_the_whole_frame(adaptive: bool) -> None:
    img = _bicrystal()
    whole = analyze(img, 0.12, adaptive=adaptive, **OPTS)
    gr, gc = whole.grid_shape
    assert gr >= 4
    halo = band_halo(OPTS["samples"], adaptive)
    bands = [analyze_band(img, 0.12, rows, halo=halo, adaptive=adaptive, **OPTS) for rows in plan_bands(gr, gc, 2 * gc)]
    assert len(bands) >= 2
    stitched = stitch_bands(bands)
    assert stitched.grid_shape == whole.grid_shape
    np.testing.assert_array_equal(stitched.classes, whole.classes)
    np.testing.assert_array_equal(stitched.interface, whole.interface)
    np.testing.assert_array_equal(stitched.origins_px, whole.origins_px)
    np.testing.assert_array_equal(stitched.samples_used, whole.samples_used)
    np.testing.assert_allclose(stitched.mutual_information, whole.mutual_information, atol=1e-5)
    np.testing.assert_allclose(stitched.lattice_rotation, whole.lattice_rotation, atol=1e-3, equal_nan=True)


def test_run_batch_in_process_writes_each_frame_and_resumes(tmp_path) -> None:
    jobs = [FrameJob(f"f{i}", functools.partial(_load, i), source=f"synthetic {i}") for i in range(3)]
    first = run_batch(jobs[:2], tmp_path, **OPTS)
    assert [p.name for p in first.written] == ["f0.npz", "f1.npz"]
    again = run_batch(jobs, tmp_path, **OPTS)
    assert [p.name for p in again.written] == ["f2.npz"]
    assert sorted(p.name for p in again.skipped) == ["f0.npz", "f1.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0.npz", "f1.npz", "f2.npz"]


def test_run_batch_reports_a_bad_frame_and_keeps_the_others(tmp_path) -> None:
    def bad() -> tuple[np.ndarray, float]:
        return np.zeros((10, 10), np.float32), 0.12  # smaller than one window

    jobs = [FrameJob("bad", bad), FrameJob("good", functools.partial(_load, 0))]
    out = run_batch(jobs, tmp_path, **OPTS)
    assert [p.name for p in out.written] == ["good.npz"]
    assert "smaller than one window" in out.failed["bad"]


def test_duplicate_names_are_refused(tmp_path) -> None:
    jobs = [FrameJob("a", functools.partial(_load, 0)), FrameJob("a", functools.partial(_load, 1))]
    with pytest.raises(ValueError, match="same result"):
        run_batch(jobs, tmp_path, **OPTS)
