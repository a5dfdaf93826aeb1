"""Where the data shipped with the package lies (the sample frame series), found without importing the package
that holds it: the daemon and the viewer may use a sample without depending on ``aistem.training``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["SAMPLE_SERIES", "sample_series_path"]

#: The shipped sample series: (package, file inside it). Made by ``aistem simulate series``.
SAMPLE_SERIES = ("aistem.training", "data/sample_series.npz")


def sample_series_path() -> Path | None:
    """The shipped sample series (``training/data/sample_series.npz``), or None where it is not installed.

    The file is located through the import system's search path (``importlib.util.find_spec``), which finds the
    package's folder without running its code.
    """
    package, name = SAMPLE_SERIES
    try:
        spec = importlib.util.find_spec(package)
    except (ModuleNotFoundError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        p = Path(folder) / name
        if p.is_file():
            return p
    return None
