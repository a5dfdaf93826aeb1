"""``aistem view``: the live viewer, registered on the ``aistem`` command line (Qt is imported only when it runs)."""

from __future__ import annotations

import argparse
import json
import sys

from aistem.core.protocol import DEFAULT_FRAMES, DEFAULT_RESULTS

OVERLAY_CHOICES = ("class", "mi", "both", "rotation", "all", "none")
COLORMAP_CHOICES = ("gray", "viridis", "inferno", "magma", "cividis", "plasma")
EXIT_TIMEOUT = 3

DESCRIPTION = """\
Show the AI-STEM daemon's results live: the frame with the class map (legend) and mutual information
overlaid at the windows' true positions, the interface outlined, hover read-out, status line.
Reconnects by itself when the daemon restarts.

With --screenshot PATH the viewer writes a PNG of its window after --after N results and exits
(offscreen when there is no display); with --timeout S it gives up, with exit status 3, if N results did
not arrive in S seconds.
"""


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {v}")
    return v


def _positive_float(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def _fraction(text: str) -> float:
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {v}")
    return v


def _bits(text: str) -> float:
    v = float(text)
    if not v >= 0.0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0 bit, got {v}")
    return v


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(t) for t in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1280x820, got {text!r}") from exc
    if w < 200 or h < 150:
        raise argparse.ArgumentTypeError(f"window too small: {w}x{h}")
    return (w, h)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``view`` to the ``aistem`` subcommands."""
    p = sub.add_parser(
        "view",
        help="live viewer of the daemon's results (class map, MI, interface over the frame)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--results",
        metavar="ENDPOINT",
        help=f"the daemon's result endpoint to subscribe to (default: [daemon] results of the config, {DEFAULT_RESULTS})",
    )
    p.add_argument(
        "--frames",
        metavar="ENDPOINT",
        help="the acquisition frame endpoint (PUB), for the image itself (default: [daemon] frames of the config, "
        f"{DEFAULT_FRAMES})",
    )
    p.add_argument("--no-frames", action="store_true", help="do not subscribe to frames: draw the maps on a blank canvas")
    p.add_argument("--config", metavar="PATH", help="TOML file whose [daemon] endpoints are the defaults")
    # CURVE: the same flag names as serve, replay and record (--curve-*); the old names still work, unlisted.
    p.add_argument(
        "--curve-results-key",
        metavar="FILE",
        help="the daemon's public certificate (NAME.key): encrypt the result socket with ZeroMQ CURVE",
    )
    p.add_argument(
        "--curve-secret-key",
        metavar="FILE",
        help="the viewer's secret certificate (NAME.key_secret) for CURVE; default: a fresh key pair",
    )
    p.add_argument(
        "--curve-frames-key",
        metavar="FILE",
        help="the acquisition program's public certificate: encrypt the frame socket with CURVE",
    )
    for old, new in (
        ("--server-key", "curve_results_key"),
        ("--client-key", "curve_secret_key"),
        ("--frames-server-key", "curve_frames_key"),
    ):
        p.add_argument(old, dest=new, metavar="FILE", help=argparse.SUPPRESS)  # deprecated spelling
    p.add_argument("--screenshot", metavar="PATH", help="write a PNG of the window after --after results, then exit")
    p.add_argument(
        "--after", metavar="N", type=_positive_int, default=1, help="number of results before the screenshot (default 1)"
    )
    p.add_argument(
        "--timeout",
        metavar="S",
        type=_positive_float,
        help="[s] give up (exit status 3) if N results have not arrived in this time; default: wait for ever",
    )
    p.add_argument(
        "--threshold",
        metavar="BIT",
        type=_bits,
        help="[bit] MI threshold of the drawn interface (display only); default: the daemon's",
    )
    p.add_argument("--opacity", metavar="F", type=_fraction, default=0.6, help="opacity of the overlays, 0–1 (default 0.6)")
    p.add_argument(
        "--overlay",
        choices=OVERLAY_CHOICES,
        default="class",
        help="what is drawn over the image (default class; both: class map + MI panel; all: class map, rotation and MI panels)",
    )
    p.add_argument("--colormap", choices=COLORMAP_CHOICES, default="gray", help="colour map of the image (default gray)")
    p.add_argument("--log", action="store_true", help="show the image on a log scale")
    p.add_argument(
        "--export-dir", metavar="DIR", default="aistem-export", help="where the Export button writes (default aistem-export)"
    )
    p.add_argument("--summary", metavar="PATH", help="also write a JSON summary (classes, interface fraction, frames/s, latency)")
    p.add_argument("--size", metavar="WxH", type=_size, default=(1280, 820), help="window size [screen px] (default 1280x820)")
    p.add_argument(
        "--redraw-hz", metavar="HZ", type=_positive_float, default=15.0, help="[1/s] at most this many redraws (default 15)"
    )
    p.add_argument("--quiet", action="store_true", help="no notes and log lines: warnings and errors only")
    p.set_defaults(func=run)


def _connectable(endpoint: str, what: str) -> str:
    """A bound endpoint as a client connects to it: ``tcp://*:5556`` → ``tcp://127.0.0.1:5556``."""
    if endpoint.startswith("tcp://*:"):
        endpoint = "tcp://127.0.0.1:" + endpoint[len("tcp://*:") :]
    if endpoint.endswith((":*", ":0")):
        raise ValueError(f"the {what} endpoint {endpoint} has no fixed port: give --{what} with the actual port")
    return endpoint


def default_endpoints(args: argparse.Namespace) -> tuple[str, str | None]:
    """The result and frame endpoints: the options, else the config's ``[daemon]`` ``results`` and ``frames``."""
    results, frames = args.results, args.frames
    if results is None or (frames is None and not args.no_frames):
        from aistem.config import load_config

        daemon = load_config(args.config).get("daemon", {})
        results = results or daemon.get("results", DEFAULT_RESULTS)
        frames = frames or daemon.get("frames", DEFAULT_FRAMES)
    return _connectable(results, "results"), (None if args.no_frames else _connectable(frames, "frames"))


def run(args: argparse.Namespace) -> int:
    """Handler of ``aistem view``."""
    results, frames = default_endpoints(args)
    curve: dict[str, tuple[bytes, bytes, bytes]] = {}
    if args.curve_results_key or (args.curve_frames_key and frames):
        from .receiver import curve_keys

        if args.curve_results_key:
            curve["results"] = curve_keys(args.curve_results_key, args.curve_secret_key)
        if args.curve_frames_key and frames:
            curve["frames"] = curve_keys(args.curve_frames_key, args.curve_secret_key)
    if args.screenshot is None and args.summary is not None and args.timeout is None and not args.quiet:
        print("aistem view: note: --summary is written when the window closes", file=sys.stderr)
    from .app import run_view

    out = run_view(
        results,
        frames,
        screenshot=args.screenshot,
        after=args.after,
        timeout=args.timeout,
        threshold=args.threshold,
        opacity=args.opacity,
        overlay=args.overlay,
        colormap=args.colormap,
        log_scale=args.log,
        export_dir=args.export_dir,
        summary=args.summary,
        size=args.size,
        redraw_hz=args.redraw_hz,
        curve=curve or None,
    )
    if out["timed_out"]:
        where = results or frames
        print(
            f"aistem view: gave up after {args.timeout:g} s: {out['results']} of {args.after} result(s) arrived "
            f"({out['frames']} frame(s)) from {where}. Is the daemon running (aistem serve) and are frames coming?"
            + (f"\n  last error: {out['last_error']}" if out.get("last_error") else "")
            + (f"\n  screenshot of what was shown: {out['screenshot']}" if out.get("screenshot") else ""),
            file=sys.stderr,
        )
        return EXIT_TIMEOUT
    if out.get("interrupted"):
        print("aistem view: interrupted", file=sys.stderr)
        return 130
    if out.get("screenshot"):
        print(f"screenshot: {out['screenshot']}")
    if out.get("summary"):
        print(f"summary: {out['summary']}")
    if args.screenshot or args.summary:
        brief = {
            k: out[k] for k in ("results", "class_fractions", "interface_fraction", "frames_per_second", "latency_ms", "dropped")
        }
        print(json.dumps(brief))
    return 0
