"""Training throughput: descriptors/s of one training epoch (forward + backward) per kernel size.

Random 64×64 descriptors, the paper's architecture, Adam, batch 64.  The full
set (~25,000 training descriptors) takes N / rate seconds per epoch.
Run: .venv/bin/python benchmarks/bench_train.py [--n 2048] [--batch-size 64] [--kernels 3 5 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2048, help="descriptors per timed epoch")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--kernels", type=int, nargs="+", default=[3, 5, 7])
    ap.add_argument("--full", type=int, default=24_800, help="training descriptors of the full set, for the epoch estimate")
    args = ap.parse_args()

    import keras

    from aistem.core.model import build_model

    rng = np.random.default_rng(0)
    x = rng.random((args.n, 64, 64, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, args.n), 10)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; keras {keras.__version__} "
        f"({keras.backend.backend()}); batch {args.batch_size}, {args.n} descriptors per epoch"
    )
    for k in args.kernels:
        m = build_model(10, kernel_size=k, dropout=0.07, seed=0)
        m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        m.fit(x[: 2 * args.batch_size], y[: 2 * args.batch_size], batch_size=args.batch_size, epochs=1, verbose=0)  # trace
        t = time.perf_counter()
        m.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)
        rate = args.n / (time.perf_counter() - t)
        print(f"kernel {k}: {rate:,.0f} descriptors/s training → {args.full / rate / 60:.1f} min per epoch of {args.full}")


if __name__ == "__main__":
    main()
