"""The stopping rule on explicit samples: unanimous confident windows stop, split ones continue."""

import numpy as np
import pytest

from aistem.core.adaptive import AdaptiveSettings, MomentStats, settled, stage_schedule


def test_stage_schedule_doubles_up_to_total():
    assert stage_schedule(100, 8) == [8, 16, 32, 64, 100]
    assert stage_schedule(5, 8) == [5]
    with pytest.raises(ValueError):
        stage_schedule(0, 8)


def test_confident_unanimous_window_settles_and_split_window_does_not():
    rng = np.random.default_rng(0)
    # with the default variance floor, 16 samples are the fewest that can settle a window of MI ≈ 0
    confident = np.tile([0.98, 0.01, 0.01], (16, 1)) + rng.normal(0, 1e-3, (16, 3))
    split = np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]] * 8)
    near_threshold = np.array([[0.8, 0.2, 0.0], [0.6, 0.4, 0.0]] * 8)
    probs = np.stack([confident, split, near_threshold]).clip(0, 1)
    probs /= probs.sum(-1, keepdims=True)
    ok = settled(MomentStats.from_samples(probs), 100, 0.1, AdaptiveSettings(z=2.0, variance_floor=0.5))
    assert ok.tolist()[0] is True
    assert ok.tolist()[1] is False  # class margin is zero: the class can still change
    assert ok.tolist()[2] is False  # MI ≈ 0.1: the interface decision can still change
    eight = settled(MomentStats.from_samples(probs[:, :8]), 100, 0.1, AdaptiveSettings(z=2.0, variance_floor=0.5))
    assert not eight[0]  # 8 unanimous samples cannot rule out rare flips


def test_all_samples_drawn_is_always_settled():
    probs = np.array([[[0.5, 0.5]] * 10])
    assert settled(MomentStats.from_samples(probs), 10, 0.1).all()


def test_moments_match_direct_computation():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(4), size=(3, 12))
    m = MomentStats.from_samples(p)
    np.testing.assert_allclose(m.pp[1], p[1].T @ p[1])
    h = -(p * np.log2(p)).sum(-1)
    np.testing.assert_allclose(m.hp[2], (h[2][:, None] * p[2]).sum(0))
    assert (m.votes.sum(1) == 12).all()
