"""Subcommands ``aistem serve``, ``aistem replay``, ``aistem record`` and ``aistem keys``.

Registered by the ``aistem`` dispatcher through :func:`register`; heavy
imports (Keras/TensorFlow) happen only inside the handlers.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from aistem.core.protocol import DEFAULT_FRAMES, DEFAULT_RESULTS

__all__ = ["register"]

log = logging.getLogger("aistem.daemon")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _positive_float(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {text}")
    return v


def _ranged(name: str) -> Any:
    """An argparse type for the setting ``name`` of :data:`aistem.daemon.settings.RANGES` (its range, its message)."""
    from .settings import RANGES, check_range

    r = RANGES[name]

    def parse(text: str) -> Any:
        try:
            v = int(text) if r.whole else float(text)
            return check_range(name, v)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc) if "must be" in str(exc) else f"{name} must be {r.describe()}") from None

    parse.__name__ = name  # argparse names the type in its messages
    return parse


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML file overriding config/default.toml")
    p.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS, help="logging detail (default INFO)")
    p.add_argument("--quiet", action="store_true", help="log warnings and errors only (as --log-level WARNING)")


def register(sub: Any) -> None:
    """Add ``serve``, ``replay``, ``record`` and ``keys`` to the dispatcher's subparsers."""
    _register_serve(sub)
    _register_replay(sub)
    _register_record(sub)
    _register_keys(sub)


# -- serve -----------------------------------------------------------------------------------------------------------


def _register_serve(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="the streaming daemon: analyse every frame received over ZeroMQ, publish class and uncertainty maps",
        description="Connect to an acquisition program's frame socket, analyse every frame (AI-STEM: class, "
        "mutual information, interface) and publish the results on a PUB socket; control on a REP socket. "
        "Defaults come from [daemon] and [analysis] of config/default.toml; the wire protocol is docs/protocol.md.",
    )
    _setting_options(p)
    p.add_argument("--curve", action="store_true", default=None, help="turn on CURVE encryption and authentication")
    p.add_argument("--curve-secret-key", metavar="FILE", help="the daemon's secret certificate NAME.key_secret")
    p.add_argument("--curve-authorized-keys", metavar="DIR", help="directory of public certificates of allowed clients")
    p.add_argument("--curve-frames-key", metavar="FILE", help="the acquisition program's public certificate NAME.key")
    _common(p)
    p.set_defaults(func=_serve)


def _setting_options(p: argparse.ArgumentParser) -> None:
    """One option per setting of :data:`aistem.daemon.settings.SETTINGS` (its type, range, choices and help)."""
    from .settings import SETTINGS

    for st in SETTINGS:
        default = f" (config: [{st.section}] {st.key})"
        kw: dict[str, Any] = {"dest": st.dest, "help": st.help + default}
        if st.kind is bool:
            kw.update(action=argparse.BooleanOptionalAction, default=None)
        elif st.choices is not None:
            kw["choices"] = st.choices
        elif st.range is not None:
            kw.update(type=_ranged(st.name), metavar=st.metavar)
        else:
            kw["metavar"] = st.metavar
        p.add_argument(st.option, **kw)
        if st.switch is not None:
            option, value, text = st.switch
            p.add_argument(option, dest=st.dest, action="store_const", const=value, help=text)


def serve_settings(args: argparse.Namespace) -> Any:
    """:class:`DaemonSettings` from the configuration and the command line."""
    import dataclasses

    from aistem.config import load_config

    from .settings import SETTINGS, DaemonSettings

    s = DaemonSettings.from_config(load_config(args.config))
    s = s.replace(**{st.name: getattr(args, st.dest) for st in SETTINGS if getattr(args, st.dest, None) is not None})
    curve = {
        "enabled": args.curve,
        "secret_key": args.curve_secret_key,
        "authorized_keys": args.curve_authorized_keys,
        "frames_public_key": args.curve_frames_key,
    }
    s.curve = dataclasses.replace(s.curve, **{k: v for k, v in curve.items() if v is not None})
    return s.validate()


