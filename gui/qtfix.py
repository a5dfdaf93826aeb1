"""Guard against a reference-count bug of PySide6 6.12 on Python 3.11.

PySide6-Essentials 6.12.0 returns ``None`` (from every C++ ``void`` method) and ``True`` (from some virtual
overrides) without taking a reference. On Python ≥ 3.12 these objects are immortal and nothing happens; on
Python 3.11 their reference counts fall with every call, and the process aborts with "Fatal Python error:
none_dealloc" after a few hundred redraws (about half a minute of live viewing).

:func:`guard_refcount_bug` detects the bug by measurement (not by version number) and, only where it is present,
makes ``None``, ``True`` and ``False`` effectively immortal as Python 3.12 does, by raising their reference counts
by 2⁴⁰. The real fix is a PySide6 without the bug: ``pip install "PySide6-Essentials<6.12"``.
"""

from __future__ import annotations

import ctypes
import logging
import sys

__all__ = ["guard_refcount_bug", "quiet_qt_messages"]

log = logging.getLogger(__name__)

_state: dict[str, bool] = {}


def _leaks_none() -> bool:
    from pyqtgraph.Qt import QtCore

    o = QtCore.QObject()
    before = sys.getrefcount(None)
    for _ in range(200):
        o.setObjectName("probe")  # a C++ void method: returns None
    return before - sys.getrefcount(None) >= 100


def guard_refcount_bug() -> bool:
    """Detect the PySide6 None/True reference leak and neutralise it; True if it was found (once per process)."""
    if "found" in _state:
        return _state["found"]
    found = False
    if sys.implementation.name == "cpython" and sys.version_info < (3, 12):
        from pyqtgraph.Qt import QT_LIB

        if QT_LIB == "PySide6" and _leaks_none():
            found = True
            for obj in (None, True, False):
                ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40  # ob_refcnt is the first field
            import PySide6

            log.warning(
                "PySide6 %s leaks references to None/True on Python %d.%d (it would crash the viewer after a few "
                "hundred redraws); worked around. Fix: pip install 'PySide6-Essentials<6.12'",
                PySide6.__version__,
                *sys.version_info[:2],
            )
    _state["found"] = found
    return found


#: Qt messages that say nothing to the user (the offscreen platform cannot resize native windows).
QT_NOISE = ("propagateSizeHints",)


def quiet_qt_messages() -> None:
    """Keep Qt's own noise (:data:`QT_NOISE`) off the console; other Qt messages go to the log."""
    if _state.get("quiet"):
        return
    from pyqtgraph.Qt import QtCore

    def handler(mode: object, context: object, message: str) -> None:
        if any(n in message for n in QT_NOISE):
            return
        log.warning("Qt: %s", message)

    QtCore.qInstallMessageHandler(handler)
    _state["quiet"] = True
