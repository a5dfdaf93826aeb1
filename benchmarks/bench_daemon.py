"""End-to-end daemon benchmark: latency (frame sent → result received) and sustained frames/s in live mode.

Starts ``aistem serve`` in a subprocess (the shipped model unless ``--model``), publishes 512×512 uint16 frames
(the shipped sample series, else a synthetic bicrystal) from this process over real ZeroMQ sockets on 127.0.0.1
and subscribes to the results.

* latency: one frame at a time (the next is sent when the previous result is back): median and p95 of
  sent → received, with the daemon's breakdown (queued, descriptor, inference, rest of ``analyze``) and its own
  overhead (end-to-end minus the ``analyze`` call: both socket hops, decoding, validation, queueing, encoding);
* throughput: frames sent at ``--rate`` (faster than the analysis) for ``--seconds`` in live mode: results/s,
  and frames dropped.

* ``--coarse-vs-dense``: the final-result latency of coarse-to-fine (``coarse_step``, the default, its coarse level
  published as the live preview) and of the dense grid (``coarse_step = 1``, ``--dense``), side by side in one run:
  one daemon, the preview on (the live default), frames alternating between the two settings (control ``set``
  between frames), then the same frame through :func:`aistem.core.analyze` in this process for where the time goes
  (descriptor, inference, domain check, rotation, share of windows evaluated).

Run: .venv/bin/python benchmarks/bench_daemon.py [--stride 6 --samples 10] [--latency-frames 10 --seconds 60]
     .venv/bin/python benchmarks/bench_daemon.py --coarse-vs-dense --stride 1.5 --samples 100 --latency-frames 4
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from aistem.core.protocol import decode_message  # noqa: E402
from aistem.daemon.sources.client import FramePublisher, request  # noqa: E402


def free_endpoint() -> str:
    s = zmq.Context.instance().socket(zmq.REP)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    s.close(0)
    return f"tcp://127.0.0.1:{port}"


def frames_512(path: str | None = None, pixel_size: float = 0.12) -> tuple[np.ndarray, float, str]:
    """The frames to send: ``path`` (.npy, one image or a stack, scaled to uint16) or the shipped sample series."""
    from aistem.daemon.sources.replay import load_series, sample_series_path

    if path:
        a = np.load(path).astype(np.float64)
        a = a[None] if a.ndim == 2 else a
        a = (a - a.min()) / max(float(np.ptp(a)), 1e-12) * 60000.0
        return a.astype(np.uint16), pixel_size, f"{Path(path).name} ({len(a)} × {a.shape[1]}×{a.shape[2]}, as uint16)"

    p = sample_series_path()
    if p is not None:
        s = load_series([p])[0]
        return s.frames, s.pixel_size, "shipped sample series (8 × 512×512 uint16)"
    from aistem.daemon.sources.sim import synthetic_series

    return synthetic_series(8, (512, 512)), 0.12, "synthetic bicrystal (8 × 512×512 uint16)"


class Collector:
    """SUB on the daemon's results; records (index, receive time, header) per result."""

    def __init__(self, endpoint: str) -> None:
        self.got: dict[int, tuple[float, dict]] = {}
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.t = threading.Thread(target=self._run, args=(endpoint,), daemon=True)
        self.t.start()
        self.ready.wait(5)

        self.previews: dict[int, tuple[float, dict]] = {}

    def _run(self, endpoint: str) -> None:
        s = zmq.Context.instance().socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 10000)
        s.setsockopt(zmq.SUBSCRIBE, b"result")
        s.connect(endpoint)
        self.ready.set()
        while not self.stop.is_set():
            if s.poll(50):
                parts = s.recv_multipart(copy=False)
                t = time.time()
                m = decode_message(parts)
                with self.cond:
                    if m.header.get("final", True) is False:
                        self.previews[int(m.index)] = (t, m.header)
                        continue
                    self.got[int(m.index)] = (t, m.header)
                    self.cond.notify_all()
        s.close(0)

    def wait(self, index: int, timeout: float) -> tuple[float, dict] | None:
        end = time.monotonic() + timeout
        with self.cond:
            while index not in self.got:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.got[index]


def start_daemon(args: argparse.Namespace, frames_ep: str, preview: bool = False) -> tuple[subprocess.Popen, str, str]:
    results, control = free_endpoint(), free_endpoint()
    cmd = [sys.executable, "-m", "aistem.cli", "serve", "--frames", frames_ep, "--results", results, "--control", control]
    cmd += ["--window", str(args.window), "--stride", str(args.stride), "--samples", str(args.samples), "--mode", "live"]
    cmd += ["--status-interval", "1", "--log-level", "WARNING"]
    cmd += ["--preview"] if preview else ["--no-preview"]  # --no-preview: one final result per frame
    if args.model:
        cmd += ["--model", args.model]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    wait_started(proc, control)
    return proc, results, control


