"""The GPU path: window-samples/s and frame time of a 1024×1024 frame at the paper's settings, and the share of the
card's measured peak.

Issue 8's setting: window 100 px, stride 12 px, T = 100, the paper's architecture. CuPy cuts the windows and
computes the descriptors; they reach the network through DLPack without leaving the GPU; Keras 3 runs the network
on the JAX or torch backend (the GPU machine has no TensorFlow). The peak is a measured large matrix product in the
same precision, so "share of peak" compares like with like.

Run on a GPU machine:  KERAS_BACKEND=jax python benchmarks/bench_gpu.py [--backend jax] [--precision bfloat16]
It also runs on a CPU (NumPy descriptors, same backend), as a smoke check of the script.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "ai4stem_optimal_model.h5"


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("jax", "torch", "tensorflow"), default=os.environ.get("KERAS_BACKEND", "jax"))
    ap.add_argument("--size", type=int, default=1024, help="frame side [px]")
    ap.add_argument("--window-px", type=int, default=100)
    ap.add_argument("--stride-px", type=int, default=12)
    ap.add_argument("--samples", type=int, default=100, help="T")
    ap.add_argument("--batch-size", type=int, default=256, help="windows per network call")
    ap.add_argument("--samples-per-call", type=int, default=32)
    ap.add_argument("--precision", choices=("float32", "bfloat16", "float16"), default="float32")
    ap.add_argument("--adaptive", action="store_true", help="adaptive sampling instead of the paper's fixed T")
    ap.add_argument("--model", default=str(REFERENCE) if REFERENCE.is_file() else None, help="default: paper's model")
    ap.add_argument("--repeat", type=int, default=3)
    return ap.parse_args()


def network_flops(keras_model) -> float:  # type: ignore[no-untyped-def]
    """Multiply-adds × 2 of one forward pass [FLOP]."""
    import keras
    from keras import ops

    x = ops.zeros((1, *keras_model.input_shape[1:]))
    total = 0.0
    for layer in keras_model.layers:
        y = layer(x)
        if isinstance(layer, keras.layers.Conv2D):
            k = layer.kernel_size[0] * layer.kernel_size[1]
            total += 2.0 * y.shape[1] * y.shape[2] * y.shape[3] * k * x.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * x.shape[-1] * y.shape[-1]
        x = y
    return total


def peak_flops(precision: str, n: int = 8192) -> tuple[float, str]:
    """Measured matrix-product rate in ``precision`` [FLOP/s] and the device's name."""
    import keras
    from keras import ops

    dtype = "float32" if precision == "float32" else precision
    a = ops.cast(keras.random.normal((n, n), seed=1), dtype)
    b = ops.cast(keras.random.normal((n, n), seed=2), dtype)
    ops.convert_to_numpy(ops.sum(ops.matmul(a, b)))  # warm-up
    t = time.perf_counter()
    for _ in range(5):
        c = ops.matmul(a, b)
    ops.convert_to_numpy(ops.sum(c))
    return 5 * 2.0 * n**3 / (time.perf_counter() - t), device_name()


def device_name() -> str:
    import keras

    name = keras.backend.backend()
    if name == "jax":
        import jax

        d = jax.devices()[0]
        return f"{d.platform}: {getattr(d, 'device_kind', d)}"
    if name == "torch":
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    return "tensorflow"


def main() -> None:
    args = parse()
    os.environ["KERAS_BACKEND"] = args.backend
    import numpy as np

    from aistem.core import analyze, load_model
    from aistem.core.backend import cupy_available, get_array_module
    from aistem.core.synthetic import synthetic_bicrystal

    model = load_model(args.model)
    xp = get_array_module("gpu" if cupy_available() else "cpu")
    image = xp.asarray(synthetic_bicrystal((args.size, args.size)))
    n = ((args.size - args.window_px) // args.stride_px + 1) ** 2
    kw = dict(
        window_px=args.window_px,
        stride_px=args.stride_px,
        samples=args.samples,
        model=model,
        seed=0,
        adaptive=args.adaptive,
        precision=args.precision,
        rotation=False,
        batch_size=args.batch_size,
        samples_per_call=args.samples_per_call,
    )
    peak, device = peak_flops(args.precision, 8192 if cupy_available() else 2048)
    flops = network_flops(model.keras_model)
    print(f"device {device}; backend {args.backend}; descriptors on {xp.__name__}; precision {args.precision}", flush=True)
    print(f"measured matmul peak: {peak / 1e12:.2f} TFLOP/s; one network: {flops / 1e6:.1f} MFLOP", flush=True)
    print(
        f"frame {args.size}×{args.size}, window {args.window_px} px, stride {args.stride_px} px: {n} windows, T = {args.samples}"
    )
    t = time.perf_counter()
    analyze(image[: args.window_px * 2, : args.window_px * 2], None, **kw)  # compile the call shapes
    print(f"first call (compilation): {time.perf_counter() - t:.1f} s", flush=True)
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        r = analyze(image, None, **kw)
        times.append(time.perf_counter() - t)
    best = min(times)
    used = float(np.asarray(r.samples_used).mean()) if r.samples_used is not None else float(args.samples)
    rate = n * used / best
    print(
        f"frame time {best:.3f} s (of {len(times)}: {', '.join(f'{v:.3f}' for v in times)}); {rate:,.0f} window-samples/s; "
        f"mean samples {used:.1f}; {rate * flops / 1e12:.2f} TFLOP/s = {rate * flops / peak:.1%} of the measured peak",
        flush=True,
    )


if __name__ == "__main__":
    main()
