"""Training: data loading, the stratified split, one real (tiny) training, the `aistem train` command."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from aistem.cli.main import main
from aistem.training.train import (
    SPLIT_RANDOM_STATE,
    TrainSettings,
    load_training_data,
    log_paths,
    split_data,
    train_model,
)

from .test_train_fixtures import TOY_CLASSES, toy_dataset, trained_toy_model


@pytest.fixture(scope="module")
def toy_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return toy_dataset(tmp_path_factory.mktemp("data") / "toy.h5", 30)


def test_load_training_data_reads_layout_and_hash(toy_h5: Path) -> None:
    d = load_training_data(toy_h5)
    assert d.x.shape == (90, 64, 64) and d.x.dtype == np.float32
    assert np.bincount(d.y).tolist() == [30, 30, 30]
    assert d.class_names == list(TOY_CLASSES)
    assert d.pixel_size == pytest.approx(0.12) and d.window == pytest.approx(12.0)
    assert len(d.sha256) == 64 and d.descriptor == {"size": 64, "threshold": 0.1}


def test_load_training_data_rejects_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_training_data(tmp_path / "absent.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        load_training_data(tmp_path / "text.h5")
    with h5py.File(tmp_path / "wrong.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((4, 64, 64)))
    with pytest.raises(ValueError, match="expected datasets 'descriptors' and 'labels'"):
        load_training_data(tmp_path / "wrong.h5")
    with h5py.File(tmp_path / "mismatch.h5", "w") as f:
        f.create_dataset("descriptors", data=np.zeros((4, 64, 64), np.float32))
        f.create_dataset("labels", data=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="4 descriptors but labels of shape"):
        load_training_data(tmp_path / "mismatch.h5")


def test_split_is_stratified_80_20_and_reproducible(toy_h5: Path) -> None:
    d = load_training_data(toy_h5, hash_file=False)
    tr, va = split_data(d)
    assert len(tr) == 72 and len(va) == 18 and not set(tr) & set(va)
    assert np.bincount(d.y[va]).tolist() == [6, 6, 6]  # stratified
    _, va2 = split_data(d, random_state=SPLIT_RANDOM_STATE)
    assert np.array_equal(va, va2)
    sub = d.subset(0.5)
    assert len(sub) == 45 and np.bincount(sub.y).tolist() == [15, 15, 15]


def test_settings_reject_nonsense() -> None:
    for bad in (
        TrainSettings(epochs=0),
        TrainSettings(dropout=1.0),
        TrainSettings(kernel_size=4),
        TrainSettings(batch_size=0),
        TrainSettings(kernel_init="he_normal"),
    ):
        with pytest.raises(ValueError):
            bad.validate()


def test_training_learns_and_saves_best_checkpoint_with_metadata(tmp_path_factory: pytest.TempPathFactory) -> None:
    from aistem.core import load_model

    path = trained_toy_model(tmp_path_factory.mktemp("toy"))
    m = load_model(path)
    extra = m.info.extra
    assert m.class_names == list(TOY_CLASSES)
    assert m.info.pixel_size == pytest.approx(0.12) and m.info.window == pytest.approx(12.0)
    assert extra["metrics"]["val_accuracy"] >= 0.9  # the toy task is learnt
    assert extra["hyperparameters"]["kernel_size"] == 3 and extra["hyperparameters"]["dropout"] == pytest.approx(0.07)
    assert len(extra["training_data"]["sha256"]) == 64 and extra["training_data"]["n_validation"] == 24
    hist = extra["history"]
    best = extra["metrics"]["best_epoch"] - 1
    assert hist["val_accuracy"][best] == max(hist["val_accuracy"])  # the checkpoint is the best validation accuracy
    csv, png = log_paths(path)
    lines = csv.read_text().strip().splitlines()
    assert lines[0].split(",")[:3] == ["epoch", "accuracy", "loss"] and len(lines) == 1 + len(hist["loss"])
    assert png.stat().st_size > 5000
    with zipfile.ZipFile(path) as z:
        assert "aistem_metadata.json" in z.namelist()


def test_train_model_refuses_bad_output(toy_h5: Path, tmp_path: Path) -> None:
    d = load_training_data(toy_h5, hash_file=False)
    with pytest.raises(ValueError, match=r"\.keras"):
        train_model(d, tmp_path / "model.h5", TrainSettings(epochs=1))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_model(d, tmp_path / "no" / "model.keras", TrainSettings(epochs=1))


def test_cli_train_writes_model_and_log(toy_h5: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.keras"
    rc = main(
        [
            "train",
            "--data",
            str(toy_h5),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--kernel-size",
            "5",
            "--dropout",
            "0.05",
            "--seed",
            "3",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "epoch   1/2" in text and "epoch   2/2" in text and "validation accuracy" in text
    with zipfile.ZipFile(out) as z:
        meta = json.loads(z.read("aistem_metadata.json"))
    assert meta["extra"]["hyperparameters"]["kernel_size"] == 5
    assert meta["extra"]["hyperparameters"]["dropout"] == pytest.approx(0.05)
    assert meta["extra"]["hyperparameters"]["seed"] == 3
    assert log_paths(out)[0].is_file() and log_paths(out)[1].is_file()
    assert meta["extra"]["hyperparameters"]["kernel_init"] == "orthogonal"  # the paper's initialiser by default
    assert not list(tmp_path.glob("m.epoch*.keras"))


def test_keep_epochs_saves_every_epoch_as_a_candidate(toy_h5: Path, tmp_path: Path) -> None:
    from aistem.core import load_model
    from aistem.training.train import epoch_path

    d = load_training_data(toy_h5, hash_file=False)
    out = tmp_path / "m.keras"
    settings = TrainSettings(epochs=2, batch_size=32, patience=5, kernel_init="glorot_uniform", keep_epochs=True)
    r = train_model(d, out, settings, echo=None)
    kept = sorted(tmp_path.glob("m.epoch*.keras"))
    assert kept == [epoch_path(out, 1), epoch_path(out, 2)]
    for e, path in enumerate(kept, 1):
        info = load_model(path).info.extra
        assert info["metrics"]["epoch"] == e
        assert info["metrics"]["val_loss"] == pytest.approx(r.history["val_loss"][e - 1])
        assert info["hyperparameters"]["kernel_init"] == "glorot_uniform"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "{missing}", "--out", "{out}"], "training data not found"),
        (["--data", "{toy}", "--out", "{tmp}/none/m.keras"], "does not exist"),
        (["--data", "{toy}", "--out", "{tmp}/m.h5"], ".keras"),
        (["--data", "{toy}"], "give --data"),
        (["--data", "{toy}", "--out", "{out}", "--dropout", "1.5"], "dropout must be in"),
    ],
)
def test_cli_train_errors_are_one_line(
    args: list[str], message: str, toy_h5: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subst = {"missing": str(tmp_path / "missing.h5"), "out": str(tmp_path / "m.keras"), "toy": str(toy_h5), "tmp": str(tmp_path)}
    rc = main(["train", *[a.format(**subst) for a in args]])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("aistem train: error:") and message in err and "Traceback" not in err


@pytest.mark.slow  # an offline training-side command, 5–16 s on a 2-core VM: make test-slow (keeps make test < 10 min)
def test_time_budget_stops_after_the_epoch_that_fits(toy_h5: Path, tmp_path: Path) -> None:
    d = load_training_data(toy_h5, hash_file=False)
    r = train_model(d, tmp_path / "m.keras", TrainSettings(epochs=50, batch_size=32, max_minutes=1e-4), echo=None)
    assert r.metrics["epochs_run"] == 1 and r.metrics["stopped"] == "time budget"
    assert len(r.history["loss"]) == 1 and (tmp_path / "m.keras").is_file()


@pytest.mark.slow  # an offline training-side command, 5–16 s on a 2-core VM: make test-slow (keeps make test < 10 min)
def test_init_continues_from_a_trained_model(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    from .test_train_fixtures import _TRAINED

    start = trained_toy_model(tmp_path_factory.mktemp("toy"))
    d = load_training_data(_TRAINED["data"], hash_file=False)
    r = train_model(d, tmp_path / "cont.keras", TrainSettings(epochs=1, batch_size=16, learning_rate=1e-4), echo=None, init=start)
    # one epoch from random weights stays near chance on this set; from the trained weights it stays trained
    assert r.metrics["val_accuracy"] >= 0.9
    from aistem.core import load_model

    assert load_model(tmp_path / "cont.keras").info.extra["initialised_from"]["file"] == start.name
    with pytest.raises(ValueError, match="architecture differs"):
        train_model(d, tmp_path / "bad.keras", TrainSettings(epochs=1, kernel_size=5), echo=None, init=start)


def test_training_domain_goes_into_the_model_metadata(tmp_path: Path) -> None:
    """The dataset's lattice_constants attribute becomes extra["training_domain"] (read by the domain check)."""
    path = toy_dataset(tmp_path / "toy.h5", 10)
    ranges = {"FCC_Cu_100": {"a": [3.524, 4.078]}, "HCP_Ti_0001": {"a": [2.507, 3.232], "c": [4.069, 5.211]}}
    with h5py.File(path, "a") as f:
        f.attrs["lattice_constants"] = json.dumps(ranges)
    d = load_training_data(path, hash_file=False)
    train_model(d, tmp_path / "m.keras", TrainSettings(epochs=1, batch_size=32), echo=None)
    from aistem.core import load_model

    assert load_model(tmp_path / "m.keras").info.extra["training_domain"] == {"lattice_constants": ranges}
