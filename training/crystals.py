"""Crystal cells for the ten classes (ASE), and an amorphous cell.

Every class is an oriented, orthogonal cell whose third axis is the beam
direction (the zone axis).  Lateral axes: the cell's first axis (x) becomes the
image rows, its second axis (y) the image columns (abTEM's array order, see
:mod:`aistem.training.haadf`).

>>> atoms = build_cell("FCC_Cu_100", lattice_delta=0.1, size=40.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # ASE is imported lazily: it is only needed when cells are built
    from ase import Atoms

__all__ = [
    "AMORPHOUS_LABEL",
    "BOUNDARY_LABEL",
    "CLASSES",
    "CLASS_NAMES",
    "LABEL_NAMES",
    "CrystalClass",
    "Material",
    "amorphous_cell",
    "build_cell",
    "check_class_name",
    "class_index",
    "class_material",
    "lateral_pair",
    "parse_materials",
    "unit_cell",
]


@dataclass(frozen=True)
class CrystalClass:
    """One class: a lattice seen along one zone axis.

    Attributes
    ----------
    name : str
        Class name as in the paper's model (e.g. ``"FCC_Cu_100"``).
    lattice : str
        ``"fcc"``, ``"bcc"`` or ``"hcp"``.
    symbol : str
        Chemical element.
    a : float
        Lattice constant a [Å].
    c : float or None
        Lattice constant c [Å] (hcp only).
    directions : tuple of tuple of int
        ASE ``directions=`` of the oriented cell, last row along the beam
        (3-index for cubic, 4-index Miller–Bravais for hcp).
    zone : str
        The zone axis as written in crystallography (e.g. ``"[10-10]"``).
    """

    name: str
    lattice: str
    symbol: str
    a: float
    c: float | None
    directions: tuple[tuple[int, ...], ...]
    zone: str


@dataclass(frozen=True)
class Material:
    """A metal a class is simulated as: element and lattice constants.

    Attributes
    ----------
    symbol : str
        Chemical element whose atomic potential is used.
    a : float
        Lattice constant a [Å].
    c : float or None
        Lattice constant c [Å] (hcp only; None for cubic lattices).
    """

    symbol: str
    a: float
    c: float | None = None

    def scaled(self, lattice_delta: float) -> tuple[float, float | None]:
        """(a, c) [Å] after adding ``lattice_delta`` [Å] to a (c scaled by the same factor: c/a kept)."""
        a = self.a + float(lattice_delta)
        return a, (None if self.c is None else self.c * a / self.a)


_FCC: dict[str, tuple[tuple[int, ...], ...]] = {
    "100": ((0, 1, 0), (0, 0, 1), (1, 0, 0)),
    "110": ((0, 0, 1), (1, -1, 0), (1, 1, 0)),
    "111": ((1, -1, 0), (1, 1, -2), (1, 1, 1)),
    "211": ((0, 1, -1), (-1, 1, 1), (2, 1, 1)),
}
_BCC: dict[str, tuple[tuple[int, ...], ...]] = {
    "100": ((0, 1, -1), (0, 1, 1), (1, 0, 0)),
    "110": _FCC["110"],
    "111": _FCC["111"],
}
_HCP: dict[str, tuple[tuple[int, ...], ...]] = {
    "0001": ((2, -1, -1, 0), (0, 1, -1, 0), (0, 0, 0, 1)),
    "10m10": ((0, 0, 0, 1), (1, -2, 1, 0), (1, 0, -1, 0)),
    "2m1m10": ((0, 1, -1, 0), (0, 0, 0, 1), (2, -1, -1, 0)),
}

_A_FE, _A_CU, _A_TI, _C_TI = 2.87, 3.63, 2.95, 4.68

CLASSES: dict[str, CrystalClass] = {}
for _zone, _d in _BCC.items():
    CLASSES[f"BCC_Fe_{_zone}"] = CrystalClass(f"BCC_Fe_{_zone}", "bcc", "Fe", _A_FE, None, _d, f"[{_zone}]")
for _zone, _d in _FCC.items():
    CLASSES[f"FCC_Cu_{_zone}"] = CrystalClass(f"FCC_Cu_{_zone}", "fcc", "Cu", _A_CU, None, _d, f"[{_zone}]")
for _zone, _d in _HCP.items():
    CLASSES[f"HCP_Ti_{_zone}"] = CrystalClass(f"HCP_Ti_{_zone}", "hcp", "Ti", _A_TI, _C_TI, _d, f"[{_zone.replace('m', '-')}]")

#: The ten class names, in the order of the paper's model output.
CLASS_NAMES: tuple[str, ...] = tuple(CLASSES)

#: Label-map value of amorphous material in the ground truth of test scenes.
AMORPHOUS_LABEL = 10
#: Label-map value of the band along a grain boundary in the ground truth of test scenes.
BOUNDARY_LABEL = 11
#: Legend of label maps: value → name (0–9 the classes).
LABEL_NAMES: dict[int, str] = {**dict(enumerate(CLASS_NAMES)), AMORPHOUS_LABEL: "amorphous", BOUNDARY_LABEL: "boundary"}


def class_material(class_name: str) -> Material:
    """The metal a class is named after, at its own lattice constants (Fe 2.87, Cu 3.63, Ti 2.95/4.68 Å)."""
    cls = CLASSES[check_class_name(class_name)]
    return Material(cls.symbol, cls.a, cls.c)


def parse_materials(table: dict[str, Any], lattice: str) -> list[Material]:
    """The materials listed for one structure in the ``[materials]`` table of ``simulate.toml``.

    Parameters
    ----------
    table : dict
        ``{"fcc": [{"symbol": "Ni", "a": 3.52}, …], "bcc": […], "hcp": [{"symbol": "Co", "a": 2.507, "c": 4.07}, …]}``.
    lattice : str
        ``"fcc"``, ``"bcc"`` or ``"hcp"``.

    Returns
    -------
    list of Material
        Empty if the structure has no list (then the class's own metal is used).

    Raises
    ------
    ValueError
        For an entry without symbol or a, a non-positive constant, hcp without c, or cubic with c.
    """
    out = []
    for i, entry in enumerate(table.get(lattice) or []):
        where = f"materials.{lattice}[{i}]"
        if not isinstance(entry, dict) or "symbol" not in entry or "a" not in entry:
            raise ValueError(f"{where} must be a table with symbol and a [Å] (hcp: and c), got {entry!r}")
        unknown = set(entry) - {"symbol", "a", "c", "name"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: symbol, a, c, name)")
        a = float(entry["a"])
        c = float(entry["c"]) if entry.get("c") is not None else None
        if not (np.isfinite(a) and a > 0) or (c is not None and not (np.isfinite(c) and c > 0)):
            raise ValueError(f"{where}: lattice constants must be positive lengths in Å, got {entry!r}")
        if (lattice == "hcp") != (c is not None):
            raise ValueError(f"{where}: {'hcp needs' if lattice == 'hcp' else 'a cubic lattice takes no'} c [Å]")
        out.append(Material(str(entry["symbol"]), a, c))
    return out


def lateral_pair(value: float | Sequence[float], name: str = "size") -> tuple[float, float]:
    """A lateral size or pixel size given as one number or two, as a (float, float) pair."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), float(value)
    vals = [float(v) for v in value]
    if len(vals) != 2:
        raise ValueError(f"{name} must be one number or two, got {value!r}")
    return vals[0], vals[1]


def check_class_name(name: str) -> str:
    """Return ``name`` if it is one of :data:`CLASS_NAMES`; otherwise raise a ``ValueError`` listing them."""
    if name not in CLASSES:
        raise ValueError(f"unknown class {name!r}; choose one of: {', '.join(CLASS_NAMES)}")
    return name


def class_index(name: str) -> int:
    """Index of a class in :data:`CLASS_NAMES` (the model's output index)."""
    return CLASS_NAMES.index(check_class_name(name))


def unit_cell(class_name: str, lattice_delta: float = 0.0, material: Material | None = None) -> Atoms:
    """The smallest oriented orthogonal cell of a class.

    Parameters
    ----------
    class_name : str
        One of :data:`CLASS_NAMES`.
    lattice_delta : float
        Change of the lattice constant a [Å] (e.g. −0.1, 0, +0.1).  For hcp, c is
        scaled by the same factor (c/a kept).
    material : Material, optional
        The metal (element, a, c) of the class's structure to build; default the
        class's own (:func:`class_material`).

    Returns
    -------
    ase.Atoms
        Orthogonal, periodic cell; cell axis 3 along the zone axis.
    """
    cls = CLASSES[check_class_name(class_name)]
    mat = material or class_material(class_name)
    if (cls.lattice == "hcp") != (mat.c is not None):
        raise ValueError(f"material {mat.symbol} of {class_name} needs {'a and c' if cls.lattice == 'hcp' else 'a only'} [Å]")
    a, c = mat.scaled(lattice_delta)
    if not np.isfinite(a) or a <= 0.5 * mat.a:
        raise ValueError(f"lattice_delta {lattice_delta!r} Å makes the lattice constant of {class_name} non-physical ({a:.3g} Å)")
    directions = [list(d) for d in cls.directions]
    if cls.lattice == "fcc":
        from ase.lattice.cubic import FaceCenteredCubic

        atoms = FaceCenteredCubic(symbol=mat.symbol, latticeconstant=a, directions=directions, size=(1, 1, 1), pbc=True)
    elif cls.lattice == "bcc":
        from ase.lattice.cubic import BodyCenteredCubic

        atoms = BodyCenteredCubic(symbol=mat.symbol, latticeconstant=a, directions=directions, size=(1, 1, 1), pbc=True)
    else:
        from ase.lattice.hexagonal import HexagonalClosedPacked

        atoms = HexagonalClosedPacked(
            symbol=mat.symbol, latticeconstant={"a": a, "c": c}, directions=directions, size=(1, 1, 1), pbc=True
        )
    cell = atoms.cell.array
    if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-6:  # pragma: no cover - guards the direction table
        raise RuntimeError(f"cell of {class_name} is not orthogonal: {cell}")
    atoms.wrap()
    return atoms


def build_cell(
    class_name: str,
    lattice_delta: float = 0.0,
    size: float | tuple[float, float] = 80.0,
    thickness: float = 80.0,
    material: Material | None = None,
) -> Atoms:
    """An oriented cell of about ``size`` × ``size`` [Å] laterally and ``thickness`` [Å] along the beam.

    The unit cell is repeated a whole number of times along each axis (the
    number nearest the requested length, at least 1), so the cell stays periodic.

    Parameters
    ----------
    class_name : str
        One of :data:`CLASS_NAMES`.
    lattice_delta : float
        Change of the lattice constant [Å] (see :func:`unit_cell`).
    size : float or (float, float)
        Lateral size [Å], along the cell's (x, y) axes.
    thickness : float
        Size along the beam [Å].
    material : Material, optional
        The metal to build (default the class's own, see :func:`unit_cell`).

    Returns
    -------
    ase.Atoms
    """
    sx, sy = lateral_pair(size)
    for name, v in (("size", sx), ("size", sy), ("thickness", thickness)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive length in Å, got {v!r}")
    atoms = unit_cell(class_name, lattice_delta, material)
    lengths = atoms.cell.lengths()
    reps = [max(1, round(t / p)) for t, p in zip((sx, sy, float(thickness)), lengths, strict=True)]
    return atoms.repeat(reps)


def amorphous_cell(
    size: float | tuple[float, float] = 40.0,
    thickness: float = 80.0,
    *,
    symbol: str = "Si",
    density: float = 0.05,
    min_distance: float = 2.2,
    seed: int = 0,
    max_rounds: int = 400,
) -> Atoms:
    """A periodic amorphous cell by random sequential addition of hard spheres.

    Atoms are placed at random in the periodic box and kept only if no other
    atom lies closer than ``min_distance``, until the number density reaches
    ``density`` (amorphous Si: 0.050 Å⁻³, nearest neighbours 2.35 Å) or
    ``max_rounds`` batches were tried.

    Parameters
    ----------
    size : float or (float, float)
        Lateral size [Å] (x, y).
    thickness : float
        Size along the beam [Å].
    symbol : str
        Element (the paper: amorphous Si).
    density : float
        Target number density [Å⁻³].
    min_distance : float
        Closest allowed distance between atoms [Å].
    seed : int
        Seed of the random positions.

    Returns
    -------
    ase.Atoms
        Periodic orthogonal cell.
    """
    from ase import Atoms
    from scipy.spatial import cKDTree

    sx, sy = lateral_pair(size)
    box = np.array([sx, sy, float(thickness)])
    if not (np.all(np.isfinite(box)) and np.all(box > 2 * min_distance)):
        raise ValueError(f"amorphous cell sizes must be positive lengths in Å larger than {2 * min_distance} Å, got {box}")
    target = round(density * float(np.prod(box)))
    rng = np.random.default_rng(seed)
    pos = np.zeros((0, 3))
    batch = max(256, target // 8)
    for _ in range(max_rounds):
        if len(pos) >= target:
            break
        cand = rng.random((batch, 3)) * box
        if len(pos):
            d, _ = cKDTree(pos, boxsize=box).query(cand, k=1, distance_upper_bound=min_distance)
            cand = cand[~np.isfinite(d)]
        if len(cand) > 1:  # resolve clashes inside the batch greedily
            pairs = cKDTree(cand, boxsize=box).query_pairs(min_distance, output_type="ndarray")
            drop = np.zeros(len(cand), bool)
            for i, j in pairs:
                if not drop[i] and not drop[j]:
                    drop[j] = True
            cand = cand[~drop]
        pos = np.concatenate([pos, cand[: target - len(pos)]])
    return Atoms([symbol] * len(pos), positions=pos, cell=np.diag(box), pbc=True)
