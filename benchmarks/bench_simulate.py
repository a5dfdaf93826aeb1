"""Simulation throughput: base images (abTEM convolution approach), augmentation, and the default dataset.

Reports, on this machine:

* seconds to simulate one 8 nm × 8 nm × 8 nm cell per class (cold cache);
* seconds to augment one base image into its 1049 windows and their descriptors;
* with ``--dataset``: wall time and peak memory (max RSS) of the whole default
  training set (since issue 17 the common metals: 62 base images → 65,038 descriptors; the paper's set
  of 30 → 31,470 with empty [materials] lists), as ``aistem simulate dataset`` makes it.

Run: .venv/bin/python benchmarks/bench_simulate.py [--classes FCC_Cu_100 ...] [--dataset --out /tmp/train.h5]
For the command itself: /usr/bin/time -v .venv/bin/aistem simulate dataset --out /work/data/train.h5
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from aistem.core.descriptor import fft_haadf_descriptor
from aistem.training.augment import PeriodicImage
from aistem.training.config import load_simulate_config, simulation_settings
from aistem.training.crystals import CLASS_NAMES, build_cell
from aistem.training.dataset import generate_dataset
from aistem.training.haadf import simulate_haadf
from aistem.training.recipe import AugmentRecipe


def peak_rss_mb() -> float:
    """Peak resident memory of this process [MB] (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", nargs="+", default=list(CLASS_NAMES), help="classes to time (default all ten)")
    ap.add_argument("--dataset", action="store_true", help="also make the whole default dataset (cold cache)")
    ap.add_argument("--out", default=None, help="dataset file (default: a temporary folder, deleted afterwards)")
    args = ap.parse_args()

    cfg = load_simulate_config()
    st = simulation_settings(cfg)
    sim = cfg["simulation"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"cells {sim['cell_size']} Å × {sim['cell_size']} Å × {sim['thickness']} Å, sampling {sim['sampling']} Å, {st.method}")
    recipe = AugmentRecipe.from_config(cfg["augment"], float(sim["pixel_size"]))
    sim_times, aug_times = [], []
    for name in args.classes:
        t0 = time.perf_counter()
        img = simulate_haadf(build_cell(name, 0.0, float(sim["cell_size"]), float(sim["thickness"])), st)
        t1 = time.perf_counter()
        windows = np.stack([w.image for w in recipe.windows(PeriodicImage(img.image, img.pixel_size), np.random.default_rng(0))])
        for s in range(0, len(windows), 256):
            fft_haadf_descriptor(windows[s : s + 256], workers=1)
        t2 = time.perf_counter()
        sim_times.append(t1 - t0)
        aug_times.append(t2 - t1)
        print(
            f"  {name:14s} {img.image.shape[0]}×{img.image.shape[1]} px: simulate {t1 - t0:5.2f} s, "
            f"augment+descriptors ({len(windows)} windows) {t2 - t1:5.2f} s"
        )
    print(f"mean: simulate {np.mean(sim_times):.2f} s/base image, augment {np.mean(aug_times):.2f} s/base image")

    if args.dataset:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(args.out) if args.out else Path(tmp) / "train.h5"
            t0 = time.perf_counter()
            generate_dataset(cfg, out, overwrite=True, progress=False, cache_dir=Path(tmp) / "cache")
            wall = time.perf_counter() - t0
            print(f"dataset: {out} ({out.stat().st_size / 1e6:.0f} MB) in {wall:.1f} s wall, peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
