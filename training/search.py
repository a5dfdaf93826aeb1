"""Hyperparameter search with hyperopt's TPE, as in the paper.

The architecture is fixed (filters 32, 32, 16, 16, 8, 8); the search varies the
conv kernel size over {3, 5, 7} and the dropout rate over 0.02–0.10 in steps of
0.01, minimising the validation loss of the checkpoint each trial keeps.  Every
trial's model is saved as a candidate (``<out>/candidates/k<K>-d<D>.keras``)
for the model selection of :mod:`aistem.training.selection`.

Resuming: the trials are pickled to ``<out>/trials.pkl`` after every trial;
running the same command again continues
up to ``max_evals`` trials in all.  A point of the discrete space that was
already trained is not trained again: its saved candidate is reused.

Distributed: pass a Dask ``client`` (:func:`aistem.core.cluster.cluster_client`, the command's ``--scheduler`` or
``--workers``) to run up to ``parallel`` trials at once on its workers
(:mod:`aistem.training.search_parallel`); the data file must be at the same path on every worker (a shared file
system).  See ``docs/scaling.md``.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .train import TrainingData, TrainSettings, load_training_data, train_model

__all__ = ["SearchSettings", "TrialObjective", "dropout_grid", "run_search", "search_space", "trial_summary"]


@dataclass
class SearchSettings:
    """The search: space, number of trials and the training of each trial.

    Attributes
    ----------
    max_evals : int
        Trials in all (a resumed search counts those already done).
    kernel_sizes : tuple of int
        Kernel sides to try [px].
    dropout_min, dropout_max, dropout_step : float
        Dropout grid.
    seed : int
        Seed of the TPE sampler.
    train : TrainSettings
        Training of each trial (epochs, batch size, subset, ...); its kernel size
        and dropout are replaced by the trial's.
    """

    max_evals: int = 30
    kernel_sizes: tuple[int, ...] = (3, 5, 7)
    dropout_min: float = 0.02
    dropout_max: float = 0.10
    dropout_step: float = 0.01
    seed: int = 42
    train: TrainSettings | None = None

    def validate(self) -> None:
        if self.max_evals < 1:
            raise ValueError(f"max_evals must be ≥ 1, got {self.max_evals}")
        if not self.kernel_sizes or any(k < 1 or k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"kernel sizes must be odd numbers of pixels, got {list(self.kernel_sizes)}")
        if not (0 <= self.dropout_min <= self.dropout_max < 1) or not self.dropout_step > 0:
            raise ValueError(
                f"invalid dropout grid {self.dropout_min}–{self.dropout_max} step {self.dropout_step}: need 0 ≤ min ≤ max < 1"
            )


def dropout_grid(dmin: float, dmax: float, step: float) -> list[float]:
    """The dropout rates of the search, rounded to the step's decimals."""
    n = math.floor((dmax - dmin) / step + 1e-9) + 1
    digits = max(0, -math.floor(math.log10(step)) + 1)
    return [round(dmin + i * step, digits) for i in range(n)]


def search_space(settings: SearchSettings) -> dict[str, Any]:
    """hyperopt space: ``kernel_size`` (choice) and ``dropout`` (quantised uniform, clipped to the grid)."""
    from hyperopt import hp

    s = settings.dropout_step
    return {
        "kernel_size": hp.choice("kernel_size", list(settings.kernel_sizes)),
        # half a step beyond each end so the end points are as likely as the inner ones
        "dropout": hp.quniform("dropout", settings.dropout_min - s / 2, settings.dropout_max + s / 2, s),
    }


def _snap(dropout: float, settings: SearchSettings) -> float:
    grid = np.asarray(dropout_grid(settings.dropout_min, settings.dropout_max, settings.dropout_step))
    return float(grid[np.argmin(np.abs(grid - dropout))])


def candidate_name(kernel_size: int, dropout: float) -> str:
    """File name of a trial's model, e.g. ``k3-d0.07.keras``."""
    return f"k{int(kernel_size)}-d{dropout:.2f}.keras"


