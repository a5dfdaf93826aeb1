"""Run import-linter's contracts (pyproject.toml [tool.importlinter]) over the ``aistem`` namespace.

Plain ``lint-imports`` checks the installed (editable) checkout. This script checks any tree of the project's
folders without installing it (``AISTEM_LINT_ROOT``, default this checkout; the architecture test lints a copy with a
planted breach): a temporary tree of symbolic links, ``aistem/<sub> -> <folder>`` after ``[tool.setuptools]
package-dir``, stands in for the installed package. Exit status: import-linter's (0: all kept).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(os.environ.get("AISTEM_LINT_ROOT") or Path(__file__).resolve().parents[1])  # another tree: for the test


def main() -> int:
    config = ROOT / "pyproject.toml"
    dirs = tomllib.loads(config.read_text())["tool"]["setuptools"]["package-dir"]
    linter = Path(sys.executable).with_name("lint-imports")
    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp) / "aistem"
        pkg.mkdir()
        for name, folder in dirs.items():
            (pkg / name.removeprefix("aistem.")).symlink_to(ROOT / folder, target_is_directory=True)
        env = {**os.environ, "PYTHONPATH": tmp}
        return subprocess.run([str(linter), str(config), "--no-cache"], cwd=tmp, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
