"""Coarse-to-fine against the dense grid: agreement, fraction of windows evaluated and time, scene by scene.

For each image, ``aistem.core.analyze`` runs dense (``coarse_step`` None, the paper's grid) and coarse-to-fine
(``--k``) with the same seed and settings, in one process, one after the other:

* agreement of the class, interface and unknown maps (issue target ≥ 99.5 %);
* MI difference on the evaluated windows (the same masks: 0 up to float rounding with fixed sampling);
* fraction of windows evaluated, and the analysis time of both.

Images: the shipped sample series (frame 0), the simulated polycrystal (training/evaluate.py, seed 0) and bicrystals
of three classes (need the training extra: abTEM); ``--files`` adds any image files (``.npz`` scenes or frames).

Run: .venv/bin/python benchmarks/bench_coarse.py [--k 4 --stride 1.5 --samples 100] [--no-scenes]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def images(args: argparse.Namespace) -> list[tuple[str, np.ndarray, float]]:
    from aistem.daemon.sources.replay import load_series, sample_series_path

    out = []
    p = sample_series_path()
    if p is not None:
        s = load_series([p])[0]
        out.append(("sample series frame 0", s.frames[0].astype(np.float32), s.pixel_size))
    if not args.no_scenes:
        from aistem.training.evaluate import bicrystal_scene, polycrystal_scene

        sc = polycrystal_scene(seed=0)
        out.append(("polycrystal (seed 0)", sc.image, sc.pixel_size))
        for name in ("FCC_Cu_110", "BCC_Fe_100", "HCP_Ti_0001"):
            sc = bicrystal_scene(name)
            out.append((f"bicrystal {name}", sc.image, sc.pixel_size))
    for f in args.files:
        from aistem.core.io import read_image

        d = read_image(f)
        out.append((f, d.frames[0].astype(np.float32), d.pixel_size))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--stride", type=float, default=1.5, help="[Å]")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--fixed", action="store_true", help="fixed sampling (default: adaptive, as the CLI)")
    ap.add_argument("--no-scenes", action="store_true", help="only the sample frame and --files")
    ap.add_argument("--files", nargs="*", default=[])
    a = ap.parse_args()
    from aistem.core import analyze, load_model

    model = load_model()
    kw = {"stride": a.stride, "samples": a.samples, "seed": 0, "adaptive": not a.fixed, "precision": "auto", "model": model}
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}; model {model.name}; "
          f"stride {a.stride} Å, T = {a.samples}, {'fixed' if a.fixed else 'adaptive'}, k = {a.k}")  # fmt: skip
    print(f"{'image':<28} {'class':>7} {'iface':>7} {'unknown':>7} {'max dMI':>8} {'evaluated':>9} {'dense s':>8} {'c2f s':>7}")
    for name, img, px in images(a):
        analyze(img[:300, :300], px, **kw)  # warm-up: compile the call shapes
        t = time.perf_counter()
        d = analyze(img, px, **kw)
        td = time.perf_counter() - t
        t = time.perf_counter()
        c = analyze(img, px, coarse_step=a.k, **kw)
        tc = time.perf_counter() - t
        ev = ~c.filled
        dmi = float(np.abs(c.mutual_information[ev] - d.mutual_information[ev]).max())
        agree = [float((getattr(c, n) == getattr(d, n)).mean()) for n in ("classes", "interface", "unknown")]
        print(
            f"{name:<28} {agree[0]:>7.2%} {agree[1]:>7.2%} {agree[2]:>7.2%} {dmi:>8.4f} {ev.mean():>9.1%} {td:>8.1f} {tc:>7.1f}",
            flush=True,
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
