"""Descriptors streamed block by block (issue 22.3): the same values and results as all at once, bounded memory,
cancellable at every stage."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from aistem.core import AnalysisCancelled, analyze
from aistem.core import descriptor_stream as ds
from aistem.core.descriptor import fft_haadf_descriptor
from aistem.core.descriptor_stream import DescriptorStream
from aistem.core.uncertainty import uncertainty_maps
from aistem.core.windows import extract_windows, window_grid
from aistem.daemon.sources.sim import synthetic_series


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_series(1, (384, 384), 0.12)[0].astype(np.float32)


def test_any_request_gives_the_descriptors_of_all_at_once(image):
    grid = window_grid(image.shape, 100, 4)
    full = fft_haadf_descriptor(extract_windows(image, grid), size=64)
    stream = DescriptorStream(image, grid, size=64, threshold=0.1, cache_bytes=1)  # keeps one chunk only
    rng = np.random.default_rng(0)
    for idx in (np.arange(32), np.arange(grid.size - 7, grid.size), np.sort(rng.choice(grid.size, 50, replace=False))):
        assert np.array_equal(stream[idx], full[idx])
    assert stream.shape == full.shape and stream.computed > 32


# the fixed-T variant is the simpler path of the same stream (adaptive stages compute windows again): make test-slow
@pytest.mark.parametrize("adaptive", [pytest.param(False, marks=pytest.mark.slow), True])
def test_streamed_analysis_equals_the_sampler_on_every_descriptor(small_model, image, adaptive, monkeypatch):
    """The sampler on a stream that keeps one chunk (adaptive stages compute windows again) gives the result
    of the sampler on the full descriptor array, for the same seed."""
    from aistem.core.analysis import _predictor

    grid = window_grid(image.shape, 100, 16)  # 18 × 18 windows, two chunks
    full = fft_haadf_descriptor(extract_windows(image, grid), size=64)
    p = _predictor(small_model)
    kw = {"seed": 3}
    if adaptive:
        ref = p.run_adaptive(full, 16, grid_shape=grid.shape, **kw)
        got = p.run_adaptive(
            DescriptorStream(image, grid, size=64, threshold=0.1, cache_bytes=1), 16, grid_shape=grid.shape, **kw
        )
    else:
        ref = p.run(full, 16, **kw)
        got = p.run(DescriptorStream(image, grid, size=64, threshold=0.1, cache_bytes=1), 16, **kw)
    for name in ("prob_sum", "entropy_sum", "vote_counts", "samples"):
        assert np.array_equal(getattr(got, name), getattr(ref, name)), name
    monkeypatch.setattr(ds, "CACHE_BYTES", 1)
    a = analyze(image, window_px=100, stride_px=16, samples=16, seed=3, model=small_model, adaptive=adaptive, rotation=False)
    want = uncertainty_maps(ref)
    assert np.array_equal(a.probabilities.reshape(want["probabilities"].shape), want["probabilities"])
    assert np.array_equal(a.mutual_information.ravel(), want["mutual_information"].ravel())


def test_descriptor_memory_does_not_grow_with_the_frame(small_model, monkeypatch):
    """A 1024² frame has 8 649 windows, a 512² one 1 681: all descriptors at once were 142 MB against 28 MB (a
    114 MB difference); streamed (one chunk kept), the peaks differ by little more than the frames and their maps."""
    monkeypatch.setattr(ds, "CACHE_BYTES", 4 << 20)

    def peak(side: int) -> int:
        img = np.random.default_rng(1).random((side, side), dtype=np.float32)
        tracemalloc.start()
        try:
            analyze(img, window_px=100, stride_px=10, samples=1, seed=0, model=small_model, rotation=False, batch_size=256)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(512), peak(1024)
    assert large - small < 15e6, f"peak {small / 1e6:.0f} MB at 512², {large / 1e6:.0f} MB at 1024²"


@pytest.mark.parametrize("stage", ["descriptor", "network", "rotation"])
def test_every_stage_is_cancellable(small_model, image, stage):
    asked = []

    def cancel() -> bool:
        asked.append(1)
        return len(asked) > {"descriptor": 0, "network": 2, "rotation": 10**6}[stage]

    if stage == "rotation":  # everything up to the rotation passes; its first block stops
        from aistem.core.rotation import lattice_rotation_map

        grid = window_grid(image.shape, 100, 8)
        with pytest.raises(AnalysisCancelled, match="rotation"):
            lattice_rotation_map(
                image,
                grid,
                np.zeros(grid.shape, int),
                np.zeros(grid.shape, bool),
                small_model.class_names,
                pixel_size=0.12,
                cancel=lambda: True,
            )
        return
    with pytest.raises(AnalysisCancelled, match="descriptor" if stage == "descriptor" else "MC-dropout"):
        analyze(image, window_px=100, stride_px=8, samples=16, seed=0, model=small_model, cancel=cancel)
