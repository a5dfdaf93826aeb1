"""Monte-Carlo dropout: masks really drop at the model's rate, samples differ, seeds reproduce."""

import numpy as np
import pytest

from aistem.core.mc_dropout import MCDropoutPredictor
from aistem.core.uncertainty import uncertainty_maps


def test_dropout_mask_rate_and_scale(small_model):
    from keras import ops

    p = MCDropoutPredictor(small_model)
    p.reseed(5)
    x = ops.ones((200, 64, 64, 8))
    y = ops.convert_to_numpy(p._dropout(x, 0.07, p._next_seed(), 0))
    dropped = (y == 0).mean()
    assert dropped == pytest.approx(0.07, abs=0.002)
    np.testing.assert_allclose(np.unique(y[y != 0]), [1 / 0.93], rtol=1e-6)
    # a different layer index gives a different, independent mask
    y2 = ops.convert_to_numpy(p._dropout(x, 0.07, p._next_seed(), 1))
    both = ((y == 0) & (y2 == 0)).mean()
    assert both == pytest.approx(0.07**2, abs=0.001)


def test_seed_reproduces_and_samples_vary(small_model):
    d = np.random.default_rng(0).random((40, 64, 64)).astype(np.float32)
    p = MCDropoutPredictor(small_model, windows_per_call=16, samples_per_call=8)
    a = p.run(d, 20, seed=11)
    b = p.run(d, 20, seed=11)
    c = p.run(d, 20, seed=12)
    np.testing.assert_array_equal(a.prob_sum, b.prob_sum)
    assert not np.array_equal(a.prob_sum, c.prob_sum)
    assert (a.samples == 20).all()
    np.testing.assert_allclose(a.prob_sum.sum(1), 20.0, rtol=1e-4)
    assert (a.vote_counts.sum(1) == 20).all()
    maps = uncertainty_maps(a)
    assert (maps["mutual_information"] > 0).mean() > 0.9  # dropout is on: samples disagree a little


def test_mean_of_samples_approaches_the_mc_expectation(small_model):
    """Chunking does not change the estimate: one call of 64 samples vs 8 calls of 8 (different masks, same law)."""
    d = np.random.default_rng(2).random((8, 64, 64)).astype(np.float32)
    one = MCDropoutPredictor(small_model, windows_per_call=8, samples_per_call=64).run(d, 64, seed=1)
    many = MCDropoutPredictor(small_model, windows_per_call=3, samples_per_call=8).run(d, 64, seed=2)
    np.testing.assert_allclose(one.prob_sum / 64, many.prob_sum / 64, atol=0.02)


def test_reference_model_gives_nonzero_uncertainty(reference_model):
    """The paper's .h5 loaded in Keras 3 loses its always-on dropout; ours forces it on."""
    from aistem.core.descriptor import fft_haadf_descriptor
    from tests.conftest import square_lattice

    rng = np.random.default_rng(0)
    d = fft_haadf_descriptor(rng.random((6, 100, 100)).astype(np.float32) + square_lattice((100, 100))[None])
    stats = MCDropoutPredictor(reference_model).run(d, 30, seed=0)
    probs = stats.prob_sum / 30
    assert np.ptp(stats.vote_counts, axis=1).max() > 0 or uncertainty_maps(stats)["mutual_information"].max() > 1e-4
    assert not np.allclose(probs, 0)


def test_bad_input(small_model):
    p = MCDropoutPredictor(small_model)
    with pytest.raises(ValueError, match="samples"):
        p.run(np.zeros((2, 64, 64), np.float32), 0)
    with pytest.raises(ValueError, match="shape"):
        p.run(np.zeros((2, 32, 32), np.float32), 4)


def test_shared_masks_keep_each_windows_samples_independent(small_model):
    """Shared masks: one mask per sample for all windows of a call, yet each window's masks are i.i.d. Bernoulli."""
    from keras import ops

    p = MCDropoutPredictor(small_model, shared_masks=True)
    p.reseed(3)
    b, s = 5, 40
    keep = p.masks(0, s)
    assert len(keep) == len(p.layout.rates) and tuple(keep[0].shape) == (s, *p.layout.shapes[0])
    x = ops.ones((b * s, *p.layout.shapes[0]))
    y = ops.convert_to_numpy(p._apply_masks(x, keep[0], p.layout.rates[0], s)).reshape(b, s, -1)
    assert (y[0] == y[3]).all()  # windows of one call share the masks
    np.testing.assert_allclose(np.unique(y[y != 0]), [1 / (1 - p.layout.rates[0])], rtol=1e-6)
    dropped = y[0] == 0
    rate = p.layout.rates[0]
    assert dropped.mean() == pytest.approx(rate, abs=0.01)
    # the samples of one window are independent: pairwise overlap of dropped units ≈ rate²
    overlap = (dropped[:, None, :] & dropped[None, :, :]).mean(-1)[~np.eye(s, dtype=bool)]
    assert overlap.mean() == pytest.approx(rate**2, abs=0.002)
    # sample t's masks do not depend on the call: samples 10..19 drawn alone equal those of the first draw
    later = p.masks(10, 10)
    np.testing.assert_array_equal(ops.convert_to_numpy(later[1]), ops.convert_to_numpy(keep[1])[10:20])
    p.reseed(4)
    assert not np.array_equal(ops.convert_to_numpy(p.masks(0, s)[0]), ops.convert_to_numpy(keep[0]))


