"""Uncertainty formulas against hand-computed cases (bits)."""

import numpy as np
import pytest

from aistem.core.uncertainty import entropy_bits, segment_interface, stats_from_samples, uncertainty_maps


def maps_of(probs):
    return uncertainty_maps(stats_from_samples(np.asarray(probs, dtype=np.float32)))


def test_all_samples_equal_gives_zero_mutual_information():
    p = np.tile([0.7, 0.2, 0.1], (1, 50, 1))
    m = maps_of(p)
    assert m["mutual_information"][0] == pytest.approx(0.0, abs=1e-6)
    assert m["predictive_entropy"][0] == pytest.approx(-(0.7 * np.log2(0.7) + 0.2 * np.log2(0.2) + 0.1 * np.log2(0.1)), rel=1e-5)
    assert m["variation_ratio"][0] == 0.0
    assert m["classes"][0] == 0


def test_confident_fifty_fifty_split_gives_one_bit():
    p = np.array([[[1.0, 0.0]] * 50 + [[0.0, 1.0]] * 50])
    m = maps_of(p)
    assert m["mutual_information"][0] == pytest.approx(1.0, abs=1e-6)
    assert m["predictive_entropy"][0] == pytest.approx(1.0, abs=1e-6)
    assert m["variation_ratio"][0] == pytest.approx(0.5)


def test_uniform_uncertain_samples_have_entropy_but_no_mutual_information():
    p = np.full((1, 10, 4), 0.25)
    m = maps_of(p)
    assert m["predictive_entropy"][0] == pytest.approx(2.0, abs=1e-6)
    assert m["mutual_information"][0] == pytest.approx(0.0, abs=1e-6)


def test_hand_computed_mixed_case():
    # two samples: (0.9, 0.1) and (0.5, 0.5): mean (0.7, 0.3)
    p = np.array([[[0.9, 0.1], [0.5, 0.5]]])
    h = lambda q: -sum(x * np.log2(x) for x in q)  # noqa: E731
    m = maps_of(p)
    assert m["mutual_information"][0] == pytest.approx(h([0.7, 0.3]) - (h([0.9, 0.1]) + h([0.5, 0.5])) / 2, abs=1e-6)


def test_zero_probabilities_do_not_give_nan():
    assert entropy_bits(np.array([1.0, 0.0, 0.0])) == 0.0


def test_interface_threshold_is_strict():
    mi = np.array([0.05, 0.1, 0.1001, 0.7])
    np.testing.assert_array_equal(segment_interface(mi, 0.1), [False, False, True, True])


def test_shape_error():
    with pytest.raises(ValueError, match=r"\(N, T, C\)"):
        stats_from_samples(np.zeros((3, 4)))
