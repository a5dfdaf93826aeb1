"""``aistem info FILE…``: the signals in microscope files, and which one ``aistem analyze`` would use."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "info",
        help="list the signals in image files and the one `aistem analyze` would use",
        description="For each file: every signal with its index, title, kind (image, stack, diffraction, spectrum, "
        "spectrum-image, other), shape, pixel size [Å/px], detector, and which one `aistem analyze` would use "
        "(marked *). Imports no TensorFlow.",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--signal", metavar="NAME|INDEX", help="mark this signal as the one to use (as analyze --signal)")
    p.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per file and line: {"file", "signals": [{"index", "title", "kind", "shape", '
        '"pixel_size", "detector", "selected"}]}',
    )
    p.set_defaults(func=run)


def _table(file: str, infos: list) -> str:
    lines = [file]
    for i in infos:
        px = f"{i.pixel_size:.4g} Å/px" if i.pixel_size is not None else "—"
        shape = "×".join(map(str, i.shape))
        mark = "*" if i.selected else " "
        note = f"  ({i.note})" if i.note else ""
        lines.append(
            f" {mark}{i.index:>3}  {i.title or '(untitled)':<24} {i.kind:<14} {shape:<16} {px:<14} {i.detector or '—'}{note}"
        )
    if not any(i.selected for i in infos):
        lines.append("  no signal here is a real-space image AI-STEM can analyse")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from aistem.core.io import list_signals

    rc = 0
    for f in args.files:
        try:
            infos = list_signals(f, args.signal)
        except (ValueError, FileNotFoundError) as exc:
            print(f"aistem info: error: {exc}", file=sys.stderr)
            rc = 2
            continue
        if args.json:
            print(json.dumps({"file": f, "signals": [i.to_dict() for i in infos]}))
        else:
            print(_table(f, infos))
    return rc
