"""The network: architecture, .keras round trip with metadata, the paper's legacy .h5."""

import subprocess
import sys
import zipfile

import numpy as np
import pytest

from aistem.core.model import ModelInfo, ModelNotFoundError, build_model, load_model, save_model


def test_architecture_is_the_papers():
    import keras

    m = build_model(10, kernel_size=5, dropout=0.05)
    convs = [la for la in m.layers if isinstance(la, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 32, 16, 16, 8, 8]
    assert all(c.kernel_size == (5, 5) for c in convs)
    drops = [la for la in m.layers if isinstance(la, keras.layers.Dropout)]
    assert len(drops) == 7 and all(d.rate == 0.05 for d in drops)
    names = [type(la).__name__ for la in m.layers]
    # pooling right after conv 2 and conv 4 (each conv followed by LeakyReLU and Dropout)
    pools = [i for i, n in enumerate(names) if n == "MaxPooling2D"]
    assert [names[i - 3] for i in pools] == ["Conv2D", "Conv2D"]
    assert sum(isinstance(la, keras.layers.Conv2D) for la in m.layers[: pools[0]]) == 2
    assert sum(isinstance(la, keras.layers.Conv2D) for la in m.layers[: pools[1]]) == 4
    dense = [la for la in m.layers if isinstance(la, keras.layers.Dense)]
    assert [d.units for d in dense] == [128, 10]
    assert m.output_shape == (None, 10)


def test_conv_kernels_are_orthogonal_by_default_as_the_papers():
    km = build_model(10, kernel_size=3, dropout=0.07, seed=2)
    w = km.get_layer("conv_1").get_weights()[0].reshape(-1, 32)  # (3·3·32 inputs, 32 filters)
    np.testing.assert_allclose(w.T @ w, np.eye(32), atol=1e-4)  # orthonormal columns
    g = build_model(10, kernel_size=3, dropout=0.07, kernel_init="glorot_uniform", seed=2)
    wg = g.get_layer("conv_1").get_weights()[0].reshape(-1, 32)
    assert np.abs(wg.T @ wg - np.eye(32)).max() > 0.1
    with pytest.raises(ValueError, match="kernel_init must be one of"):
        build_model(10, kernel_init="zeros")


def test_keras_round_trip_keeps_weights_and_metadata(tmp_path):
    km = build_model(4, kernel_size=3, dropout=0.1, seed=3)
    info = ModelInfo(class_names=["a", "b", "c", "d"], pixel_size=0.1, window=10.0, extra={"val_accuracy": 0.99})
    path = save_model(km, tmp_path / "m.keras", info)
    with zipfile.ZipFile(path) as z:
        assert "aistem_metadata.json" in z.namelist()
    loaded = load_model(path)
    assert loaded.class_names == ["a", "b", "c", "d"]
    assert loaded.info.pixel_size == 0.1 and loaded.info.extra["val_accuracy"] == 0.99
    assert len(loaded.hash) == 16
    x = np.random.default_rng(0).random((3, 64, 64, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded.keras_model(x, training=False), km(x, training=False), atol=1e-6)


def test_load_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        load_model(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a valid .keras"):
        load_model(bad)
    other = tmp_path / "model.onnx"
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown model format"):
        load_model(other)
    h5 = tmp_path / "bad.h5"
    h5.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not an HDF5"):
        load_model(h5)
    with pytest.raises(ValueError, match="invalid model parameters"):
        build_model(10, dropout=1.5)


def test_no_default_model_says_so(monkeypatch):
    from aistem.core import model as model_module

    monkeypatch.delenv("AISTEM_MODEL", raising=False)
    if model_module.default_model_path() is not None:
        pytest.skip("a default model is installed")
    with pytest.raises(ModelNotFoundError, match="no model is installed"):
        load_model(None)


def test_legacy_h5_weights_match_keras_own_loader(reference_model_path, reference_model):
    """Our rebuild of the paper's model computes what Keras' own .h5 loader computes (dropout off)."""
    import warnings

    import keras

    with warnings.catch_warnings():  # Keras 3 reading a Keras 2.6 file warns that `alpha` is now `negative_slope`
        warnings.simplefilter("ignore")
        own = keras.models.load_model(reference_model_path, compile=False)
        x = np.random.default_rng(0).random((4, 64, 64, 1)).astype(np.float32)
        expected = own([x], training=False)
    np.testing.assert_allclose(reference_model.keras_model(x, training=False), expected, atol=1e-5)
    assert reference_model.class_names[3] == "FCC_Cu_100"
    rates = [la.rate for la in reference_model.keras_model.layers if isinstance(la, keras.layers.Dropout)]
    assert rates == [pytest.approx(0.07)] * 7


# a second interpreter start (≈ 7 s) for the rarer order, scikit-learn imported first: make test-slow
@pytest.mark.parametrize("sklearn_first", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_loading_a_model_does_not_import_scikit_learn_but_leaves_it_importable(sklearn_first):
    # Keras would import scikit-learn (≈ 1 s of every start) only for wrappers this program does not use.
    code = (
        ("import sklearn\n" if sklearn_first else "") + "import sys\n"
        "from aistem.core import load_model\n"
        "m = load_model()\n"
        "print('keras' in sys.modules, 'sklearn' in sys.modules)\n"
        "import sklearn.base\n"
        "from keras.src.wrappers import fixes\n"
        "print(fixes.sklearn is not None, m.keras_model is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.split("\n")[:2]
    assert first == f"True {sklearn_first}"
    # an already imported scikit-learn is Keras' to use; otherwise Keras runs without it, as where it is absent
    assert second == f"{sklearn_first} True"
