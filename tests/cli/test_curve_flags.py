"""The same CURVE flag names on every streaming command (serve, replay, record, view); view's old spellings are
hidden aliases of the new ones."""

from __future__ import annotations

import pytest

from aistem.cli.main import build_parser

SECRET = "--curve-secret-key"


def _parse(*argv: str):
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize("command", ["serve", "replay", "record", "view"])
def test_every_streaming_command_takes_its_own_secret_key_by_one_name(command):
    args = _parse(command, *(["--out", "rec"] if command == "record" else []), SECRET, "me.key_secret")
    assert args.curve_secret_key == "me.key_secret"


def test_the_peers_public_keys_have_one_name_each():
    assert _parse("serve", "--curve-frames-key", "mic.key").curve_frames_key == "mic.key"
    rec = _parse("record", "--out", "rec", "--curve-frames-key", "mic.key", "--curve-results-key", "d.key")
    view = _parse("view", "--curve-frames-key", "mic.key", "--curve-results-key", "d.key")
    for a in (rec, view):
        assert (a.curve_frames_key, a.curve_results_key) == ("mic.key", "d.key")
    assert _parse("replay", "--curve-authorized-keys", "certs").curve_authorized_keys == "certs"


def test_views_old_spellings_still_work_and_are_not_listed(capsys):
    a = _parse("view", "--server-key", "d.key", "--client-key", "v.key_secret", "--frames-server-key", "mic.key")
    assert (a.curve_results_key, a.curve_secret_key, a.curve_frames_key) == ("d.key", "v.key_secret", "mic.key")
    with pytest.raises(SystemExit):
        _parse("view", "--help")
    out = capsys.readouterr().out
    assert "--curve-results-key" in out and "--server-key" not in out and "--frames-server-key" not in out
