"""``aistem``: one console script, one subcommand per job.

Each package registers its own subcommands (``register_*(subparsers)``) and
imports its heavy dependencies only when its subcommand runs, so ``aistem
--help`` is quick and a missing optional extra only affects its subcommands.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

# (module, function) pairs that add subcommands; a module that is not there yet is skipped.
REGISTRARS = (
    ("aistem.cli.analyze", "register"),
    ("aistem.cli.info", "register"),
    ("aistem.cli.demo", "register"),
    ("aistem.daemon.commands", "register"),
    ("aistem.daemon.relay", "register"),
    ("aistem.gui.commands", "register"),
    ("aistem.training.commands", "register_simulate"),
    ("aistem.training.train_commands", "register_train"),
    ("aistem.training.train_commands", "register_evaluate"),
    ("aistem.training.embed", "register_embed"),
)


class _Version(argparse.Action):
    """``--version``: looks the version up only when asked (importlib.metadata costs ≈ 30 ms on every start)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("aistem")
        except PackageNotFoundError:  # pragma: no cover
            v = "unknown"
        print(f"aistem {v}")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``aistem`` parser; given the ``command`` about to run, only the modules up to the one that registers it
    are imported (each costs its module-level imports: numpy, pyzmq, …), else all of them."""
    parser = argparse.ArgumentParser(
        prog="aistem",
        description="AI-STEM live: crystal symmetry, zone axis and defects in atomic-resolution HAADF-STEM images, "
        "with Bayesian (Monte-Carlo dropout) uncertainty.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module, func in REGISTRARS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("aistem"):
                continue
            raise
        register = getattr(mod, func, None)
        if register is not None:
            register(sub)
        if command is not None and command in sub.choices:
            break
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv``: its first word that is not an option (the top level takes no values)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not for microscopists
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(words))
    args = parser.parse_args(words)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    level = str(getattr(args, "log_level", "INFO")).upper()
    if getattr(args, "quiet", False):  # every long command's --quiet: warnings and errors only
        level = "WARNING"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        rc = int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"aistem {args.command}: error: {exc}", file=sys.stderr)
        return 2
    if argv is None and getattr(args, "exit_at_once", False):
        exit_at_once(rc)
    return rc


def exit_at_once(rc: int) -> None:
    """End the process now, skipping the interpreter's teardown.

    After a command that ran TensorFlow, Python's final clean-up of its modules takes about 1.2 s on a 2-core CPU
    (measured: no atexit handler or thread is involved; it is the teardown itself). A command whose outputs are all
    written and closed when it returns opts in with ``set_defaults(exit_at_once=True)``; only the console script
    (``argv`` None) exits this way, so ``main([...])`` in tests and other callers returns as usual.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be written anyway
            pass
    logging.shutdown()
    os._exit(rc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
