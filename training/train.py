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

import datetime as _dt
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

__all__ = [
    "SPLIT_RANDOM_STATE",
    "TrainResult",
    "TrainSettings",
    "TrainingData",
    "file_sha256",
    "load_training_data",
    "log_paths",
    "plot_training_log",
    "split_data",
    "train_model",
]

SPLIT_RANDOM_STATE = 42  # the paper's split seed; fixed so every run and the evaluation see the same validation set
DESCRIPTOR_KEYS = ("descriptors", "x", "X", "features")
LABEL_KEYS = ("labels", "y", "targets")


@dataclass
class TrainingData:
    """A labelled descriptor set.

    Attributes
    ----------
    x : ndarray of shape (N, size, size), float32
        FFT-HAADF descriptors in [0, 1].
    y : ndarray of shape (N,), int64
        Class index of each descriptor.
    class_names : list of str
        Class index → name.
    pixel_size : float
        Pixel size of the simulated images [Å/px].
    window : float
        Window side [Å].
    descriptor : dict
        Descriptor settings (``size`` [px], ``threshold``).
    sha256 : str
        SHA-256 of the data file (hex), recorded in the model's metadata.
    path : str
        Where the data came from.
    domain : dict
        The training domain recorded in the file (``{"lattice_constants": {class: {"a": [min, max],
        "c": [min, max]}}}`` [Å]; see :func:`aistem.training.dataset.training_domain`), stored in the
        model's metadata as ``extra["training_domain"]``; ``{}`` if unknown.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    pixel_size: float = 0.12
    window: float = 12.0
    descriptor: dict[str, Any] = field(default_factory=lambda: {"size": 64, "threshold": 0.1})
    sha256: str = ""
    path: str = ""
    domain: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, n: int | float | None, seed: int = SPLIT_RANDOM_STATE) -> TrainingData:
        """A stratified random subset of ``n`` descriptors (``n`` < 1: that fraction); None or ≥ N: self."""
        if n is None:
            return self
        k = round(n * len(self)) if n < 1 else int(n)
        if k >= len(self):
            return self
        if k < 2 * len(self.class_names):
            raise ValueError(f"a subset of {k} descriptors is too small for {len(self.class_names)} classes")
        from sklearn.model_selection import train_test_split

        idx, _ = train_test_split(np.arange(len(self)), train_size=k, random_state=seed, stratify=self.y)
        idx = np.sort(idx)
        return TrainingData(
            self.x[idx],
            self.y[idx],
            self.class_names,
            self.pixel_size,
            self.window,
            self.descriptor,
            self.sha256,
            self.path,
            self.domain,
        )


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
        from aistem.core.model import KERNEL_INITS

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


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _attr(attrs: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if n in attrs:
            v = attrs[n]
            if isinstance(v, bytes):
                v = v.decode()
            return v
    return default


def _class_names(f: Any, n_classes: int) -> list[str]:
    raw = _attr(f.attrs, "class_names", "classes")
    if raw is None and "class_names" in f:
        raw = list(f["class_names"][()])
    if raw is None:
        from aistem.core.model import PAPER_CLASS_NAMES

        if n_classes <= len(PAPER_CLASS_NAMES):
            return list(PAPER_CLASS_NAMES)
        return [f"class_{i}" for i in range(n_classes)]
    if isinstance(raw, str):
        raw = json.loads(raw)
    if isinstance(raw, dict):
        raw = [raw[str(i)] for i in range(len(raw))]
    return [s.decode() if isinstance(s, bytes) else str(s) for s in raw]


def load_training_data(path: str | os.PathLike[str], *, hash_file: bool = True) -> TrainingData:
    """Read a descriptor set written by ``aistem simulate`` (HDF5).

    The file holds a descriptor array (``descriptors``; shape (N, size, size) or
    (N, size, size, 1)), integer ``labels`` (N,), and the class names (attribute
    or dataset ``class_names``); the attributes ``pixel_size`` [Å/px],
    ``window`` [Å] and ``threshold`` describe how the descriptors were made.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not HDF5 or lacks the descriptors or labels, or they disagree.
    """
    import h5py

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"training data not found: {p}")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise ValueError(f"{p} is not an HDF5 file: {exc}") from exc
    with f:
        xkey = next((k for k in DESCRIPTOR_KEYS if k in f), None)
        ykey = next((k for k in LABEL_KEYS if k in f), None)
        if xkey is None or ykey is None:
            raise ValueError(
                f"{p} is not a descriptor set: expected datasets 'descriptors' and 'labels', found {sorted(f.keys())}"
            )
        x = np.asarray(f[xkey][()], dtype=np.float32)
        y = np.asarray(f[ykey][()])
        names = _class_names(f, int(y.max()) + 1 if y.size else 0)
        pixel_size = float(_attr(f.attrs, "pixel_size", default=0.12))
        window = float(_attr(f.attrs, "window", "window_size", default=12.0))
        threshold = float(_attr(f.attrs, "threshold", "descriptor_threshold", default=0.1))
        from .dataset import training_domain

        domain = training_domain(f.attrs)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1] != x.shape[2]:
        raise ValueError(f"{p}: descriptors must have shape (N, size, size), got {x.shape}")
    if y.ndim == 2:  # one-hot
        y = y.argmax(axis=1)
    if y.shape != (x.shape[0],):
        raise ValueError(f"{p}: {x.shape[0]} descriptors but labels of shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{p}: labels must be integer class indices, got {y.dtype}")
    if y.size == 0:
        raise ValueError(f"{p} holds no descriptors")
    if y.min() < 0 or y.max() >= len(names):
        raise ValueError(f"{p}: labels run from {y.min()} to {y.max()} but there are {len(names)} class names")
    if not np.isfinite(x).all():
        raise ValueError(f"{p}: descriptors contain NaN or infinite values")
    return TrainingData(
        x=x,
        y=y.astype(np.int64),
        class_names=names,
        pixel_size=pixel_size,
        window=window,
        descriptor={"size": int(x.shape[1]), "threshold": threshold},
        sha256=file_sha256(p) if hash_file else "",
        path=str(p),
        domain=domain,
    )


def split_data(
    data: TrainingData, val_fraction: float = 0.2, random_state: int = SPLIT_RANDOM_STATE
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation split (indices), as in the paper.

    Returns
    -------
    train_idx, val_idx : ndarray of int64
    """
    from sklearn.model_selection import train_test_split

    counts = np.bincount(data.y, minlength=len(data.class_names))
    present = counts[counts > 0]
    if present.size < 2:
        raise ValueError("the training data hold a single class: nothing to learn")
    if present.min() < 2:
        raise ValueError(f"every class needs at least 2 descriptors for a stratified split; counts are {counts.tolist()}")
    idx = np.arange(len(data))
    tr, va = train_test_split(idx, test_size=val_fraction, random_state=random_state, stratify=data.y)
    return np.sort(tr), np.sort(va)


