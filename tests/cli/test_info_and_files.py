"""`aistem info`, `aistem analyze FILE… --signal --frames --out-dir --format hspy`, and errors before TensorFlow."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aistem.core.synthetic import square_lattice

pytest.importorskip("rsciio", reason="the io extra (RosettaSciIO) is not installed")

AISTEM = [sys.executable, "-m", "aistem.cli"]
REAL = Path(__file__).resolve().parents[3] / "shared" / "real-files"


def run(*args, cwd=None):
    return subprocess.run([*AISTEM, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def _two_signal_hspy(tmp_path: Path) -> Path:
    """A HyperSpy file of two experiments, as HyperSpy writes them: an EELS spectrum image and a HAADF stack."""
    import h5py
    from rsciio.hspy import file_writer

    from aistem.core.io.results import _extra

    def sig(data, units, title, nav, stype=""):
        axes = []
        for i, n in enumerate(data.shape):
            unit = units if i >= nav else "s"
            scale = 1.0 if i < nav or unit == "eV" else 0.012
            axes.append({"name": f"a{i}", "size": n, "scale": scale, "offset": 0.0, "units": unit, "navigate": i < nav})
        meta = {"General": {"title": title}, "Signal": {"signal_type": stype}}
        return {"data": data, "axes": axes, "metadata": meta, **_extra()}

    stack = np.stack([square_lattice((130, 130)), square_lattice((130, 130))[::-1]]).astype(np.float32)
    file_writer(str(tmp_path / "0.hspy"), sig(np.ones((3, 4, 16), np.float32), "eV", "EELS", 2, "EELS"), show_progressbar=False)
    file_writer(str(tmp_path / "1.hspy"), sig(stack, "nm", "HAADF", 1), show_progressbar=False)
    out = tmp_path / "two.hspy"
    with h5py.File(out, "w") as f:
        with h5py.File(tmp_path / "1.hspy") as src:
            f.attrs.update(src.attrs)
        group = f.create_group("Experiments")
        for i in (0, 1):
            with h5py.File(tmp_path / f"{i}.hspy") as src:
                (name,) = src["Experiments"]
                src.copy(src["Experiments"][name], group, name=f"{i} {name}")
    return out


def test_info_json_shape(tmp_path):
    path = _two_signal_hspy(tmp_path)
    out = run("info", "--json", path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"file", "signals"} and doc["file"] == str(path)
    assert [set(s) for s in doc["signals"]] == [{"index", "title", "kind", "shape", "pixel_size", "detector", "selected"}] * 2
    eels, haadf = doc["signals"]
    assert eels["kind"] == "spectrum-image" and eels["pixel_size"] is None and not eels["selected"]
    assert haadf == {"index": 1, "title": "HAADF", "kind": "stack", "shape": [2, 130, 130], "pixel_size": pytest.approx(0.12),
                     "detector": "HAADF", "selected": True}  # fmt: skip
    table = run("info", path, "--signal", "0")
    assert table.returncode == 2 and "spectrum-image" in table.stderr
    plain = run("info", path)
    assert plain.returncode == 0 and "*  1  HAADF" in plain.stdout


@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/real-files")
def test_info_on_real_files_one_json_line_each(tmp_path):
    files = [REAL / "digitalmicrograph/3D/EELS_SI.dm4", REAL / "digitalmicrograph/2D/test_STEM_image.dm3"]
    out = run("info", "--json", *files)
    assert out.returncode == 0, out.stderr
    docs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [d["signals"][0]["kind"] for d in docs] == ["spectrum-image", "image"]
    assert docs[1]["signals"][0]["pixel_size"] == pytest.approx(2.48538, rel=1e-4) and docs[1]["signals"][0]["selected"]


def test_analyze_every_frame_into_a_folder_with_summary_and_hspy(tmp_path):
    path = _two_signal_hspy(tmp_path)
    out = run(
        "analyze", path, "--frames", "all", "--out-dir", tmp_path / "res", "--format", "hspy",
        "--stride", "3", "--samples", "2", "--seed", "0", "--no-rotation", "--quiet",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "signal 1 'HAADF'" in out.stdout and "frame 1]" in out.stdout
    with open(tmp_path / "res" / "summary.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["frame"] for r in rows] == ["0", "1"] and all(r["signal"] == "signal 1 'HAADF'" for r in rows)
    share = [k for k in rows[0] if k.startswith("share ")]
    assert len(share) == 10 and sum(float(rows[0][k]) for k in share) == pytest.approx(1.0, abs=1e-5)
    assert {"interface_fraction", "unknown_fraction", "mean_mi_bit"} <= set(rows[0])
    from rsciio.hspy import file_reader

    sigs = file_reader(str(tmp_path / "res" / "two_f001.hspy"))
    classes = sigs[0]
    assert classes["metadata"]["General"]["title"].endswith("classes") and classes["data"].shape == (2, 2)
    assert len(classes["metadata"]["AISTEM"]["class_names"]) == 10 and classes["metadata"]["AISTEM"]["frame"] == 1
    assert classes["axes"][0]["units"] == "Å" and classes["axes"][1]["scale"] == pytest.approx(3.0, rel=0.05)
    assert sigs[-1]["data"].shape == (2, 2, 10)


def test_analyze_several_files_npz(tmp_path):
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", square_lattice((130, 130)))
        (tmp_path / f"{name}.json").write_text(json.dumps({"pixel_size": 0.12}))
    out = run("analyze", "a.npy", "b.npy", "--out-dir", "res", "--stride", "3", "--samples", "2", "--no-rotation",
              "--quiet", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == ["a_f000.npz", "b_f000.npz", "summary.csv"]
    z = np.load(tmp_path / "res" / "b_f000.npz")
    assert "b.npy [signal 0 'b', frame 0]" in str(z["source"])


FAST = """
import sys
from aistem.cli.main import main
rc = main(sys.argv[1:])
heavy = [m for m in ("tensorflow", "keras") if m in sys.modules]
print("RC", rc, "HEAVY", heavy)
"""


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        ("npy", ["--pixel-size", "2.5"], r"descriptor needs ≥ 64 px per window, so the pixel size must be ≤ 0.1875 Å/px"),
        ("npy", ["--pixel-size", "0.12", "--frames", "3"], "frame 3 does not exist"),
        ("npy", ["--pixel-size", "0.12", "--frames", "x"], "give all, a frame number N"),
        ("npy", ["--pixel-size", "0.12", "--out", "a.npz", "--frames", "all", "--window-px", "64"], None),
        ("npy", [], "pixel size of .* is not known"),
        ("npy", ["--pixel-size", "-0.1"], "must be positive"),
        ("npy", ["--pixel-size", "0.01"], r"image of 120×120 px is smaller than one window of 1200 px"),
        ("hspy", ["--signal", "0"], "spectrum-image .*real-space images here: 1 'HAADF'"),
        ("hspy", ["--signal", "BF"], "no signal 'BF'"),
        ("hspy", ["--frames", "1", "--out", "r.npz", "--plot", "r.png", "--frames", "all"], "take one frame"),
        ("none", [], "no such image file"),
    ],
)
def test_errors_come_before_tensorflow(tmp_path, make, args, message):
    if make == "npy":
        target = tmp_path / "img.npy"
        np.save(target, np.zeros((120, 120), np.float32))
    elif make == "hspy":
        target = _two_signal_hspy(tmp_path)
    else:
        target = tmp_path / "missing.dm4"
    if message is None:  # a one-frame .npy asked for all frames and written to --out: fine until the model loads
        args, message = [*args[:-2], "--model", "no-such-model.keras"], "model file not found"
        expect_heavy = None
    else:
        expect_heavy = "HEAVY []"
    out = subprocess.run([sys.executable, "-c", FAST, "analyze", str(target), *args], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)  # fmt: skip
    assert "Traceback" not in out.stderr
    assert "RC 2" in out.stdout, out.stdout + out.stderr
    import re

    assert re.search(message, out.stderr), out.stderr
    if expect_heavy:
        assert expect_heavy in out.stdout


@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/real-files")
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("digitalmicrograph/2D/test_STEM_image.dm3", "pixel size 2.48538 Å/px is too coarse"),
        ("digitalmicrograph/3D/EELS_SI.dm4", "spectrum-image"),
        ("tia/new/128x128x5-diffraction_preview_1.ser", "diffraction pattern"),
        ("digitalmicrograph/2D/test-1.dm4", "pixel size of .* is not known"),
        ("digitalmicrograph/1D/test-EELS_spectrum.dm3", "spectrum"),
        ("emd/fei_example_tem_stack.emd", "image of 3×3 px is smaller than one window of 147 px"),
        ("emd/example_image.emd", "scale 1 without units"),
        ("emd/Si100_4D.emd", "diffraction pattern"),
        ("tia/new/128x128-TEM_search_1.ser", "pixel size 52.6121 Å/px is too coarse"),
        ("mrc/HAADFscan.mrc", "pixel size 56.7913 Å/px is too coarse"),
        ("tiff/test_loading_image_saved_with_imageJ_stack.tif", "pixel size 1686.75 Å/px is too coarse"),
        ("tiff/test_loading_image_saved_with_imageJ_no_scale.tif", "pixel size of .* is not known"),
        ("hspy/example2_v3.1.hspy", "diffraction pattern"),
        ("blockfile/test2.blo", "diffraction pattern"),
    ],
)
def test_real_file_errors_come_before_tensorflow(name, message):
    out = subprocess.run([sys.executable, "-c", FAST, "analyze", str(REAL / name)], capture_output=True, text=True, timeout=120)
    assert "RC 2" in out.stdout and "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert message in out.stderr or __import__("re").search(message, out.stderr), out.stderr


def test_window_far_from_12_angstrom_warns(tmp_path):
    np.save(tmp_path / "img.npy", square_lattice((140, 140)))
    out = run("analyze", "img.npy", "--pixel-size", "0.25", "--window-px", "64", "--stride-px", "60", "--samples", "2",
              "--no-rotation", "--quiet", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "the window is 16 Å" in out.stderr and "trained at 12 Å" in out.stderr


LAZY_DASK = """
import sys
from aistem.core.io import read_frames
try:
    read_frames(sys.argv[1])