class TrialObjective:
    """hyperopt objective: train one network and return its validation loss.

    Picklable (Dask ships it to the workers of a parallel search): it holds only
    paths and settings, and loads the data once per process.

    Parameters
    ----------
    data_path : str
        Descriptor set (HDF5).
    out_dir : str
        Search folder; candidates go to ``out_dir/candidates``.
    settings : SearchSettings
    quiet : bool
        No per-epoch lines.
    """

    _cache: ClassVar[dict[str, TrainingData]] = {}

    def __init__(self, data_path: str, out_dir: str, settings: SearchSettings, quiet: bool = False) -> None:
        self.data_path = str(data_path)
        self.out_dir = str(out_dir)
        self.settings = settings
        self.quiet = quiet

    def _data(self) -> TrainingData:
        d = TrialObjective._cache.get(self.data_path)
        if d is None:
            d = load_training_data(self.data_path)
            TrialObjective._cache.clear()
            TrialObjective._cache[self.data_path] = d
        return d

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        from hyperopt import STATUS_OK

        k = int(params["kernel_size"])
        d = _snap(float(params["dropout"]), self.settings)
        path = Path(self.out_dir) / "candidates" / candidate_name(k, d)
        path.parent.mkdir(parents=True, exist_ok=True)
        base = self.settings.train or TrainSettings()
        train = replace(base, kernel_size=k, dropout=d)
        metrics = _reuse(path, train)
        if metrics is None:
            echo = None if self.quiet else (lambda line: print(f"[k={k} d={d:.2f}] {line}", flush=True))
            if not self.quiet:
                print(f"trial: kernel {k}, dropout {d:.2f} → {path}", flush=True)
            result = train_model(self._data(), path, train, echo=echo, extra={"search": {"kernel_size": k, "dropout": d}})
            metrics = result.metrics
            if metrics.get("stopped") == "interrupted":  # Ctrl-C stops the search too; the trial is redone on resume
                raise KeyboardInterrupt
        elif not self.quiet:
            print(f"trial: kernel {k}, dropout {d:.2f}: already trained, reusing {path}", flush=True)
        record = {
            "kernel_size": k,
            "dropout": d,
            "model": str(path),
            "val_loss": float(metrics["min_val_loss"]),
            "val_accuracy": float(metrics["val_accuracy"]),
            "best_epoch": int(metrics["best_epoch"]),
            "epochs_run": int(metrics["epochs_run"]),
        }
        with open(Path(self.out_dir) / "trials.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return {"loss": record["val_loss"], "status": STATUS_OK, **record}


def _reuse(path: Path, train: TrainSettings) -> dict[str, Any] | None:
    """Metrics of an already trained candidate with the same settings, else None."""
    if not path.is_file():
        return None
    import zipfile

    from aistem.core import METADATA_ENTRY

    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read(METADATA_ENTRY))
    except (KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        return None
    extra = meta.get("extra", {})
    metrics = extra.get("metrics", {})
    if "min_val_loss" not in metrics or metrics.get("stopped") == "interrupted":  # an unfinished trial: train again
        return None
    if extra.get("hyperparameters") != asdict(train):
        return None
    return metrics


def run_search(
    data_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: SearchSettings | None = None,
    *,
    client: Any = None,
    parallel: int | None = None,
    quiet: bool = False,
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run (or resume) the TPE search; return the summary of all trials, best first.

    Parameters
    ----------
    data_path : path
        Descriptor set (HDF5).
    out_dir : path
        Search folder: ``trials.pkl`` (resumable trials), ``trials.json`` (summary),
        ``trials.jsonl`` (one line per finished trial), ``candidates/*.keras``.
    settings : SearchSettings, optional
    client : distributed.Client, optional
        Run the trials on this Dask cluster, up to ``parallel`` at once (None: one after another in this process).
    parallel : int, optional
        Trials at once on the cluster (default: its number of workers).
    """
    import logging

    logging.getLogger("hyperopt").setLevel(logging.WARNING)  # one line per trial is ours; hyperopt's INFO is noise
    settings = settings or SearchSettings()
    settings.validate()
    (settings.train or TrainSettings()).validate()
    data_path = Path(data_path)
    if not data_path.is_file():
        raise FileNotFoundError(f"training data not found: {data_path}")
    load_training_data(data_path, hash_file=False)  # fail early on a bad layout, before any trial starts
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise PermissionError(f"search folder {out} is not writable")
    objective = TrialObjective(str(data_path.resolve()), str(out.resolve()), settings, quiet)
    space = search_space(settings)
    pkl = out / "trials.pkl"
    trials = _load_trials(pkl)
    if client is not None:
        from .search_parallel import run_trials_on_cluster

        n = parallel if parallel is not None else max(1, len(client.scheduler_info().get("workers", {})))
        run_trials_on_cluster(
            client,
            objective,
            space,
            trials,
            pkl,
            max_evals=settings.max_evals,
            seed=settings.seed,
            parallel=n,
            snap=lambda d: _snap(d, settings),
        )
    else:
        _run_trials_here(objective, space, trials, pkl, settings)
    summary = trial_summary(trials)
    (out / "trials.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if summary:
        b = summary[0]
        echo(
            f"search: {len(summary)} trials; lowest validation loss {b['val_loss']:.4g} "
            f"(kernel {b['kernel_size']}, dropout {b['dropout']:.2f}, val. accuracy {100 * b['val_accuracy']:.2f} %)"
        )
    return summary


def _run_trials_here(objective: Any, space: Any, trials: Any, pkl: Path, settings: SearchSettings) -> None:
    """The trials one after another in this process, ``trials`` pickled to ``pkl`` after each."""
    from hyperopt import fmin, tpe

    # One trial per fmin call, the trials pickled after each: a stopped search resumes where it was.
    # The sampler's seed depends on the number of trials done, so a resumed search draws what a
    # search run in one go would have drawn.
    while (n := _valid(trials)) < settings.max_evals:
        fmin(
            objective,
            space,
            algo=tpe.suggest,
            max_evals=n + 1,
            trials=trials,
            rstate=np.random.default_rng([settings.seed, n]),
            show_progressbar=False,
        )
        tmp = pkl.with_suffix(".pkl.tmp")
        with open(tmp, "wb") as f:
            pickle.dump(trials, f)
        os.replace(tmp, pkl)


def _valid(trials: Any) -> int:
    """Trials that count towards ``max_evals`` (finished or running; failed ones are proposed again)."""
    from hyperopt import JOB_STATE_ERROR

    return sum(1 for t in trials.trials if t["state"] != JOB_STATE_ERROR)


def _load_trials(path: Path) -> Any:
    """The pickled hyperopt Trials of an earlier run, or new ones."""
    from hyperopt import Trials

    if not path.is_file():
        return Trials()
    try:
        with open(path, "rb") as f:
            trials = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError) as exc:
        raise ValueError(f"{path} holds no readable hyperopt trials ({exc}); move it away to start afresh") from exc
    if not isinstance(trials, Trials):
        raise ValueError(f"{path} holds no hyperopt trials; move it away to start afresh")
    return trials


def trial_summary(trials: Any) -> list[dict[str, Any]]:
    """The finished trials' results (kernel, dropout, val_loss, val_accuracy, model), lowest loss first."""
    rows = []
    for t in trials.trials:
        r = t.get("result", {})
        if r.get("status") != "ok":
            continue
        keys = ("kernel_size", "dropout", "val_loss", "val_accuracy", "best_epoch", "epochs_run", "model")
        rows.append({k: r[k] for k in keys} | {"tid": t["tid"]})
    rows.sort(key=lambda r: r["val_loss"])
    return rows
