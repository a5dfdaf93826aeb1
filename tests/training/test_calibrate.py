"""Temperature calibration: the fit (against a brute-force scan), folding it into the model, the command."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aistem.cli.main import main
from aistem.training.calibrate import apply_temperature, fit_temperature, mc_nll

from .test_train_fixtures import trained_toy_model


def test_fit_temperature_finds_the_nll_minimum_of_a_scan() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (400, 1, 5))
    y = rng.integers(0, 5, 400)
    logits[np.arange(400), 0, y] += 1.5  # informative but soft: the best temperature is below 1
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    t = fit_temperature(p, y)
    scan = np.geomspace(0.05, 20, 2001)
    best = scan[np.argmin([mc_nll(p, y, s) for s in scan])]
    assert t == pytest.approx(best, rel=0.01)
    assert mc_nll(p, y, t) <= mc_nll(p, y, 1.0)
    with pytest.raises(ValueError, match="shape"):
        fit_temperature(p[:, 0], y)


def test_apply_temperature_scales_the_logits_and_keeps_the_classes(small_model) -> None:
    import keras

    km = keras.models.clone_model(small_model.keras_model)
    km.set_weights(small_model.keras_model.get_weights())
    x = np.random.default_rng(1).random((6, 64, 64, 1)).astype(np.float32)
    before = np.asarray(km.predict(x, verbose=0), np.float64)
    apply_temperature(km, 0.5)
    after = np.asarray(km.predict(x, verbose=0), np.float64)
    sharpened = before**2 / (before**2).sum(-1, keepdims=True)  # softmax(2 z) from softmax(z)
    np.testing.assert_allclose(after, sharpened, atol=1e-5)
    assert (after.argmax(-1) == before.argmax(-1)).all()
    with pytest.raises(ValueError, match="positive"):
        apply_temperature(km, 0.0)


@pytest.mark.slow  # an offline training-side command, 5–16 s on a 2-core VM: make test-slow (keeps make test < 10 min)
def test_calibrate_command_writes_a_scaled_model_with_its_metadata(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aistem.core import load_model

    from .test_train_fixtures import _TRAINED

    model = trained_toy_model(tmp_path_factory.mktemp("calib"))
    out = tmp_path / "cal.keras"
    assert main(["train", "calibrate", str(model), "--data", str(_TRAINED["data"]), "--out", str(out)]) == 0
    assert "temperature" in capsys.readouterr().out
    with zipfile.ZipFile(out) as z:
        cal = json.loads(z.read("aistem_metadata.json"))["extra"]["calibration"]
    assert 0.05 <= cal["temperature"] <= 20 and cal["nll_after"] <= cal["nll_before"] + 1e-12
    a, b = load_model(model), load_model(out)
    wa, wb = a.keras_model.layers[-1].get_weights(), b.keras_model.layers[-1].get_weights()
    np.testing.assert_allclose(wb[0], wa[0] / cal["temperature"], rtol=1e-5)
    assert main(["train", "calibrate", str(model), "--data", str(tmp_path / "none.h5"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["train", "calibrate", str(out), "--data", str(_TRAINED["data"]), "--out", str(out)]) == 2
    assert "is the model being calibrated" in capsys.readouterr().err
    assert load_model(out).hash == b.hash  # the input was not touched
