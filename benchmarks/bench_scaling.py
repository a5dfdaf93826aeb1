"""Scaling past one process: batch frames/s with 1 and 2 Dask workers, live frames/s with 1 and 2 daemons.

* batch: ``--frames`` sample frames (the shipped series, repeated) analysed by :func:`aistem.core.batch.run_batch`
  in-process, then on a LocalCluster of 1 and of 2 worker processes (model loading and cluster start-up are timed
  apart: a warm-up frame per worker first);
* live: ``aistem serve --socket pull --mode lossless`` × 1 and × 2 (subprocesses) behind one PUSH source and an
  ``aistem relay``; all frames pushed at once, frames/s from the first push to the last result at the relay;
* on paper: frames/s for N GPUs at the paper's settings from a measured per-frame cost (``--gpu-frame-s``).

Scaling efficiency = (rate with 2) / (2 × rate with 1). On a 2-core machine two workers share the cores the one
worker already used (TensorFlow uses every core it is given), so the efficiency measures overhead, not capacity.

Run: .venv/bin/python benchmarks/bench_scaling.py [--frames 16 --stride 3 --samples 30] [--skip-live]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _frame(frames_path: str, i: int) -> tuple[np.ndarray, float]:
    with np.load(frames_path) as z:
        frames = z["frames"]
        px = float(z["pixel_size"]) if "pixel_size" in z.files else 0.12
    return frames[i % len(frames)].astype(np.float32), px


def _jobs(path: str, n: int, tag: str) -> list:
    from aistem.core.batch import FrameJob

    return [FrameJob(f"{tag}{i:03d}", functools.partial(_frame, path, i)) for i in range(n)]


def bench_batch(path: str, n: int, opts: dict, workers: int | None) -> float:
    from aistem.core.batch import run_batch
    from aistem.core.cluster import cluster_client

    with cluster_client(workers=workers) as client, tempfile.TemporaryDirectory() as tmp:
        k = workers or 1
        run_batch(_jobs(path, k, "warm"), Path(tmp) / "warm", client=client, **opts)  # start-up and model loads
        t0 = time.perf_counter()
        out = run_batch(_jobs(path, n, "f"), Path(tmp) / "run", client=client, **opts)
        dt = time.perf_counter() - t0
    assert len(out.written) == n and not out.failed, out.failed
    return n / dt


def _free() -> str:
    import zmq

    s = zmq.Context.instance().socket(zmq.REP)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    s.close(0)
    return f"tcp://127.0.0.1:{port}"


def bench_live(path: str, n: int, stride: float, samples: int, daemons: int) -> float:
    import zmq

    from aistem.core.protocol import decode_message
    from aistem.daemon.relay import Relay
    from aistem.daemon.sources.client import FramePublisher, request

    pub = FramePublisher("tcp://127.0.0.1:*", kind="push", send_timeout=600)
    procs, ctl, res = [], [], []
    for _ in range(daemons):
        r, c = _free(), _free()
        res.append(r)
        ctl.append(c)
        args = ["serve", "--socket", "pull", "--mode", "lossless", "--frames", pub.endpoint, "--results", r, "--control", c]
        args += ["--stride", str(stride), "--samples", str(samples), "--no-preview", "--log-level", "WARNING"]
        procs.append(subprocess.Popen([sys.executable, "-m", "aistem.cli", *args], cwd=ROOT))
    relay = Relay(res, "tcp://127.0.0.1:*", status_interval=1.0)
    thread = relay.serve_in_thread()
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"result")
    sub.setsockopt(zmq.SUBSCRIBE, b"error")
    sub.connect(relay.results_endpoint)
    try:
        for c in ctl:
            for _ in range(120):
                try:
                    if request("status", c, timeout=2)["status"]["warm"]:
                        break
                except (RuntimeError, TimeoutError, OSError):
                    pass
                time.sleep(1)
        t0 = time.perf_counter()
        for i in range(n):
            f, px = _frame(path, i)
            pub.send(f.astype(np.uint16), pixel_size=px, series="bench", index=i)
        got: set[int] = set()
        errors: list[str] = []
        while len(got) + len(errors) < n and sub.poll(600_000):
            m = decode_message(sub.recv_multipart())
            if m.kind == "error":
                errors.append(f"#{m.index}: {m.header.get('reason')}")
            elif m.final:
                got.add(m.index)
        dt = time.perf_counter() - t0
    finally:
        relay.stop()
        thread.join(5)
        for c in ctl:
            try:
                request("stop", c, timeout=5, drain=False)
            except (RuntimeError, TimeoutError, OSError):
                pass
        for p in procs:
            p.wait(60)
        sub.close(0)
        pub.close()
    assert len(got) == n, f"{len(got)} of {n} results; errors: {errors}; missing {sorted(set(range(n)) - got)}"
    return n / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--stride", type=float, default=3.0, help="[Å]")
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--gpu-frame-s", type=float, default=1.0, help="measured seconds per frame on one GPU, for the table")
    a = ap.parse_args()
    from aistem.daemon.sources.replay import sample_series_path

    path = str(sample_series_path())
    opts = {"stride": a.stride, "samples": a.samples, "seed": 0}
    cpu = platform.processor() or platform.machine()
    print(f"machine: {os.cpu_count()} cores, {cpu}; {a.frames} frames, stride {a.stride} Å, T = {a.samples}")
    rates = {}
    for label, workers in (("in-process", None), ("1 worker", 1), ("2 workers", 2)):
        rates[label] = bench_batch(path, a.frames, opts, workers)
        print(f"batch {label:>10}: {rates[label]:.3f} frames/s")
    print(f"batch scaling efficiency (2 vs 1 worker): {rates['2 workers'] / (2 * rates['1 worker']):.0%}")
    if not a.skip_live:
        live = {k: bench_live(path, a.frames, a.stride, a.samples, k) for k in (1, 2)}
        for k, v in live.items():
            print(f"live {k} daemon(s): {v:.3f} frames/s")
        print(f"live scaling efficiency (2 vs 1 daemon): {live[2] / (2 * live[1]):.0%}")
    print(
        f"on paper, {a.gpu_frame_s:g} s per frame per GPU: "
        + ", ".join(f"{n} GPUs {n / a.gpu_frame_s:.1f} frames/s" for n in (1, 2, 4, 8))
    )


if __name__ == "__main__":
    main()
