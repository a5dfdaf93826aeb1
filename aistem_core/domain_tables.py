"""Per-class tables of the domain check (:mod:`aistem.core.domain`): reference lattice constants, trained ranges.

For every class: its reference reflections (:mod:`aistem.core.rotation`'s references) in Fourier bins with their
Friedel mates, the pairs of reflections that anchor the fit's hypotheses, the axes along which its lattice
constants are measured (a, and c for hcp [10-10] and [2-1-10]), and the lattice-constant ranges it was trained for.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import ModuleType
from typing import Any

import numpy as np

from .rotation_references import RotationReferences

__all__ = [
    "HYPOTHESIS_REFLECTIONS",
    "PAPER_DELTA",
    "REFERENCE_LATTICE",
    "ClassTables",
    "TrainingDomain",
    "build_tables",
    "cached_tables",
    "class_axes",
    "reference_lattice",
]

#: Lattice constants [Å] of the crystals the shipped rotation references were simulated from
#: (:mod:`aistem.training.crystals`), by class prefix ``LATTICE_Element``.
REFERENCE_LATTICE: dict[str, dict[str, float]] = {
    "BCC_Fe": {"a": 2.87},
    "FCC_Cu": {"a": 3.63},
    "HCP_Ti": {"a": 2.95, "c": 4.68},
}
#: Half-width of the lattice-constant range of the paper's recipe [Å] (used when a model has no training domain).
PAPER_DELTA = 0.1
#: Reference reflections (strongest first) paired into hypotheses.
HYPOTHESIS_REFLECTIONS = 8


@dataclass(frozen=True)
class TrainingDomain:
    """Lattice-constant ranges the model was trained for.

    Attributes
    ----------
    lattice : dict
        class name → {"a": (min, max)} [Å] (and "c" [Å] and "c/a" for hcp; "c/a" defaults to the widest ratio the
        a and c ranges allow, and to the class's own c/a in the paper's recipe).
    source : str
        ``"model"`` (from its metadata) or ``"paper recipe"`` (the class's own constant ± 0.1 Å).
    """

    lattice: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    source: str = "paper recipe"

    @classmethod
    def from_model_info(cls, extra: dict[str, Any] | None, class_names: list[str] | tuple[str, ...]) -> TrainingDomain:
        """From ``extra["training_domain"]["lattice_constants"]`` of a model's info; else the paper's recipe.

        Classes missing from the metadata fall back to the paper's recipe one by one.
        """
        given = ((extra or {}).get("training_domain") or {}).get("lattice_constants") or {}
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for name in class_names:
            entry = given.get(name)
            if entry:
                out[name] = {k: (float(v[0]), float(v[1])) for k, v in entry.items() if k in ("a", "c", "c/a")}
                if "a" in out[name] and "c" in out[name] and "c/a" not in out[name]:
                    (a0, a1), (c0, c1) = out[name]["a"], out[name]["c"]
                    out[name]["c/a"] = (c0 / a1, c1 / a0)
                continue
            ref = reference_lattice(name)
            if ref:  # the paper's recipe: a ± 0.1 Å, c scaled with a (c/a fixed)
                out[name] = {k: (v - PAPER_DELTA * v / ref["a"], v + PAPER_DELTA * v / ref["a"]) for k, v in ref.items()}
                if "c" in ref:
                    out[name]["c/a"] = (ref["c"] / ref["a"], ref["c"] / ref["a"])
        return cls(out, "model" if given else "paper recipe")


def reference_lattice(class_name: str) -> dict[str, float] | None:
    """Lattice constants [Å] of the crystal a class's reference pattern was simulated from, or None."""
    parts = class_name.split("_")
    return REFERENCE_LATTICE.get("_".join(parts[:2])) if len(parts) >= 2 else None


@dataclass(frozen=True)
class ClassTables:
    g: np.ndarray  # (C, K2, 2) reference reflections and their Friedel mates [bins]
    g_ok: np.ndarray  # (C, K2) bool
    hyp_inv: np.ndarray  # (C, H, 2, 2) inverse of [g_i g_j] (columns)
    hyp_ok: np.ndarray  # (C, H) bool
    axes: np.ndarray  # (C, 2, 2) columns e1, e2 (unit vectors, reference frame)
    iso: np.ndarray  # (C,) bool: one lattice constant, similarity maps only
    ratio: np.ndarray  # (C, 2) trained c/a range (hcp non-basal zones; 0, inf otherwise)
    x0: np.ndarray  # (C, 2) reference constants along e1, e2 [Å]
    lo: np.ndarray  # (C, 2) trained range along e1, e2 [Å]
    hi: np.ndarray  # (C, 2)
    usable: np.ndarray  # (C,) bool: class has references and a training range


def class_axes(peaks: np.ndarray, ref: dict[str, float], name: str) -> tuple[np.ndarray, bool]:
    """(e1, e2) as columns, and whether the class is isotropic (cubic, hcp [0001])."""
    if "c" not in ref or name.endswith("_0001"):
        return np.eye(2), True
    q = np.hypot(peaks[:, 0], peaks[:, 1])
    k = int(np.argmin(np.abs(q - 2.0 / ref["c"])))
    if abs(q[k] - 2.0 / ref["c"]) > 0.03 * q[k]:
        return np.eye(2), True
    ec = peaks[k] / q[k]
    return np.stack([np.array([-ec[1], ec[0]]), ec], axis=1), False


def build_tables(
    class_names: tuple[str, ...], refs: RotationReferences, domain: TrainingDomain, scale: float, q_hi: float
) -> ClassTables:
    c = len(class_names)
    k2 = 2 * refs.peaks.shape[1]
    nh = HYPOTHESIS_REFLECTIONS * 2 * (HYPOTHESIS_REFLECTIONS - 1)
    t = ClassTables(
        np.zeros((c, k2, 2), np.float32), np.zeros((c, k2), bool), np.zeros((c, nh, 2, 2), np.float32),
        np.zeros((c, nh), bool), np.tile(np.eye(2, dtype=np.float32), (c, 1, 1)), np.ones(c, bool),
        np.tile(np.array([0.0, np.inf], np.float32), (c, 1)),
        np.ones((c, 2), np.float32), np.zeros((c, 2), np.float32), np.zeros((c, 2), np.float32), np.zeros(c, bool),
    )  # fmt: skip
    for ci, name in enumerate(class_names):
        ref, lat, rng = refs.reference(name), reference_lattice(name), domain.lattice.get(name)
        if ref is None or lat is None or not rng or "a" not in rng:
            continue
        peaks = ref[0].astype(np.float64)
        peaks = peaks[np.hypot(peaks[:, 0], peaks[:, 1]) * scale <= 1.35 * q_hi]  # beyond any trained scale's reach
        if len(peaks) < 2:  # windows too coarse for this class's pattern: judged on "no lattice" only
            continue
        g = peaks * scale
        t.g[ci, : 2 * len(g)] = np.concatenate([g, -g])
        t.g_ok[ci, : 2 * len(g)] = True
        axes, iso = class_axes(peaks, lat, name)
        t.axes[ci], t.iso[ci] = axes, iso
        use_c = not iso and "c" in rng
        t.x0[ci] = (lat["a"], lat["c"] if use_c else lat["a"])
        t.lo[ci] = (rng["a"][0], rng["c"][0] if use_c else rng["a"][0])
        t.hi[ci] = (rng["a"][1], rng["c"][1] if use_c else rng["a"][1])
        if use_c and "c/a" in rng:
            t.ratio[ci] = rng["c/a"]
        strong = [i for i in range(len(g)) if 2.0 <= np.hypot(*g[i]) <= 1.25 * q_hi][:HYPOTHESIS_REFLECTIONS]
        h = 0
        for i in strong:
            for j in strong:
                for sign in (1.0, -1.0):
                    if i == j:
                        continue
                    gm = np.stack([g[i], sign * g[j]], axis=1)
                    det = np.linalg.det(gm)
                    if abs(det) > 0.25 * np.hypot(*g[i]) * np.hypot(*g[j]):
                        t.hyp_inv[ci, h] = np.linalg.inv(gm)
                        t.hyp_ok[ci, h] = True
                    h += 1
        t.usable[ci] = bool(t.hyp_ok[ci].any())
    return t


_TABLE_CACHE: dict[Any, dict[str, Any]] = {}


def cached_tables(
    names: tuple[str, ...], refs: RotationReferences, domain: TrainingDomain, scale: float, q_hi: float, xp: ModuleType
) -> dict[str, Any]:
    """:func:`build_tables` as arrays of ``xp``, cached per (classes, references, domain, geometry)."""
    key = (names, id(refs), repr(sorted(domain.lattice.items())), round(scale, 6), round(q_hi, 6), xp.__name__)
    tab = _TABLE_CACHE.get(key)
    if tab is None:
        t = build_tables(names, refs, domain, scale, q_hi)
        tab = {f.name: xp.asarray(getattr(t, f.name)) for f in fields(t)}
        if len(_TABLE_CACHE) > 16:
            _TABLE_CACHE.clear()
        _TABLE_CACHE[key] = tab
    return tab
