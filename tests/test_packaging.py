"""The distribution: one namespace, a regular (wheel) install imports, the core stays free of edges."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_holds_only_the_aistem_namespace_and_imports(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("aistem-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("aistem-")}
    assert tops == {"aistem"}, tops
    for needed in (
        "aistem/core/__init__.py",
        "aistem/daemon/__init__.py",
        "aistem/gui/__init__.py",
        "aistem/training/__init__.py",
        "aistem/config/default.toml",
        "aistem/cli/main.py",
    ):
        assert needed in names, needed
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = "import aistem.core, aistem.config, aistem.cli.main as m; print(aistem.core.__file__); print(m.build_parser().prog)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith(str(site))


def test_editable_install_imports_from_the_checkout():
    import aistem.core

    assert Path(aistem.core.__file__).resolve().parent == ROOT / "aistem_core"


def test_core_imports_no_zmq_qt_or_training():
    code = (
        "import sys, aistem.core, aistem.core.analysis, aistem.core.io, aistem.core.figures;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('zmq','PySide6','PyQt5','PyQt6','pyqtgraph','abtem','hyperopt')"
        " or m.startswith('aistem.training') or m.startswith('aistem.daemon') or m.startswith('aistem.gui')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
