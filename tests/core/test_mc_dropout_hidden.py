"""Hidden-layer activations as an option of the core MC-dropout sampler (used by ``aistem embed``)."""

from __future__ import annotations

import numpy as np
import pytest

from aistem.core.mc_dropout import MCDropoutPredictor
from aistem.core.model import build_model
from aistem.core.uncertainty import uncertainty_maps


def test_hidden_activations_are_the_dense_hidden_layer():
    """With dropout 0 every MC sample is the plain forward pass: compare with a Keras sub-model."""
    import keras

    km = build_model(10, dropout=0.0, seed=5)
    rng = np.random.default_rng(0)
    x = rng.random((6, 64, 64)).astype(np.float32)
    p = MCDropoutPredictor(km, hidden_layer="dense_hidden", windows_per_call=4, samples_per_call=2)
    stats, hidden = p.run_with_hidden(x, samples=3, seed=0)
    out = {"hidden": hidden, **uncertainty_maps(stats)}
    h = x[..., None]
    for layer in km.layers:  # Keras's own inference pass (dropout layers are the identity there)
        h = layer(h, training=False) if isinstance(layer, keras.layers.Dropout) else layer(h)
        if layer.name == "dense_hidden":
            break
    want_h = np.asarray(h)
    want_p = np.asarray(km(x[..., None], training=False))
    assert out["hidden"].shape == (6, 128) and out["hidden"].dtype == np.float32
    np.testing.assert_allclose(out["hidden"], want_h, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["probabilities"], want_p, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["mutual_information"], 0.0, atol=1e-5)
    np.testing.assert_array_equal(out["classes"], want_p.argmax(1))


def test_mc_samples_are_seeded_and_vary():
    km = build_model(10, dropout=0.2, seed=5)
    x = np.random.default_rng(1).random((5, 64, 64)).astype(np.float32)
    p = MCDropoutPredictor(km, hidden_layer="dense_hidden")
    (sa, a), (_, b), (_, c) = (p.run_with_hidden(x, samples=8, seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4  # other masks, other mean
    assert (uncertainty_maps(sa)["mutual_information"] > 0).all()  # dropout on: the samples disagree a little
    plain = p.run(x, samples=8, seed=4)  # the hidden sums change nothing else
    np.testing.assert_allclose(plain.prob_sum, sa.prob_sum, rtol=1e-6)
    np.testing.assert_array_equal(plain.vote_counts, sa.vote_counts)


def test_hidden_needs_the_option_and_a_hidden_layer():
    km = build_model(10, dropout=0.1, seed=5)
    x = np.zeros((2, 64, 64), np.float32)
    with pytest.raises(ValueError, match="without hidden_layer"):
        MCDropoutPredictor(km).run_with_hidden(x, samples=2)
    p = MCDropoutPredictor(km, hidden_layer="no_such_layer")  # falls back to the last Dense before the output
    assert p.hidden_units == 128
    stats, hidden = p.run_with_hidden(np.zeros((0, 64, 64), np.float32), samples=2)
    assert hidden.shape == (0, 128) and stats.prob_sum.shape == (0, 10)
