"""The layers' import contracts (pyproject.toml [tool.importlinter]) hold, and would catch a breach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "lint_imports.py"

pytestmark = pytest.mark.skipif(
    not Path(sys.executable).with_name("lint-imports").exists(), reason="import-linter is not installed (the dev extra)"
)


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AISTEM_LINT_ROOT": str(root)}
    return subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=240, env=env)


def test_every_contract_is_kept() -> None:
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout


def test_a_core_module_importing_zmq_breaks_a_contract(tmp_path: Path) -> None:
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for folder in dirs.values():
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.keras", "__pycache__", "*.npz"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "aistem_core" / "leak.py").write_text("import zmq\n")
    (tmp_path / "gui" / "leak.py").write_text("from aistem.daemon import server\n")
    out = _lint(tmp_path)
    assert out.returncode != 0
    assert "core imports no sockets, Qt, training, daemon or gui BROKEN" in out.stdout
    assert "gui imports no daemon or training BROKEN" in out.stdout
    assert "aistem.core.leak -> zmq" in out.stdout
