"""`aistem analyze` as a user runs it: a real subprocess, real files."""

import subprocess
import sys

import numpy as np
import pytest

from aistem.core.synthetic import square_lattice

AISTEM = [sys.executable, "-m", "aistem.cli"]


def run(*args, cwd=None):
    return subprocess.run([*AISTEM, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_help_lists_subcommands_and_units():
    out = run("--help")
    assert out.returncode == 0 and "analyze" in out.stdout
    out = run("analyze", "--help")
    assert out.returncode == 0
    for needle in ("[Å]", "[Å/px]", "[px]", "[bit]"):
        assert needle in out.stdout, needle


def test_analyze_writes_maps_and_figure(tmp_path, reference_model_path):
    img = square_lattice((160, 160))
    np.save(tmp_path / "img.npy", img)
    out = run(
        "analyze",
        tmp_path / "img.npy",
        "--pixel-size",
        0.12,
        "--stride",
        3,
        "--samples",
        5,
        "--seed",
        1,
        "--model",
        reference_model_path,
        "--out",
        tmp_path / "r.npz",
        "--plot",
        tmp_path / "r.png",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    assert "FCC_Cu_100" in out.stdout
    z = np.load(tmp_path / "r.npz")
    assert z["classes"].shape == (3, 3) and list(z["class_names"])[3] == "FCC_Cu_100"
    assert (tmp_path / "r.png").stat().st_size > 10_000
    assert "lattice_rotation" in z.files and str(z["precision"]) in out.stdout
    again = run(
        "analyze", tmp_path / "img.npy", "--pixel-size", 0.12, "--stride", 3, "--samples", 2, "--no-rotation",
        "--precision", "float32", "--model", reference_model_path, "--out", tmp_path / "n.npz", "--quiet",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    z = np.load(tmp_path / "n.npz")
    assert "lattice_rotation" not in z.files and str(z["precision"]) == "float32"


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("npy", [], "pixel size of .* is not known"),
        ("none", [], "no such image file"),
        ("npy", ["--pixel-size", "-1"], "must be positive"),
        ("npy", ["--pixel-size", "0.12", "--out", "r.txt"], "must name a .npz"),
        ("npy", ["--pixel-size", "0.12", "--model", "nope.keras"], "model file not found"),
        ("npy", ["--pixel-size", "0.12", "--out", "no/such/dir/r.npz"], "does not exist"),
        ("txt", ["--pixel-size", "0.12"], "unsupported image format"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, setup, args, message):
    target = tmp_path / "img.npy"
    if setup == "npy":
        np.save(target, np.zeros((120, 120), np.float32))
    elif setup == "txt":
        target = tmp_path / "img.txt"
        target.write_text("hello")
    out = run("analyze", target, *args, cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("aistem analyze: error:")
    import re

    assert re.search(message, out.stderr), out.stderr


def test_exiting_at_once_loses_no_output(tmp_path, reference_model_path):
    # The console script skips the interpreter's teardown after analyze (cli.main.exit_at_once): what it printed
    # into a pipe and into a file, and the maps it wrote, must all be there.
    np.save(tmp_path / "img.npy", square_lattice((130, 130)))
    args = [*AISTEM, "analyze", "img.npy", "--pixel-size", "0.12", "--stride", "3", "--samples", "2",
            "--no-rotation", "--model", str(reference_model_path), "--out", "r.npz", "--quiet"]  # fmt: skip
    piped = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.rstrip().splitlines()[-1].strip().startswith("maps:")
    with open(tmp_path / "log.txt", "w") as log:
        to_file = subprocess.run(args, stdout=log, stderr=subprocess.PIPE, text=True, timeout=300, cwd=tmp_path)
    assert to_file.returncode == 0, to_file.stderr
    written = (tmp_path / "log.txt").read_text().splitlines()
    same = [a == b for a, b in zip(written, piped.stdout.splitlines(), strict=True)]
    assert same == [not line.strip().startswith("time:") for line in written]  # all but the timings
    assert np.load(tmp_path / "r.npz")["classes"].shape == (2, 2)


def test_main_called_from_python_returns_instead_of_exiting(tmp_path, reference_model_path, capsys):
    from aistem.cli.main import main

    np.save(tmp_path / "img.npy", square_lattice((130, 130)))
    rc = main(["analyze", str(tmp_path / "img.npy"), "--pixel-size", "0.12", "--stride", "3", "--samples", "2",
               "--no-rotation", "--model", str(reference_model_path), "--quiet"])  # fmt: skip
    assert rc == 0 and "FCC_Cu_100" in capsys.readouterr().out
