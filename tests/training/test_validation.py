"""Issue 17's validation: out-of-domain cells (ASE), multislice unit-cell images (abTEM), scores, the command."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from aistem.cli.main import main
from aistem.training.crystals import Material
from aistem.training.ood_structures import OOD_STRUCTURES, ood_structure
from aistem.training.validation import (
    fourier_upsample,
    multislice_cell_image,
    ood_image,
    render_views,
    run_validation,
    score_windows,
    vacuum_image,
)

SPECIES = {
    "SrTiO3_100": {"Sr", "Ti", "O"},
    "SrTiO3_110": {"Sr", "Ti", "O"},
    "Si_110": {"Si"},
    "GaAs_110": {"Ga", "As"},
    "graphene": {"C"},
    "MoS2": {"Mo", "S"},
    "NaCl_100": {"Na", "Cl"},
    "amorphous_C": {"C"},
}


@pytest.mark.parametrize("name", sorted(SPECIES))
def test_out_of_domain_cells_are_orthogonal_periodic_and_right(name):
    from scipy.spatial import cKDTree

    atoms = ood_structure(name)
    cell = atoms.cell.array
    assert np.abs(cell - np.diag(np.diag(cell))).max() < 1e-6 and atoms.pbc.all()
    assert set(atoms.get_chemical_symbols()) == SPECIES[name]
    box = np.diag(cell)
    d, _ = cKDTree(np.mod(atoms.positions, box) % box, boxsize=box).query(np.mod(atoms.positions, box) % box, k=2)
    nearest = {"graphene": 1.42, "Si_110": 2.35, "GaAs_110": 2.45, "NaCl_100": 2.82, "SrTiO3_100": 1.95}
    if name in nearest:  # bond lengths of the real crystals
        assert d[:, 1].min() == pytest.approx(nearest[name], abs=0.01)


def test_unknown_structure_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown out-of-domain structure"):
        ood_structure("YBCO")
    with pytest.raises(ValueError, match="unknown out-of-domain"):
        run_validation([], ".", structures=[], ood=["YBCO"])
    with pytest.raises(ValueError, match="unknown structure"):
        run_validation([], ".", structures=["fcc", "bct"], ood=False)
    assert "vacuum" in OOD_STRUCTURES


def test_fourier_upsampling_is_exact_for_a_band_limited_period():
    n = 12
    r, c = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    img = np.cos(2 * np.pi * 2 * r / n) + 0.5 * np.sin(2 * np.pi * 3 * c / n)
    up = fourier_upsample(img, (0.3, 0.3), 0.1)
    assert up.image.shape == (36, 36) and up.pixel_size == pytest.approx((0.1, 0.1))
    rr, cc = np.meshgrid(np.arange(36) / 3, np.arange(36) / 3, indexing="ij")
    want = np.cos(2 * np.pi * 2 * rr / n) + 0.5 * np.sin(2 * np.pi * 3 * cc / n)
    np.testing.assert_allclose(up.image, want, atol=1e-5)


def test_multislice_unit_cell_image_is_one_period_and_cached(tmp_path):
    """Real frozen-phonon multislice (1 configuration) over one unit cell of fcc [100] as Au, tiny supercell."""
    kw = {"frozen_phonons": 1, "scan_step": 0.7, "thickness": 4.0, "supercell": 8.0, "cache_dir": tmp_path}
    sim = multislice_cell_image("FCC_Cu_100", Material("Au", 4.078), **kw)
    assert sim.image.shape == (6, 6) and sim.pixel_size == pytest.approx((4.078 / 6, 4.078 / 6))
    # fcc [100]: columns on a square grid of a/2 (3 px), each brighter than the space between them
    img = sim.image
    cols = img[::3, ::3]
    assert cols.min() > 0.7 * cols.max() and cols.min() > 1.5 * img[1, 1] > 0 and cols.min() > 1.5 * img[1, 4]
    t0 = time.perf_counter()
    again = multislice_cell_image("FCC_Cu_100", Material("Au", 4.078), **kw)
    assert time.perf_counter() - t0 < 1.0 and np.array_equal(again.image, img)  # from the .npz cache


def test_scores_of_a_known_class_and_of_vacuum(tmp_path, shipped_model):
    from aistem.core import analyze
    from aistem.training.base import simulate_class

    sim = simulate_class("FCC_Cu_100", 0.0, cell_size=20.0, thickness=20.0, cache_dir=tmp_path)
    rng = np.random.default_rng(0)
    views = render_views(sim, (0.0, 40.0), 124, rng)
    assert [v.shape for v in views] == [(124, 124)] * 2 and 0 <= views[0].min() < views[0].max() <= 1
    res = analyze(views[1], 0.12, samples=5, seed=0, model=shipped_model, rotation=False)
    s = score_windows(res, "FCC_Cu_100")
    assert s["n"] == 9 and s["correct"] == 1.0 and 0 <= s["confident_known"] <= 1
    assert np.isnan(s["unknown"]) or 0 <= s["unknown"] <= 1  # NaN until the analysis has the domain check
    assert score_windows(res, "BCC_Fe_100")["correct"] == 0.0
    vac = vacuum_image((200, 200), rng, counts=5.0, read_noise=2.0)
    assert vac.mean() == pytest.approx(5.0, abs=0.1) and vac.std() == pytest.approx(np.sqrt(5 + 4), abs=0.2)


def test_run_validation_writes_tables_and_json(tmp_path, shipped_model):
    lines: list[str] = []
    rep = run_validation(
        [("shipped", shipped_model)],
        tmp_path / "cache",
        out=tmp_path / "out",
        structures=[],
        ood=["vacuum", "NaCl_100"],
        samples=3,
        rotations=(0.0,),
        size_px=112,
        echo=lines.append,
    )
    on_file = json.loads((tmp_path / "out" / "validation.json").read_text())
    assert set(on_file["ood"]["shipped"]) == {"vacuum", "NaCl_100"}
    for name in ("vacuum", "NaCl_100"):
        r = rep["ood"]["shipped"][name]
        assert 0.0 <= r["confident_known"] <= 1.0 and r["n"] > 0
    assert any("out of domain" in x for x in lines) and any(x.strip().startswith("vacuum") for x in lines)
    assert ood_image("NaCl_100", cache_dir=tmp_path / "cache").image.ndim == 2


def test_evaluate_validation_command(tmp_path, capsys):
    cfg = tmp_path / "v.toml"
    cfg.write_text('[validation]\nsamples = 2\nsize_px = 104\nrotations = [0.0]\nstructures = []\nood = ["vacuum"]\n')
    args = ["evaluate", "--validation", "--no-scenes", "--validation-cache", str(tmp_path / "c"), "--out", str(tmp_path / "o")]
    rc = main([*args, "--config", str(cfg)])
    assert rc == 0 and (tmp_path / "o" / "validation.json").is_file()
    assert "vacuum" in capsys.readouterr().out
    assert main(["evaluate", "--no-scenes", "--out", str(tmp_path / "o")]) != 0
    assert "--no-scenes" in capsys.readouterr().err


@pytest.fixture(scope="module")
def shipped_model():
    from aistem.core import load_model

    return load_model(None)


def test_symmetrising_removes_a_superstructure_the_crystal_does_not_have():
    """bcc [100]'s orthogonal cell (a√2 × a√2) holds four equivalent column positions; noise on one must not repeat."""
    from aistem.training.crystals import unit_cell
    from aistem.training.validation import cell_translations, symmetrise

    t = cell_translations(unit_cell("BCC_Fe_100"))
    assert sorted(map(tuple, t.round(3).tolist())) == [(0.0, 0.0), (0.0, 0.5), (0.5, 0.0), (0.5, 0.5)]
    assert len(cell_translations(unit_cell("FCC_Cu_110"))) == 2 and len(cell_translations(unit_cell("HCP_Ti_2m1m10"))) == 2
    rng = np.random.default_rng(0)
    img = rng.random((14, 14))
    sym = symmetrise(img, t)
    np.testing.assert_allclose(sym, np.roll(sym, 7, axis=0), atol=1e-5)  # now periodic with half the cell
    np.testing.assert_allclose(sym, np.roll(sym, 7, axis=1), atol=1e-5)
    assert sym.mean() == pytest.approx(img.mean(), rel=1e-5)
