"""Peak memory of one ``aistem.core.analyze`` against the frame size (issue 22.3: bounded memory).

Each measurement runs in a fresh subprocess: load the model, analyse a small frame once (compiles the network,
allocates the sampler's working set), note the resident memory (RSS), analyse one ``--size``² uint16 frame at
``--pixel-size`` with 12 Å windows every 1.5 Å, and report the peak RSS (``ru_maxrss``) above the RSS before it.
``--cache-mib`` sets the descriptor cache (``aistem.core.descriptor_stream.CACHE_BYTES``); a cache larger than
all the frame's descriptors keeps every descriptor, as the analysis did before descriptors were streamed.

T = 1 and no lattice rotation keep the run short: the descriptors' memory does not depend on T, the sampler's
working set is one block of windows, and the rotation step already worked in blocks of 64 windows.

Run: nice .venv/bin/python benchmarks/bench_memory.py --size 512 2048 4096
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CHILD = r"""
import json, resource, sys, time
import numpy as np
from aistem.core import analyze, load_model
from aistem.core import descriptor_stream
size, px, cache_mib, batch = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[5])
model_path, limit = sys.argv[4] or None, int(sys.argv[6])
from aistem.core import AnalysisCancelled
descriptor_stream.CACHE_BYTES = int(cache_mib * 2**20)
model = load_model(model_path)
kw = dict(window=12.0, stride=1.5, samples=1, seed=0, model=model, rotation=False, adaptive=False, batch_size=batch)
rng = np.random.default_rng(0)
analyze(rng.integers(0, 4000, (256, 256), dtype=np.uint16), px, **kw)
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
before = rss()
image = rng.integers(0, 4000, (size, size), dtype=np.uint16)
t = time.perf_counter()
done = [0]
try:
    r = analyze(image, px, progress=lambda k, n: done.__setitem__(0, k), cancel=lambda: limit > 0 and done[0] >= limit, **kw)
    windows, stopped = int(r.classes.size), False
except AnalysisCancelled:
    windows, stopped = done[0], True
dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"size": size, "windows": windows, "stopped": stopped, "frame_mib": image.nbytes / 2**20,
                  "added_mib": (peak - before) / 2**20, "seconds": dt}))
"""


def measure(size: int, px: float, cache_mib: float, model: str | None, batch: int, limit: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(size), str(px), str(cache_mib), model or "", str(batch), str(limit)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs="+", default=[512, 2048, 4096], help="frame sides [px]")
    ap.add_argument("--pixel-size", type=float, default=0.1875, help="[Å/px] (0.1875: 12 Å = 64 px, 1.5 Å = 8 px)")
    ap.add_argument("--cache-mib", type=float, nargs="+", default=[64.0], help="descriptor cache(s) to compare [MiB]")
    ap.add_argument("--model", default=None, help="model file (default: the shipped model)")
    ap.add_argument("--batch-size", type=int, default=512, help="windows per network call (T = 1: large calls are faster)")
    ap.add_argument(
        "--stop-after",
        type=int,
        default=0,
        help="cancel each analysis after this many windows (0: run to the end); the working set is in place after the "
        "first blocks, so a long run stopped early shows the same peak minus the final maps",
    )
    args = ap.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for cache in args.cache_mib:
        for size in args.size:
            t = time.perf_counter()
            m = measure(size, args.pixel_size, cache, args.model, args.batch_size, args.stop_after)
            print(
                f"cache {cache:>7.0f} MiB  {size:>5}²  {m['windows']:>7} windows{' (stopped)' if m['stopped'] else ''}  "
                f"frame {m['frame_mib']:6.1f} MiB  "
                f"peak added {m['added_mib']:7.1f} MiB  analysis {m['seconds']:6.1f} s  (run {time.perf_counter() - t:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