def epoch_path(model_path: str | os.PathLike[str], epoch: int) -> Path:
    """``<model>.epochNN.keras``: the model after epoch ``epoch`` (1-based), kept with ``keep_epochs``."""
    p = Path(model_path)
    return p.with_name(f"{p.stem}.epoch{epoch:02d}.keras")


def log_paths(model_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``<model>.training-log.csv`` and ``.png`` beside a model file."""
    p = Path(model_path)
    stem = p.with_suffix("")
    return Path(f"{stem}.training-log.csv"), Path(f"{stem}.training-log.png")


def plot_training_log(history: dict[str, list[float]], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Loss and accuracy per epoch (training and validation), two panels, written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if history.get(key):
            a.plot(epochs, history[key], style, marker="o", ms=3, label=key.replace("_", " "))
    a.set_xlabel("epoch")
    a.set_ylabel("categorical cross-entropy")
    a.set_yscale("log")
    a.legend()
    for key, style in (("accuracy", "-"), ("val_accuracy", "--")):
        if history.get(key):
            b.plot(epochs, np.asarray(history[key]) * 100, style, marker="o", ms=3, label=key.replace("_", " "))
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy [%]")
    b.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


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
    from aistem.core.model import FILTERS, ModelInfo, build_model, save_model

    data_used = data.subset(settings.subset, seed=SPLIT_RANDOM_STATE)
    tr, va = split_data(data_used, settings.val_fraction)
    n_classes = len(data.class_names)
    x = data_used.x[..., None]
    yy = keras.utils.to_categorical(data_used.y, n_classes).astype(np.float32)
    x_tr, y_tr, x_va, y_va = x[tr], yy[tr], x[va], yy[va]

    keras.utils.set_random_seed(settings.seed)
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
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    hyper = {k: v for k, v in asdict(settings).items()}
    base_extra: dict[str, Any] = {
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
    log_csv, log_png = log_paths(out)
    checkpoint = _BestCheckpoint(out, data, base_extra, save_model, ModelInfo, keep_epochs=settings.keep_epochs)
    callbacks = [
        checkpoint,
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings.patience, restore_best_weights=False),
        keras.callbacks.CSVLogger(str(log_csv)),
        _EpochLine(settings.epochs, echo),
    ]
    recorder = _Recorder(settings.max_minutes)
    callbacks.append(recorder)
    t0 = time.perf_counter()
    stopped = ""
    try:
        model.fit(
            x_tr,
            y_tr,
            validation_data=(x_va, y_va),
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
    seconds = time.perf_counter() - t0
    stopped = stopped or recorder.stopped
    history = recorder.history
    if checkpoint.best_epoch < 0:
        raise RuntimeError("training produced no finite validation metrics; no model was saved")
    b = checkpoint.best_epoch
    metrics = {
        "val_accuracy": history["val_accuracy"][b],
        "val_loss": history["val_loss"][b],
        "train_accuracy": history["accuracy"][b],
        "train_loss": history["loss"][b],
        "best_epoch": b + 1,
        "epochs_run": len(history["loss"]),
        "min_val_loss": float(np.nanmin(history["val_loss"])),
        "seconds": round(seconds, 1),
        "stopped": stopped or ("early stopping" if len(history["loss"]) < settings.epochs else "max epochs"),
    }
    # Re-save the best checkpoint with the final metrics and the full history in its metadata.
    checkpoint.finalize(metrics, history)
    plot_training_log(history, log_png, title=f"{out.name}: kernel {settings.kernel_size}, dropout {settings.dropout:g}")
    return TrainResult(model_path=out, log_csv=log_csv, log_png=log_png, metrics=metrics, history=history)


class _BestCheckpoint(keras.callbacks.Callback):
    """Keras callback: save the model (with metadata) whenever the validation accuracy improves.

    Ties in accuracy (common once it reaches 100 %) are broken by the lower validation loss.
    """

    def __init__(
        self, path: Path, data: TrainingData, extra: dict[str, Any], save: Any, info_cls: Any, *, keep_epochs: bool = False
    ) -> None:
        super().__init__()
        self.keep_epochs = keep_epochs
        self.path = path
        self.data = data
        self.extra = extra
        self.save = save
        self.info_cls = info_cls
        self.best: tuple[float, float] = (-math.inf, -math.inf)
        self.best_epoch = -1
        self._weights: list[Any] | None = None

    def _info(self, metrics: dict[str, Any], history: dict[str, list[float]] | None = None) -> Any:
        extra = dict(self.extra)
        extra["metrics"] = metrics
        extra["trained"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        if history is not None:
            extra["history"] = history
        return self.info_cls(
            class_names=list(self.data.class_names),
            pixel_size=self.data.pixel_size,
            window=self.data.window,
            descriptor=dict(self.data.descriptor),
            extra=extra,
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        acc, loss = float(logs.get("val_accuracy", math.nan)), float(logs.get("val_loss", math.nan))
        if not (math.isfinite(acc) and math.isfinite(loss)):
            return
        if self.keep_epochs:
            metrics = {"val_accuracy": acc, "val_loss": loss, "best_epoch": epoch + 1, "epoch": epoch + 1}
            self.save(self.model, epoch_path(self.path, epoch + 1), self._info(metrics))
        key = (acc, -loss)
        if key > self.best:
            self.best = key
            self.best_epoch = epoch
            self._weights = [w.copy() for w in self.model.get_weights()]
            tmp = self.path.with_name(self.path.stem + ".partial.keras")
            self.save(self.model, tmp, self._info({"val_accuracy": acc, "val_loss": loss, "best_epoch": epoch + 1}))
            os.replace(tmp, self.path)

    def finalize(self, metrics: dict[str, Any], history: dict[str, list[float]]) -> None:
        if self._weights is not None:
            self.model.set_weights(self._weights)
        tmp = self.path.with_name(self.path.stem + ".partial.keras")
        self.save(self.model, tmp, self._info(metrics, history))
        os.replace(tmp, self.path)


class _Recorder(keras.callbacks.Callback):
    """Keras callback: keep the per-epoch logs (they survive an interrupted ``fit``) and apply the time budget."""

    def __init__(self, max_minutes: float | None) -> None:
        super().__init__()
        self.budget = None if max_minutes is None else 60.0 * max_minutes
        self.history: dict[str, list[float]] = {}
        self.stopped = ""
        self.t0 = time.perf_counter()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        if self.budget is not None:
            elapsed = time.perf_counter() - self.t0
            if elapsed * (epoch + 2) / (epoch + 1) > self.budget:
                self.stopped = "time budget"
                self.model.stop_training = True


class _EpochLine(keras.callbacks.Callback):
    """Keras callback: one progress line per epoch (epoch, losses, accuracies, time, ETA)."""

    def __init__(self, epochs: int, echo: Callable[[str], None] | None) -> None:
        super().__init__()
        self.epochs = epochs
        self.echo = echo
        self.t0 = time.perf_counter()
        self.te = self.t0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.te = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.echo is None:
            return
        logs = logs or {}
        now = time.perf_counter()
        dt = now - self.te
        eta = (now - self.t0) / (epoch + 1) * (self.epochs - epoch - 1)
        self.echo(
            f"epoch {epoch + 1:3d}/{self.epochs}  loss {logs.get('loss', math.nan):.4f}  "
            f"acc {100 * logs.get('accuracy', math.nan):6.2f} %  val_loss {logs.get('val_loss', math.nan):.4f}  "
            f"val_acc {100 * logs.get('val_accuracy', math.nan):6.2f} %  {dt:5.0f} s  (≤{eta / 60:.0f} min left)"
        )
        if self.echo is print:
            sys.stdout.flush()
