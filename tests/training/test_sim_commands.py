"""`aistem simulate …` as a user runs it: real subprocesses, real files, clear errors."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

from aistem.training.commands import register_simulate

AISTEM = [sys.executable, "-m", "aistem.cli"]


def run(*args, env=None):
    return subprocess.run([*AISTEM, *map(str, args)], capture_output=True, text=True, timeout=300, env=env)


def parser():
    p = argparse.ArgumentParser(prog="aistem")
    register_simulate(p.add_subparsers(dest="command"))
    return p


def test_register_simulate_builds_all_subcommands():
    p = parser()
    a = p.parse_args(
        [
            "simulate",
            "scene",
            "bicrystal",
            "--out",
            "x",
            "--class",
            "FCC_Cu_111",
            "--misorientation",
            "30",
            "--boundary-angle",
            "0",
        ]
    )
    assert a.class_name == "FCC_Cu_111" and a.misorientation == 30.0 and a.boundary_angle == 0.0 and callable(a.func)
    a = p.parse_args(["simulate", "dataset", "--lattice-deltas", "-0.1", "0", "0.1"])
    assert a.lattice_deltas == [-0.1, 0.0, 0.1] and callable(a.func)
    assert callable(p.parse_args(["simulate", "scene", "polycrystal", "--out", "x"]).func)
    assert callable(p.parse_args(["simulate", "series"]).func)


def test_help_says_units():
    for sub in (["dataset"], ["scene", "polycrystal"], ["scene", "bicrystal"], ["series"]):
        out = run("simulate", *sub, "--help")
        assert out.returncode == 0, out.stderr
        assert "[Å]" in out.stdout and "Å/px" in out.stdout
    assert "[°]" in run("simulate", "scene", "bicrystal", "--help").stdout
    assert "[px]" in run("simulate", "series", "--help").stdout


def test_importing_the_commands_is_light():
    code = "import sys, aistem.training.commands; print(any(m in sys.modules for m in ('abtem', 'ase', 'h5py', 'tensorflow')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["scene", "bicrystal", "--out", "{tmp}", "--class", "FCC_Cu_112"], "unknown class 'FCC_Cu_112'"),
        (["scene", "polycrystal", "--out", "{tmp}", "--grain-size", "-3"], "must be positive"),
        (["series", "--out", "{tmp}", "--size", "0", "512"], "must be ≥ 1"),
        (["scene", "bicrystal", "--out", "{file}/sub"], "file"),
        (["dataset", "--out", "{tmp}", "--classes", "Cu"], "unknown class"),
        (["dataset", "--out", "{tmp}", "--config", "{tmp}/missing.toml"], "configuration file not found"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(tmp_path, args, message):
    (tmp_path / "afile").write_text("x")
    args = [a.format(tmp=tmp_path, file=tmp_path / "afile") for a in args]
    out = run("simulate", *args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_dataset_dry_run_counts_the_default_set(tmp_path):
    """Default: every class as every metal of its structure ([materials]), less fcc [100] of Au and Al."""
    out = run("simulate", "dataset", "--dry-run", "--out", tmp_path / "set.h5")
    assert out.returncode == 0, out.stderr
    assert "62 base images × 1049 windows = 65038 descriptors" in out.stderr
    paper = tmp_path / "paper.toml"
    paper.write_text("[dataset]\nlattice_deltas = [-0.1, 0.0, 0.1]\n[materials]\nfcc = []\nbcc = []\nhcp = []\nexclude = []\n")
    out = run("simulate", "dataset", "--dry-run", "--out", tmp_path / "set.h5", "--config", paper)
    assert out.returncode == 0, out.stderr
    assert "30 base images × 1049 windows = 31470 descriptors" in out.stderr  # the paper's set


@pytest.mark.slow  # an offline training-side command, 5–16 s on a 2-core VM: make test-slow (keeps make test < 10 min)
def test_scene_and_series_commands_write_their_files(tmp_path):
    common = ["--cell-size", "16", "--thickness", "8", "--cache-dir", tmp_path / "cache"]
    out = run(
        "simulate",
        "scene",
        "bicrystal",
        "--out",
        tmp_path,
        "--class",
        "FCC_Cu_111",
        "--misorientation",
        "30",
        "--boundary-angle",
        "0",
        "--size",
        "96",
        "128",
        *common,
    )
    assert out.returncode == 0, out.stderr
    img = np.load(tmp_path / "bicrystal.npy")
    info = json.loads((tmp_path / "bicrystal.json").read_text())
    assert img.shape == (96, 128) and img.dtype == np.float32
    assert info["rotations_deg"] == [0.0, 30.0] and info["class_name"] == "FCC_Cu_111" and info["pixel_size"] == 0.12
    with np.load(tmp_path / "bicrystal_truth.npz") as z:
        assert z["labels"].shape == (96, 128) and set(np.unique(z["labels"])) == {5, 11}

    out = run("simulate", "series", "--out", tmp_path / "s.npz", "--frames", "2", "--size", "64", "64", *common)
    assert out.returncode == 0, out.stderr
    from aistem.training import load_sample_series

    frames, sinfo = load_sample_series(tmp_path / "s.npz")
    assert frames.shape == (2, 64, 64) and frames.dtype == np.uint16 and sinfo["frames"] == 2


@pytest.mark.slow
def test_dataset_command_survives_ctrl_c_and_resumes(tmp_path):
    """Ctrl-C mid-run: exit 130 with a message, finished base images kept; a parallel run is refused; a rerun resumes (~30 s)."""
    import signal
    import time

    cfg = tmp_path / "small.toml"
    # 6 classes × 4 lattice constants = 24 base images: enough that a fast CPU cannot finish them all while the
    # second run below starts (9 could, on an AVX-512 VM)
    classes = ["FCC_Cu_100", "FCC_Cu_110", "BCC_Fe_100", "BCC_Fe_110", "HCP_Ti_0001", "HCP_Ti_10m10"]
    total = len(classes) * 4
    cfg.write_text(
        f"[simulation]\ncell_size = 16.0\nthickness = 8.0\n[dataset]\nclasses = {classes!r}\n".replace("'", '"')
        + "lattice_deltas = [-0.1, -0.05, 0.0, 0.1]\n"
        + "[materials]\nfcc = []\nbcc = []\nhcp = []\n"  # each class its own metal: 24 units, not × 6–7 metals
    )
    args = [*AISTEM, "simulate", "dataset", "--out", tmp_path / "t.h5", "--config", cfg, "--cache-dir", tmp_path / "c"]
    args = [str(a) for a in args]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = tmp_path / "t.h5.partial"
    deadline = time.monotonic() + 120
    while not list(partial.glob("unit_*.npz")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    other = run("simulate", "dataset", "--out", tmp_path / "t.h5", "--config", cfg, "--cache-dir", tmp_path / "c")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert other.returncode == 2 and "another run is writing" in other.stderr
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    kept = len(list(partial.glob("unit_*.npz")))
    assert 1 <= kept < total and not (tmp_path / "t.h5.lock").exists() and not (tmp_path / "t.h5").exists()
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming: {kept} of {total}" in again.stderr
    assert (tmp_path / "t.h5").is_file() and not partial.exists()
