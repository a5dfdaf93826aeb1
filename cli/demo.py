"""``aistem demo``: the whole product on the shipped model and the shipped sample series.

Starts the daemon on loopback, replays the sample series through it as an acquisition program would, and opens
the viewer — offscreen when there is no display, then writes a screenshot and a summary (classes, interface
fraction, frames/s) and says where they are. Everything it started is stopped when it ends or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "ai4stem_optimal_model.h5"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="daemon + replay of the sample series + viewer, on loopback", description=__doc__)
    p.add_argument("--out", default="demo-out", help="directory for the screenshot, summary and logs (default demo-out)")
    p.add_argument("--samples", type=int, default=30, help="Monte-Carlo samples per window, at most (default 30)")
    p.add_argument("--stride", type=float, default=3.0, help="step between windows [Å] (default 3; the paper: ~1)")
    p.add_argument("--results", type=int, default=3, help="results to wait for before the screenshot (default 3)")
    p.add_argument("--rate", type=float, default=0.5, help="replay rate [frames/s] (default 0.5)")
    p.add_argument("--timeout", type=float, default=600.0, help="give up after this long [s] (default 600)")
    p.add_argument("--model", help="model file; default: the shipped model, else ../shared/reference (the paper's)")
    p.add_argument("--show", action="store_true", help="keep the viewer window open (needs a display)")
    p.set_defaults(func=run, exit_at_once=True)  # all outputs written and closed on return


def find_demo_model(explicit: str | None) -> str | None:
    """The model the demo uses: explicit, shipped, or the paper's next to the checkout; None if none."""
    from aistem.core.model import default_model_path

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


def run(args: argparse.Namespace) -> int:
    model = find_demo_model(args.model)
    if model is None:
        print(
            "aistem demo: no model is installed yet (no trained model is shipped in this version, and "
            "../shared/reference/ai4stem_optimal_model.h5 is not beside this checkout).\n"
            "Give one with: aistem demo --model PATH"
        )
        return 0
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    frames, results, control = (f"tcp://127.0.0.1:{free_port()}" for _ in range(3))
    aistem = [sys.executable, "-m", "aistem.cli"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    serve_log = open(out / "daemon.log", "wb")
    replay_log = open(out / "replay.log", "wb")
    procs: list[tuple[subprocess.Popen[bytes], str]] = []
    print(f"demo: model {model}")
    print(f"demo: daemon on {results} (frames from {frames}); logs in {out}")
    try:
        serve = subprocess.Popen(
            [
                *aistem,
                "serve",
                "--frames",
                frames,
                "--results",
                results,
                "--control",
                control,
                "--model",
                model,
                "--samples",
                str(args.samples),
                "--stride",
                str(args.stride),
                "--seed",
                "0",
                "--mode",
                "live",
                "--adaptive",
                # final maps only: the replay's 2 frames/s would supersede every refinement on a CPU, and the
                # screenshot should show the full analysis (the live preview is documented in docs/viewer.md)
                "--no-preview",
            ],
            stdout=serve_log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        procs.append((serve, "daemon"))
        replay = subprocess.Popen(
            [*aistem, "replay", "--frames", frames, "--rate", str(args.rate), "--loop", "--wait", "2"],
            stdout=replay_log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        procs.append((replay, "replay"))
        from aistem.gui import run_view

        headless = not args.show
        screenshot = out / "viewer.png" if headless else None
        print("demo: replaying the shipped sample series; viewer " + ("offscreen" if headless else "on screen"))
        t0 = time.time()
        summary = run_view(
            results,
            frames,
            screenshot=screenshot,
            after=args.results,
            timeout=args.timeout if headless else None,
            summary=out / "summary.json",
        )
        interrupted = bool(summary.get("interrupted"))
        if not interrupted:  # a Ctrl-C in the terminal reaches the daemon and replay too: that is not "early"
            for proc, name in procs:
                if proc.poll() is not None:
                    print(f"demo: the {name} ended early (exit {proc.returncode}); see {out / (name + '.log')}", file=sys.stderr)
        summary["demo_wall_s"] = round(time.time() - t0, 1)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        _report(summary, out)
        if interrupted:  # Ctrl-C in the viewer (it catches SIGINT itself and returns): the shell's 128 + SIGINT
            print("demo: interrupted; stopping what it started", file=sys.stderr)
            return 130
        return 0 if summary.get("ok", False) or args.show else 1
    except KeyboardInterrupt:
        print("demo: interrupted; stopping what it started", file=sys.stderr)
        return 130
    finally:
        for proc, name in reversed(procs):
            _stop(proc, name)
        serve_log.close()
        replay_log.close()


def _report(summary: dict, out: Path) -> None:  # type: ignore[type-arg]
    fr = summary.get("class_fractions") or summary.get("last_class_fractions") or {}
    top = ", ".join(f"{k} {v:.0%}" for k, v in sorted(fr.items(), key=lambda kv: -kv[1])[:4])
    print(f"demo: {summary.get('results')} results from series {summary.get('series')!r}, model {summary.get('model')}")
    print(f"demo: classes (of the known windows) {top or 'none'}")
    itf = summary.get("interface_fraction")
    unk = summary.get("unknown_fraction")
    if itf is not None:
        unknown = f"; unknown (outside the model's domain) {unk:.1%}" if unk is not None else ""
        print(f"demo: interface (MI > {summary.get('threshold')} bit): {itf:.1%} of windows{unknown}")
    fps, latency, dropped = summary.get("frames_per_second"), summary.get("latency_ms"), summary.get("dropped")
    print(f"demo: {fps} results/s, latency {latency} ms, frames dropped (live mode) {dropped}")
    if summary.get("screenshot"):
        print(f"demo: screenshot {summary['screenshot']}")
    print(f"demo: summary {out / 'summary.json'}")
