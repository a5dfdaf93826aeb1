"""`aistem demo`'s exit status, with the daemon and viewer replaced by stand-ins (no daemon, no Qt; the replay thread
binds a real loopback socket and sends to nobody)."""

from __future__ import annotations

import argparse
import json
from typing import Any, ClassVar

import pytest

import aistem.gui
from aistem.cli import demo


class FakeProc:
    """Stands in for the daemon subprocess: running until stopped."""

    started: ClassVar[list[FakeProc]] = []

    def __init__(self, cmd: list[str], **kwargs: Any) -> None:
        self.cmd = cmd
        self.returncode: int | None = None
        FakeProc.started.append(self)

    def poll(self) -> int | None:
        return self.returncode

    def send_signal(self, sig: int) -> None:
        self.returncode = -int(sig)

    def wait(self, timeout: float | None = None) -> int | None:
        return self.returncode

    def kill(self) -> None:
        self.returncode = -9


def _run_demo(monkeypatch: pytest.MonkeyPatch, tmp_path, summary: dict[str, Any], show: bool = False) -> int:
    FakeProc.started = []
    monkeypatch.setattr(demo.subprocess, "Popen", FakeProc)
    monkeypatch.setattr(aistem.gui, "run_view", lambda *a, **k: dict(summary))
    args = argparse.Namespace(
        out=str(tmp_path / "demo-out"),
        samples=5,
        stride=3.0,
        results=1,
        rate=1.0,
        timeout=5.0,
        model="model.keras",
        show=show,
    )
    return demo.run(args)


BASE = {"results": 3, "series": "sample_series", "class_fractions": {"FCC_Cu_111": 1.0}, "interface_fraction": 0.0}


def test_interrupted_viewer_exits_130_and_stops_everything(monkeypatch, tmp_path, capsys):
    code = _run_demo(monkeypatch, tmp_path, {**BASE, "ok": False, "interrupted": True, "timed_out": False})
    assert code == 130
    assert len(FakeProc.started) == 1 and all(p.returncode is not None for p in FakeProc.started)  # the daemon stopped
    err = capsys.readouterr().err
    assert "interrupted" in err and "ended early" not in err
    assert json.loads((tmp_path / "demo-out" / "summary.json").read_text())["interrupted"] is True


def test_interrupted_with_show_also_exits_130(monkeypatch, tmp_path):
    assert _run_demo(monkeypatch, tmp_path, {**BASE, "ok": False, "interrupted": True}, show=True) == 130


def test_completed_demo_exits_0_and_timeout_1(monkeypatch, tmp_path):
    assert _run_demo(monkeypatch, tmp_path, {**BASE, "ok": True, "interrupted": False}) == 0
    assert _run_demo(monkeypatch, tmp_path, {**BASE, "ok": False, "interrupted": False, "timed_out": True}) == 1
