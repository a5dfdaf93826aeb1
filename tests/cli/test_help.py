"""Every ``aistem`` command's ``--help``: plain text (no reStructuredText or Markdown markup), every subcommand
listed in its parent's help, and ``--quiet`` on every long command."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from aistem.cli.main import build_parser, main

#: Commands that run long enough to print progress (or run until stopped): each has --quiet.
LONG_COMMANDS = [
    "analyze",
    "demo",
    "serve",
    "replay",
    "record",
    "relay",
    "view",
    "simulate dataset",
    "simulate scene polycrystal",
    "simulate scene bicrystal",
    "simulate series",
    "train",
    "train search",
    "train select",
    "evaluate",
    "embed",
]

#: Markup that reads as noise in a terminal: reST literals, roles and directives, Markdown bold, tables.
MARKUP = [
    ("``", re.compile(r"``")),
    ("**", re.compile(r"\*\*")),
    ("a reST role", re.compile(r":(func|mod|class|meth|data|attr|ref|doc|obj):`")),
    ("a reST directive", re.compile(r"^\s*\.\. \w+", re.M)),
    ("a table row", re.compile(r"^\s*\|.*\|\s*$", re.M)),
    ("a table rule", re.compile(r"^\s*\|?\s*-{3,}\s*\|", re.M)),
]


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path below ``parser``, depth first."""
    out: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((*prefix, name))
                out += _commands(sub, (*prefix, name))
    return out


COMMANDS = _commands(build_parser())


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_every_command_is_found() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"analyze", "demo", "serve", "view", "train calibrate", "simulate scene bicrystal"} <= names
    assert set(LONG_COMMANDS) <= names


@pytest.mark.parametrize("command", [" ".join(c) for c in [(), *COMMANDS]], ids=lambda c: c or "aistem")
def test_help_is_plain_text_and_lists_every_subcommand(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = command.split()
    text = _help(argv, capsys)
    for what, pattern in MARKUP:
        found = pattern.search(text)
        assert found is None, f"`aistem {command} --help` shows {what}: {found.group(0)!r}"
    below = [c[-1] for c in COMMANDS if list(c[:-1]) == argv]
    for name in below:
        assert re.search(rf"^\s+{re.escape(name)}\b", text, re.M), f"`aistem {command} --help` does not list {name}"


@pytest.mark.parametrize("command", LONG_COMMANDS)
def test_every_long_command_has_quiet(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert re.search(r"^\s+--quiet\b", _help(command.split(), capsys), re.M)


def test_bare_train_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) == 2
    text = capsys.readouterr().out
    for name in ("search", "select", "calibrate"):
        assert re.search(rf"^\s+{name}\b", text, re.M), name


def test_simulate_dataset_keeps_no_progress_as_a_hidden_alias(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["simulate", "dataset", "--no-progress"])
    assert args.quiet is True
    assert "--no-progress" not in _help(["simulate", "dataset"], capsys)


PARSER_IMPORTS = """
import sys
from aistem.cli.main import main
rc = main(sys.argv[1:])
print("RC", rc, "LOADED", [m for m in ("aistem.cli.info", "aistem.daemon.commands", "aistem.daemon.relay", "zmq",
      "aistem.training.commands", "aistem.training.embed", "aistem.gui.commands") if m in sys.modules])
"""


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [
        (["analyze", "missing.dm4"], "[]"),
        (["info", "missing.dm4"], "['aistem.cli.info']"),
    ],
)
def test_a_command_imports_only_the_subcommand_modules_up_to_its_own(tmp_path, argv, loaded):
    """`aistem analyze`/`info` do not import the daemon's, the GUI's or training's subcommand modules (pyzmq, …)."""
    out = subprocess.run([sys.executable, "-c", PARSER_IMPORTS, *argv], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)  # fmt: skip
    assert f"RC 2 LOADED {loaded}" in out.stdout, out.stdout + out.stderr
    assert "no such image file" in out.stderr


def test_help_and_an_unknown_command_still_list_every_subcommand():
    full = build_parser().format_help()
    assert all(c in full for c in ("analyze", "info", "serve", "replay", "simulate", "train"))
    out = subprocess.run([sys.executable, "-m", "aistem.cli", "no-such-command"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "'replay'" in out.stderr and "'train'" in out.stderr, out.stderr
