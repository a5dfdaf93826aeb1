"""Fit one AI-STEM Bayesian CNN on a simulated descriptor set, the way the paper did.

Stratified 80/20 split (scikit-learn, ``random_state=42``), Adam, categorical
cross-entropy, a checkpoint of the best validation accuracy (written with its
metadata, so an interrupted run still leaves a usable model), early stopping on
the validation loss, one progress line per epoch, and a training log (loss and
accuracy per epoch) beside the model as ``<model>.training-log.csv`` and
``<model>.training-log.png``.

>>> data = load_training_data("set.h5")
>>> result = train_model(data, "model.keras", TrainSettings(epochs=20))
>>> result.metrics["val_accuracy"]
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .train_callbacks import BestCheckpoint, EpochLine, Recorder, epoch_path, log_paths, plot_training_log
from .training_data import SPLIT_RANDOM_STATE, TrainingData, file_sha256, load_training_data, split_data

__all__ = [
    "SPLIT_RANDOM_STATE",
    "TrainResult",
    "TrainSettings",
    "TrainingData",
    "epoch_path",
    "file_sha256",
    "load_training_data",
    "log_paths",
    "plot_training_log",
    "split_data",
    "train_model",
]


@dataclass
class TrainSettings:
    """Hyperparameters and run settings of one training.

    Attributes
    ----------
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Descriptors per gradient step.
    kernel_size : int
        Conv kernel side [px] (paper's search: 3, 5, 7).
    dropout : float
        Dropout rate (paper's search: 0.02–0.10).
    learning_rate : float
        Adam step size.
    patience : int
        Early stopping: epochs without a lower validation loss before stopping.
    val_fraction : float
        Validation share of the stratified split (paper: 0.2).
    seed : int
        Seed of the weight initialisation, the shuffling and the dropout masks.
    subset : float or int, optional
        Train on a stratified subset (fraction < 1 or a count) — for reduced runs.
    max_minutes : float, optional
        Time budget [min]: no new epoch starts once the next one would end past it
        (the best checkpoint so far is kept, as when the run is interrupted with Ctrl-C).
    kernel_init : str
        Initialiser of the conv kernels (the paper's model: ``"orthogonal"``; ``"glorot_uniform"``).
    keep_epochs : bool
        Also save every epoch's model as ``<out>.epochNN.keras`` (candidates for the selection).
    """

    epochs: int = 50
    batch_size: int = 64
    kernel_size: int = 3
    dropout: float = 0.07
    learning_rate: float = 1e-3
    patience: int = 5
    val_fraction: float = 0.2
    seed: int = 0
    subset: float | int | None = None
    max_minutes: float | None = None
    kernel_init: str = "orthogonal"
    keep_epochs: bool = False

    def validate(self) -> None:
        """Raise ValueError for settings that cannot train."""
        if self.epochs < 1:
            raise ValueError(f"epochs must be ≥ 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be ≥ 1, got {self.batch_size}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel size must be an odd number of pixels ≥ 1, got {self.kernel_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning rate must be positive, got {self.learning_rate}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"validation fraction must be in (0, 1), got {self.val_fraction}")
        if self.patience < 1:
            raise ValueError(f"patience must be ≥ 1 epoch, got {self.patience}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}")
        from aistem.core import KERNEL_INITS

        if self.kernel_init not in KERNEL_INITS:
            raise ValueError(f"kernel initialiser must be one of {', '.join(KERNEL_INITS)}, got {self.kernel_init!r}")
        if self.subset is not None and not self.subset > 0:
            raise ValueError(f"subset must be a positive fraction or count, got {self.subset}")


@dataclass
class TrainResult:
    """What a training produced.

    Attributes
    ----------
    model_path : Path
        The saved model (best validation accuracy).
    log_csv, log_png : Path
        Training log and its plot.
    metrics : dict
        ``val_accuracy``, ``val_loss`` (at the checkpoint), ``best_epoch`` (1-based), ``epochs_run``,
        ``min_val_loss``, ``train_accuracy``, ``train_loss``, ``seconds``.
    history : dict of str to list of float
        Per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``.
    """

    model_path: Path
    log_csv: Path
    log_png: Path
    metrics: dict[str, float]
    history: dict[str, list[float]]


def _check_writable(path: Path) -> None:
    if path.suffix != ".keras":
        raise ValueError(f"the model is saved as a .keras file, got {path}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise FileNotFoundError(f"output directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"output directory {parent} is not writable")


def _software() -> dict[str, str]:
    out = {"keras": keras.__version__, "backend": keras.backend.backend(), "numpy": np.__version__}
    try:
        from importlib.metadata import version

        out["aistem"] = version("aistem")
    except Exception:  # pragma: no cover - not installed
        pass
    return out


def train_model(
    data: TrainingData,
    out: str | os.PathLike[str],
    settings: TrainSettings | None = None,
    *,
    echo: Callable[[str], None] | None = print,
    extra: dict[str, Any] | None = None,
    init: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train one network and save the checkpoint of the best validation accuracy.

    Parameters
    ----------
    data : TrainingData
        Descriptors and labels (the stratified split is made here).
    out : path
        Model file (``.keras``); the training log goes beside it.
    settings : TrainSettings, optional
        Hyperparameters (defaults: the paper's kernel 3, dropout 0.07).
    echo : callable, optional
        Receives one progress line per epoch; None for silence.
    extra : dict, optional
        More metadata to store with the model (e.g. the search trial).
    init : path, optional
        Start from this model's weights (same architecture) instead of a random initialisation:
        continues a training (the optimiser state starts afresh).

    Returns
    -------
    TrainResult
    """
    settings = settings or TrainSettings()
    settings.validate()
    out = Path(out)
    _check_writable(out)
    from aistem.core import ModelInfo, save_model

    data_used = data.subset(settings.subset, seed=SPLIT_RANDOM_STATE)
    tr, va = split_data(data_used, settings.val_fraction)
    n_classes = len(data.class_names)
    x = data_used.x[..., None]
    yy = keras.utils.to_categorical(data_used.y, n_classes).astype(np.float32)
    x_tr, y_tr, x_va, y_va = x[tr], yy[tr], x[va], yy[va]

    keras.utils.set_random_seed(settings.seed)
    model = _initial_model(settings, n_classes, data, init)
    base_extra = _metadata(data, data_used, settings, tr, va, init, extra)
    log_csv, log_png = log_paths(out)
    checkpoint = BestCheckpoint(out, data, base_extra, save_model, ModelInfo, keep_epochs=settings.keep_epochs)
    callbacks = [
        checkpoint,
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings.patience, restore_best_weights=False),
        keras.callbacks.CSVLogger(str(log_csv)),
        EpochLine(settings.epochs, echo),
    ]
    recorder = Recorder(settings.max_minutes)
    callbacks.append(recorder)
    seconds, stopped = _fit(model, (x_tr, y_tr), (x_va, y_va), settings, callbacks, echo)
    stopped = stopped or recorder.stopped
    history = recorder.history
    if checkpoint.best_epoch < 0:
        raise RuntimeError("training produced no finite validation metrics; no model was saved")
    metrics = _final_metrics(history, checkpoint.best_epoch, seconds, stopped, settings.epochs)
    # Re-save the best checkpoint with the final metrics and the full history in its metadata.
    checkpoint.finalize(metrics, history)
    plot_training_log(history, log_png, title=f"{out.name}: kernel {settings.kernel_size}, dropout {settings.dropout:g}")
    return TrainResult(model_path=out, log_csv=log_csv, log_png=log_png, metrics=metrics, history=history)


def _initial_model(settings: TrainSettings, n_classes: int, data: TrainingData, init: str | os.PathLike[str] | None) -> Any:
    """The network to fit: the paper's architecture, freshly initialised or with the weights of the model ``init``."""
    from aistem.core import build_model

    model = build_model(
        n_classes,
        kernel_size=settings.kernel_size,
        dropout=settings.dropout,
        input_size=data.x.shape[1],
        kernel_init=settings.kernel_init,
        seed=settings.seed,
    )
    if init is not None:
        from aistem.core import load_model

        start = load_model(init)
        if [w.shape for w in start.keras_model.get_weights()] != [w.shape for w in model.get_weights()]:
            raise ValueError(f"--init {init}: its architecture differs from kernel {settings.kernel_size}, {n_classes} classes")
        if list(start.class_names) != list(data.class_names):
            raise ValueError(f"--init {init}: its classes differ from the training data's")
        model.set_weights(start.keras_model.get_weights())
    return model


def _metadata(
    data: TrainingData,
    data_used: TrainingData,
    settings: TrainSettings,
    tr: np.ndarray,
    va: np.ndarray,
    init: str | os.PathLike[str] | None,
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    """What the model file records about its training: data, split, hyperparameters, architecture, software."""
    from aistem.core import FILTERS

    n_classes = len(data.class_names)
    hyper = {k: v for k, v in asdict(settings).items()}
    return {
        "training_data": {
            "file": Path(data.path).name if data.path else "",
            "sha256": data.sha256,
            "n_descriptors": len(data_used),
            "n_train": int(tr.size),
            "n_validation": int(va.size),
            "split": f"stratified {1 - settings.val_fraction:.0%}/{settings.val_fraction:.0%}, random_state={SPLIT_RANDOM_STATE}",
            "class_counts": np.bincount(data_used.y, minlength=n_classes).tolist(),
        },
        "hyperparameters": hyper,
        "architecture": {"filters": list(FILTERS), "dense": 128, "optimizer": "Adam", "loss": "categorical_crossentropy"},
        "software": _software(),
        **({"training_domain": data.domain} if data.domain else {}),
        **({"initialised_from": {"file": Path(init).name, "sha256": file_sha256(init)}} if init is not None else {}),
        **(extra or {}),
    }


def _final_metrics(history: dict[str, list[float]], b: int, seconds: float, stopped: str, epochs: int) -> dict[str, Any]:
    """The metrics of the best epoch ``b`` (0-based) and how the fit ended."""
    return {
        "val_accuracy": history["val_accuracy"][b],
        "val_loss": history["val_loss"][b],
        "train_accuracy": history["accuracy"][b],
        "train_loss": history["loss"][b],
        "best_epoch": b + 1,
        "epochs_run": len(history["loss"]),
        "min_val_loss": float(np.nanmin(history["val_loss"])),
        "seconds": round(seconds, 1),
        "stopped": stopped or ("early stopping" if len(history["loss"]) < epochs else "max epochs"),
    }


def _fit(
    model: Any,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    settings: TrainSettings,
    callbacks: list[Any],
    echo: Callable[[str], None] | None,
) -> tuple[float, str]:
    """Compile (Adam, categorical cross-entropy) and fit; Ctrl-C ends the fit early. Returns (seconds, "interrupted" or "")."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    t0 = time.perf_counter()
    stopped = ""
    try:
        model.fit(
            *train,
            validation_data=val,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            shuffle=True,
            verbose=0,
            callbacks=callbacks,
        )
    except KeyboardInterrupt:  # Ctrl-C: keep the best checkpoint and finish its metadata and log
        stopped = "interrupted"
        if echo is not None:
            echo("interrupted: finishing the model from the best checkpoint so far")
    return time.perf_counter() - t0, stopped
