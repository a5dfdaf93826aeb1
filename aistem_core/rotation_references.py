"""Reference Bragg reflections of each class, and the rotational symmetry of each class's projection.

The references (:class:`RotationReferences`, shipped as ``models/rotation_references.json`` and built by
:mod:`aistem.training.rotation_refs`) are what :mod:`aistem.core.rotation` measures angles against and what
:mod:`aistem.core.domain` fits lattices with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .backend import asnumpy, get_array_module

__all__ = [
    "DEFAULT_REFERENCES",
    "RotationReferences",
    "as_references",
    "circular_difference",
    "default_references",
    "rotation_fold",
    "rotation_fraction",
    "rotation_period",
]

#: File of the shipped references (built by ``aistem.training.rotation_refs``).
DEFAULT_REFERENCES = Path(__file__).resolve().parent / "models" / "rotation_references.json"

_CUBIC = ("BCC", "FCC", "SC", "CUBIC", "DIAMOND")


def rotation_fold(class_name: str) -> int:
    """Rotational symmetry order n of a class's projection (its angles are taken modulo 360°/n).

    4 for cubic [100], 6 for cubic [111] and hexagonal [0001], 2 (the
    centrosymmetry of every power spectrum) for all other zone axes.  The
    class name is ``LATTICE_Element_ZONE`` (e.g. ``"FCC_Cu_100"``, ``"HCP_Ti_0001"``).

    Parameters
    ----------
    class_name : str

    Returns
    -------
    int
    """
    parts = class_name.upper().split("_")
    lattice, zone = parts[0], parts[-1]
    if lattice in _CUBIC and zone == "100":
        return 4
    if lattice in _CUBIC and zone == "111":
        return 6
    if zone == "0001":
        return 6
    return 2


def rotation_period(class_names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Symmetry period of every class [°], ndarray of shape (C,), float32 (90, 60 or 180)."""
    return np.asarray([360.0 / rotation_fold(n) for n in class_names], dtype=np.float32)


def rotation_fraction(angles: Any, classes: Any, class_names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Angles as a fraction of their class's symmetry period, in [0, 1): one cyclic colour scale for mixed classes.

    Parameters
    ----------
    angles : ndarray, any shape
        Rotations [°] (NaN kept).
    classes : ndarray, same shape, int
        Class index of each angle.
    class_names : list of str

    Returns
    -------
    ndarray, same shape, float32
    """
    a = np.asarray(asnumpy(angles), np.float32)
    period = rotation_period(class_names)[np.asarray(asnumpy(classes), np.int64)]
    return (np.mod(a, period) / period).astype(np.float32)


def circular_difference(a: Any, b: Any, period: Any) -> Any:
    """Signed difference a − b wrapped into [−period/2, period/2) [°] (NumPy or CuPy, broadcast)."""
    xp = get_array_module(a)
    return xp.mod(xp.asarray(a) - b + 0.5 * period, period) - 0.5 * period


@dataclass
class RotationReferences:
    """Reference Bragg reflections of each class.

    Attributes
    ----------
    class_names : list of str
    fold : ndarray of shape (C,), int64
        Rotational symmetry order of each class's projection.
    peaks : ndarray of shape (C, K, 2), float32
        Reflections (q_row, q_col) [Å⁻¹], one of each Friedel pair, strongest first;
        rows beyond a class's count are zero.
    weights : ndarray of shape (C, K), float32
        Relative Fourier amplitude of each reflection (strongest 1; 0 = padding).
    meta : dict
        Provenance (simulation settings, date, …).
    """

    class_names: list[str]
    fold: np.ndarray
    peaks: np.ndarray
    weights: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fold = np.asarray(self.fold, dtype=np.int64)
        self.peaks = np.asarray(self.peaks, dtype=np.float32)
        self.weights = np.asarray(self.weights, dtype=np.float32)
        c = len(self.class_names)
        if (
            self.fold.shape != (c,)
            or self.peaks.ndim != 3
            or self.peaks.shape[::2] != (c, 2)
            or self.weights.shape != self.peaks.shape[:2]
        ):
            raise ValueError(
                f"inconsistent rotation references: {c} classes, fold {self.fold.shape}, "
                f"peaks {self.peaks.shape}, weights {self.weights.shape}"
            )

    def index(self, class_name: str) -> int | None:
        """Row of a class, or None when it has no reference."""
        try:
            return self.class_names.index(class_name)
        except ValueError:
            return None

    def reference(self, class_name: str) -> tuple[np.ndarray, np.ndarray, int] | None:
        """(peaks (K, 2) [Å⁻¹], weights (K,), fold) of a class without padding, or None."""
        i = self.index(class_name)
        if i is None:
            return None
        keep = self.weights[i] > 0
        return self.peaks[i][keep], self.weights[i][keep], int(self.fold[i])

    def to_dict(self) -> dict[str, Any]:
        classes = {}
        for i, name in enumerate(self.class_names):
            keep = self.weights[i] > 0
            classes[name] = {
                "fold": int(self.fold[i]),
                "peaks": [[round(float(v), 6) for v in p] for p in self.peaks[i][keep]],
                "weights": [round(float(v), 6) for v in self.weights[i][keep]],
            }
        return {
            "format": "aistem-rotation-references",
            "version": 1,
            "units": "1/Angstrom, (row, col)",
            "meta": self.meta,
            "classes": classes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RotationReferences:
        if d.get("format") != "aistem-rotation-references":
            raise ValueError("not an AI-STEM rotation-reference file (format key missing)")
        names = list(d["classes"])
        k = max((len(c["weights"]) for c in d["classes"].values()), default=0)
        peaks = np.zeros((len(names), k, 2), np.float32)
        weights = np.zeros((len(names), k), np.float32)
        fold = np.zeros(len(names), np.int64)
        for i, name in enumerate(names):
            c = d["classes"][name]
            n = len(c["weights"])
            if n:
                peaks[i, :n] = np.asarray(c["peaks"], np.float32).reshape(n, 2)
                weights[i, :n] = np.asarray(c["weights"], np.float32)
            fold[i] = int(c["fold"])
        return cls(names, fold, peaks, weights, dict(d.get("meta", {})))

    def save(self, path: str | Path) -> Path:
        """Write the references as JSON (a few kB)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> RotationReferences:
        """Read references written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"rotation reference file not found: {path}")
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not a rotation-reference file: {exc}") from exc
        return cls.from_dict(d)


@lru_cache(maxsize=1)
def default_references() -> RotationReferences:
    """The shipped references (``aistem_core/models/rotation_references.json``), cached."""
    return RotationReferences.load(DEFAULT_REFERENCES)


def as_references(references: RotationReferences | str | Path | None) -> RotationReferences:
    """``references`` as :class:`RotationReferences`: None → the shipped ones, a path → loaded."""
    if references is None:
        return default_references()
    if isinstance(references, RotationReferences):
        return references
    return RotationReferences.load(references)
