"""Live preview benchmark (issue 8): frame sent → first preview, and → final result, with the real daemon.

Starts ``aistem serve`` in a subprocess in live mode at the default analysis settings (window 12 Å, stride 1.5 Å,
T = 100, the shipped model; preview from ``[daemon.preview]`` unless ``--preview-step``/``--preview-samples``),
publishes 512×512 frames of the shipped sample series from this process over real sockets on 127.0.0.1 and
subscribes to the results. In order:

1. frame 0, after the daemon's warm-up has compiled the network (status ``warm``; its duration is printed), or with
   ``--cold`` at once (the first network calls then compile): sent → preview;
2. ``--frames`` frames, each sent ``--gap`` s after the previous frame's preview arrived, i.e. while the daemon
   refines the previous frame (the usual live case): sent → preview, split into the wait for the refinement to
   give way (the preview's ``timing.queued``) and the preview's analysis;
3. the last of them is left to refine: sent → final result (unless ``--no-final``);
4. one frame sent to the idle daemon: sent → preview.

Run: .venv/bin/python benchmarks/bench_preview.py [--dense --preview-step 4 --preview-samples 8] [--batch-size 32]
(without --dense the daemon analyses coarse-to-fine and its preview is the coarse level: the preview options do not apply)
     [--frames 5] [--no-final]
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
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_daemon import frames_512, free_endpoint, wait_started  # noqa: E402

from aistem.core.protocol import decode_message  # noqa: E402
from aistem.daemon.sources.client import FramePublisher, request  # noqa: E402


class Results:
    """SUB on the daemon's results: (receive time, header) of every preview and final result, by frame index."""

    def __init__(self, endpoint: str) -> None:
        self.previews: dict[int, tuple[float, dict]] = {}
        self.finals: dict[int, tuple[float, dict]] = {}
        self.cond = threading.Condition()
        self.stop = threading.Event()
        ready = threading.Event()
        self.t = threading.Thread(target=self._run, args=(endpoint, ready), daemon=True)
        self.t.start()
        ready.wait(5)

    def _run(self, endpoint: str, ready: threading.Event) -> None:
        s = zmq.Context.instance().socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SUBSCRIBE, b"result")
        s.connect(endpoint)
        ready.set()
        while not self.stop.is_set():
            if s.poll(50):
                parts = s.recv_multipart(copy=False)
                t = time.time()
                m = decode_message(parts)
                with self.cond:
                    (self.finals if m.header.get("final", True) else self.previews)[int(m.index)] = (t, m.header)
                    self.cond.notify_all()
        s.close(0)

    def wait(self, kind: str, index: int, timeout: float) -> tuple[float, dict]:
        d = self.finals if kind == "final" else self.previews
        end = time.monotonic() + timeout
        with self.cond:
            while index not in d:
                left = end - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"no {kind} result for frame {index} in {timeout} s")
                self.cond.wait(left)
            return d[index]


