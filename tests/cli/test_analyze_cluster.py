"""``aistem analyze FILE --frames all --out-dir DIR --workers 2``: every frame on a local Dask cluster, resumable."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aistem.core import AnalysisResult
from aistem.core.synthetic import square_lattice

pytest.importorskip("distributed", reason="Dask distributed is not installed (the cluster extra)")
AISTEM = [sys.executable, "-m", "aistem.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([*AISTEM, *args], capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_frames_on_two_workers_then_a_rerun_skips_them(tmp_path: Path) -> None:
    stack = np.stack([square_lattice((200, 200), angle=a) for a in (0.0, 20.0, 40.0)]).astype(np.float32)
    src = tmp_path / "scan.npz"
    np.savez(src, image=stack, pixel_size=0.12)
    out = tmp_path / "out"
    common = [str(src), "--frames", "all", "--out-dir", str(out), "--samples", "4", "--stride", "3", "--seed", "1", "--quiet"]
    first = run("analyze", *common, "--workers", "2")
    assert first.returncode == 0, first.stderr
    assert "2 workers" in first.stdout
    names = sorted(p.name for p in out.glob("*.npz"))
    assert names == ["scan_f000.npz", "scan_f001.npz", "scan_f002.npz"]
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frame"]) for r in rows] == [0, 1, 2]
    # in-process, the same seed: the same maps
    local = run("analyze", *common[:-1], "--out-dir", str(tmp_path / "local"), "--quiet")
    assert local.returncode == 0, local.stderr
    for n in names:
        a, b = AnalysisResult.load(out / n), AnalysisResult.load(tmp_path / "local" / n)
        np.testing.assert_array_equal(a.classes, b.classes)
        np.testing.assert_allclose(a.mutual_information, b.mutual_information, atol=1e-5)
    mtimes = {n: (out / n).stat().st_mtime_ns for n in names}
    again = run("analyze", *common, "--workers", "1")
    assert again.returncode == 0, again.stderr
    assert {n: (out / n).stat().st_mtime_ns for n in names} == mtimes  # kept, not recomputed


def test_cluster_options_need_an_out_dir(tmp_path: Path) -> None:
    src = tmp_path / "one.npy"
    np.save(src, square_lattice((120, 120)))
    r = run("analyze", str(src), "--pixel-size", "0.12", "--workers", "2")
    assert r.returncode == 2 and "--out-dir" in r.stderr
    assert "Traceback" not in r.stderr