def _serve(args: argparse.Namespace) -> int:
    from .server import Daemon

    return Daemon(serve_settings(args)).run()


# -- replay ----------------------------------------------------------------------------------------------------------


def _register_replay(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="publish recorded frames as an acquisition program would (test the daemon without a microscope)",
        description="Bind a PUB (or PUSH) socket and send frames from files — .npy stacks, .npz, multi-page TIFF, "
        "every microscope format `aistem info` reads (.dm3/.dm4, .emd, .ser, .mrc, .hspy …), recordings "
        "(*.frames.h5) — or, with no files, the shipped sample series. "
        "Defaults come from [replay] of config/default.toml.",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="frame files; none: the shipped sample series")
    p.add_argument("--frames", metavar="ENDPOINT", help=f"endpoint to bind (default {DEFAULT_FRAMES})")
    p.add_argument("--socket", choices=("pub", "push"), help="pub (any number of consumers, default) or push (shared, lossless)")
    p.add_argument("--rate", type=float, metavar="FPS", help="frames per second [1/s] (default 2; 0: as fast as possible)")
    p.add_argument("--loop", action="store_true", default=None, help="start again after the last frame, until interrupted")
    p.add_argument("--count", type=_positive_int, metavar="N", help="stop after N frames")
    p.add_argument("--wait", type=float, metavar="S", help="wait after binding before the first frame [s] (default 1)")
    p.add_argument("--pixel-size", type=_positive_float, metavar="Å/PX", help="pixel size [Å/px] for files without one")
    p.add_argument("--series", metavar="NAME", help="series name (default: the file name)")
    p.add_argument(
        "--signal", metavar="NAME|INDEX", help="signal of each file to send (default: HAADF/ADF/DF, else the first image)"
    )
    p.add_argument("--synthetic", type=_positive_int, metavar="N", help="publish N generated bicrystal frames instead of files")
    p.add_argument("--size", type=_positive_int, default=512, metavar="PX", help="side of --synthetic frames [px] (default 512)")
    p.add_argument("--curve-secret-key", metavar="FILE", help="this publisher's secret certificate: encrypt the frames (CURVE)")
    p.add_argument("--curve-authorized-keys", metavar="DIR", help="public certificates of the daemons allowed to connect")
    _common(p)
    p.set_defaults(func=_replay)


def _stop_on_signals() -> tuple[threading.Event, dict[int, Any]]:
    stop = threading.Event()
    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, lambda *_: stop.set())
    return stop, old


def _restore(old: dict[int, Any]) -> None:
    for sig, h in old.items():
        signal.signal(sig, h)


def _replay(args: argparse.Namespace) -> int:
    import time

    from aistem.config import load_config

    from .sources.base import Series, publish_series
    from .sources.client import FramePublisher
    from .sources.replay import load_series, sample_series
    from .sources.sim import synthetic_series

    cfg = load_config(args.config)["replay"]
    endpoint = args.frames or cfg["frames"]
    kind = args.socket or cfg["socket"]
    rate = cfg["rate"] if args.rate is None else args.rate
    loop = cfg["loop"] if args.loop is None else args.loop
    wait = cfg["wait"] if args.wait is None else args.wait
    if args.synthetic:
        px = args.pixel_size or 0.12
        frames = synthetic_series(args.synthetic, (args.size, args.size), px)
        series = [Series(args.series or "synthetic", frames, px)]
    elif args.files:
        series = load_series(args.files, pixel_size=args.pixel_size, name=args.series, signal=args.signal)
    else:
        s = sample_series()
        if args.pixel_size:
            s.pixel_size = args.pixel_size
        if args.series:
            s.name = args.series
        series = [s]
    total = sum(len(s) for s in series)
    stop, old = _stop_on_signals()
    try:
        with FramePublisher(
            endpoint, kind, curve_secret_key=args.curve_secret_key, curve_authorized_keys=args.curve_authorized_keys
        ) as pub:
            log.info(
                "replaying %d frame(s) of %s on %s (%s) at %s frames/s%s",
                total,
                ", ".join(s.name for s in series),
                pub.endpoint,
                kind,
                rate if rate > 0 else "max",
                ", looping" if loop else "",
            )
            if wait > 0 and stop.wait(wait):
                return 0
            t0 = time.perf_counter()
            sent = publish_series(pub, series, rate=rate, loop=loop, count=args.count, stop=stop)
            dt = time.perf_counter() - t0
            print(f"sent {sent} frame(s) in {dt:.1f} s")
    finally:
        _restore(old)
    return 0


