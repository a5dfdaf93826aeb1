"""Length units as microscope software spells them, and what an axis's unit says about the signal."""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["AXIS_KINDS", "angstrom_per_unit", "axis_kind", "normalise_unit", "to_angstrom"]

#: [Å] per unit, keyed by the normalised spelling (:func:`normalise_unit`).
_ANGSTROM = {
    "å": 1.0,
    "a": 1.0,
    "angstrom": 1.0,
    "angstroms": 1.0,
    "ang": 1.0,
    "nm": 10.0,
    "nanometer": 10.0,
    "nanometers": 10.0,
    "nanometre": 10.0,
    "µm": 1e4,
    "um": 1e4,
    "micron": 1e4,
    "microns": 1e4,
    "micrometer": 1e4,
    "pm": 0.01,
    "mm": 1e7,
    "cm": 1e8,
    "m": 1e10,
    "meter": 1e10,
    "metre": 1e10,
}
_ENERGY = {"ev", "kev", "mev", "energy", "ev/channel"}
_ANGLE = {"rad", "mrad", "µrad", "urad", "deg", "°"}
_TIME = {"s", "ms", "µs", "us", "ns", "sec", "seconds", "min", "h"}
_UNKNOWN = {"", "[]", "px", "pixel", "pixels", "<undefined>", "undefined", "none", "t.u.", "a.u.", "au", "arb"}

#: What an axis is, from its unit: ``length``, ``reciprocal`` (1/length, angle: a diffraction pattern), ``energy``
#: (a spectrum), ``time``, ``unknown`` (no unit) or ``other``.
AXIS_KINDS = ("length", "reciprocal", "energy", "time", "unknown", "other")


def normalise_unit(units: Any) -> str:
    """One spelling per unit: lower case, no spaces or underscores, µ for Greek mu and micro, Å for the Ångström sign.

    ``"n_m"`` → ``"nm"``, ``"1 / nm"`` → ``"1/nm"``, ``"μm"`` → ``"µm"``, ``"Å"`` (U+212B) → ``"å"``, None → ``""``.
    """
    u = str(units if units is not None else "").strip()
    u = u.replace("\u212b", "\u00c5").replace("\u03bc", "\u00b5").replace("ångström", "angstrom").replace("Ångström", "angstrom")
    u = re.sub(r"[\s_]+", "", u).lower()
    return u


def angstrom_per_unit(units: Any) -> float | None:
    """[Å] per ``units`` for a length unit, else None."""
    return _ANGSTROM.get(normalise_unit(units))


def axis_kind(units: Any) -> str:
    """One of :data:`AXIS_KINDS` for an axis with these units."""
    u = normalise_unit(units)
    if u in _ANGSTROM:
        return "length"
    if u in _UNKNOWN:
        return "unknown"
    if u.startswith("1/") or u.endswith("^-1") or u.endswith("-1") or u in _ANGLE or u == "q":
        return "reciprocal"
    if u in _ENERGY or u.endswith("ev"):
        return "energy"
    if u in _TIME:
        return "time"
    return "other"


def to_angstrom(scale: Any, units: Any) -> float | None:
    """The pixel size [Å/px] of an axis with this scale and unit; None when the unit is not a length (or missing)."""
    try:
        s = float(scale)
    except (TypeError, ValueError):
        return None
    factor = angstrom_per_unit(units)
    if factor is None or not math.isfinite(s) or s <= 0:
        return None
    return s * factor
