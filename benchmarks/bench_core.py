"""Core throughput: descriptor windows/s and MC-dropout window-samples/s, and where the CPU time goes.

Issue 2's setting: a 512×512 image, window 96 px, stride 12 px, T = 30.
Run: .venv/bin/python benchmarks/bench_core.py [--samples 30] [--repeat 3]

The breakdown (issue 8) compares, on the same windows: the bare network with dropout off (the floor), the
MC-dropout sampler as a plain ``tf.function`` and compiled with XLA, and the host-side mask generation.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from aistem.core.analysis import DESCRIPTOR_CHUNK
from aistem.core.descriptor import fft_haadf_descriptor
from aistem.core.masks import dropout_masks
from aistem.core.mc_dropout import MCDropoutPredictor
from aistem.core.synthetic import synthetic_bicrystal
from aistem.core.windows import extract_windows, window_grid

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "ai4stem_optimal_model.h5"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=512, help="image side [px]")
    ap.add_argument("--window-px", type=int, default=96)
    ap.add_argument("--stride-px", type=int, default=12)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default=str(REFERENCE) if REFERENCE.is_file() else None)
    args = ap.parse_args()

    from aistem.core.model import AistemModel, ModelInfo, build_model, load_model

    if args.model:
        model = load_model(args.model)
    else:
        model = AistemModel(build_model(10), ModelInfo([f"c{i}" for i in range(10)]), "untrained", "-")
    img = synthetic_bicrystal((args.size, args.size))
    grid = window_grid(img.shape, args.window_px, args.stride_px)
    n = grid.size
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; model {model.name}")
    print(f"image {args.size}×{args.size}, window {args.window_px} px, stride {args.stride_px} px: {n} windows, T={args.samples}")

    def descriptors() -> np.ndarray:
        out = np.empty((n, 64, 64), np.float32)
        for s in range(0, n, DESCRIPTOR_CHUNK):
            b = extract_windows(img, grid, s, s + DESCRIPTOR_CHUNK)
            out[s : s + len(b)] = fft_haadf_descriptor(b)
        return out

    d = descriptors()
    best = min(_timed(descriptors) for _ in range(args.repeat))
    print(f"descriptors: {n / best:,.0f} windows/s ({best * 1e3:.0f} ms per frame)")

    for jit in (True, False):
        pred = MCDropoutPredictor(model, jit=jit)
        t0 = time.perf_counter()
        pred.run(d[:64], args.samples, seed=0)  # trace/compile (and draw the masks)
        first = time.perf_counter() - t0
        best = min(_timed(lambda p=pred: p.run(d, args.samples, seed=0)) for _ in range(args.repeat))
        label = "XLA" if jit else "plain tf.function"
        rate = n * args.samples / best
        print(f"MC dropout ({label}): {rate:,.0f} window-samples/s ({best:.2f} s per frame; first call {first:.1f} s)")
    masks_s = min(_timed(lambda: dropout_masks(1, 0, 100, pred.layout)) for _ in range(args.repeat))
    print(f"dropout masks, T = 100 samples, all layers ({pred.layout.elements:,} elements per sample): {masks_s * 1e3:.0f} ms")
    print(
        f"bare network, dropout off: {_bare_rate(model.keras_model, d, jit=False):,.0f} passes/s (tf.function), "
        f"{_bare_rate(model.keras_model, d, jit=True):,.0f} passes/s (XLA)"
    )


def _bare_rate(keras_model, d: np.ndarray, *, jit: bool, batch: int = 1024, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Forward passes per second of the network alone (dropout off), batches of ``batch`` windows."""
    import tensorflow as tf

    x = tf.constant(np.resize(d, (batch, 64, 64))[..., None])
    fn = tf.function(lambda v: keras_model(v, training=False), jit_compile=jit)
    fn(x)
    return batch / min(_timed(lambda: fn(x).numpy()) for _ in range(repeat))


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