def start_daemon(args: argparse.Namespace, frames_ep: str) -> tuple[subprocess.Popen, str, str]:
    results, control = free_endpoint(), free_endpoint()
    cmd = [sys.executable, "-m", "aistem.cli", "serve", "--frames", frames_ep, "--results", results, "--control", control]
    cmd += ["--mode", "live", "--preview", "--status-interval", "1", "--log-level", "WARNING"]
    if args.dense:  # the dense two-pass preview (--preview-step, --preview-samples); default: the coarse level
        cmd += ["--dense"]
    if args.preview_step:
        cmd += ["--preview-step", str(args.preview_step)]
    if args.preview_samples:
        cmd += ["--preview-samples", str(args.preview_samples)]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    wait_started(proc, control)
    return proc, results, control


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dense", action="store_true", help="dense analysis: the preview is a pass of its own")
    ap.add_argument("--preview-step", type=int, default=None, help="preview stride in analysis strides (default: config)")
    ap.add_argument("--preview-samples", type=int, default=None, help="MC samples of the preview (default: config)")
    ap.add_argument("--batch-size", type=int, default=None, help="windows per network call (default: config, 32)")
    ap.add_argument("--frames", type=int, default=5, help="frames sent while the previous one refines")
    ap.add_argument("--gap", type=float, default=1.5, help="wait after a preview before the next frame [s]")
    ap.add_argument("--no-final", action="store_true", help="skip the (minutes-long on a CPU) full analysis")
    ap.add_argument("--cold", action="store_true", help="send the first frame without waiting for the warm-up")
    args = ap.parse_args()

    frames, px, what = frames_512()
    pub = FramePublisher("tcp://127.0.0.1:*", "pub")
    proc, results_ep, control = start_daemon(args, pub.endpoint)
    res = Results(results_ep)
    load0 = os.getloadavg()
    idx = 0
    sent: dict[int, float] = {}

    def send() -> int:
        nonlocal idx
        i = idx
        idx += 1
        sent[i] = time.time()
        pub.send(frames[i % len(frames)], pixel_size=px, series="bench", index=i)
        return i

    try:
        st = request("status", control)["status"]
        s = st["settings"]
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, no GPU; load average at start {load0[0]:.1f}")
        print(f"model {st['model']['name']} ({st['model']['hash']}); frames: {what}, {px} Å/px")
        print(
            f"settings: window {s['window']} Å, stride {s['stride']} Å, T = {s['samples']}, batch {s['batch_size']}; "
            f"preview every {s['preview_step']} windows, T = {s['preview_samples']}"
        )
        if not args.cold:
            t_w = time.time()
            while not request("status", control)["status"].get("warm") and time.time() - t_w < 300:
                time.sleep(0.1)
            print(f"warm-up (network compiled for the preview and the final analysis): {time.time() - t_w:.1f} s")
        # the frame socket is connected when a frame gets through: resend frame 0 until its preview comes
        t_first = time.time()
        while True:
            i = send()
            try:
                t, h = res.wait("preview", i, 30)
                break
            except RuntimeError:
                continue
        state = "cold: the network compiles" if args.cold else "after the warm-up"
        print(f"first frame after start ({state}): preview in {(t - sent[i]) * 1e3:.0f} ms")
        during: list[tuple[float, float, float]] = []
        grid_p = h["grid"]
        for _ in range(args.frames):
            time.sleep(args.gap)  # the previous frame is refining now
            j = send()
            t, h = res.wait("preview", j, 300)
            during.append(((t - sent[j]) * 1e3, h["timing"]["queued"], h["timing"]["analysis"]))
        d = np.asarray(during)
        print(f"preview grid {grid_p[0]}×{grid_p[1]} = {grid_p[0] * grid_p[1]} windows, T = {h['samples']}")
        print(
            f"frame sent while the previous one refines ({len(d)} frames): sent → preview median {np.median(d[:, 0]):.0f} ms, "
            f"max {d[:, 0].max():.0f} ms; of which waiting for the refinement to give way median "
            f"{np.median(d[:, 1]):.0f} ms (max {d[:, 1].max():.0f}), preview analysis median {np.median(d[:, 2]):.0f} ms"
        )
        idle = d[:, 0] - d[:, 1]  # the same frames without the wait: what an idle daemon takes
        print(
            f"  the same without the wait (as on an idle daemon): sent → preview median {np.median(idle):.0f} ms, "
            f"max {idle.max():.0f} ms"
        )
        last = idx - 1
        if not args.no_final:
            t, hf = res.wait("final", last, 3600)
            tm = hf["timing"]
            print(
                f"final result of frame {last} (grid {hf['grid'][0]}×{hf['grid'][1]}, T = {hf['samples']}): sent → final "
                f"{(t - sent[last]):.1f} s (its analysis {tm['analysis'] / 1e3:.1f} s: descriptor {tm['descriptor']:.0f} ms, "
                f"inference {tm['inference'] / 1e3:.1f} s)"
            )
            k = send()  # the daemon is idle now
            t, h = res.wait("preview", k, 300)
            print(
                f"frame sent to the idle daemon: sent → preview {(t - sent[k]) * 1e3:.0f} ms "
                f"(preview analysis {h['timing']['analysis']:.0f} ms, queued {h['timing']['queued']:.1f} ms)"
            )
        st = request("status", control)["status"]
        print(
            f"daemon: {st['frames_processed']} frames analysed, {st['previews_published']} previews, "
            f"{st['frames_superseded']} refinements superseded, {st['frames_dropped']} dropped; "
            f"load average at end {os.getloadavg()[0]:.1f}; {time.time() - t_first:.0f} s in all"
        )
    finally:
        proc.kill()  # stop would finish the refinement in hand: minutes at T = 100 on a CPU
        proc.wait(30)
        res.stop.set()
        pub.close()


if __name__ == "__main__":
    main()
