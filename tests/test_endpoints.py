"""Endpoint defaults in one place (issue 18): :mod:`aistem.core.protocol.endpoints` is the only code that spells
the default ports; ``config/default.toml`` spells the same values, and every command line shows them."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from aistem.config import default_config_text
from aistem.core.protocol import DEFAULT_CONTROL, DEFAULT_FRAMES, DEFAULT_RELAY, DEFAULT_RESULTS
from aistem.daemon.settings import DaemonSettings

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "aistem_core" / "protocol" / "endpoints.py"
PORTS = tuple(ep.rsplit(":", 1)[1] for ep in (DEFAULT_FRAMES, DEFAULT_RESULTS, DEFAULT_CONTROL, DEFAULT_RELAY))


def test_the_config_file_spells_the_codes_defaults():
    cfg = tomllib.loads(default_config_text())
    assert cfg["daemon"]["frames"] == DEFAULT_FRAMES
    assert cfg["daemon"]["results"] == DEFAULT_RESULTS
    assert cfg["daemon"]["control"] == DEFAULT_CONTROL
    assert cfg["replay"]["frames"] == DEFAULT_FRAMES


def test_the_daemon_settings_take_the_protocols_defaults():
    s = DaemonSettings()
    assert (s.frames, s.results, s.control) == (DEFAULT_FRAMES, DEFAULT_RESULTS, DEFAULT_CONTROL)


def _docstring_ids(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


@pytest.mark.parametrize("layer", ["aistem_core", "daemon", "gui", "cli", "training", "config"])
def test_no_other_code_spells_a_default_endpoint(layer):
    """String constants (docstrings, which show examples, aside) name no default port outside ``endpoints.py``."""
    wrong = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        if path == HOME:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstring_ids(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                if any(f"127.0.0.1:{port}" in node.value for port in PORTS):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not wrong, "\n".join(wrong)


def test_the_help_shows_the_defaults():
    from aistem.cli.main import build_parser

    text = {name: sub.format_help() for name, sub in _subparsers(build_parser()).items()}
    assert DEFAULT_FRAMES in text["replay"] and DEFAULT_FRAMES in text["record"]
    assert DEFAULT_RESULTS in text["view"] and DEFAULT_FRAMES in text["view"]
    assert DEFAULT_RELAY in text["relay"]


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    raise AssertionError("no subcommands")
