"""Coarse-to-fine analysis with the real network against the dense grid (``coarse_step``)."""

from __future__ import annotations

import numpy as np
import pytest

from aistem.core import AnalysisResult, analyze, load_model
from aistem.core.synthetic import square_lattice

KW = {"window_px": 100, "stride_px": 12, "samples": 16, "seed": 4, "adaptive": False}


@pytest.fixture(scope="module")
def model():
    return load_model()


def scene() -> np.ndarray:
    """A fcc [100]-like bicrystal (30° apart, boundary down the middle) with a patch of noise (no lattice)."""
    rng = np.random.default_rng(0)
    a = square_lattice((420, 420), angle=0.0)
    b = square_lattice((420, 420), angle=30.0)
    img = np.where(np.arange(420)[None, :] < 230, a, b).astype(np.float32)
    img[20:170, 280:400] = rng.normal(img.mean(), img.std(), (150, 120))
    return img + rng.normal(0, 0.03, img.shape).astype(np.float32)


@pytest.fixture(scope="module")
def pair(model):
    img = scene()
    return analyze(img, 0.12, model=model, **KW), analyze(img, 0.12, model=model, coarse_step=4, **KW)


def test_coarse_to_fine_agrees_with_the_dense_grid(pair):
    dense, coarse = pair
    assert dense.filled is None and coarse.filled is not None and coarse.filled.any()
    assert 0 < coarse.timing["evaluated_fraction"] < 0.8
    for name in ("classes", "interface", "unknown"):
        assert (getattr(coarse, name) == getattr(dense, name)).mean() >= 0.995, name
    assert dense.unknown.any()  # the noise patch
    ev = ~coarse.filled
    # evaluated windows are the dense grid's windows: same masks (seed, sample index), same numbers
    np.testing.assert_allclose(coarse.mutual_information[ev], dense.mutual_information[ev], atol=1e-4)
    np.testing.assert_array_equal(coarse.classes[ev], dense.classes[ev])
    assert set(np.unique(coarse.refinement_level)) <= {0, 1, 2}
    assert not coarse.interface[coarse.filled].any() and not coarse.unknown[coarse.filled].any()


def test_filled_and_level_round_trip_through_npz(pair, tmp_path):
    _, coarse = pair
    back = AnalysisResult.load(coarse.save(tmp_path / "c.npz"))
    np.testing.assert_array_equal(back.filled, coarse.filled)
    np.testing.assert_array_equal(back.refinement_level, coarse.refinement_level)


def test_a_bad_coarse_step_is_refused(model):
    with pytest.raises(ValueError, match="coarse_step"):
        analyze(scene()[:200, :200], 0.12, model=model, coarse_step=0, **KW)


def test_the_coarse_level_comes_first_as_a_preview_of_the_same_analysis(model):
    img = scene()[:300, :300]
    previews = []
    final = analyze(img, 0.12, model=model, coarse_step=4, on_coarse=previews.append, **KW)
    assert len(previews) == 1
    p = previews[0]
    assert p.stride_px == 4 * final.stride_px and p.filled is None
    gr, gc = final.grid_shape
    assert p.grid_shape == (len(range(0, gr, 4)), len(range(0, gc, 4)))
    np.testing.assert_array_equal(p.classes, final.classes[::4, ::4])  # the coarse windows are kept, not redone
    np.testing.assert_array_equal(p.origins_px, final.origins_px[::4, ::4])


def test_neighbour_samples_follow_the_dense_grids_rule():
    from aistem.core.analysis_refine import neighbour_samples

    used = np.full((5, 5), 8, np.int32)
    used[2, 2] = 100  # unsettled to the end: its 4-neighbours sample as long in the dense grid
    evaluated = np.ones((5, 5), bool)
    evaluated[0, 0] = False  # a filled window counts as sampled by none
    out = neighbour_samples(used, evaluated, 1)
    assert out[2, 2] == 100 and out[1, 2] == out[3, 2] == out[2, 1] == out[2, 3] == 100
    assert out[1, 1] == 8 and out[4, 4] == 8  # diagonal: not a neighbour (scipy's default structure, as run_adaptive)
    assert out[0, 0] == 8  # from its evaluated neighbours
    assert (neighbour_samples(used, evaluated, 0) == np.where(evaluated, used, 0)).all()


@pytest.mark.slow
def test_adaptive_coarse_to_fine_evaluates_windows_exactly_as_the_dense_grid(model):
    """Adaptive sampling: each evaluated window gets the dense grid's samples (the neighbour rule), so the same MI."""
    img = scene()[:300, :300]
    kw = {**KW, "adaptive": True, "samples": 32}
    dense = analyze(img, 0.12, model=model, **kw)
    coarse = analyze(img, 0.12, model=model, coarse_step=4, **kw)
    ev = ~coarse.filled
    assert (dense.samples_used > 8).any()  # some windows sampled past the first stage
    np.testing.assert_array_equal(coarse.samples_used[ev], dense.samples_used[ev])
    np.testing.assert_allclose(coarse.mutual_information[ev], dense.mutual_information[ev], atol=1e-4)
    for name in ("classes", "interface", "unknown"):
        assert (getattr(coarse, name) == getattr(dense, name)).mean() >= 0.995, name


def test_a_topped_up_window_equals_one_sampled_to_the_end_at_once(model):
    """The top-up continues each window from the samples it drew (masks keyed by sample index), not from sample 0."""
    from aistem.core.adaptive import AdaptiveSettings
    from aistem.core.analysis import _predictor
    from aistem.core.analysis_refine import window_evaluator
    from aistem.core.windows import window_grid

    img = scene()[:260, :260]
    grid = window_grid(img.shape, 100, 20)
    rows, cols = (a.ravel() for a in np.indices(grid.shape))
    p = _predictor(model, "float32")
    o = {"threshold": 0.1, "seed": 7, "domain": False, "rotation": False, "pixel_size": 0.12}
    ev = window_evaluator(img, grid, model, p, samples=32, adaptive=AdaptiveSettings(initial=8), **o)
    first = ev(rows, cols)
    assert (first["samples_used"] < 32).any()  # some windows stopped early: something to top up
    drawn = ev.n.copy()
    topped = ev.top_up(rows, cols, np.full(rows.size, 32))
    assert (ev.n == 32).all() and (topped["samples_used"] == 32).all()
    once = window_evaluator(img, grid, model, p, samples=32, adaptive=None, **o)(rows, cols)
    for name in ("probabilities", "mutual_information", "predictive_entropy", "variation_ratio"):
        np.testing.assert_allclose(topped[name], once[name], atol=2e-5, err_msg=name)
    np.testing.assert_array_equal(topped["classes"], once["classes"])
    assert (drawn < 32).any() and (ev.n >= drawn).all()
