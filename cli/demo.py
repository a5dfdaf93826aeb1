"""``aistem demo``: the whole product on the shipped model and the shipped sample series.

Starts the daemon on loopback (live mode, live preview on), replays the sample series — a drifting scan across a
simulated polycrystal, bcc Fe [100] | fcc Cu [110] | two hcp Ti [0001] grains 20° apart | an amorphous patch —
through it as an acquisition program would, and opens the viewer with the class map, interface outlines, the
rotation panel and the MI panel side by side — offscreen when there is no display. It writes a screenshot and
``summary.json``: class shares over the known bulk windows of the final maps, interface and unknown shares, and how
much of the scene it got right against the series' ground truth (:mod:`aistem.cli.demo_score`). Everything it
started is stopped when it ends or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "ai4stem_optimal_model.h5"

#: ``aistem demo --help``: the module's story in plain words (no reStructuredText).
DESCRIPTION = """\
The whole product on the shipped model and the shipped sample series. Starts the daemon on loopback (live mode,
live preview on), replays the sample series (a drifting scan across a simulated polycrystal: bcc Fe [100], fcc Cu
[110], two hcp Ti [0001] grains 20° apart and an amorphous patch) through it as an acquisition program would, and
opens the viewer with the class map, interface outlines, the rotation panel and the MI panel side by side
(offscreen when there is no display). It writes a screenshot and summary.json: class shares over the known bulk
windows of the final maps, interface and unknown shares, and how much of the scene it got right against the
series' ground truth. Everything it started is stopped when it ends or on Ctrl-C.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="daemon + replay of the sample series + viewer, on loopback",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="demo-out", help="directory for the screenshot, summary and logs (default demo-out)")
    p.add_argument("--samples", type=int, default=30, help="Monte-Carlo samples per window, at most (default 30)")
    p.add_argument("--stride", type=float, default=3.0, help="step between windows [Å] (default 3; the paper: ~1)")
    p.add_argument("--results", type=int, default=3, help="final results to wait for before the screenshot (default 3)")
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="replay rate [frames/s]; 0 (default): paced, the next frame once the daemon's final map of the last is in",
    )
    p.add_argument("--timeout", type=float, default=600.0, help="give up after this long [s] (default 600)")
    p.add_argument("--model", help="model file; default: the shipped model, else ../shared/reference (the paper's)")
    p.add_argument("--show", action="store_true", help="keep the viewer window open (needs a display)")
    p.add_argument("--quiet", action="store_true", help="no progress lines: only the summary's path (and any error)")
    p.set_defaults(func=run, exit_at_once=True)  # all outputs written and closed on return


def find_demo_model(explicit: str | None) -> str | None:
    """The model the demo uses: explicit, shipped, or the paper's next to the checkout; None if none."""
    from aistem.core import default_model_path

    if explicit:
        return explicit
    shipped = default_model_path()
    if shipped is not None:
        return str(shipped)
    return str(REFERENCE) if REFERENCE.is_file() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], name: str) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=180)  # the daemon finishes and publishes the frame in hand first
        except subprocess.TimeoutExpired:
            print(f"demo: {name} did not stop in 180 s; killing it", file=sys.stderr)
            proc.kill()
            proc.wait()


