"""Mixed bfloat16 on the CPU: does the hardware have it, how fast is the sampler, does the map change?

Run: .venv/bin/python benchmarks/bench_bf16.py [--samples 100] [--model M]

1. The CPU model and its AMX / AVX512-BF16 flags.
2. The bare network (dropout off), forward passes per second, float32 and mixed bfloat16, as a plain
   ``tf.function`` (oneDNN kernels) and under XLA (``jit_compile``).
3. The MC-dropout sampler (``MCDropoutPredictor``) in window-samples per second for each precision × compiler,
   on descriptors of frame 0 of the shipped sample series (window 96 px, stride 12 px, the paper's setting).
4. Agreement of bfloat16 with float32 at fixed T (same seed, so the same masks): class map, interface decision
   (MI > 0.1 bit) and the largest MI difference, on the sample frame and on a toy bicrystal (this model), and with
   ``--scenes`` on the simulated polycrystal and three bicrystals (the shipped model, window 100 px).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "ai4stem_optimal_model.h5"
SAMPLE_SERIES = ROOT / "training" / "data" / "sample_series.npz"


def cpu_flags() -> tuple[str, set[str]]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = re.search(r"model name\s*:\s*(.*)", text)
    flags = re.search(r"flags\s*:\s*(.*)", text)
    return (model.group(1) if model else "?"), set(flags.group(1).split() if flags else [])


def bare_rate(keras_model, x: np.ndarray, precision: str, jit: bool, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Forward passes per second of the network with dropout off, in batches of 256."""
    import tensorflow as tf

    from aistem.core.backend import reduced_precision_copy

    m = keras_model if precision == "float32" else reduced_precision_copy(keras_model, precision)
    f = tf.function(lambda t: m(t, training=False), jit_compile=jit)
    f(x[:256])
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for b in range(0, len(x), 256):
            f(x[b : b + 256]).numpy()
        best = min(best, time.perf_counter() - t)
    return len(x) / best


def descriptors(image: np.ndarray, window: int = 96, stride: int = 12) -> np.ndarray:
    from aistem.core.descriptor import fft_haadf_descriptor
    from aistem.core.windows import extract_windows, window_grid

    return fft_haadf_descriptor(extract_windows(image, window_grid(image.shape, window, stride)))


def agreement(label: str, model, dd: np.ndarray, samples: int) -> None:  # type: ignore[no-untyped-def]
    """Fixed-T float32 and bfloat16 runs with the same masks; prints how far their maps agree."""
    from aistem.core.mc_dropout import MCDropoutPredictor
    from aistem.core.uncertainty import uncertainty_maps

    maps = {}
    for prec in ("float32", "bfloat16"):
        t = time.perf_counter()
        maps[prec] = uncertainty_maps(MCDropoutPredictor(model, precision=prec).run(dd, samples, seed=0))
        print(f"{label}: {prec} T={samples} in {time.perf_counter() - t:.1f} s", flush=True)
    a, b = maps["float32"], maps["bfloat16"]
    mi_a, mi_b = a["mutual_information"], b["mutual_information"]
    print(
        f"{label}: {len(dd)} windows, class agreement {(a['classes'] == b['classes']).mean():.2%}, interface agreement "
        f"{((mi_a > 0.1) == (mi_b > 0.1)).mean():.2%} (float32 {np.mean(mi_a > 0.1):.1%} interface), "
        f"max |ΔMI| {np.abs(mi_a - mi_b).max():.4f} bit, MI correlation {np.corrcoef(mi_a, mi_b)[0, 1]:.4f}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REFERENCE) if REFERENCE.is_file() else None, help="default: the paper's")
    ap.add_argument("--samples", type=int, default=100, help="T of the agreement runs")
    ap.add_argument("--rate-samples", type=int, default=16, help="samples per window of the rate runs")
    ap.add_argument("--no-agreement", action="store_true")
    ap.add_argument("--no-rates", action="store_true")
    ap.add_argument(
        "--precisions",
        nargs="+",
        choices=["float32", "bfloat16", "float16"],
        default=["float32", "bfloat16"],
        help="of the rate runs (float32 only on AVX2 CPUs)",
    )
    ap.add_argument("--scenes", action="store_true", help="also the polycrystal and bicrystal scenes (shipped model)")
    ap.add_argument("--cache-dir", help="simulation cache folder for --scenes")
    args = ap.parse_args()

    from aistem.core import load_model
    from aistem.core.mc_dropout import MCDropoutPredictor
    from aistem.core.synthetic import synthetic_bicrystal

    name, flags = cpu_flags()
    print(f"CPU: {name}; {os.cpu_count()} cores")
    for f in ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2"):
        print(f"  {f}: {'yes' if f in flags else 'no'}")
    model = load_model(args.model)
    print(f"model: {model.name} [{model.hash}]")
    frame = np.load(SAMPLE_SERIES)["frames"][0]
    d = descriptors(frame)
    x = d[..., None]
    for prec in args.precisions if not args.no_rates else ():
        for jit in (False, True):
            rate = bare_rate(model.keras_model, x, prec, jit)
            print(f"bare network, dropout off, {prec:8s} {'XLA' if jit else 'graph (oneDNN)':14s}: {rate:7,.0f} passes/s")
    sub = d[:640]
    for prec in args.precisions if not args.no_rates else ():
        for jit in (False, True):
            p = MCDropoutPredictor(model, precision=prec, jit=jit)
            p.run(sub[:32], args.rate_samples, seed=0)  # compile
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                p.run(sub, args.rate_samples, seed=0)
                best = min(best, time.perf_counter() - t)
            label = "XLA" if jit else "graph (oneDNN)"
            print(f"MC-dropout sampler, {prec:8s} {label:14s}: {len(sub) * args.rate_samples / best:7,.0f} window-samples/s")
    if args.no_agreement:
        return
    images = {"sample frame 0": frame, "toy bicrystal 512×512": synthetic_bicrystal((512, 512))}
    for label, image in images.items():
        agreement(label, model, descriptors(image), args.samples)
    if args.scenes:
        from aistem.training.scenes import make_bicrystal, make_polycrystal

        shipped = load_model(None)
        img, _, _ = make_polycrystal(seed=0, cache_dir=args.cache_dir)
        agreement("polycrystal (shipped model, stride 12 px)", shipped, descriptors(img, 100, 12), args.samples)
        for name in ("FCC_Cu_100", "BCC_Fe_110", "HCP_Ti_0001"):
            img, _, _ = make_bicrystal(name, 30.0, 0.0, seed=0, cache_dir=args.cache_dir)
            agreement(f"bicrystal {name} (shipped model, stride 25 px)", shipped, descriptors(img, 100, 25), args.samples)


if __name__ == "__main__":
    main()
