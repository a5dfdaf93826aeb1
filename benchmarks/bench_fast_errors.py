"""How long `aistem analyze` takes to say what is wrong with its arguments, files and pixel sizes.

Each case runs the console command in a fresh process (as a user does) ``--repeat`` times and prints the median wall
time, next to the time of ``python -c "import numpy"`` on the same machine (the floor of any Python command) and
whether TensorFlow was imported before the error (it must not be). Usage::

    python benchmarks/bench_fast_errors.py [--repeat 5] [--real ../shared/real-files]
"""

from __future__ import annotations

import argparse
import platform
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


def timed(cmd: list[str], repeat: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        out = (p.stderr.strip().splitlines() or [""])[-1]
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "real-files")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    np.save(tmp / "img.npy", np.zeros((256, 256), np.float32))
    cases = [
        ("argument: --pixel-size -1", ["analyze", str(tmp / "img.npy"), "--pixel-size", "-1"]),
        ("file: missing", ["analyze", str(tmp / "missing.dm4")]),
        ("pixel size: .npy at 2.5 Å/px", ["analyze", str(tmp / "img.npy"), "--pixel-size", "2.5"]),
        ("pixel size: .npy without one", ["analyze", str(tmp / "img.npy")]),
    ]
    real = args.real
    if real.is_dir():
        cases += [
            ("pixel size: DM3 at 2.49 Å/px", ["analyze", str(real / "digitalmicrograph/2D/test_STEM_image.dm3")]),
            ("refusal: EELS spectrum image (DM4)", ["analyze", str(real / "digitalmicrograph/3D/EELS_SI.dm4")]),
            ("refusal: diffraction (HyperSpy)", ["analyze", str(real / "hspy/example2_v3.1.hspy")]),
        ]
    base, _ = timed([sys.executable, "-c", "import numpy"], args.repeat)
    print(f"{platform.processor() or platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores; "
          f"load average {__import__('os').getloadavg()[0]:.1f}")  # fmt: skip
    print(f"python -c 'import numpy': {base:.2f} s (median of {args.repeat})")
    print("| error | time [s] | TensorFlow imported | message |\n|---|---|---|---|")
    for name, argv in cases:
        t, msg = timed([sys.executable, "-m", "aistem.cli", *argv], args.repeat)
        tf = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True).stdout.strip()
        print(f"| {name} | {t:.2f} | {'yes' if tf.endswith('True') else 'no'} | {msg[:90]} |")


if __name__ == "__main__":
    main()