class FinalsCollector:
    """Subscribes to the daemon's results beside the viewer and keeps every final map, for the summary.

    The viewer draws only the newest result; the summary needs them all (live previews are left out).
    """

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.maps: list[Any] = []
        self.class_names: list[str] = []
        self.threshold = 0.1
        self.seen: set[int] = set()  # frame indices with any result (live previews too)
        self.finals: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> FinalsCollector:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="demo-finals", daemon=True)
        self._thread.start()
        ready.wait(5.0)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3.0)

    def wait_final(self, index: int, timeout: float) -> bool:
        """Wait up to ``timeout`` [s] for the final map of frame ``index``."""
        t0 = time.time()
        while index not in self.finals and time.time() - t0 < timeout:
            time.sleep(0.05)
        return index in self.finals

    def _run(self, ready: threading.Event) -> None:
        import zmq

        from aistem.core.protocol import ProtocolError, Result, decode

        sock = zmq.Context.instance().socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(self.endpoint)
        ready.set()
        try:
            while not self._stop.is_set():
                if not sock.poll(100):
                    continue
                try:
                    msg = decode(sock.recv_multipart())
                except ProtocolError:
                    continue
                if isinstance(msg, Result):
                    self.seen.add(int(msg.index))
                    if msg.final:
                        self._add(msg)
                        self.finals.add(int(msg.index))
        finally:
            sock.close()

    def _add(self, r: Any) -> None:
        import numpy as np

        from aistem.gui.overlay import interface_at, unknown_at

        from .demo_score import FinalMaps

        rot = r.lattice_rotation
        self.class_names, self.threshold = list(r.class_names), float(r.threshold)
        self.maps.append(
            FinalMaps(
                index=int(r.index),
                classes=np.asarray(r.classes),
                interface=interface_at(r),
                unknown=unknown_at(r),
                rotation=None if rot is None else np.asarray(rot, np.float32),
                origins=(int(r.origins[0]), int(r.origins[1])),
                window_px=int(r.window_px),
                stride_px=int(r.stride_px),
            )
        )

    def summary(self) -> dict[str, Any]:
        """Shares over the final maps and the score against the sample series' ground truth."""
        from .demo_score import shares

        maps = list(self.maps)
        out: dict[str, Any] = {"final_maps": len(maps), "final_frames": sorted({m.index for m in maps})}
        if not maps:
            return out
        out.update(shares(maps, self.class_names))
        out["threshold"] = self.threshold
        out["ground_truth"] = self._truth(maps)
        return out

    def _truth(self, maps: list[Any]) -> dict[str, Any] | None:
        from aistem.core import rotation_period
        from aistem.training import load_sample_series

        from .demo_score import same_class_rotation, score_maps

        try:
            _, info = load_sample_series()
        except (FileNotFoundError, OSError, KeyError):
            return None
        if "grain_map" not in info or info["grain_map"].ndim != 3:
            return None
        grains = list(info["grain_classes"])
        score = score_maps(maps, info["labels"], info["grain_map"], grains, self.class_names)
        periods = dict(zip(self.class_names, rotation_period(self.class_names).tolist(), strict=True))
        return {
            "windows": score.n,
            "right": score.right,
            "bulk_right": score.fraction("bulk"),
            "class_boundary_flagged": score.fraction("class_boundary"),
            "amorphous_flagged": score.fraction("amorphous"),
            "agreement": score.agreement,
            "same_class_boundaries": same_class_rotation(score, grains, list(info["rotations_deg"]), periods),
        }


class Replay:
    """Sends the shipped sample series, looping, as an acquisition program would (a thread of the demo).

    ``rate`` > 0: at that rate. ``rate`` = 0: paced by the daemon — the next frame once the final map of the last
    one is in (at most ``max_wait`` s), so that live previews never supersede every refinement on a slow CPU; a
    frame no result answers within ``resend`` s (the daemon still starting) is sent again.
    """

    def __init__(self, endpoint: str, collector: FinalsCollector, rate: float, max_wait: float = 300.0) -> None:
        from aistem.daemon.sources.client import FramePublisher
        from aistem.daemon.sources.replay import sample_series

        self.series = sample_series()
        self.publisher = FramePublisher(endpoint, "pub")
        self.collector, self.rate, self.max_wait, self.resend = collector, float(rate), float(max_wait), 5.0
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-replay", daemon=True)

    def start(self) -> Replay:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.publisher.close()

    def _send(self, k: int) -> None:
        s = self.series
        self.publisher.send(s.frames[k % len(s)], pixel_size=s.pixel_size, series=s.name, index=k)
        self.sent += 1

    def _wait_for(self, done: set[int], k: int, limit: float) -> bool:
        t0 = time.time()
        while time.time() - t0 < limit:
            if k in done:
                return True
            if self._stop.wait(0.1):
                return False
        return False

    def _run(self) -> None:
        k = 0
        while not self._stop.is_set():
            self._send(k)
            if self.rate > 0:
                if self._stop.wait(1.0 / self.rate):
                    return
            else:
                while not self._wait_for(self.collector.seen, k, self.resend) and not self._stop.is_set():
                    self._send(k)  # nobody listened yet
                self._wait_for(self.collector.finals, k, self.max_wait)
            k += 1


def _serve_command(model: str, frames: str, results: str, control: str, args: argparse.Namespace) -> list[str]:
    """The ``aistem serve`` command line of the demo's daemon: live mode, live preview on, loopback endpoints."""
    return [
        sys.executable,
        "-m",
        "aistem.cli",
        "serve",
        *("--frames", frames, "--results", results, "--control", control, "--model", model),
        *("--samples", str(args.samples), "--stride", str(args.stride), "--seed", "0", "--mode", "live"),
        "--adaptive",  # the live preview stays on; the screenshot and the summary use the final maps
    ]


