"""Evaluation: window ground truth, scene figures with a real (toy-trained) model, selection, `aistem evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aistem.cli.main import main
from aistem.training.evaluate import (
    Scene,
    evaluate_scene,
    load_scene,
    save_scene,
    validation_confusion,
    window_truth,
)

from .test_train_fixtures import TOY_CLASSES, toy_scene, trained_toy_model


def _two_grains(size: int = 300) -> Scene:
    labels = np.zeros((size, size), np.int64)
    labels[:, size // 2 :] = 1
    labels[: size // 3, : size // 3] = 10  # amorphous corner
    return Scene("two grains", np.zeros((size, size), np.float32), labels, ["a", "b"], 0.12, amorphous_code=10)


def test_window_truth_groups_by_distance_from_defects() -> None:
    scene = _two_grains()
    w = 100
    starts = np.arange(0, 201, 10)
    origins = np.stack(np.meshgrid(starts, starts, indexing="ij"), axis=-1)
    t = window_truth(scene, origins, w, bulk_margin=0.5, boundary_margin=0.25)
    centre_r = origins[..., 0] + 49.5
    centre_c = origins[..., 1] + 49.5
    # bulk: farther than 50 px from the vertical boundary at col 150 and from the amorphous corner
    d_boundary = np.abs(centre_c - 149.5)
    assert not t.bulk[d_boundary < 50].any()
    assert t.bulk[(d_boundary > 55) & (centre_r > 160)].all()
    assert t.boundary[(d_boundary < 24) & (centre_r > 110)].all()
    assert not t.boundary[d_boundary > 30].any()
    assert t.amorphous[(centre_r < 95) & (centre_c < 95)].all()
    assert not (t.bulk & t.boundary).any() and not (t.bulk & t.amorphous).any()
    assert set(np.unique(t.label[t.bulk])) <= {0, 1}


def test_same_class_grains_have_a_boundary_from_the_grain_map() -> None:
    scene = _two_grains()
    scene.labels[:] = 0
    scene.amorphous_code = None
    assert not scene.boundary_pixels().any()
    scene.grains = (np.arange(300)[None, :] >= 150).repeat(300, 0).astype(int)
    edge = scene.boundary_pixels()
    assert edge[:, 149:151].all() and edge.sum() == 600


def test_scene_round_trip(tmp_path: Path) -> None:
    s = toy_scene(200)
    p = save_scene(s, tmp_path / "s.npz")
    r = load_scene(p)
    assert r.name == s.name and r.class_names == s.class_names and r.amorphous_code == 10
    assert np.array_equal(r.labels, s.labels) and np.allclose(r.image, s.image)
    with pytest.raises(ValueError, match="not a scene"):
        np.savez(tmp_path / "bad.npz", x=np.zeros(3))
        load_scene(tmp_path / "bad.npz")


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_toy_model(tmp_path_factory.mktemp("toy"))


def test_scene_metrics_of_a_trained_model(toy_model: Path) -> None:
    from sklearn.metrics import roc_auc_score

    scene = toy_scene(300)
    met, res, truth = evaluate_scene(toy_model, scene, stride=4.0, samples=10, seed=0)
    assert met.n_windows == res.mutual_information.size and met.n_bulk > 0 and met.n_amorphous > 0
    assert met.bulk_accuracy >= 0.9  # the toy classes are learnt
    pos = truth.boundary | truth.amorphous
    y = np.r_[np.ones(pos.sum()), np.zeros(truth.bulk.sum())]
    assert met.mi_auc == pytest.approx(roc_auc_score(y, np.r_[res.mutual_information[pos], res.mutual_information[truth.bulk]]))
    assert met.median_amorphous_mi == pytest.approx(float(np.median(res.mutual_information[truth.amorphous])))


def test_validation_confusion_counts_the_validation_split(toy_model: Path) -> None:
    from aistem.core import load_model
    from aistem.training.train import load_training_data

    from .test_train_fixtures import _TRAINED

    m = load_model(toy_model)
    d = load_training_data(_TRAINED["data"])
    cm, names, acc = validation_confusion(m, d)
    assert names == list(TOY_CLASSES) and cm.sum() == 24 and cm.sum(axis=1).tolist() == [8, 8, 8]
    assert acc == pytest.approx(np.trace(cm) / cm.sum()) and acc == pytest.approx(m.info.extra["metrics"]["val_accuracy"])


@pytest.mark.slow
def test_selection_prefers_eligible_model(toy_model: Path, tmp_path: Path, small_model) -> None:
    from aistem.core.model import ModelInfo, save_model
    from aistem.training.selection import select_model

    weak = save_model(
        small_model.keras_model.__class__.from_config(small_model.keras_model.get_config()),
        tmp_path / "weak.keras",
        ModelInfo(class_names=list(TOY_CLASSES) + [f"x{i}" for i in range(7)], extra={"metrics": {"val_accuracy": 0.5}}),
    )
    chosen, ranking = select_model(
        [toy_model, weak], toy_scene(300), stride=4.0, samples=10, out=tmp_path / "best.keras", echo=None
    )
    assert chosen is not None and Path(chosen.path).name == "toy_model.keras"
    assert ranking[-1].eligible is False and np.isnan(ranking[-1].median_amorphous_mi)  # not analysed
    assert (tmp_path / "best.keras").read_bytes() == Path(toy_model).read_bytes()


@pytest.mark.slow
def test_cli_evaluate_writes_report_and_figures(toy_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from .test_train_fixtures import _TRAINED

    scene = save_scene(toy_scene(300), tmp_path / "scene.npz")
    out = tmp_path / "eval"
    rc = main(
        [
            "evaluate",
            "--model",
            str(toy_model),
            "--compare",
            str(toy_model),
            "--scene",
            str(scene),
            "--no-bicrystals",
            "--data",
            str(_TRAINED["data"]),
            "--out",
            str(out),
            "--samples",
            "8",
            "--stride",
            "4",
            "--quiet",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "bulk windows correct" in text and "MI ROC AUC" in text and "validation set" in text
    report = json.loads((out / "report.json").read_text())
    assert len(report["polycrystal"]) == 2  # side by side
    for png in ("polycrystal.png", "confusion-toy_model__model_.png", "confusion-toy_model__compare_.png"):
        assert (out / png).stat().st_size > 10_000


def test_cli_evaluate_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["evaluate", "--model", str(tmp_path / "none.keras")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("aistem evaluate: error: --model: file not found")
    (tmp_path / "x").write_text("")
    rc = main(["evaluate", "--model", str(tmp_path / "x"), "--out", str(tmp_path / "x")])
    assert rc == 2 and "is not a folder" in capsys.readouterr().err