def test_xla_and_plain_graphs_give_the_same_samples(small_model):
    d = np.random.default_rng(4).random((20, 64, 64), dtype=np.float32)
    a = MCDropoutPredictor(small_model, windows_per_call=8, samples_per_call=6, jit=True).run(d, 12, seed=3)
    b = MCDropoutPredictor(small_model, windows_per_call=8, samples_per_call=6, jit=False).run(d, 12, seed=3)
    np.testing.assert_allclose(a.prob_sum, b.prob_sum, atol=1e-4)
    np.testing.assert_array_equal(a.vote_counts, b.vote_counts)


def test_the_t_th_sample_is_the_same_whatever_the_call_layout(small_model):
    """Masks are keyed by (seed, sample index): blocks of windows and samples do not change any sample."""
    d = np.random.default_rng(0).random((37, 64, 64), dtype=np.float32)
    a = MCDropoutPredictor(small_model, windows_per_call=32, samples_per_call=8).sample_probabilities(d, 24, seed=5)
    b = MCDropoutPredictor(small_model, windows_per_call=5, samples_per_call=24).sample_probabilities(d, 24, seed=5)
    np.testing.assert_allclose(a, b, atol=1e-5)
    c = MCDropoutPredictor(small_model, windows_per_call=5, samples_per_call=24).sample_probabilities(d, 24, seed=6)
    assert np.abs(a - c).max() > 1e-3  # another seed, other masks


def test_an_adaptive_run_is_a_prefix_of_the_fixed_run(small_model):
    """Each window's adaptive sums are the sums of the first n samples of the fixed run with the same seed."""
    from aistem.core.adaptive import AdaptiveSettings

    rng = np.random.default_rng(1)
    d = rng.random((40, 64, 64), dtype=np.float32) * (rng.random((40, 1, 1)) > 0.5)
    pred = MCDropoutPredictor(small_model, windows_per_call=16, samples_per_call=8)
    every = pred.sample_probabilities(d, 64, seed=9)  # (N, T, C)
    stats = pred.run_adaptive(d, 64, seed=9, settings=AdaptiveSettings(initial=8))
    assert set(np.unique(stats.samples)) <= {8, 16, 32, 64}
    for i, n in enumerate(stats.samples):
        np.testing.assert_allclose(stats.prob_sum[i], every[i, :n].sum(0), atol=1e-4)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # three T = 100 runs of the paper's model, ~2 min each on a 2-core CPU
def test_shared_masks_leave_the_mi_map_unchanged(reference_model):
    """Issue 8: the MI map with shared masks matches the straightforward version (a mask per window and sample) at
    T = 100 as closely as two straightforward runs with different seeds match each other.

    The issue asks for a correlation ≥ 0.99. On this image the MC noise of T = 100 alone keeps two straightforward
    runs at ≈ 0.97 (measured 0.970; shared vs straightforward 0.981), so 0.99 is not a property either version can
    have here; what the masks must not do is add disagreement beyond that noise.
    """
    from aistem.core.descriptor import fft_haadf_descriptor
    from aistem.core.synthetic import synthetic_bicrystal
    from aistem.core.windows import extract_windows, window_grid

    img = synthetic_bicrystal((240, 400), noise=0.0)
    d = fft_haadf_descriptor(extract_windows(img, window_grid(img.shape, 100, 12)))

    def mi(shared: bool, seed: int) -> np.ndarray:
        stats = MCDropoutPredictor(reference_model, shared_masks=shared).run(d, 100, seed=seed)
        return uncertainty_maps(stats)["mutual_information"]

    shared, straight, straight2 = mi(True, 4), mi(False, 4), mi(False, 5)
    noise_floor = np.corrcoef(straight, straight2)[0, 1]
    assert noise_floor > 0.9  # the image has real MI structure
    assert np.corrcoef(shared, straight)[0, 1] >= noise_floor - 0.01
    assert shared.mean() == pytest.approx(straight.mean(), rel=0.25)


def test_bfloat16_precision_agrees_with_float32(small_model):
    d = np.random.default_rng(5).random((32, 64, 64)).astype(np.float32)
    full = MCDropoutPredictor(small_model).run(d, 10, seed=2)
    half = MCDropoutPredictor(small_model, precision="bfloat16").run(d, 10, seed=2)
    np.testing.assert_allclose(half.prob_sum / 10, full.prob_sum / 10, atol=0.02)
    with pytest.raises(ValueError, match="precision"):
        MCDropoutPredictor(small_model, precision="int8")


def test_warm_up_compiles_the_call_shapes_of_a_run_ahead_of_it(small_model):
    from aistem.core.adaptive import AdaptiveSettings

    p = MCDropoutPredictor(small_model, windows_per_call=4, samples_per_call=8)
    assert p.call_shapes(20) == [(8, False), (4, False)]  # 8 + 8 + 4 samples per call
    # stages 4, 8, 16, 20 → 4, 4, 8, 4 new samples
    assert p.call_shapes(20, AdaptiveSettings(initial=4)) == [(4, True), (8, True)]
    assert p.warm_up(20, stop=lambda: True) == 0  # gives way before compiling anything
    assert p.warm_up(20) == 2
    assert p.warm_up(20) == 0  # already compiled
    assert p._warm == {(8, False, 4), (4, False, 4)}
    p.run(np.random.default_rng(1).random((5, 64, 64), dtype=np.float32), 20, seed=1)
    assert p._warm == {(8, False, 4), (4, False, 4)}  # the run needed no other shape
    with pytest.raises(ValueError, match="samples"):
        p.call_shapes(0)


def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it(small_model):
    from aistem.core.backend import native_bfloat16, resolve_precision

    expected = "bfloat16" if native_bfloat16() else "float32"
    assert resolve_precision("auto") == expected
    assert MCDropoutPredictor(small_model, precision="auto").precision == expected
    assert resolve_precision("float32") == "float32" and resolve_precision("bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match="precision must be one of auto, float32"):
        MCDropoutPredictor(small_model, precision="float64")