def wait_started(proc: subprocess.Popen, control: str, timeout: float = 180.0) -> None:  # type: ignore[type-arg]
    """Wait until the daemon ``proc`` answers ``status`` on ``control``; kill it and raise if it does not."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            request("status", control, timeout=1)
            return
        except TimeoutError:
            if proc.poll() is not None:
                raise RuntimeError("the daemon exited") from None
    proc.kill()
    raise RuntimeError("the daemon did not start")


def compare_coarse_dense(args: argparse.Namespace) -> None:
    """Final-result latency, coarse-to-fine against dense, frames alternating in one daemon run."""
    frames, px, what = frames_512(args.frames, args.pixel_size)
    pub = FramePublisher("tcp://127.0.0.1:*", "pub")
    proc, results_ep, control = start_daemon(args, pub.endpoint, preview=True)
    col = Collector(results_ep)
    k = int(request("status", control)["status"]["settings"]["coarse_step"])
    modes = {f"coarse-to-fine (coarse_step {k})": k, "dense (--dense)": 1}
    lat: dict[str, list[tuple[float, float | None, dict]]] = {m: [] for m in modes}
    try:
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; no GPU")
        print(f"frames: {what}, {px} Å/px; window {args.window} Å, stride {args.stride} Å, T = {args.samples} (adaptive)")
        idx = 0
        for step in modes.values():  # warm-up: one frame per setting (sent again until the subscription is up)
            assert request("set", control, coarse_step=step)["ok"]
            end = time.monotonic() + 900
            while True:
                pub.send(frames[idx % len(frames)], pixel_size=px, series="bench", index=idx)
                if request("status", control)["status"]["frames_received"] > 0 or time.monotonic() > end:
                    break
                time.sleep(0.5)
                idx += 1
            if col.wait(idx, 900) is None:
                raise RuntimeError("no warm-up result")
            idx += 1
        for i in range(args.latency_frames * len(modes)):
            name = list(modes)[i % len(modes)]
            assert request("set", control, coarse_step=modes[name])["ok"]
            frame = frames[(i // len(modes)) % len(frames)]  # both settings see the same frames
            t0 = time.time()
            pub.send(frame, pixel_size=px, series="bench", index=idx)
            got = col.wait(idx, 900)
            if got is None:
                raise RuntimeError(f"no result for frame {idx}")
            prev = col.previews.get(idx)
            lat[name].append(((got[0] - t0) * 1e3, None if prev is None else (prev[0] - t0) * 1e3, got[1]))
            idx += 1
        print(f"final-result latency (sent → final result received), {args.latency_frames} frames each, alternating:")
        for name, rows in lat.items():
            final = np.asarray([r[0] for r in rows])
            prev = [r[1] for r in rows if r[1] is not None]
            tm = np.asarray([[r[2]["timing"][k_] for k_ in ("descriptor", "inference", "analysis")] for r in rows])
            print(
                f"  {name}: median {np.median(final) / 1e3:.2f} s (min {final.min() / 1e3:.2f}, max {final.max() / 1e3:.2f}); "
                f"preview median {np.median(prev) / 1e3 if prev else float('nan'):.2f} s; analyze median "
                f"{np.median(tm[:, 2]) / 1e3:.2f} s (descriptor {np.median(tm[:, 0]) / 1e3:.2f}, "
                f"inference {np.median(tm[:, 1]) / 1e3:.2f})"
            )
    finally:
        request("stop", control, drain=False)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        col.stop.set()
        pub.close()
    breakdown(args, frames, px, k)


def breakdown(args: argparse.Namespace, frames: np.ndarray, px: float, k: int) -> None:
    """Where the time goes: the same frames through ``aistem.core.analyze`` in this process, both settings."""
    from aistem.core import analyze, load_model

    model = load_model(args.model)
    kw = dict(window=args.window, stride=args.stride, samples=args.samples, model=model, adaptive=True, precision="auto")
    analyze(frames[0], px, **kw, coarse_step=k)  # compile
    for step in (k, 1):
        r = analyze(frames[0], px, **kw, coarse_step=step)
        t = r.timing
        frac = t.get("evaluated_fraction", 1.0)
        print(
            f"  in process, coarse_step {step}: total {t['total'] / 1e3:.2f} s = descriptor {t['descriptor'] / 1e3:.2f} + "
            f"inference {t['inference'] / 1e3:.2f} + domain {t['domain'] / 1e3:.2f} + rotation {t['rotation'] / 1e3:.2f} s "
            f"(+ bookkeeping); {frac:.1%} of {r.classes.size} windows evaluated, mean samples per evaluated window "
            f"{float(r.samples_used[~r.filled].mean() if r.filled is not None else r.samples_used.mean()):.1f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--window", type=float, default=12.0, help="window [Å]")
    ap.add_argument("--stride", type=float, default=6.0, help="stride [Å]")
    ap.add_argument("--samples", type=int, default=10, help="MC samples per window")
    ap.add_argument("--model", default=None, help="model file (default: the shipped model)")
    ap.add_argument("--latency-frames", type=int, default=10, help="frames for the latency measurement")
    ap.add_argument("--seconds", type=float, default=60.0, help="duration of the live-mode throughput run [s]")
    ap.add_argument("--rate", type=float, default=20.0, help="send rate of the throughput run [frames/s]; 0: full speed")
    ap.add_argument("--coarse-vs-dense", action="store_true", help="final-result latency, coarse-to-fine against dense")
    ap.add_argument("--frames", help="frames to send (.npy: an image or a stack; default: the shipped sample series)")
    ap.add_argument("--pixel-size", type=float, default=0.12, help="pixel size of --frames [Å/px]")
    args = ap.parse_args()
    if args.frames and not Path(args.frames).is_file():
        ap.error(f"--frames: no such file: {args.frames}")
    if not args.pixel_size > 0:
        ap.error(f"--pixel-size must be a positive number of Å/px, got {args.pixel_size}")
    if args.coarse_vs_dense:
        compare_coarse_dense(args)
        return

    frames, px, what = frames_512(args.frames, args.pixel_size)
    pub = FramePublisher("tcp://127.0.0.1:*", "pub")
    proc, results_ep, control = start_daemon(args, pub.endpoint)
    col = Collector(results_ep)
    try:
        st = request("status", control)["status"]
        model = st["model"]
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; no GPU")
        print(f"model {model['name']} ({model['hash']}); frames: {what}, {px} Å/px")
        print(f"settings: window {args.window} Å, stride {args.stride} Å, T = {args.samples}")
        # warm-up (connection, first tf.function trace), not counted
        idx = 0
        warm_end = time.monotonic() + 60
        while time.monotonic() < warm_end:
            pub.send(frames[idx % len(frames)], pixel_size=px, series="bench", index=idx)
            if col.wait(idx, 30) is not None:
                idx += 1
                break
            idx += 1
        grid = None
        lat, parts = [], []
        for _ in range(args.latency_frames):
            t0 = time.time()
            pub.send(frames[idx % len(frames)], pixel_size=px, series="bench", index=idx)
            got = col.wait(idx, 600)
            if got is None:
                raise RuntimeError(f"no result for frame {idx}")
            t1, h = got
            lat.append((t1 - t0) * 1e3)
            tm = h["timing"]
            parts.append((tm["queued"], tm["descriptor"], tm["inference"], tm["analysis"], tm["total"]))
            grid = h["grid"]
            idx += 1
        lat_a = np.asarray(lat)
        p = np.asarray(parts)
        overhead = lat_a - p[:, 3]  # sockets, decoding, queueing, encoding, both hops: all but aistem.core.analyze
        core_rest = p[:, 3] - p[:, 1] - p[:, 2]  # inside analyze but neither descriptor nor inference (maps)
        print(f"grid {grid[0]}×{grid[1]} = {grid[0] * grid[1]} windows")
        print(
            f"latency (sent → received), {len(lat)} frames one at a time: median {np.median(lat_a):.0f} ms, "
            f"p95 {np.percentile(lat_a, 95):.0f} ms"
        )
        print(
            f"  breakdown (median): queued {np.median(p[:, 0]):.1f} ms, descriptor {np.median(p[:, 1]):.0f} ms, "
            f"inference {np.median(p[:, 2]):.0f} ms, rest of analyze {np.median(core_rest):.0f} ms"
        )
        print(
            f"  daemon + transport overhead (end-to-end − analyze): median {np.median(overhead):.1f} ms, "
            f"p95 {np.percentile(overhead, 95):.1f} ms"
        )
        # sustained live-mode throughput
        before = request("status", control)["status"]
        n_before = len(col.got)
        t_end = time.perf_counter() + args.seconds
        period = 1.0 / args.rate if args.rate > 0 else 0.0
        t_next = time.perf_counter()
        sent = 0
        while time.perf_counter() < t_end:
            pub.send(frames[idx % len(frames)], pixel_size=px, series="bench", index=idx)
            idx += 1
            sent += 1
            if period:
                t_next += period
                time.sleep(max(0.0, t_next - time.perf_counter()))
        elapsed = args.seconds
        time.sleep(0.5)
        after = request("status", control)["status"]
        done = len(col.got) - n_before
        dropped = after["frames_dropped"] - before["frames_dropped"]
        received = after["frames_received"] - before["frames_received"]
        rate = f"{args.rate:g} frames/s" if args.rate > 0 else "full speed"
        mean = after["mean_latency_ms"]
        mean_text = "no final result" if mean is None else f"{mean:.0f} ms"
        print(
            f"live mode, {sent} frames sent at {rate} for {elapsed:.0f} s: {done / elapsed:.2f} results/s "
            f"({after['frames_processed'] - before['frames_processed']} analysed, {dropped} dropped and counted; "
            f"{received} received = {received / elapsed:.0f} frames/s drained; mean latency {mean_text})"
        )
    finally:
        request("stop", control, drain=False)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        col.stop.set()
        pub.close()


if __name__ == "__main__":
    main()