# -- record ----------------------------------------------------------------------------------------------------------


def _register_record(sub: Any) -> None:
    p = sub.add_parser(
        "record",
        help="subscribe to frames (and results) and write them to disk, to capture an acquisition for replay",
        description="Write every frame received to OUT/<series>.frames.h5 and, with --results, every result to "
        "OUT/<series>.results.h5 (HDF5, flushed per message). Stop with Ctrl-C, --duration or --count. "
        "`aistem replay OUT/<series>.frames.h5` sends the frames again.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    p.add_argument(
        "--frames", metavar="ENDPOINT", help=f"frame endpoint to connect to (default {DEFAULT_FRAMES}); none: no frames"
    )
    p.add_argument(
        "--results", metavar="ENDPOINT", help=f"also record the daemon's results from this endpoint, e.g. {DEFAULT_RESULTS}"
    )
    p.add_argument("--socket", choices=("sub", "pull"), default="sub", help="frame socket kind (default sub: a copy)")
    p.add_argument("--duration", type=_positive_float, metavar="S", help="stop after this long [s]")
    p.add_argument("--count", type=_positive_int, metavar="N", help="stop after N frames")
    p.add_argument("--curve-secret-key", metavar="FILE", help="this recorder's secret certificate (CURVE)")
    p.add_argument("--curve-frames-key", metavar="FILE", help="public certificate of the frame source (CURVE)")
    p.add_argument("--curve-results-key", metavar="FILE", help="public certificate of the daemon (CURVE)")
    _common(p)
    p.set_defaults(func=_record)


def _record(args: argparse.Namespace) -> int:
    from aistem.config import load_config
    from aistem.core.protocol import Limits

    from .sources.record import Recorder

    cfg = load_config(args.config)["daemon"]
    frames = args.frames or cfg["frames"]
    rec = Recorder(
        args.out,
        None if frames.lower() == "none" else frames,
        args.results,
        socket=args.socket,
        limits=Limits(**cfg["limits"]),
        curve_secret_key=args.curve_secret_key,
        frames_public_key=args.curve_frames_key,
        results_public_key=args.curve_results_key,
    )
    rec.stop, old = _stop_on_signals()
    try:
        counts = rec.run(duration=args.duration, count=args.count)
    finally:
        _restore(old)
    print(f"recorded {counts['frames']} frame(s) and {counts['results']} result(s) in {args.out}")
    return 0


# -- keys ------------------------------------------------------------------------------------------------------------


def _register_keys(sub: Any) -> None:
    p = sub.add_parser(
        "keys",
        help="make CURVE certificates for encrypted, authenticated daemon connections",
        description="Write DIR/NAME.key (public: give it to the peers) and DIR/NAME.key_secret (secret: keep it) "
        "for each NAME. See [daemon.curve] in config/default.toml and docs/protocol.md.",
    )
    p.add_argument("dir", metavar="DIR", help="directory for the certificates (created)")
    p.add_argument("names", nargs="+", metavar="NAME", help="one certificate pair per name, e.g. daemon microscope viewer")
    p.set_defaults(func=_keys)


def _keys(args: argparse.Namespace) -> int:
    from .curve import create_keys

    for name in args.names:
        public, secret = create_keys(args.dir, name)
        print(f"{name}: public {public}, secret {secret}")
    return 0
