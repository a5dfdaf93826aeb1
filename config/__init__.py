"""The one configuration loader of AI-STEM live: defaults, a user file, command-line options.

Every command reads its settings with :func:`load_config` from one of the commented default files of
this package (``default.toml`` for the daemon, viewer and ``analyze``; ``simulate.toml`` for the
simulator; ``train.toml`` for training and evaluation).

Merge rule
----------
Three layers, later ones win, key by key:

1. the defaults (``<name>.toml`` of this package);
2. the user's TOML file (``--config FILE``), which may set any subset of the tables and keys of the
   defaults;
3. the command-line options, given as ``{table: {key: value}}``; a value of None means "option not
   given" and leaves the key as it is.

Tables merge recursively; any other value (numbers, strings, lists) is replaced whole. A table or key
that the defaults do not have is an error (``ValueError`` naming it), as is a scalar given where the
defaults have a table. The defaults are therefore also the list of every setting that exists.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

__all__ = ["default_config_text", "load_config", "merge_config"]


def default_config_text(name: str = "default") -> str:
    """The commented default configuration file ``<name>.toml`` of this package.

    Parameters
    ----------
    name : str
        ``"default"``, ``"simulate"`` or ``"train"``.
    """
    return resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def merge_config(base: dict[str, Any], over: dict[str, Any], where: str = "") -> dict[str, Any]:
    """``base`` updated by ``over`` with the merge rule of this module (a new dict; inputs untouched).

    Raises
    ------
    ValueError
        For a key of ``over`` that ``base`` lacks, or a scalar where ``base`` has a table.
    """
    out = copy.deepcopy(base)
    for key, value in over.items():
        if key not in base:
            raise ValueError(f"unknown setting {where + key!r} (known: {', '.join(base)})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"setting {where + key!r} must be a table")
            out[key] = merge_config(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def _read_user_file(path: str | PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"configuration file not found: {p}")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{p} is not valid TOML: {exc}") from exc


def load_config(
    path: str | PathLike[str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    *,
    name: str = "default",
) -> dict[str, Any]:
    """Defaults ``<name>.toml``, then the TOML file ``path``, then ``overrides`` (see the merge rule above).

    Parameters
    ----------
    path : path, optional
        A TOML file with some of the tables/keys of the defaults.
    overrides : dict, optional
        ``{table: {key: value}}`` from the command line; entries whose value is None are ignored.
    name : str
        Which defaults: ``"default"``, ``"simulate"`` or ``"train"``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For a file that is not TOML, or an unknown table or key.
    """
    cfg = tomllib.loads(default_config_text(name))
    if path is not None:
        try:
            cfg = merge_config(cfg, _read_user_file(path))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from None
    if overrides:
        clean = {t: {k: v for k, v in kv.items() if v is not None} for t, kv in overrides.items()}
        cfg = merge_config(cfg, {t: kv for t, kv in clean.items() if kv})
    return cfg
