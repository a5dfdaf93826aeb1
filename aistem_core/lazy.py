"""Names of a package imported on first use (PEP 562): the package stays cheap to import."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, table: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``table[name]`` (a module relative to ``package``) on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    table : dict of str to str
        Name → relative module that defines it (``".analysis"``).
    namespace : dict
        The package's ``globals()``: a name, once imported, is kept there (later lookups are plain).
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            value = getattr(importlib.import_module(table[name], package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
