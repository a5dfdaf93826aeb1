"""Temperature calibration of a trained model's Monte-Carlo-dropout predictions.

Temperature scaling (Guo et al., ICML 2017) divides the logits by one scalar t fitted by minimising the negative
log-likelihood of the network's deterministic prediction (dropout off) on held-out data: here the validation split
of the training set, the same stratified 80/20 split as `aistem train`. The class of every single prediction and MC
sample is unchanged (the arg-max of z/t is that of z), and so is the validation accuracy. What changes is how peaked
each softmax is, and with it the entropies and the mutual information of MC dropout. The factor is folded into the
last (softmax) layer, so the result is a model of the same architecture that any AI-STEM code reads.

Fitting t to the NLL of the MC-dropout *mean* instead is ill-posed for a network this accurate: the NLL keeps falling
as t → 0 (the mean turns into vote fractions), so the fit ends on the search bound (measured: t = 0.05 on the
shipped model's validation split). The deterministic fit has an interior optimum.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CalibrationResult", "apply_temperature", "calibrate_model", "fit_temperature", "mc_nll"]

T_RANGE = (0.05, 20.0)


@dataclass
class CalibrationResult:
    """Outcome of :func:`calibrate_model`.

    Attributes
    ----------
    temperature : float
        The fitted t (logits divided by t; t < 1 sharpens).
    nll_before, nll_after : float
        Mean negative log-likelihood [nat] of the deterministic prediction on the validation split, t = 1 and fitted.
    accuracy : float
        Accuracy of the deterministic prediction on the validation split (the same at any t).
    n_validation : int
    path : str
        The calibrated model file.
    """

    temperature: float
    nll_before: float
    nll_after: float
    accuracy: float
    n_validation: int
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in self.__dict__.items()}


def _tempered_mean(logp: np.ndarray, t: float) -> np.ndarray:
    """MC mean of softmax(log p / t) over the sample axis; logp of shape (N, T, C) → (N, C)."""
    z = logp / t
    z = z - z.max(axis=-1, keepdims=True)
    q = np.exp(z)
    q /= q.sum(axis=-1, keepdims=True)
    return q.mean(axis=1)


def mc_nll(probs: np.ndarray, labels: np.ndarray, t: float = 1.0) -> float:
    """Mean negative log-likelihood [nat] of the MC-mean prediction at temperature ``t``.

    Parameters
    ----------
    probs : ndarray of shape (N, T, C)
        Per-sample class probabilities.
    labels : ndarray of shape (N,)
        True class indices.
    """
    return _nll(np.log(np.maximum(probs.astype(np.float64), 1e-300)), np.asarray(labels), t)


def _nll(logp: np.ndarray, labels: np.ndarray, t: float) -> float:
    mean = _tempered_mean(logp, t)
    return float(-np.mean(np.log(np.maximum(mean[np.arange(len(labels)), labels], 1e-300))))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The t in [0.05, 20] that minimises :func:`mc_nll` (bounded scalar search on log t).

    Raises
    ------
    ValueError
        For mismatched shapes or no data.
    """
    from scipy.optimize import minimize_scalar

    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if probs.ndim != 3 or labels.shape != (probs.shape[0],) or probs.shape[0] == 0:
        raise ValueError(f"need probs of shape (N, T, C) and labels of shape (N,), got {probs.shape} and {labels.shape}")
    logp = np.log(np.maximum(probs.astype(np.float64), 1e-300))
    res = minimize_scalar(
        lambda log_t: _nll(logp, labels, float(np.exp(log_t))),
        bounds=tuple(np.log(T_RANGE)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(res.x))


def apply_temperature(keras_model: Any, t: float) -> None:
    """Divide the logits of ``keras_model``'s last layer (a softmax ``Dense``) by ``t``, in place."""
    if not (t > 0 and np.isfinite(t)):
        raise ValueError(f"temperature must be a positive number, got {t}")
    kernel, bias = _softmax_layer(keras_model).get_weights()
    last = keras_model.layers[-1]
    last.set_weights([kernel / np.float32(t), bias / np.float32(t)])


def _softmax_layer(keras_model: Any) -> Any:
    """The model's last layer, which must be a Dense layer with a softmax activation (the logits to scale)."""
    last = keras_model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    if not hasattr(last, "kernel") or activation != "softmax":
        raise ValueError(f"the last layer must be a Dense layer with a softmax activation, got {last.name} ({activation})")
    return last


def calibrate_model(
    model_path: str | os.PathLike[str],
    data_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    val_fraction: float = 0.2,
) -> CalibrationResult:
    """Fit the temperature of ``model_path`` on the validation split of ``data_path`` and save the scaled model.

    The metadata are carried over, with ``extra["calibration"]`` added (the fit and its figures).

    Raises
    ------
    ValueError
        For an output that is not ``.keras`` or data whose classes are not the model's.
    """
    from aistem.core import ModelInfo, load_model, save_model

    from .train import load_training_data, split_data

    out = Path(out)
    if out.suffix != ".keras":
        raise ValueError(f"--out must name a .keras file, got {out}")
    if out.exists() and Path(model_path).exists() and out.resolve() == Path(model_path).resolve():
        raise ValueError(f"--out {out} is the model being calibrated: write the calibrated model to another file")
    model = load_model(model_path)
    _softmax_layer(model.keras_model)  # fail before the data are read
    data = load_training_data(data_path)
    if list(data.class_names) != list(model.class_names):
        raise ValueError(f"the data's classes {data.class_names} are not the model's {model.class_names}")
    _, val = split_data(data, val_fraction)
    x, y = data.x[val].astype(np.float32)[..., None], data.y[val]
    probs = np.asarray(model.keras_model.predict(x, batch_size=256, verbose=0))[:, None, :]  # dropout off
    t = fit_temperature(probs, y)
    result = CalibrationResult(
        temperature=t,
        nll_before=mc_nll(probs, y, 1.0),
        nll_after=mc_nll(probs, y, t),
        accuracy=float((probs[:, 0].argmax(-1) == y).mean()),
        n_validation=len(y),
        path=str(out),
    )
    apply_temperature(model.keras_model, t)
    info = ModelInfo.from_dict(model.info.to_dict())
    info.extra["calibration"] = {
        **{k: v for k, v in result.to_dict().items() if k != "path"},
        "method": "temperature scaling of the deterministic logits on the validation split (Guo et al. 2017)",
        "data_sha256": data.sha256,
        "source_model": {"name": model.name, "hash": model.hash},
    }
    save_model(model.keras_model, out, info)
    return result
