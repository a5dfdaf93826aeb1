"""RosettaSciIO's NCEM (EMD) reader without pint, for the unit spellings whose pint spelling is known.

The NCEM reader asks pint only to spell the ``units`` attribute of each axis (``_UREG.parse_units(text)`` then
``f"{units:~}"``), but building pint's registry costs ≈ 0.7 s of CPU (and pint imports dask), more than reading the
file. While :func:`known_units` is active, ``rsciio.utils._units`` is a stand-in whose ``_UREG`` answers from
:data:`PINT_SPELLING` (each entry checked against pint by the tests) and loads the real registry for any other text,
so the reader returns what it returns with pint. Velox files, whose reader converts units with pint, are read as
before.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any

__all__ = ["PINT_SPELLING", "known_units"]

_MODULE = "rsciio.utils._units"

#: ``f"{_UREG.parse_units(text):~}"`` for the unit texts NCEM/py4DSTEM files hold (after the reader's own clean-up of
#: ``[n_m]`` to ``nm``); None where pint cannot parse the text (the reader then keeps it as written).
PINT_SPELLING: dict[str, str | None] = {
    "": "",
    "1": "",
    "[]": None,
    "m": "m",
    "mm": "mm",
    "um": "µm",
    "µm": "µm",
    "nm": "nm",
    "Å": "Å",
    "pm": "pm",
    "1/m": "1 / m",
    "1/nm": "1 / nm",
    "nm^-1": "1 / nm",
    "1/Å": "1 / Å",
    "Å^-1": "1 / Å",
    "1/pm": "1 / pm",
    "pm^-1": "1 / pm",
    "rad": "rad",
    "mrad": "mrad",
    "eV": "eV",
    "keV": "keV",
    "s": "s",
    "ms": "ms",
    "us": "µs",
    "ns": "ns",
    "px": "px",
    "pixel": "pixel",
}


class _Spelled:
    """What ``parse_units`` returns here: formats as pint's short spelling."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __format__(self, spec: str) -> str:
        return self.text


def _real() -> types.ModuleType:
    sys.modules.pop(_MODULE, None)  # the real module (pint's registry) from now on
    return importlib.import_module(_MODULE)


def _anything_else(name: str) -> Any:
    """Any other name of the module (``convert_units`` …) is the real one's; the import system's questions
    (``__path__`` …) are answered here."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_real(), name)


class _KnownUnits:
    """A stand-in for pint's ``UnitRegistry`` that knows :data:`PINT_SPELLING` and asks pint about anything else."""

    def parse_units(self, text: str) -> Any:
        if text in PINT_SPELLING:
            spelled = PINT_SPELLING[text]
            if spelled is None:
                raise ValueError(f"pint does not parse {text!r}")
            return _Spelled(spelled)
        return _real()._UREG.parse_units(text)


def _is_velox(path: str) -> bool:
    try:
        from rsciio.emd._api import is_EMD_Velox

        return bool(is_EMD_Velox(path))
    except Exception:  # the reader reports what is wrong with the file
        return True


@contextlib.contextmanager
def known_units(path: str) -> Iterator[None]:
    """While RosettaSciIO's EMD reader reads the NCEM file ``path``, pint is loaded only for units not in the table."""
    if _MODULE in sys.modules or "pint" in sys.modules or _is_velox(path):
        yield
        return
    stand_in = types.ModuleType(_MODULE, __doc__)
    stand_in._UREG = _KnownUnits()  # type: ignore[attr-defined]
    stand_in.__getattr__ = _anything_else  # type: ignore[method-assign]
    sys.modules[_MODULE] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(_MODULE) is stand_in:
            del sys.modules[_MODULE]
