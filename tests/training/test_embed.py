"""`aistem embed`: hidden activations, UMAP map, data file, errors, and grains in separate clusters."""

from __future__ import annotations

import numpy as np
import pytest

from aistem.cli.main import main
from aistem.core.model import PAPER_CLASS_NAMES, ModelInfo, build_model, save_model
from aistem.training.embed import Embedding, EmbedInput, embed_inputs, knn_purity, load_input
from tests.conftest import square_lattice

PX = 0.12  # [Å/px]


@pytest.fixture(scope="module")
def small_model_file(tmp_path_factory):
    """An untrained network of the paper's architecture, saved as .keras (real Keras, real file)."""
    km = build_model(10, dropout=0.1, seed=3)
    return save_model(km, tmp_path_factory.mktemp("model") / "small.keras", ModelInfo(class_names=list(PAPER_CLASS_NAMES)))


@pytest.mark.slow  # an offline training-side command, 5–16 s on a 2-core VM: make test-slow (keeps make test < 10 min)
def test_cli_writes_figure_and_data_reproducibly(tmp_path, small_model_file, capsys):
    img = square_lattice((190, 190), pixel_size=PX, angle=20.0)
    np.save(tmp_path / "img.npy", img)
    args = [
        "embed",
        str(tmp_path / "img.npy"),
        "--pixel-size",
        "0.12",
        "--stride-px",
        "9",
        "--samples",
        "2",
        "--model",
        str(small_model_file),
        "--quiet",
    ]
    assert main([*args, "--out", str(tmp_path / "a.png")]) == 0
    assert main([*args, "--out", str(tmp_path / "b.png"), "--data", str(tmp_path / "b-data.npz")]) == 0
    assert (tmp_path / "a.png").stat().st_size > 10_000
    a = Embedding.load(tmp_path / "a.npz")
    b = Embedding.load(tmp_path / "b-data.npz")
    n = 11 * 11  # (190 − 100) // 9 + 1 windows per side
    assert a.embedding.shape == (n, 2) and a.hidden.shape == (n, 128) and a.classes.shape == (n,)
    assert a.sources == ["img.npy"] and a.class_names == list(PAPER_CLASS_NAMES)
    np.testing.assert_array_equal(a.embedding, b.embedding)  # fixed seed: the same map
    assert np.isfinite(a.embedding).all() and a.embedding.std(axis=0).min() > 0
    assert "121 windows" in capsys.readouterr().out


def test_too_few_windows_is_a_clear_error(tmp_path, small_model_file, capsys):
    np.save(tmp_path / "small.npy", square_lattice((110, 110), pixel_size=PX))
    code = main(
        [
            "embed",
            str(tmp_path / "small.npy"),
            "--pixel-size",
            "0.12",
            "--out",
            str(tmp_path / "m.png"),
            "--model",
            str(small_model_file),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "aistem embed: error: only 16 window(s) to embed" in err or "aistem embed: error: only" in err
    assert "UMAP" in err and "\n" == err[-1] and err.count("\n") == 1
    assert not (tmp_path / "m.png").exists()


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    assert main(["embed", str(tmp_path / "none.npy"), "--out", str(tmp_path / "m.png")]) == 2
    assert "no such file" in capsys.readouterr().err
    np.save(tmp_path / "i.npy", np.zeros((200, 200), np.float32))
    assert main(["embed", str(tmp_path / "i.npy"), "--out", str(tmp_path / "m.txt")]) == 2
    assert "--out must name a .png" in capsys.readouterr().err
    # an analysis result without its image cannot be embedded
    np.savez(tmp_path / "result.npz", classes=np.zeros((3, 3), np.uint8), mutual_information=np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="without its image"):
        load_input(tmp_path / "result.npz")


def test_result_with_source_reads_its_image_and_geometry(tmp_path):
    img = square_lattice((150, 150))
    np.save(tmp_path / "img.npy", img)
    np.savez(
        tmp_path / "result.npz",
        classes=np.zeros((2, 2), np.uint8),
        mutual_information=np.zeros((2, 2), np.float32),
        window_px=100,
        stride_px=50,
        pixel_size=0.12,
        source="img.npy",
    )
    inp = load_input(tmp_path / "result.npz")
    assert inp.name == "result.npz" and inp.window_px == 100 and inp.stride_px == 50 and inp.pixel_size == 0.12
    np.testing.assert_array_equal(inp.image, img)


def test_knn_purity_is_one_for_separate_clusters_and_chance_for_mixed():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal(0, 1, (50, 2)), rng.normal(20, 1, (50, 2))])
    lab = np.repeat([0, 1], 50)
    assert knn_purity(pts, lab) == 1.0
    assert 0.3 < knn_purity(pts, rng.permutation(lab)) < 0.7


# --- the must-show: grains of a bicrystal and a polycrystal fall in separate clusters -------------


def _scene_inputs():
    """A bicrystal and the polycrystal of the simulation helper's scenes, as EmbedInputs with crystal-state grain maps.

    Grains are identified by their crystal state, (class, rotation modulo the class's symmetry): two grains in the
    same state, e.g. the bicrystal's FCC_Cu_100 grain at 0° and the polycrystal's, show the network the same
    windows and are one cluster by construction; each amorphous region is its own state.
    """
    from aistem.core.rotation import rotation_period
    from aistem.training.scenes import make_bicrystal, make_polycrystal

    states: dict[tuple[str, float], int] = {}
    inputs = []
    for name, (image, _, info) in (
        ("bicrystal", make_bicrystal("FCC_Cu_100", 30.0, 90.0, seed=0)),
        ("polycrystal", make_polycrystal(seed=0)),
    ):
        ids = []
        for cls, rot in zip(info["grain_classes"], info["rotations_deg"], strict=True):
            key = (cls, 0.0) if cls == "amorphous" else (cls, round(float(rot) % float(rotation_period([cls])[0]), 1))
            ids.append(states.setdefault(key, len(states)))
        grains = np.asarray(ids)[np.asarray(info["grain_map"], np.int64)]
        inputs.append(EmbedInput(name, image, float(info["pixel_size"]), grains=grains))
    return inputs, states


@pytest.mark.slow
def test_grains_fall_in_separate_clusters(reference_model):
    """Windows inside one grain (≥ 90 % of their pixels) of a bicrystal and the polycrystal, embedded together.

    Thresholds: the 10-nearest-neighbour purity by grain state must be ≥ 0.9 (chance is
    Σ (n_g/N)², below 0.3 here) and the silhouette score ≥ 0.5 (the conventional
    boundary of "reasonable" cluster structure; well-separated blobs score ~0.7–0.9).
    """
    from sklearn.metrics import silhouette_score

    inputs, states = _scene_inputs()
    assert len(states) == 5  # FCC_Cu_100 at 0° and 30°, BCC_Fe_100, HCP_Ti_0001, amorphous
    emb = embed_inputs(inputs, model=reference_model, stride=3.0, samples=10, seed=0)
    keep = emb.grain >= 0
    counts = np.unique(emb.grain[keep], return_counts=True)[1]
    assert len(counts) == 5, "a grain state has no whole window"
    chance = float(((counts / counts.sum()) ** 2).sum())
    purity = knn_purity(emb.embedding[keep], emb.grain[keep], k=10)
    sil = float(silhouette_score(emb.embedding[keep], emb.grain[keep]))
    assert chance < 0.3
    assert purity >= 0.9, (purity, sil, chance)
    assert sil >= 0.5, (purity, sil, chance)
