"""Out-of-domain test structures (ASE): crystals and layers the ten classes do not describe.

The validation of issue 17 asks how often the model gives a confident known class to a window
that shows none of its classes.  These cells are simulated like the training cells (abTEM,
:mod:`aistem.training.haadf`); every cell is orthogonal and periodic, its third axis along the beam.

>>> atoms = ood_structure("SrTiO3_110")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = ["OOD_STRUCTURES", "ood_structure"]

#: Name → what it is (zone axis along the beam).  "vacuum" has no atoms: see
#: :func:`aistem.training.validation.vacuum_image`.
OOD_STRUCTURES: dict[str, str] = {
    "SrTiO3_100": "perovskite SrTiO3 (a 3.905 Å) along [100]",
    "SrTiO3_110": "perovskite SrTiO3 (a 3.905 Å) along [110]",
    "Si_110": "diamond Si (a 5.431 Å) along [110] (dumbbells 1.36 Å)",
    "GaAs_110": "zincblende GaAs (a 5.653 Å) along [110]",
    "graphene": "one graphene layer (a 2.46 Å) along [0001]",
    "MoS2": "one 2H-MoS2 layer (a 3.16 Å) along [0001]",
    "NaCl_100": "rocksalt NaCl (a 5.64 Å) along [100]",
    "amorphous_C": "amorphous carbon (0.10 Å⁻³, closest distance 1.35 Å)",
    "vacuum": "no specimen: background with shot and read noise",
}

_CUBIC_DIRS = {"100": [[0, 1, 0], [0, 0, 1], [1, 0, 0]], "110": [[0, 0, 1], [1, -1, 0], [1, 1, 0]]}


def _perovskite(zone: str, a: float = 3.905) -> Atoms:
    from ase.lattice.cubic import SimpleCubicFactory

    class _Perovskite(SimpleCubicFactory):  # type: ignore[misc]
        bravais_basis: ClassVar[list[list[float]]] = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
        element_basis = (0, 1, 2, 2, 2)

    return _Perovskite()(directions=_CUBIC_DIRS[zone], size=(1, 1, 1), symbol=("Sr", "Ti", "O"), latticeconstant=a)


def _layer(positions: np.ndarray, symbols: list[str], cell_xy: tuple[float, float], vacuum: float) -> Atoms:
    """A periodic single layer in an orthogonal cell of (x, y) and ``vacuum`` [Å] along the beam."""
    from ase import Atoms

    pos = np.asarray(positions, float).copy()
    pos[:, 2] += vacuum / 2 - pos[:, 2].mean()
    return Atoms(symbols, positions=pos, cell=[cell_xy[0], cell_xy[1], vacuum], pbc=True)


def _graphene(a: float = 2.46, vacuum: float = 10.0) -> Atoms:
    """Rectangular cell (a, a√3) with four C atoms (armchair along y)."""
    b = a * np.sqrt(3)
    frac = np.array([[0, 0], [0.5, 1 / 6], [0.5, 0.5], [0, 2 / 3]])
    pos = np.c_[frac[:, 0] * a, frac[:, 1] * b, np.zeros(4)]
    return _layer(pos, ["C"] * 4, (a, b), vacuum)


def _mos2(a: float = 3.16, thickness: float = 3.17, vacuum: float = 12.0) -> Atoms:
    """Rectangular cell (a, a√3) of one 2H-MoS2 layer: 2 Mo, 4 S (S above and below each S site)."""
    b = a * np.sqrt(3)
    mo = np.array([[0, 0], [0.5, 0.5]])
    s = np.array([[0.5, 1 / 6], [0, 2 / 3]])
    pos = [[x * a, y * b, 0.0] for x, y in mo]
    pos += [[x * a, y * b, z] for x, y in s for z in (-thickness / 2, thickness / 2)]
    return _layer(np.array(pos), ["Mo"] * 2 + ["S"] * 4, (a, b), vacuum)


def ood_structure(name: str, *, seed: int = 0) -> Atoms:
    """The unit cell (or, for amorphous carbon, a 24 Å periodic box) of one out-of-domain structure.

    Parameters
    ----------
    name : str
        A key of :data:`OOD_STRUCTURES` other than ``"vacuum"``.
    seed : int
        Seed of the amorphous structure.

    Returns
    -------
    ase.Atoms
        Orthogonal, periodic; repeat it laterally and along the beam with ``atoms.repeat``.

    Raises
    ------
    ValueError
        For an unknown name or ``"vacuum"``.
    """
    if name not in OOD_STRUCTURES or name == "vacuum":
        known = ", ".join(k for k in OOD_STRUCTURES if k != "vacuum")
        raise ValueError(f"unknown out-of-domain structure {name!r}; choose one of: {known}")
    if name.startswith("SrTiO3_"):
        return _perovskite(name.split("_")[1])
    if name == "Si_110":
        from ase.lattice.cubic import Diamond

        return Diamond(symbol="Si", latticeconstant=5.431, directions=_CUBIC_DIRS["110"], size=(1, 1, 1))
    if name == "GaAs_110":
        from ase.lattice.compounds import B3

        return B3(symbol=("Ga", "As"), latticeconstant=5.653, directions=_CUBIC_DIRS["110"], size=(1, 1, 1))
    if name == "NaCl_100":
        from ase.lattice.compounds import B1

        return B1(symbol=("Na", "Cl"), latticeconstant=5.64, directions=_CUBIC_DIRS["100"], size=(1, 1, 1))
    if name == "graphene":
        return _graphene()
    if name == "MoS2":
        return _mos2()
    from .crystals import amorphous_cell

    return amorphous_cell(24.0, 24.0, symbol="C", density=0.10, min_distance=1.35, seed=seed)