def run(args: argparse.Namespace) -> int:
    model = find_demo_model(args.model)
    if model is None:
        print(
            "aistem demo: no model is installed yet (no trained model is shipped in this version, and "
            "../shared/reference/ai4stem_optimal_model.h5 is not beside this checkout).\n"
            "Give one with: aistem demo --model PATH"
        )
        return 0
    say = (lambda _m: None) if getattr(args, "quiet", False) else print
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    frames, results, control = (f"tcp://127.0.0.1:{free_port()}" for _ in range(3))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    serve_log = open(out / "daemon.log", "wb")
    procs: list[tuple[subprocess.Popen[bytes], str]] = []
    collector: FinalsCollector | None = None
    replay: Replay | None = None
    say(f"demo: model {model}")
    say(f"demo: daemon on {results} (frames from {frames}); logs in {out}")
    try:
        cmd = _serve_command(model, frames, results, control, args)
        procs.append((subprocess.Popen(cmd, stdout=serve_log, stderr=subprocess.STDOUT, env=env), "daemon"))
        collector = FinalsCollector(results).start()
        replay = Replay(frames, collector, args.rate).start()
        say("demo: replaying the shipped sample series; viewer " + ("on screen" if args.show else "offscreen"))
        summary = _view(args, out, results, frames, collector, replay, procs)
        _report(summary, out, say)
        if summary.get("interrupted"):  # Ctrl-C in the viewer (it catches SIGINT itself and returns): 128 + SIGINT
            print("demo: interrupted; stopping what it started", file=sys.stderr)
            return 130
        return 0 if summary.get("ok", False) or args.show else 1
    except KeyboardInterrupt:
        print("demo: interrupted; stopping what it started", file=sys.stderr)
        return 130
    finally:
        for part in (replay, collector):
            if part is not None:
                part.stop()
        for proc, name in reversed(procs):
            _stop(proc, name)
        serve_log.close()


def _view(
    args: argparse.Namespace,
    out: Path,
    results: str,
    frames: str,
    collector: FinalsCollector,
    replay: Replay,
    procs: list[tuple[subprocess.Popen[bytes], str]],
) -> dict[str, Any]:
    """Run the viewer until its screenshot (or the window closes), then write ``summary.json``; returns the summary."""
    from aistem.gui import run_view

    headless = not args.show
    t0 = time.time()
    summary = run_view(
        results,
        frames,
        screenshot=out / "viewer.png" if headless else None,
        after=args.results,
        timeout=args.timeout if headless else None,
        summary=out / "summary.json",
        overlay="all",
        size=(1700, 660),
        finals=True,
    )
    replay.stop()
    shown = (summary.get("shown") or {}).get("index")
    if shown is not None and summary.get("ok"):
        collector.wait_final(int(shown), 3.0)  # the final on screen, from the collector's own socket
    collector.stop()
    summary.update(collector.summary())
    summary["frames_sent"] = replay.sent
    if not summary.get("interrupted"):  # a Ctrl-C in the terminal reaches the daemon and replay too: not "early"
        for proc, name in procs:
            if proc.poll() is not None:
                print(f"demo: the {name} ended early (exit {proc.returncode}); see {out / (name + '.log')}", file=sys.stderr)
    summary["demo_wall_s"] = round(time.time() - t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f} %"


def _report(summary: dict, out: Path, say: Any = print) -> None:  # type: ignore[type-arg]
    """The demo's findings, line by line through ``say``; the summary's path always."""
    from aistem.core import short_class_name

    fr = summary.get("class_fractions") or {}
    top = ", ".join(f"{short_class_name(k)} {v:.0%}" for k, v in sorted(fr.items(), key=lambda kv: -kv[1]))
    n, frames = summary.get("final_maps", 0), summary.get("final_frames") or []
    say(f"demo: {n} final maps (frames {', '.join(str(f) for f in frames) or '—'}), model {summary.get('model')}")
    say(
        f"demo: classes {top or 'none'} of the known bulk windows; interface (MI > {summary.get('threshold')} bit) "
        f"{_pct(summary.get('interface_fraction'))}, unknown {_pct(summary.get('unknown_fraction'))} of all windows"
    )
    truth = summary.get("ground_truth") or {}
    if truth:
        say(
            f"demo: against the ground truth: bulk windows right {_pct(truth.get('bulk_right'))} "
            f"(n={truth['windows']['bulk']}), boundaries between classes flagged {_pct(truth.get('class_boundary_flagged'))} "
            f"(n={truth['windows']['class_boundary']}), amorphous flagged {_pct(truth.get('amorphous_flagged'))} "
            f"(n={truth['windows']['amorphous']}); agreement {_pct(truth.get('agreement'))}"
        )
        for rot in truth.get("same_class_boundaries", []):
            say(
                f"demo: {short_class_name(rot['class'])} | {short_class_name(rot['class'])} boundary: rotation map shows "
                f"{rot['measured_deg']:+.1f}° between the grains (true {rot['true_deg']:+.1f}°)"
            )
    fps, latency, dropped = summary.get("frames_per_second"), summary.get("latency_ms"), summary.get("dropped")
    say(f"demo: {fps} results/s, latency {latency} ms, frames dropped (live mode) {dropped}")
    if summary.get("screenshot"):
        say(f"demo: screenshot {summary['screenshot']}")
    print(f"demo: summary {out / 'summary.json'}")
