"""Crystal cells of the ten classes (ASE): order, geometry, density, lattice-constant changes, amorphous cells."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aistem.training.crystals import (
    AMORPHOUS_LABEL,
    BOUNDARY_LABEL,
    CLASS_NAMES,
    CLASSES,
    LABEL_NAMES,
    amorphous_cell,
    build_cell,
    class_index,
    unit_cell,
)

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"

# atoms per conventional cell volume
DENSITY = {
    "fcc": lambda a, c: 4 / a**3,
    "bcc": lambda a, c: 2 / a**3,
    "hcp": lambda a, c: 2 / (np.sqrt(3) / 2 * a * a * c),
}


def min_periodic_distance(atoms) -> float:
    """Smallest distance between two atoms of a periodic orthogonal cell [Å]."""
    from scipy.spatial import cKDTree

    box = np.diag(atoms.cell.array)
    pos = np.mod(atoms.positions, box)
    pos = np.where(pos >= box, 0.0, pos)  # float rounding can land exactly on the box edge
    d, _ = cKDTree(pos, boxsize=box).query(pos, k=2)
    return float(d[:, 1].min())


def test_class_order_is_the_papers():
    from aistem.core.model import PAPER_CLASS_NAMES

    assert CLASS_NAMES == tuple(PAPER_CLASS_NAMES)
    assert [class_index(n) for n in CLASS_NAMES] == list(range(10))
    assert LABEL_NAMES[AMORPHOUS_LABEL] == "amorphous" and LABEL_NAMES[BOUNDARY_LABEL] == "boundary"


def test_class_order_matches_reference_json():
    path = REFERENCE / "ai4stem_classes.json"
    if not path.is_file():
        pytest.skip("needs ../shared/reference/ai4stem_classes.json (the paper's class list), absent on this checkout")
    ref = json.loads(path.read_text())
    assert [ref[str(i)] for i in range(len(ref))] == list(CLASS_NAMES)


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_cells_are_orthogonal_periodic_and_dense_as_the_lattice(name):
    atoms = build_cell(name, size=30.0, thickness=20.0)
    cell = atoms.cell.array
    assert np.allclose(cell, np.diag(np.diag(cell)), atol=1e-8)
    assert all(atoms.pbc)
    lengths = np.diag(cell)
    unit = unit_cell(name).cell.lengths()
    # a whole number of unit cells, the nearest to the request
    assert np.allclose(lengths / unit, np.round(lengths / unit), atol=1e-6)
    assert np.all(np.abs(lengths - [30.0, 30.0, 20.0]) <= unit / 2 + 1e-6)
    cls = CLASSES[name]
    expected = DENSITY[cls.lattice](cls.a, cls.c)
    assert len(atoms) / np.prod(lengths) == pytest.approx(expected, rel=1e-6)
    assert set(atoms.get_chemical_symbols()) == {cls.symbol}
    # no two atoms on top of each other (periodic distances)
    assert min_periodic_distance(atoms) > 0.6 * cls.a


def test_unknown_class_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown class 'FCC_Cu_112'.*FCC_Cu_211"):
        build_cell("FCC_Cu_112")
    with pytest.raises(ValueError, match="positive"):
        build_cell("FCC_Cu_100", size=-5)


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(CLASS_NAMES),
    delta=st.floats(min_value=-0.3, max_value=0.3, allow_nan=False),
)
def test_lattice_delta_scales_the_unit_cell(name, delta):
    base = unit_cell(name).cell.lengths()
    scaled = unit_cell(name, delta).cell.lengths()
    a = CLASSES[name].a
    assert np.allclose(scaled, base * (a + delta) / a, rtol=1e-9)


def test_amorphous_cell_density_and_hard_core():
    atoms = amorphous_cell(20.0, 16.0, density=0.05, min_distance=2.2, seed=3)
    n = len(atoms)
    assert n == pytest.approx(0.05 * 20 * 20 * 16, rel=0.02)
    assert min_periodic_distance(atoms) >= 2.2 - 1e-9
    # amorphous: no sharp Bragg peak in the projected positions
    pos = atoms.positions[:, :2]
    q = 2 * np.pi / 2.35
    s = np.abs(np.exp(1j * q * pos[:, 0]).sum()) ** 2 / n
    assert s < 20
    again = amorphous_cell(20.0, 16.0, density=0.05, min_distance=2.2, seed=3)
    assert np.array_equal(again.positions, atoms.positions)
