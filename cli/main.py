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
    ("aistem.cli.demo", "register"),
    ("aistem.daemon.commands", "register"),
    ("aistem.gui.commands", "register"),
    ("aistem.training.commands", "register_simulate"),
    ("aistem.training.train_commands", "register_train"),
    ("aistem.training.train_commands", "register_evaluate"),
    ("aistem.training.embed", "register_embed"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aistem",
        description="AI-STEM live: crystal symmetry, zone axis and defects in atomic-resolution HAADF-STEM images, "
        "with Bayesian (Monte-Carlo dropout) uncertainty.",
    )
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("aistem")
    except PackageNotFoundError:  # pragma: no cover
        v = "unknown"
    parser.add_argument("--version", action="version", version=f"aistem {v}")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not for microscopists
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    logging.basicConfig(
        level=getattr(args, "log_level", "INFO").upper() if hasattr(args, "log_level") else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"aistem {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
