"""Adaptive Monte-Carlo sampling against fixed T: agreement and speed-up (issue 8).

For each scene — frames of the shipped sample series, the polycrystal scene and bicrystal scenes — the same
image is analysed with fixed sampling (the paper's procedure, T samples for every window, float32) and with
adaptive sampling (float32 and bfloat16), in one process after a warm-up call. Printed per scene and in all:
wall time, class-map agreement and interface-decision agreement with the fixed run, mean samples per window
and the speed-up. Targets (issue 8): class agreement >= 99.5 %, interface agreement >= 99 %, and >= 5x
faster than fixed T = 100 on the sample series.

Run: .venv/bin/python benchmarks/bench_adaptive.py [--frames 2] [--classes FCC_Cu_100 ...] [--samples 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SERIES = ROOT / "training" / "data" / "sample_series.npz"

CONFIGS = {
    "adaptive float32": {"adaptive": True, "precision": "float32"},
    "adaptive bfloat16": {"adaptive": True, "precision": "bfloat16"},
}


def scenes(args: argparse.Namespace) -> list[tuple[str, np.ndarray, float]]:
    """(name, image, pixel size [Å/px]) of every scene asked for."""
    out: list[tuple[str, np.ndarray, float]] = []
    if args.frames > 0:
        with np.load(SERIES) as d:
            px = float(d["pixel_size"])
            for i in range(min(args.frames, d["frames"].shape[0])):
                out.append((f"sample series frame {i}", d["frames"][i].astype(np.float32), px))
    if not args.no_polycrystal or args.classes:
        from aistem.training.scenes import make_bicrystal, make_polycrystal

        if not args.no_polycrystal:
            img, _, meta = make_polycrystal(seed=0, cache_dir=args.cache_dir)
            out.append(("polycrystal", img, float(meta.get("pixel_size", 0.12))))
        for name in args.classes:
            img, _, meta = make_bicrystal(name, 30.0, 0.0, seed=0, cache_dir=args.cache_dir)
            out.append((f"bicrystal {name}", img, float(meta.get("pixel_size", 0.12))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model file (default: the shipped model)")
    ap.add_argument("--frames", type=int, default=2, help="sample-series frames to analyse (default 2)")
    ap.add_argument("--no-polycrystal", action="store_true", help="skip the polycrystal scene")
    ap.add_argument(
        "--classes",
        nargs="*",
        default=["FCC_Cu_100", "BCC_Fe_110", "HCP_Ti_0001"],
        help="bicrystal classes (30° misorientation, vertical boundary); none to skip",
    )
    ap.add_argument("--samples", type=int, default=100, help="T, fixed and the adaptive upper bound (default 100)")
    ap.add_argument("--stride", type=float, default=1.5, help="window step [Å] (default 1.5)")
    ap.add_argument("--window", type=float, default=12.0, help="window side [Å] (default 12)")
    ap.add_argument("--cache-dir", help="simulation cache folder (default: the simulator's)")
    args = ap.parse_args()

    from aistem.core import analyze, load_model
    from aistem.core.analysis import warm_up

    model = load_model(args.model)
    todo = scenes(args)
    print(f"# {platform.node()} {platform.machine()} {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print(f"# model {model.name} ({model.hash[:16]}), window {args.window} Å, stride {args.stride} Å, T = {args.samples}")
    common = {"window": args.window, "stride": args.stride, "samples": args.samples, "model": model, "seed": 0}
    for cfg in [{"adaptive": False, "precision": "float32"}, *CONFIGS.values()]:  # compile outside the timings
        warm_up(model, samples=args.samples, **cfg)

    rows = []
    totals: dict[str, dict[str, float]] = {}
    for name, img, px in todo:
        t0 = time.perf_counter()
        ref = analyze(img, px, **common)
        t_fixed = time.perf_counter() - t0
        n = ref.classes.size
        line = {"scene": name, "windows": n, "fixed": t_fixed, "interface": float(ref.interface.mean())}
        for label, cfg in CONFIGS.items():
            t0 = time.perf_counter()
            res = analyze(img, px, **common, **cfg)
            dt = time.perf_counter() - t0
            used = res.samples_used if res.samples_used is not None else np.full(ref.classes.shape, args.samples)
            agree_c = float((res.classes == ref.classes).mean())
            agree_i = float((res.interface == ref.interface).mean())
            line[label] = (dt, agree_c, agree_i, float(used.mean()))
            tot = totals.setdefault(label, {"t": 0.0, "n": 0, "c": 0.0, "i": 0.0, "s": 0.0})
            tot["t"] += dt
            tot["n"] += n
            tot["c"] += agree_c * n
            tot["i"] += agree_i * n
            tot["s"] += float(used.sum())
            print(
                f"{name:32s} {label:18s} {n:5d} windows  fixed {t_fixed:7.1f} s  this {dt:7.1f} s"
                f"  speed-up {t_fixed / dt:5.2f}x  class {agree_c:.2%}  interface {agree_i:.2%}"
                f"  mean samples {used.mean():5.1f}  (interface windows {ref.interface.mean():.1%})",
                flush=True,
            )
        rows.append(line)

    print()
    heads = " | ".join(f"{k}: s, speed-up, class, interface, mean T" for k in CONFIGS)
    print(f"| scene | windows | interface (fixed) | fixed T [s] | {heads} |")
    print("|---|---|---|---|" + "---|" * len(CONFIGS))
    for r in rows:
        cells = [f"{r[k][0]:.1f} s, {r['fixed'] / r[k][0]:.2f}×, {r[k][1]:.2%}, {r[k][2]:.2%}, {r[k][3]:.1f}" for k in CONFIGS]
        print(f"| {r['scene']} | {r['windows']} | {r['interface']:.1%} | {r['fixed']:.1f} | " + " | ".join(cells) + " |")
    fixed_all = sum(r["fixed"] for r in rows)
    for label, tot in totals.items():
        print(
            f"all scenes, {label}: {tot['t']:.1f} s against {fixed_all:.1f} s fixed ({fixed_all / tot['t']:.2f}×),"
            f" class {tot['c'] / tot['n']:.2%}, interface {tot['i'] / tot['n']:.2%}, mean samples {tot['s'] / tot['n']:.1f}"
        )


if __name__ == "__main__":
    main()
