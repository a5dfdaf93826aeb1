"""Settings of the simulator: ``config/simulate.toml`` (package ``aistem.config``), a user file, overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aistem.config import default_config_text, load_config

from .haadf import ProbeSettings, SimulationSettings

__all__ = ["default_simulate_config_text", "load_simulate_config", "simulation_settings"]


def default_simulate_config_text() -> str:
    """The commented default file ``simulate.toml``."""
    return default_config_text("simulate")


def load_simulate_config(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The simulator settings: ``simulate.toml``, then the file ``path``, then ``overrides``.

    The merge rule is the one of :mod:`aistem.config` (:func:`aistem.config.load_config`).

    Raises
    ------
    ValueError
        For a file that is not TOML, or an unknown table or key.
    FileNotFoundError
        If ``path`` does not exist.
    """
    return load_config(path, overrides, name="simulate")


def simulation_settings(cfg: dict[str, Any]) -> SimulationSettings:
    """:class:`SimulationSettings` from the ``[simulation]`` table of a configuration."""
    s = cfg["simulation"] if "simulation" in cfg else cfg
    probe = ProbeSettings(
        energy=float(s["energy"]),
        semiangle=float(s["semiangle"]),
        focal_spread=float(s["focal_spread"]),
        focal_spread_model=str(s["focal_spread_model"]),
    )
    return SimulationSettings(
        method=str(s["method"]),
        sampling=float(s["sampling"]),
        parametrization=str(s["parametrization"]),
        probe=probe,
        detector=(float(s["detector"][0]), float(s["detector"][1])),
        scan_sampling=float(s["scan_sampling"]),
        frozen_phonons=int(s["frozen_phonons"]),
        phonon_sigma=float(s["phonon_sigma"]),
        slice_thickness=float(s["slice_thickness"]),
    )
