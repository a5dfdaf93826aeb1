"""Hyperparameter search (hyperopt TPE): the space, a real tiny search, resume, reuse of trained points."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from aistem.cli.main import main
from aistem.training.search import SearchSettings, candidate_name, dropout_grid, run_search
from aistem.training.train import TrainSettings

from .test_train_fixtures import toy_dataset


def test_dropout_grid_is_the_papers() -> None:
    assert dropout_grid(0.02, 0.10, 0.01) == [0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10]
    assert candidate_name(5, 0.07) == "k5-d0.07.keras"


def test_space_samples_only_grid_points() -> None:
    import numpy as np
    from hyperopt.pyll.stochastic import sample

    from aistem.training.search import _snap, search_space

    s = SearchSettings()
    space = search_space(s)
    rng = np.random.default_rng(0)
    seen_k, seen_d = set(), set()
    for _ in range(300):
        p = sample(space, rng=rng)
        seen_k.add(p["kernel_size"])
        seen_d.add(_snap(p["dropout"], s))
    assert seen_k == {3, 5, 7}
    assert seen_d == set(dropout_grid(0.02, 0.10, 0.01))


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="odd"):
        SearchSettings(kernel_sizes=(4,)).validate()
    with pytest.raises(ValueError, match="dropout grid"):
        SearchSettings(dropout_min=0.2, dropout_max=0.1).validate()


@pytest.mark.slow
def test_search_runs_saves_and_resumes(tmp_path: Path) -> None:
    data = toy_dataset(tmp_path / "toy.h5", 12)
    out = tmp_path / "search"
    s = SearchSettings(max_evals=2, seed=1, train=TrainSettings(epochs=1, batch_size=16))
    first = run_search(data, out, s, quiet=True)
    assert len(first) == 2 and (out / "trials.pkl").is_file()
    assert all(Path(r["model"]).is_file() and r["kernel_size"] in (3, 5, 7) for r in first)
    assert first[0]["val_loss"] <= first[1]["val_loss"]
    s.max_evals = 3
    second = run_search(data, out, s, quiet=True)
    with open(out / "trials.pkl", "rb") as f:
        assert len(pickle.load(f).trials) == 3  # resumed: one new trial, not three
    assert len(second) == 3
    assert json.loads((out / "trials.json").read_text()) == second
    assert len((out / "trials.jsonl").read_text().splitlines()) == 3


def test_cli_search_rejects_missing_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["train", "search", "--data", str(tmp_path / "none.h5"), "--out-dir", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert rc == 2 and "aistem train: error: training data not found" in err


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_search_on_a_local_dask_cluster_runs_trials_at_once_and_resumes(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="Dask distributed is not installed (the cluster extra)")
    from aistem.core.cluster import cluster_client

    data = toy_dataset(tmp_path / "toy.h5", 12)
    out = tmp_path / "search"
    s = SearchSettings(max_evals=3, seed=1, train=TrainSettings(epochs=1, batch_size=16))
    with cluster_client(workers=2) as client:
        first = run_search(data, out, s, client=client, quiet=True)
        assert len(first) == 3
        lines = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]
        assert len(lines) == 3 and all(Path(r["model"]).is_file() for r in first)
        with open(out / "trials.pkl", "rb") as f:
            trials = pickle.load(f)
        done = [t for t in trials.trials if t["result"].get("status") == "ok"]
        assert len(done) == 3
        # two ran at once: the second trial was booked before the first one's result came back
        booked = sorted(t["book_time"] for t in done)
        finished = sorted(t["refresh_time"] for t in done)
        assert booked[1] < finished[0]
        s.max_evals = 4
        second = run_search(data, out, s, client=client, quiet=True)
    assert len(second) == 4
    assert json.loads((out / "trials.json").read_text()) == second


def test_cli_search_refuses_both_cluster_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = toy_dataset(tmp_path / "toy.h5", 2)
    rc = main(["train", "search", "--data", str(data), "--out-dir", str(tmp_path / "s"), "--workers", "2", "--scheduler", "x"])
    assert rc == 2 and "not both" in capsys.readouterr().err
