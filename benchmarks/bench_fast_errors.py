"""How long `aistem analyze` takes to say what is wrong with its arguments, files and pixel sizes.

Each case runs the console command in a fresh process (as a user does) ``--repeat`` times and prints the median wall
time, next to the time of ``python -c "import numpy"`` on the same machine (the floor of any Python command) and
whether TensorFlow was imported before the error (it must not be). Usage::

    python benchmarks/bench_fast_errors.py [--repeat 5] [--real ../shared/real-files] [--before PYTHON]

``--before PYTHON`` also times each case with another checkout's interpreter (its venv imports its own code), run
for run alternately with this one, so that both columns see the same load.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROBE = (
    "import sys; from aistem.cli.main import main; rc = main(sys.argv[1:]); "
    "print('TF', any(m in sys.modules for m in ('tensorflow', 'keras')))"
)


# format, the error, file under ../shared/real-files (RosettaSciIO's test data)
REAL_CASES = [
    ("DM3", "2.49 Å/px too coarse", "digitalmicrograph/2D/test_STEM_image.dm3"),
    ("DM4", "no pixel size", "digitalmicrograph/2D/test-1.dm4"),
    ("DM4", "EELS spectrum image refused", "digitalmicrograph/3D/EELS_SI.dm4"),
    ("DM3", "EELS spectrum refused", "digitalmicrograph/1D/test-EELS_spectrum.dm3"),
    ("EMD (NCEM)", "scale without units", "emd/example_image.emd"),
    ("EMD (FEI)", "3×3 px stack smaller than a window", "emd/fei_example_tem_stack.emd"),
    ("EMD", "4D-STEM refused", "emd/Si100_4D.emd"),
    ("EMD (Velox)", "19.97 Å/px too coarse", "emd/velox_emd_v11_elementSelection.zip"),
    ("EMD (Velox) --signal HAADF", "19.97 Å/px too coarse", "emd/velox_emd_v11_elementSelection.zip"),
    ("EMD (Velox) --signal EDS", "spectrum refused", "emd/velox_emd_v11_elementSelection.zip"),
    ("TIA .ser", "52.6 Å/px too coarse", "tia/new/128x128-TEM_search_1.ser"),
    ("TIA .emi", "diffraction stack refused", "tia/new/128x128x5-diffraction_preview.emi"),
    ("MRC", "56.8 Å/px too coarse", "mrc/HAADFscan.mrc"),
    ("TIFF (DM)", "1687 Å/px too coarse", "tiff/test_loading_image_saved_with_DM_stack.tif"),
    ("TIFF (ImageJ)", "1687 Å/px too coarse", "tiff/test_loading_image_saved_with_imageJ_stack.tif"),
    ("TIFF (ImageJ)", "no scale", "tiff/test_loading_image_saved_with_imageJ_no_scale.tif"),
    ("TIFF (Olympus SIS)", "0.24 Å/px too coarse", "tiff/olympus_SIS.tif"),
    ("HyperSpy", "diffraction refused", "hspy/example2_v3.1.hspy"),
    ("blockfile", "4-D diffraction refused", "blockfile/test2.blo"),
]


def _unpacked(path: Path, tmp: Path) -> Path:
    """The Velox file comes zipped: the .emd inside, unpacked once into ``tmp``."""
    if path.suffix != ".zip":
        return path
    import zipfile

    with zipfile.ZipFile(path) as z:
        z.extractall(tmp)
    return next(tmp.glob("*.emd"))


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], repeat: int) -> tuple[float, float, str]:
    """Median wall time [s], median CPU time (user + system) [s] and the last line of stderr of ``repeat`` runs.

    The CPU time is what the command itself costs; the wall time adds the wait for a core on a loaded machine.
    """
    times, cpu, out = [], [], ""
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), _child_cpu()
        p = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        cpu.append(_child_cpu() - c0)
        out = (p.stderr.strip().splitlines() or [""])[-1]
    return statistics.median(times), statistics.median(cpu), out


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--before", help="another checkout's Python, timed case by case beside this one")
    ap.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "real-files")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    np.save(tmp / "img.npy", np.zeros((256, 256), np.float32))
    from PIL import Image

    Image.fromarray(np.zeros((256, 256), np.uint8)).save(tmp / "img.png")
    cases = [
        ("argument: --pixel-size -1", ["analyze", str(tmp / "img.npy"), "--pixel-size", "-1"]),
        ("file: missing", ["analyze", str(tmp / "missing.dm4")]),
        ("pixel size: .npy at 2.5 Å/px", ["analyze", str(tmp / "img.npy"), "--pixel-size", "2.5"]),
        ("pixel size: .npy without one", ["analyze", str(tmp / "img.npy")]),
        ("PNG: no pixel size", ["analyze", str(tmp / "img.png")]),
        ("info: missing file", ["info", str(tmp / "missing.dm4")]),
        ("replay: missing file", ["replay", str(tmp / "missing.dm4"), "--wait", "0"]),
    ]
    real = args.real
    if real.is_dir():
        for fmt, what, name in REAL_CASES:  # "FORMAT --option value": the case runs with those arguments
            extra = ("--" + fmt.split(" --", 1)[1]).split() if " --" in fmt else []
            cases.append((f"{fmt}: {what}", ["analyze", str(_unpacked(real / name, tmp)), *extra]))
    base, base_cpu, _ = timed([sys.executable, "-c", "import numpy"], args.repeat)
    print(f"{_cpu()}, {len(os.sched_getaffinity(0))} cores; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"python -c 'import numpy': {base:.2f} s wall, {base_cpu:.2f} s CPU (median of {args.repeat})")
    if args.before:
        print(f"before: {args.before}; after: {sys.executable}")
        print("| error | before wall [s] | before CPU [s] | after wall [s] | after CPU [s] | TensorFlow | message |")
        print("|---|---|---|---|---|---|---|")
    else:
        print("| error | wall [s] | CPU [s] | TensorFlow imported | message |\n|---|---|---|---|---|")
    for name, argv in cases:
        before = ""
        if args.before:
            bt, bc, _ = timed([args.before, "-m", "aistem.cli", *argv], args.repeat)
            before = f" {bt:.2f} | {bc:.2f} |"
        t, c, msg = timed([sys.executable, "-m", "aistem.cli", *argv], args.repeat)
        tf = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True).stdout.strip()
        tf_text = "yes" if tf.endswith("True") else "no"
        print(f"| {name} |{before} {t:.2f} | {c:.2f} | {tf_text} | {msg[:90]} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
