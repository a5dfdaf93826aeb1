"""What one fit writes and says: the best checkpoint, the per-epoch record and time budget, the progress line, the log."""

from __future__ import annotations

import datetime as _dt
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .training_data import TrainingData

__all__ = ["BestCheckpoint", "EpochLine", "Recorder", "epoch_path", "log_paths", "plot_training_log"]


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


class BestCheckpoint(keras.callbacks.Callback):
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


class Recorder(keras.callbacks.Callback):
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


class EpochLine(keras.callbacks.Callback):
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
