"""`aistem.config.load_config`: one loader and one merge rule (defaults, then the file, then the command line)."""

from __future__ import annotations

import pytest

from aistem.config import load_config
from aistem.training.config import load_simulate_config
from aistem.training.train_commands import load_train_config


def test_file_then_command_line_win_key_by_key(tmp_path):
    path = tmp_path / "user.toml"
    path.write_text("[train]\nepochs = 7\nbatch_size = 16\n", encoding="utf-8")
    defaults = load_config(name="train")
    cfg = load_config(path, {"train": {"batch_size": 64, "dropout": None}}, name="train")
    assert cfg["train"]["epochs"] == 7  # the file
    assert cfg["train"]["batch_size"] == 64  # the command line over the file
    assert cfg["train"]["dropout"] == defaults["train"]["dropout"]  # None: option not given
    assert cfg["search"] == defaults["search"]  # other tables untouched
    assert load_train_config(path) == load_config(path, name="train")  # training reads through the one loader
    assert load_simulate_config() == load_config(name="simulate")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[nope]\nx = 1\n", "unknown setting 'nope'"),
        ("[train]\nno_such_key = 1\n", "unknown setting 'train.no_such_key'"),
        ("train = 3\n", "setting 'train' must be a table"),
        ("[train\n", "is not valid TOML"),
    ],
)
def test_bad_file_is_one_line_error_naming_it(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        load_config(path, name="train")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_unknown_override():
    with pytest.raises(FileNotFoundError, match="configuration file not found"):
        load_config("/no/such/file.toml")
    with pytest.raises(ValueError, match="unknown setting 'daemon.no_such'"):
        load_config(overrides={"daemon": {"no_such": 1}})
