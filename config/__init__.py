"""Default settings (``default.toml``) and how to read them with overrides."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["default_config_text", "load_config"]


def default_config_text() -> str:
    """The commented default configuration file."""
    return resources.files(__name__).joinpath("default.toml").read_text(encoding="utf-8")


def _merge(base: dict[str, Any], over: dict[str, Any], where: str = "") -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if key not in base:
            raise ValueError(f"unknown setting {where}{key!r} in the configuration file")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"setting {where}{key!r} must be a table")
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Defaults from ``default.toml``, updated by the TOML file ``path`` if given.

    Raises
    ------
    ValueError
        For a file that is not TOML or sets a key that does not exist.
    """
    cfg = tomllib.loads(default_config_text())
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"configuration file not found: {p}")
        try:
            user = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{p} is not valid TOML: {exc}") from exc
        cfg = _merge(cfg, user)
    return cfg
