"""One table of daemon settings (issue 18): the command line, control ``set``, the config file and the status are
derived from :data:`aistem.daemon.settings.SETTINGS`, and no other module spells a setting out."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from aistem.cli.main import build_parser
from aistem.config import default_config_text
from aistem.daemon.commands import serve_settings
from aistem.daemon.settings import RANGES, SETTABLE, SETTINGS, DaemonSettings, settable_values, status_ranges

DAEMON = Path(__file__).resolve().parents[2] / "daemon"


def _example(st) -> str:
    if st.choices:
        return st.choices[-1]
    if st.range is not None:
        return str(int(st.range.high) if st.range.whole else st.range.high)
    return "x://y" if st.metavar == "ENDPOINT" else "somewhere"


@pytest.mark.parametrize("st", SETTINGS, ids=lambda st: st.name)
def test_every_setting_reaches_argparse_and_the_config(st):
    cfg = tomllib.loads(default_config_text())
    table = cfg
    for part in st.section.split("."):
        table = table[part]
    assert st.key in table, f"[{st.section}] {st.key} missing from config/default.toml"
    args = [st.option] if st.kind is bool else [st.option, _example(st)]
    parsed = build_parser().parse_args(["serve", *args])
    assert getattr(parsed, st.dest) is not None
    if st.kind is not bool and st.metavar != "ENDPOINT" and st.name not in ("model", "save"):
        assert serve_settings(parsed) is not None and st.get(serve_settings(parsed)) is not None
    if st.range is not None:
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", st.option, str(st.range.high * 2 + 1)])


def test_settable_settings_are_control_set_and_status():
    s = DaemonSettings()
    assert set(settable_values(s)) == set(SETTABLE) == {st.name for st in SETTINGS if st.settable}
    assert set(status_ranges()) == {n for n in RANGES if not n.startswith("limits.")}
    for st in SETTINGS:
        if st.settable and st.range is not None:
            with pytest.raises(ValueError, match=re.escape(st.name)):
                s.replace(**{st.name: st.range.high * 2 + 1})


def test_every_daemon_config_key_is_a_setting():
    cfg = tomllib.loads(default_config_text())
    known = {(st.section, st.key) for st in SETTINGS}
    for section in ("daemon", "daemon.preview", "daemon.limits"):
        table = cfg
        for part in section.split("."):
            table = table[part]
        for key, value in table.items():
            if not isinstance(value, dict):
                assert (section, key) in known, f"[{section}] {key} is not in the settings table"


def test_no_other_module_spells_a_setting_out():
    """Option strings and multi-word setting names appear in daemon/settings.py only (the status counter
    ``queue_length``, frames waiting, is not the setting)."""
    words = {st.dest for st in SETTINGS if "_" in st.dest} | {st.option for st in SETTINGS}
    for name in ("commands.py", "server.py", "state.py", "worker.py", "controller.py", "publisher.py", "receiver.py"):
        text = (DAEMON / name).read_text(encoding="utf-8")
        if name == "commands.py":  # `aistem serve` only: replay and record have options of their own
            text = text[text.index("# -- serve") : text.index("# -- replay")]
        for w in words - ({"queue_length"} if name == "server.py" else set()):
            assert f'"{w}"' not in text, f"{name} spells out the setting {w!r}: derive it from settings.SETTINGS"
