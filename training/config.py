"""Settings of the simulator: ``config/simulate.toml`` (package ``aistem.config``), a user file, overrides."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from .haadf import ProbeSettings, SimulationSettings

__all__ = ["default_simulate_config_text", "load_simulate_config", "simulation_settings"]


def default_simulate_config_text() -> str:
    """The commented default file ``simulate.toml``."""
    return resources.files("aistem.config").joinpath("simulate.toml").read_text(encoding="utf-8")


def _merge(base: dict[str, Any], over: dict[str, Any], where: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if key not in base:
            raise ValueError(f"unknown setting {where}{key!r} (known: {', '.join(base)})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"setting {where}{key!r} must be a table")
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def load_simulate_config(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The simulator settings: defaults, then the TOML file ``path``, then ``overrides``.

    Parameters
    ----------
    path : path, optional
        A TOML file with some of the tables/keys of ``simulate.toml``.
    overrides : dict, optional
        ``{table: {key: value}}``; entries whose value is None are ignored
        (an option not given on the command line).

    Raises
    ------
    ValueError
        For a file that is not TOML, or an unknown table or key.
    FileNotFoundError
        If ``path`` does not exist.
    """
    cfg = tomllib.loads(default_simulate_config_text())
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"configuration file not found: {p}")
        try:
            user = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{p} is not valid TOML: {exc}") from exc
        cfg = _merge(cfg, user)
    if overrides:
        clean = {t: {k: v for k, v in kv.items() if v is not None} for t, kv in overrides.items()}
        cfg = _merge(cfg, {t: kv for t, kv in clean.items() if kv})
    return cfg


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