except ValueError as exc:
    print("ERROR", exc)
mod = sys.modules.get("dask.array")
print("DASK_ARRAY", "absent" if mod is None else type(mod).__name__, "SPARSE", "sparse" in sys.modules)
"""


@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/real-files")
def test_a_digitalmicrograph_error_loads_no_dask_array():
    """RosettaSciIO's DM reader imports dask.array for lazy reading only: it stays unloaded (≈ 0.5 s saved)."""
    out = subprocess.run([sys.executable, "-c", LAZY_DASK, str(REAL / "digitalmicrograph/3D/EELS_SI.dm4")],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "ERROR" in out.stdout and "spectrum-image" in out.stdout, out.stdout + out.stderr
    assert "DASK_ARRAY _LazyModule SPARSE False" in out.stdout, out.stdout + out.stderr


SLOW_READERS = """
import sys
from aistem.cli.main import main
rc = main(sys.argv[1:])
print("RC", rc, "LOADED", [m for m in ("tensorflow", "keras", "pint", "sparse", "numba", "rsciio.emd") if m in sys.modules])
"""


@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/real-files")
def test_velox_pixel_size_errors_come_before_its_slow_reader(tmp_path):
    """A Velox file whose images are all too coarse (or too small) is refused from a look at its metadata, with the
    error the full read gives, and the look agrees with RosettaSciIO on every image."""
    import zipfile

    from aistem.core.io import list_signals
    from aistem.core.io.velox_peek import velox_images

    with zipfile.ZipFile(REAL / "emd/velox_emd_v11_elementSelection.zip") as z:
        z.extractall(tmp_path)
    velox = next(tmp_path.glob("*.emd"))
    stack = REAL / "emd/fei_example_tem_stack.emd"
    for path in (velox, stack):
        peek = velox_images(path)
        full = [i for i in list_signals(path) if i.kind in ("image", "stack")]
        assert [(p.detector, p.shape) for p in peek] == [(i.detector, i.shape[-2:]) for i in full]
        assert [p.pixel_size for p in peek] == pytest.approx([i.pixel_size for i in full], rel=1e-9)
    assert velox_images(REAL / "emd/example_image.emd") == []  # NCEM: left to the full reader
    cases = ((velox, "4", "pixel size 19.9685 Å/px is too coarse"), (stack, "0", "image of 3×3 px is smaller"))
    for path, signal, said in cases:
        quick = subprocess.run([sys.executable, "-c", SLOW_READERS, "analyze", str(path)], capture_output=True,
                               text=True, timeout=120)  # fmt: skip
        assert "RC 2 LOADED []" in quick.stdout and said in quick.stderr, quick.stdout + quick.stderr
        full = subprocess.run([sys.executable, "-c", SLOW_READERS, "analyze", str(path), "--signal", signal],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert "rsciio.emd" in full.stdout and "RC 2" in full.stdout
        assert full.stderr.strip() == quick.stderr.strip()  # the same message from the full read


def _write_mrc(path: Path, data: np.ndarray, px_angstrom: float | None) -> Path:
    """A plain MRC file (mode 2, float32) as RosettaSciIO reads it: cell length / cell size = pixel size [Å]."""
    from rsciio.mrc._api import get_std_dtype_list

    n, rows, cols = data.shape if data.ndim == 3 else (1, *data.shape)
    h = np.zeros(1, dtype=get_std_dtype_list("<"))
    h["NX"], h["NY"], h["NZ"], h["MODE"] = cols, rows, n, 2
    if px_angstrom is not None:
        h["MX"], h["MY"], h["MZ"] = cols, rows, n
        h["Xlen"], h["Ylen"], h["Zlen"] = cols * px_angstrom, rows * px_angstrom, n
    path.write_bytes(h.tobytes() + np.ascontiguousarray(data, np.float32).tobytes())
    return path


def test_mrc_pixel_size_errors_come_before_its_dask_reader(tmp_path):
    """An MRC file too coarse (or too small) for a window is refused from its header, with the error the full read
    gives (``--frames 0`` makes the full read), without dask.array; the look agrees with RosettaSciIO."""
    from aistem.core.io import list_signals
    from aistem.core.io.mrc_peek import mrc_images

    files = [
        _write_mrc(tmp_path / "image.mrc", np.zeros((120, 130)), 0.5),
        _write_mrc(tmp_path / "stack.mrc", np.zeros((3, 120, 130)), 0.05),
        _write_mrc(tmp_path / "no_cell.mrc", np.zeros((120, 130)), None),
    ]
    if REAL.is_dir():
        files.append(REAL / "mrc/HAADFscan.mrc")
    for path in files:
        (peek,) = mrc_images(path)
        (full,) = list_signals(path)
        assert (peek.shape, peek.frames) == (full.shape[-2:], full.shape[0] if full.kind == "stack" else 1)
        assert peek.pixel_size == pytest.approx(full.pixel_size, rel=1e-9)
    short = tmp_path / "short.mrc"
    short.write_bytes(files[0].read_bytes()[:2000])
    assert mrc_images(short) == []  # left to the full reader, which says what is wrong
    probe = SLOW_READERS.replace('"rsciio.emd"', '"dask.array"')
    for path, said in ((files[0], "pixel size 0.5 Å/px is too coarse"), (files[1], "image of 120×130 px is smaller")):
        quick = subprocess.run([sys.executable, "-c", probe, "analyze", str(path)], capture_output=True, text=True,
                               timeout=120)  # fmt: skip
        assert "RC 2 LOADED []" in quick.stdout and said in quick.stderr, quick.stdout + quick.stderr
        full = subprocess.run([sys.executable, "-c", probe, "analyze", str(path), "--frames", "0"],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert "RC 2" in full.stdout and "dask.array" in full.stdout, full.stdout + full.stderr
        assert full.stderr.strip() == quick.stderr.strip()


def _write_ncem(path: Path, units: str, scale: float, shape=(130, 140)) -> Path:
    """An NCEM EMD file as ``example_image.emd`` is laid out: one image group with dim1/dim2 in ``units``."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs.update({"version_major": "0", "version_minor": "2"})
        for name in ("comments", "microscope", "sample", "user"):
            f.create_group(name)
        g = f.create_group("signals/image")
        g.attrs.update({"emd_group_type": np.int32(1), "record_by": "image", "signal_type": ""})
        g["data"] = np.zeros(shape, np.float32)
        for i, n in enumerate(shape, 1):
            d = g.create_dataset(f"dim{i}", data=np.arange(n) * scale)
            d.attrs.update({"name": f"a{i}", "units": units})
    return path


NCEM_INFO = """
import json, sys
if sys.argv[1] == "pint":
    import pint  # noqa: F401  (then the reader runs with pint, as RosettaSciIO ships it)
from aistem.core.io import list_signals
print(json.dumps([[i.to_dict(), i.note] for i in list_signals(sys.argv[2])]))
print("PINT", "pint" in sys.modules, "DASK", "dask" in sys.modules)
"""


def test_ncem_units_without_pint_agree_with_pint(tmp_path):
    """RosettaSciIO's NCEM reader spells units with pint (≈ 0.7 s to load); the table used instead gives pint's
    spelling for every entry, and a whole read gives the same signals with and without pint."""
    from rsciio.utils._units import _UREG

    from aistem.core.io.ncem_units import PINT_SPELLING

    for text, spelled in PINT_SPELLING.items():
        try:
            assert f"{_UREG.parse_units(text):~}" == spelled, text
        except Exception as exc:  # pint cannot parse it: the reader keeps the text
            assert spelled is None and not isinstance(exc, AssertionError), text
    files = [
        _write_ncem(tmp_path / "nm.emd", "[n_m]", 0.01),
        _write_ncem(tmp_path / "angstrom.emd", "A", 0.5),
        _write_ncem(tmp_path / "furlong.emd", "furlong", 1.0),  # not in the table: pint decides
    ]
    if REAL.is_dir():
        files += [REAL / "emd/example_image.emd", REAL / "emd/Si100_4D.emd"]
    for path in files:
        lines = {}
        for mode in ("pint", "table"):
            out = subprocess.run([sys.executable, "-c", NCEM_INFO, mode, str(path)], capture_output=True, text=True,
                                 timeout=120)  # fmt: skip
            assert out.returncode == 0, out.stderr
            lines[mode] = out.stdout.splitlines()
        assert lines["table"][0] == lines["pint"][0], path
        loaded = "PINT True DASK True" if path.name == "furlong.emd" else "PINT False DASK False"
        assert lines["table"][1] == loaded, path
    assert json.loads(lines["table"][0])  # the last file read something


@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/real-files")
def test_velox_signal_by_detector_is_decided_from_the_look(tmp_path):
    """``--signal HAADF`` names an image the look sees: its pixel-size error comes without the slow reader, with the
    message the full read gives (``--signal 4``: an index needs every signal, so the full read)."""
    import zipfile

    with zipfile.ZipFile(REAL / "emd/velox_emd_v11_elementSelection.zip") as z:
        z.extractall(tmp_path)
    velox = next(tmp_path.glob("*.emd"))
    quick = subprocess.run([sys.executable, "-c", SLOW_READERS, "analyze", str(velox), "--signal", "haadf"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "RC 2 LOADED []" in quick.stdout and "pixel size 19.9685 Å/px is too coarse" in quick.stderr, quick.stderr
    full = subprocess.run([sys.executable, "-c", SLOW_READERS, "analyze", str(velox), "--signal", "4"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "rsciio.emd" in full.stdout and full.stderr.strip() == quick.stderr.strip()
    refused = subprocess.run([sys.executable, "-c", SLOW_READERS, "analyze", str(velox), "--signal", "EDS"],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "rsciio.emd" in refused.stdout and "is a spectrum" in refused.stderr  # left to the full read
