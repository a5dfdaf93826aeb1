"""Batch analysis on a real Dask LocalCluster of worker processes."""

from __future__ import annotations

import functools
import os
import signal

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed (the cluster extra)")

from aistem.core import AnalysisResult, analyze  # noqa: E402
from aistem.core.batch import FrameJob, run_batch, worker_model_loads  # noqa: E402
from aistem.core.cluster import cluster_client, describe_client  # noqa: E402
from aistem.core.synthetic import square_lattice  # noqa: E402

OPTS = {"window_px": 100, "stride_px": 20, "samples": 16, "seed": 5, "adaptive": True, "rotation": False}


def _frame(i: int) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(i)
    img = square_lattice((180, 200), angle=float(rng.uniform(0, 90))) + rng.normal(0, 0.05, (180, 200))
    return img.astype(np.float32), 0.12


def _large() -> tuple[np.ndarray, float]:
    a = square_lattice((300, 240), angle=0.0)
    b = square_lattice((300, 240), angle=30.0)
    return np.where(np.arange(300)[:, None] < 150, a, b).astype(np.float32), 0.12


@pytest.fixture(scope="module")
def client():
    with cluster_client(workers=2) as c:
        yield c


def _jobs(n: int) -> list[FrameJob]:
    return [FrameJob(f"frame{i:02d}", functools.partial(_frame, i), source=f"synthetic {i}") for i in range(n)]


def test_cluster_options_are_checked() -> None:
    with pytest.raises(ValueError, match="not both"), cluster_client(scheduler="tcp://127.0.0.1:1", workers=2):
        pass
    with pytest.raises(ValueError, match="≥ 1"), cluster_client(workers=0):
        pass
    with cluster_client() as none:
        assert none is None and describe_client(none) == "in-process"


@pytest.mark.timeout(600)
def test_batch_on_two_workers_equals_in_process_and_loads_the_model_once_per_worker(client, tmp_path) -> None:
    assert "2 workers" in describe_client(client)
    jobs = _jobs(6)
    out = run_batch(jobs, tmp_path / "dask", client=client, **OPTS)
    assert [p.name for p in out.written] == [f"frame{i:02d}.npz" for i in range(6)]
    assert not out.failed
    loads = client.run(worker_model_loads)
    assert len(loads) == 2
    assert all(counts == {"": 1} for counts in loads.values() if counts), loads  # at most one load per worker
    for i, path in enumerate(out.written):
        got = AnalysisResult.load(path)
        want = analyze(_frame(i)[0], 0.12, **OPTS)
        np.testing.assert_array_equal(got.classes, want.classes)
        np.testing.assert_array_equal(got.interface, want.interface)
        np.testing.assert_allclose(got.mutual_information, want.mutual_information, atol=1e-5)
        assert got.source == f"synthetic {i}"


@pytest.mark.timeout(600)
def test_a_large_frame_split_into_bands_equals_the_whole(client, tmp_path) -> None:
    image, _ = _large()
    whole = analyze(image, 0.12, **OPTS)
    assert whole.grid_shape[0] >= 6
    bands = 2 * whole.grid_shape[1]
    # coarse-to-fine asked for: the bands are evaluated dense all the same, and stitch into the dense whole exactly
    out = run_batch([FrameJob("big", _large)], tmp_path, client=client, block_windows=bands, coarse_step=4, **OPTS)
    got = AnalysisResult.load(out.written[0])
    assert got.filled is None
    np.testing.assert_array_equal(got.classes, whole.classes)
    np.testing.assert_array_equal(got.interface, whole.interface)
    np.testing.assert_array_equal(got.samples_used, whole.samples_used)
    np.testing.assert_array_equal(got.origins_px, whole.origins_px)
    np.testing.assert_allclose(got.mutual_information, whole.mutual_information, atol=1e-5)


@pytest.mark.timeout(600)
def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(client, tmp_path) -> None:
    jobs = _jobs(8)
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_one(path) -> None:
        if not killed:
            pid = next(iter(pids.values()))
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)

    out = run_batch(jobs, tmp_path, client=client, on_result=kill_one, **OPTS)
    assert killed
    assert not out.failed
    assert [p.name for p in out.written] == [f"frame{i:02d}.npz" for i in range(8)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"frame{i:02d}.npz" for i in range(8)]  # no partial files
    for path in out.written:
        assert AnalysisResult.load(path).classes.shape == out_shape()
    again = run_batch(jobs, tmp_path, client=client, **OPTS)
    assert not again.written and len(again.skipped) == 8


def out_shape() -> tuple[int, int]:
    return ((180 - 100) // 20 + 1, (200 - 100) // 20 + 1)
