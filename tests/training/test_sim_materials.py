"""The training set over the common metals: [materials] in simulate.toml, cells per metal, lattice ranges."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aistem.training.config import load_simulate_config
from aistem.training.crystals import CLASSES, Material, build_cell, class_material, parse_materials, unit_cell
from aistem.training.dataset import generate_dataset, lattice_ranges, plan_dataset, training_domain


def test_default_config_lists_the_common_metals_of_each_structure():
    cfg = load_simulate_config()
    m = cfg["materials"]
    fcc = {e.symbol: e.a for e in parse_materials(m, "fcc")}
    bcc = {e.symbol: e.a for e in parse_materials(m, "bcc")}
    hcp = {e.symbol: (e.a, e.c) for e in parse_materials(m, "hcp")}
    assert {"Ni", "Cu", "Pd", "Pt", "Al", "Au"} <= set(fcc) and fcc["Ni"] == pytest.approx(3.52, abs=0.01)
    assert fcc["Au"] == pytest.approx(4.08, abs=0.01)
    assert {"Fe", "Cr", "V", "Mo", "W", "Nb"} <= set(bcc) and bcc["Nb"] == pytest.approx(3.30, abs=0.01)
    assert {"Co", "Zn", "Ti", "Zr", "Mg"} <= set(hcp)
    assert hcp["Zn"][1] / hcp["Zn"][0] == pytest.approx(1.856, abs=0.01)  # each metal its own c/a
    assert hcp["Ti"][1] / hcp["Ti"][0] == pytest.approx(1.588, abs=0.01)
    plan = plan_dataset(cfg)
    assert len(plan.units) == 4 * len(fcc) + 3 * len(bcc) + 3 * len(hcp) - len(m["exclude"])
    assert {u[0] for u in plan.units} == set(CLASSES)  # the ten classes, names unchanged
    # fcc [100] of Au and Al is the projected lattice of bcc [100] Fe and Cr: not simulated as fcc [100]
    assert ("FCC_Cu_100", "Au") not in {(u[0], u[2].symbol) for u in plan.units}
    assert ("FCC_Cu_110", "Au") in {(u[0], u[2].symbol) for u in plan.units}
    r = lattice_ranges(plan.units)
    assert r["FCC_Cu_100"]["a"] == [3.524, 3.924] and r["FCC_Cu_110"]["a"] == [3.524, 4.078]


def test_fcc_100_of_au_projects_to_the_lattice_of_bcc_100_of_fe():
    """Why the exclusion: both are square lattices of equal columns, a/2 (fcc) and a/√2 (bcc) apart."""

    def column_spacing(atoms):
        from scipy.spatial import cKDTree

        box = np.round(np.diag(atoms.cell.array)[:2], 3)
        xy = np.unique(np.mod(np.round(np.mod(atoms.positions[:, :2], box), 3), box), axis=0)
        d, _ = cKDTree(xy, boxsize=box).query(xy, k=2)
        return d[:, 1].min(), len(xy)

    fcc = unit_cell("FCC_Cu_100", 0.0, Material("Au", 4.078))
    bcc = unit_cell("BCC_Fe_100", 0.0, Material("Fe", 2.867))
    (d_fcc, _), (d_bcc, _) = column_spacing(fcc), column_spacing(bcc)
    assert d_fcc == pytest.approx(4.078 / 2, abs=1e-3) and d_bcc == pytest.approx(2.867 / np.sqrt(2), abs=1e-3)
    assert abs(d_fcc - d_bcc) / d_bcc < 0.01


def test_bad_exclusions_are_clear_errors():
    base = {"fcc": [], "bcc": [], "hcp": []}
    for bad in ([["FCC_Cu_999", "Au"]], [["FCC_Cu_100"]], ["FCC_Cu_100 Au"]):
        cfg = load_simulate_config(overrides={"materials": {**base, "exclude": bad}})
        with pytest.raises(ValueError, match="unknown class|pairs"):
            plan_dataset(cfg)


def test_bad_material_entries_are_clear_errors():
    with pytest.raises(ValueError, match=r"materials.hcp\[0\]: hcp needs c"):
        parse_materials({"hcp": [{"symbol": "Mg", "a": 3.2}]}, "hcp")
    with pytest.raises(ValueError, match="takes no c"):
        parse_materials({"fcc": [{"symbol": "Au", "a": 4.08, "c": 1.0}]}, "fcc")
    with pytest.raises(ValueError, match="positive lengths"):
        parse_materials({"bcc": [{"symbol": "W", "a": -3.0}]}, "bcc")
    with pytest.raises(ValueError, match="unknown key"):
        parse_materials({"bcc": [{"symbol": "W", "a": 3.16, "b": 1}]}, "bcc")
    assert parse_materials({}, "fcc") == []
    with pytest.raises(ValueError, match="needs a and c"):
        unit_cell("HCP_Ti_0001", 0.0, Material("Mg", 3.2))


@pytest.mark.parametrize(
    ("class_name", "material"),
    [("FCC_Cu_110", Material("Au", 4.078)), ("BCC_Fe_111", Material("W", 3.165)), ("HCP_Ti_10m10", Material("Zn", 2.665, 4.947))],
)
def test_cells_are_built_from_the_metal(class_name, material):
    atoms = build_cell(class_name, 0.0, size=20.0, thickness=10.0, material=material)
    assert set(atoms.get_chemical_symbols()) == {material.symbol}
    own = build_cell(class_name, 0.0, size=20.0, thickness=10.0)
    scale = material.a / class_material(class_name).a
    # the same oriented cell, scaled: atoms per unit cell equal, lengths scaled by a (hcp: by a and c)
    uc, uc_own = unit_cell(class_name, 0.0, material), unit_cell(class_name)
    assert len(uc) == len(uc_own)
    if material.c is None:
        np.testing.assert_allclose(uc.cell.lengths(), uc_own.cell.lengths() * scale, rtol=1e-6)
    else:
        assert sorted(np.round(uc.cell.lengths(), 3)) == sorted(
            np.round([material.c, material.a * np.sqrt(3), material.a], 3).tolist()
        )
    assert len(atoms) > 0 and len(own) > 0


def test_ranges_cover_each_metal_and_delta():
    units = [
        ("FCC_Cu_100", 0.0, Material("Ni", 3.524)),
        ("FCC_Cu_100", 0.05, Material("Au", 4.078)),
        ("HCP_Ti_0001", -0.1, Material("Zn", 2.665, 4.947)),
        ("HCP_Ti_0001", 0.0, Material("Zr", 3.232, 5.147)),
    ]
    r = lattice_ranges(units)
    assert r["FCC_Cu_100"] == {"a": [3.524, 4.128]}
    assert r["HCP_Ti_0001"]["a"] == [2.565, 3.232]
    assert r["HCP_Ti_0001"]["c"] == [pytest.approx(4.947 * 2.565 / 2.665, abs=1e-4), 5.147]  # c/a kept under a delta
    # files written before the attribute existed: ranges from [class, delta] units at the class's own metal
    old = {"units": json.dumps([["FCC_Cu_100", -0.1], ["FCC_Cu_100", 0.1], ["BCC_Fe_100", 0.0]])}
    assert training_domain(old) == {"lattice_constants": {"BCC_Fe_100": {"a": [2.87, 2.87]}, "FCC_Cu_100": {"a": [3.53, 3.73]}}}
    assert training_domain({}) == {}


def test_dataset_over_two_metals_records_its_domain(tmp_path):
    """Real abTEM on small cells: fcc [100] as Ni and as Au; the file's ranges and the training reader's domain."""
    from aistem.training.dataset import read_dataset
    from aistem.training.train import load_training_data

    cfg = load_simulate_config(
        overrides={
            "dataset": {"classes": ["FCC_Cu_100"], "lattice_deltas": [0.0]},
            "simulation": {"cell_size": 16.0, "thickness": 4.0},
            "augment": {"rotation_step": 90.0, "shear_step": 0.1, "noise_every_rotation": 0},
            "materials": {
                "fcc": [{"symbol": "Ni", "a": 3.524}, {"symbol": "Au", "a": 4.078}],
                "bcc": [],
                "hcp": [],
                "exclude": [],
            },
        }
    )
    out = generate_dataset(cfg, tmp_path / "m.h5", progress=False, cache_dir=tmp_path / "cache")
    d = read_dataset(out)
    assert json.loads(d["attrs"]["units"]) == [["FCC_Cu_100", 0.0, "Ni", 3.524, None], ["FCC_Cu_100", 0.0, "Au", 4.078, None]]
    assert json.loads(d["attrs"]["lattice_constants"]) == {"FCC_Cu_100": {"a": [3.524, 4.078]}}
    # the two metals give different descriptors (the {200} spots move with a)
    per = len(d["labels"]) // 2
    assert np.abs(d["descriptors"][:per].mean(0) - d["descriptors"][per:].mean(0)).max() > 0.1
    assert load_training_data(out, hash_file=False).domain == {"lattice_constants": {"FCC_Cu_100": {"a": [3.524, 4.078]}}}
