"""Core throughput: descriptor windows/s and MC-dropout window-samples/s.

Issue 2's setting: a 512×512 image, window 96 px, stride 12 px, T = 30.
Run: .venv/bin/python benchmarks/bench_core.py [--samples 30] [--repeat 3]
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

    pred = MCDropoutPredictor(model)
    pred.run(d[:64], args.samples, seed=0)  # trace/compile
    best = min(_timed(lambda: pred.run(d, args.samples, seed=0)) for _ in range(args.repeat))
    print(f"MC dropout: {n * args.samples / best:,.0f} window-samples/s ({best:.2f} s per frame)")


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
