"""Soak run: ``aistem serve`` fed 512×512 frames at a steady rate for a long time, its memory (RSS) sampled.

Starts the daemon in a subprocess (live mode, the shipped model unless ``--model``; results saved with ``--save``
unless ``--no-save``), publishes the shipped sample series (else a synthetic one) in a loop at ``--rate`` frames/s,
subscribes to the results, and samples the daemon's resident memory every ``--every`` seconds. Prints the RSS
after warm-up, its minimum, maximum and last value, and the slope of a straight-line fit after warm-up; writes
every sample to ``--csv``.

Run: nice -n 10 .venv/bin/python benchmarks/soak_daemon.py --minutes 12 --rate 2 --csv /tmp/soak.csv
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_daemon import frames_512, free_endpoint  # noqa: E402

from aistem.daemon.sources.client import FramePublisher, request  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=12.0, help="duration [min]")
    ap.add_argument("--rate", type=float, default=2.0, help="frames per second sent [1/s]")
    ap.add_argument("--window", type=float, default=12.0, help="window [Å]")
    ap.add_argument("--stride", type=float, default=6.0, help="stride [Å]")
    ap.add_argument("--samples", type=int, default=10, help="MC samples per window")
    ap.add_argument("--model", default=None, help="model file (default: the shipped model)")
    ap.add_argument("--every", type=float, default=5.0, help="RSS sampling interval [s]")
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds excluded from the flatness figures [s]")
    ap.add_argument("--no-save", action="store_true", help="do not save results (default: --save to a temporary directory)")
    ap.add_argument("--csv", default=None, help="write time [s], RSS [MiB], results, dropped per sample here")
    ap.add_argument("--size", type=int, default=512, help="frame side [px]: 512 uses the sample series, else synthetic")
    args = ap.parse_args()

    if args.size == 512:
        frames, px, what = frames_512()
    else:
        from aistem.daemon.sources.sim import synthetic_series

        frames, px = synthetic_series(2, (args.size, args.size), 0.12), 0.12
        what = f"synthetic bicrystal (2 × {args.size}×{args.size} uint16)"
    pub = FramePublisher("tcp://127.0.0.1:*", "pub")
    results, control = free_endpoint(), free_endpoint()
    save = tempfile.mkdtemp(prefix="aistem-soak-")
    cmd = [sys.executable, "-m", "aistem.cli", "serve", "--frames", pub.endpoint, "--results", results, "--control", control]
    cmd += ["--window", str(args.window), "--stride", str(args.stride), "--samples", str(args.samples), "--mode", "live"]
    cmd += ["--log-level", "WARNING"]
    if not args.no_save:
        cmd += ["--save", save]
    if args.model:
        cmd += ["--model", args.model]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    daemon = psutil.Process(proc.pid)
    received = [0]
    stop = threading.Event()

    def count_results() -> None:
        s = zmq.Context.instance().socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SUBSCRIBE, b"result")
        s.connect(results)
        while not stop.is_set():
            if s.poll(100):
                s.recv_multipart()
                received[0] += 1
        s.close(0)

    threading.Thread(target=count_results, daemon=True).start()
    samples: list[tuple[float, float, int, int]] = []
    peak = [0.0]

    def watch_peak() -> None:  # the RSS between two samples too (an analysis' transient peak)
        while not stop.is_set() and proc.poll() is None:
            try:
                peak[0] = max(peak[0], daemon.memory_info().rss / 2**20)
            except psutil.Error:
                return
            time.sleep(0.05)

    threading.Thread(target=watch_peak, daemon=True).start()
    try:
        end = time.monotonic() + 180
        while True:
            try:
                st = request("status", control, timeout=1)["status"]
                if st["state"] != "starting":  # the daemon binds first, then loads the model
                    break
                if time.monotonic() > end:
                    raise RuntimeError("the daemon did not load its model")
                time.sleep(0.2)
            except TimeoutError:
                if proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError("the daemon did not start") from None
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; no GPU")
        print(f"model {st['model']['name']} ({st['model']['hash']}); frames: {what}")
        print(f"settings: window {args.window} Å, stride {args.stride} Å, T = {args.samples}, live mode, {args.rate:g} frames/s")
        t0 = time.perf_counter()
        duration = args.minutes * 60
        next_sample = 0.0
        k = 0
        while (now := time.perf_counter() - t0) < duration:
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with {proc.returncode}")
            pub.send(frames[k % len(frames)], pixel_size=px, series="soak", index=k)
            k += 1
            if now >= next_sample:
                st = request("status", control, timeout=10)["status"]
                rss = daemon.memory_info().rss / 2**20
                samples.append((now, rss, received[0], st["frames_dropped"]))
                line = f"{now:7.0f} s  RSS {rss:7.1f} MiB  results {received[0]:6d}  dropped {st['frames_dropped']:6d}"
                print(line, flush=True)
                next_sample += args.every
            time.sleep(max(0.0, t0 + k / args.rate - time.perf_counter()))
        final = request("status", control, timeout=10)["status"]
    finally:
        try:
            request("stop", control, timeout=5, drain=False)
            proc.wait(60)
        except Exception:
            proc.kill()
        stop.set()
        pub.close()
    a = np.asarray(samples)
    if args.csv:
        np.savetxt(args.csv, a, delimiter=",", header="time_s,rss_mib,results,dropped", fmt=["%.1f", "%.2f", "%d", "%d"])
    after = a[a[:, 0] >= args.warmup]
    slope = np.polyfit(after[:, 0] / 60, after[:, 1], 1)[0] if len(after) > 2 else float("nan")
    print(
        f"\n{k} frames sent in {duration / 60:.1f} min; {final['frames_processed']} analysed, {final['frames_dropped']} dropped, "
        f"{final['frames_rejected']} rejected, {final['frames_failed']} failed; {received[0]} results received"
    )
    print(
        f"RSS after {args.warmup:.0f} s warm-up {after[0, 1]:.1f} MiB; min {after[:, 1].min():.1f}, max {after[:, 1].max():.1f}, "
        f"last {after[-1, 1]:.1f} MiB (range {after[:, 1].max() - after[:, 1].min():.1f} MiB); "
        f"linear trend {slope:+.2f} MiB/min; peak RSS {peak[0]:.1f} MiB (sampled every 0.05 s)"
    )


if __name__ == "__main__":
    main()
