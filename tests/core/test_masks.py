"""Dropout masks keyed by (seed, sample, layer): rates, independence, reproducibility, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aistem.core.masks import MaskLayout, dropout_masks, mask_layout

LAYOUT = mask_layout([(16, 16, 8), (8, 8, 4), (32,)], [0.07, 0.07, 0.2])


@settings(max_examples=15, deadline=None)
@given(rate=st.floats(0.02, 0.5), seed=st.integers(0, 2**31 - 1))
def test_masks_drop_at_the_rate(rate: float, seed: int) -> None:
    (m,) = dropout_masks(seed, 0, 50, mask_layout([(32, 32, 4)], [rate]))
    n = m.size
    sd = np.sqrt(rate * (1 - rate) / n)
    assert m.dtype == bool and m.shape == (50, 32, 32, 4)
    assert abs((~m).mean() - rate) < 5 * sd + 1 / 65536


def test_a_samples_masks_depend_on_seed_sample_and_layer_only() -> None:
    a = dropout_masks(7, 0, 12, LAYOUT)
    b = dropout_masks(7, 5, 4, LAYOUT)  # samples 5..8 drawn in another call
    for k in range(3):
        np.testing.assert_array_equal(a[k][5:9], b[k])
    c = dropout_masks(8, 0, 12, LAYOUT)
    assert not np.array_equal(a[0], c[0])
    # layers 0 and 1 of one sample are different streams: their dropped units are independent
    d0 = ~dropout_masks(1, 0, 200, mask_layout([(64,), (64,)], [0.3, 0.3]))[0]
    d1 = ~dropout_masks(1, 0, 200, mask_layout([(64,), (64,)], [0.3, 0.3]))[1]
    assert (d0 & d1).mean() == pytest.approx(0.09, abs=0.01)


def test_samples_are_independent() -> None:
    (m,) = dropout_masks(3, 0, 60, mask_layout([(4096,)], [0.1]))
    dropped = (~m).astype(np.float64)
    c = np.corrcoef(dropped)[~np.eye(60, dtype=bool)]
    assert np.abs(c).max() < 0.1 and abs(c.mean()) < 0.005


def test_layout_and_bad_input() -> None:
    assert LAYOUT.elements == 16 * 16 * 8 + 8 * 8 * 4 + 32
    with pytest.raises(ValueError, match="rates must be in"):
        MaskLayout(((4,),), (1.0,))
    with pytest.raises(ValueError, match="2 mask shapes but 1 rates"):
        MaskLayout(((4,), (2,)), (0.1,))
    with pytest.raises(ValueError, match="≥ 0"):
        dropout_masks(0, -1, 3, LAYOUT)
    assert [m.shape[0] for m in dropout_masks(0, 0, 0, LAYOUT)] == [0, 0, 0]
