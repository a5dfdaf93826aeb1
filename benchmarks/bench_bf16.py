"""Why mixed bfloat16 does not speed up the CNN on this CPU: check the ISA, then time fp32 vs bf16 forward passes.

Run: .venv/bin/python benchmarks/bench_bf16.py
Prints the CPU model and its AMX/AVX512-BF16 flags, and forward passes per CPU-second (dropout off) per policy.
"""

from __future__ import annotations

import os
import re
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def cpu_flags() -> tuple[str, set[str]]:
    text = open("/proc/cpuinfo").read()
    model = re.search(r"model name\s*:\s*(.*)", text)
    flags = re.search(r"flags\s*:\s*(.*)", text)
    return (model.group(1) if model else "?"), set(flags.group(1).split() if flags else [])


def rate(policy: str, batch: int = 256, repeat: int = 5) -> float:
    import keras
    import numpy as np

    keras.mixed_precision.set_global_policy(policy)
    from aistem.core.model import build_model

    m = build_model(10, seed=0)
    x = np.random.default_rng(0).random((batch, 64, 64, 1)).astype(np.float32)
    import tensorflow as tf

    f = tf.function(lambda t: m(t, training=False))
    f(x)
    best = float("inf")
    for _ in range(repeat):
        c = time.process_time()
        f(x).numpy()
        best = min(best, time.process_time() - c)
    keras.mixed_precision.set_global_policy("float32")
    return batch / best


if __name__ == "__main__":
    model, flags = cpu_flags()
    print(f"CPU: {model}; {os.cpu_count()} cores")
    for f in ("amx_bf16", "amx_tile", "amx_int8", "avx512_bf16", "avx512f"):
        print(f"  {f}: {'yes' if f in flags else 'no'}")
    for policy in ("float32", "mixed_bfloat16"):
        print(f"{policy}: {rate(policy):,.0f} forward passes per CPU-second (dropout off)")
