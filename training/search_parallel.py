"""The hyperparameter search with several trials at once on a Dask cluster (asynchronous TPE).

Hyperopt's TPE proposes each trial from the trials finished so far (ask); the trial trains on a Dask worker; its
result is told back to the :class:`hyperopt.Trials` as soon as it finishes (tell), and the trials are pickled to
``trials.pkl`` after every result, so a stopped search resumes from its folder like the serial one.  Up to
``parallel`` trials run at once; a proposal identical to a trial still running is drawn again (two workers would
write the same candidate file), and the TPE seed of each proposal is ``[seed, trials so far]`` as in the serial
search (the proposals then depend on the order in which trials finish, so a parallel search is resumable but not
bit-for-bit repeatable).
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_trials_on_cluster"]

#: Proposals drawn again when TPE suggests a point that is still being trained.
MAX_REDRAWS = 8


def _drop_unfinished(trials: Any) -> None:
    """Mark trials left running by a stopped driver as failed: TPE ignores them and they are proposed afresh."""
    from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR

    for doc in trials._dynamic_trials:  # hyperopt's own list of trial documents
        if doc["state"] != JOB_STATE_DONE:
            doc["state"] = JOB_STATE_ERROR
            doc["result"] = {"status": "fail", "failure": "unfinished when the search stopped"}
    trials.refresh()


def _done(trials: Any) -> int:
    from hyperopt import JOB_STATE_DONE

    return sum(1 for t in trials.trials if t["state"] == JOB_STATE_DONE and t["result"].get("status") == "ok")


def _point(doc: dict[str, Any], space: dict[str, Any], snap: Any) -> tuple[dict[str, Any], tuple[int, float]]:
    from hyperopt import space_eval

    vals = {k: v[0] for k, v in doc["misc"]["vals"].items() if v}
    params = space_eval(space, vals)
    return params, (int(params["kernel_size"]), round(float(snap(float(params["dropout"]))), 6))


def _ask(trials: Any, domain: Any, space: dict[str, Any], seed: int, snap: Any, busy: set[tuple[int, float]]) -> Any:
    """Insert TPE's next proposal (not a point still running) into ``trials``; return (doc, params, point)."""
    from hyperopt import JOB_STATE_RUNNING, tpe

    n = len(trials.trials)
    for k in range(MAX_REDRAWS + 1):
        tid = trials.new_trial_ids(1)
        docs = tpe.suggest(tid, domain, trials, int(np.random.default_rng([seed, n, k]).integers(2**31 - 1)))
        params, point = _point(docs[0], space, snap)
        if point not in busy or k == MAX_REDRAWS:
            break
    doc = docs[0]
    doc["state"] = JOB_STATE_RUNNING
    doc["book_time"] = time.time()
    trials.insert_trial_docs([doc])
    trials.refresh()
    return doc, params, point


def _tell(trials: Any, doc: dict[str, Any], result: dict[str, Any] | None, error: str | None) -> None:
    from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR

    for d in trials._dynamic_trials:
        if d["tid"] == doc["tid"]:
            d["state"] = JOB_STATE_DONE if error is None else JOB_STATE_ERROR
            d["result"] = result if error is None else {"status": "fail", "failure": error}
            d["refresh_time"] = time.time()
    trials.refresh()


def _save(trials: Any, pkl: Path) -> None:
    tmp = pkl.with_suffix(".pkl.tmp")
    with open(tmp, "wb") as f:
        pickle.dump(trials, f)
    os.replace(tmp, pkl)


def run_trials_on_cluster(
    client: Any,
    objective: Any,
    space: dict[str, Any],
    trials: Any,
    pkl: Path,
    *,
    max_evals: int,
    seed: int,
    parallel: int,
    snap: Any,
) -> None:
    """Run trials on ``client`` until ``max_evals`` have finished, at most ``parallel`` at once.

    Parameters
    ----------
    client : distributed.Client
    objective : callable
        Picklable trial function ``objective(params) -> hyperopt result`` (:class:`aistem.training.search.TrialObjective`).
    space : dict
        The hyperopt space.
    trials : hyperopt.Trials
        Trials so far (resumed); updated in place and pickled to ``pkl`` after every result.
    parallel : int
        Trials running at once (usually the number of workers).
    snap : callable
        Dropout → grid value, to recognise a proposal identical to a running trial.
    """
    from distributed import as_completed
    from hyperopt import base

    if parallel < 1:
        raise ValueError(f"parallel trials must be ≥ 1, got {parallel}")
    _drop_unfinished(trials)
    domain = base.Domain(objective, space)
    running: dict[Any, tuple[dict[str, Any], tuple[int, float]]] = {}
    failures = 0

    def submit() -> None:
        doc, params, point = _ask(trials, domain, space, seed, snap, {p for _, p in running.values()})
        fut = client.submit(objective, params, key=f"trial-{doc['tid']}-{point[0]}-{point[1]}", pure=False)
        running[fut] = (doc, point)
        pending.add(fut)

    pending = as_completed([])
    while _done(trials) + len(running) < max_evals and len(running) < parallel:
        submit()
    for fut in pending:
        doc, _ = running.pop(fut)
        try:
            result = fut.result()
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a failed trial is recorded, the search goes on (a broken setup stops it)
            _tell(trials, doc, None, f"{type(exc).__name__}: {exc}")
            failures += 1
            if failures > max_evals:
                raise RuntimeError(f"trials keep failing on the cluster, the last with: {exc}") from exc
        else:
            _tell(trials, doc, result, None)
        _save(trials, pkl)
        while _done(trials) + len(running) < max_evals and len(running) < parallel:
            submit()
