"""A Dask distributed client for the commands that spread work over processes or machines.

``--scheduler ADDRESS`` joins an existing cluster (``dask scheduler`` / ``dask worker``, dask-jobqueue on SLURM,
dask-ssh); ``--workers N`` starts a :class:`distributed.LocalCluster` of N single-threaded worker processes on this
machine; neither runs in-process as before (no Dask at all).  ``docs/scaling.md`` explains the set-up.

Dask is imported only here and only when a cluster is asked for, so the in-process paths do not need it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

__all__ = ["cluster_client", "describe_client"]


def _check(scheduler: str | None, workers: int | None) -> None:
    if scheduler is not None and workers is not None:
        raise ValueError("give either --scheduler (an existing cluster) or --workers (a local one), not both")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"--workers must be a whole number ≥ 1, got {workers!r}")
    if scheduler is not None and not str(scheduler).strip():
        raise ValueError("--scheduler needs an address, e.g. tcp://10.0.0.5:8786")


@contextlib.contextmanager
def cluster_client(scheduler: str | None = None, workers: int | None = None, *, timeout: float = 30.0) -> Iterator[Any]:
    """A :class:`distributed.Client` for the duration of a ``with`` block, or None without a cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.5:8786``.
    workers : int, optional
        Start a local cluster of this many worker processes (one thread each: the network already uses the cores
        it is given, and one model per process is the unit of memory).
    timeout : float
        Seconds to wait for the scheduler [s].

    Raises
    ------
    ValueError
        If both or invalid values are given.
    RuntimeError
        If Dask distributed is not installed or the scheduler cannot be reached.
    """
    _check(scheduler, workers)
    if scheduler is None and workers is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the cluster extra is part of `make setup`
        raise RuntimeError("Dask distributed is not installed: pip install 'aistem[cluster]'") from exc
    if workers is not None:
        # Workers inherit the environment: keep each one to its share of the cores (one thread per worker).
        env = {"OMP_NUM_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update({k: v for k, v in env.items() if old[k] is None})
        try:
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
            )
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
        with cluster, Client(cluster, timeout=timeout) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=timeout)
    except OSError as exc:
        raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    with client:
        yield client


def describe_client(client: Any) -> str:
    """One line: the scheduler's address and its workers and threads."""
    if client is None:
        return "in-process"
    info = client.scheduler_info()
    workers = info.get("workers", {})
    threads = sum(int(w.get("nthreads", 0)) for w in workers.values())
    return f"Dask scheduler {info.get('address', '?')}: {len(workers)} workers, {threads} threads"
