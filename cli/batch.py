"""``aistem analyze FILE… --out-dir DIR --workers N | --scheduler ADDRESS``: many frames on a Dask cluster.

The frames planned by ``aistem analyze`` (files, signal, frames, pixel size and window checked before anything
heavy) become :class:`aistem.core.batch.FrameJob` s: each worker reads its frame itself, analyses it with the
model it loaded once, and writes ``DIR/<file>_fNNN.npz``; results already there are skipped (a re-run resumes), a
frame too large for one task is split into bands of window rows, and a progress bar counts frames and bands.
``--format hspy`` results are converted from the ``.npz`` once every frame is done.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_cluster_options", "run_on_cluster"]


def add_cluster_options(p: argparse.ArgumentParser) -> None:
    """``--scheduler``, ``--workers`` and ``--block-windows`` for ``aistem analyze``."""
    p.add_argument(
        "--scheduler", metavar="ADDRESS", help="analyse on this Dask cluster, e.g. tcp://10.0.0.5:8786 (needs --out-dir)"
    )
    p.add_argument("--workers", type=int, metavar="N", help="analyse on a local Dask cluster of N processes (needs --out-dir)")
    p.add_argument(
        "--block-windows",
        type=int,
        default=4096,
        metavar="N",
        help="on a cluster, split frames of more windows than this into bands (default 4096)",
    )


def check_cluster_options(args: argparse.Namespace) -> None:
    """Errors of the cluster options, before anything is read or started."""
    if args.scheduler is None and args.workers is None:
        return
    if not args.out_dir:
        raise ValueError("--scheduler/--workers write one result per frame: give --out-dir DIR")
    if args.out or args.plot:
        raise ValueError("--out and --plot are for one frame in this process; on a cluster use --out-dir")
    if args.block_windows < 1:
        raise ValueError(f"--block-windows must be ≥ 1, got {args.block_windows}")


def _load_frame(path: str, signal: int | None, frame: int, pixel_size: float | None) -> tuple[Any, float | None]:
    """Worker side: one frame of one signal of a file, and the pixel size the driver settled on."""
    from aistem.core.io import read_frames

    data = read_frames(path, signal, [frame])
    return data.frames[0], pixel_size


def run_on_cluster(args: argparse.Namespace, cfg: dict[str, Any], jobs: list[Any], out_dir: Path) -> list[dict[str, Any]]:
    """Analyse every planned frame on the cluster; return the summary rows (one per frame, in order)."""
    from aistem.core import AnalysisResult, FrameJob, cluster_client, describe_client, run_batch
    from aistem.core.io import format_source, summary_row

    frames: list[tuple[Any, int, FrameJob]] = []
    for j in jobs:
        info = j.data.signal
        index = info.index if info is not None else None
        for frame in j.data.meta["frame_indices"]:
            load = functools.partial(_load_frame, str(j.path.resolve()), index, int(frame), j.pixel_size)
            source = format_source(j.path.resolve(), index or 0, info.title if info else "", int(frame))
            frames.append((j, int(frame), FrameJob(f"{j.path.stem}_f{int(frame):03d}", load, source=source)))
    seed = args.seed if args.seed is not None else (cfg["seed"] if cfg["seed"] >= 0 else None)
    options = {
        "samples": args.samples if args.samples is not None else cfg["samples"],
        "threshold": args.threshold if args.threshold is not None else cfg["threshold"],
        "seed": seed,
        "adaptive": args.adaptive if args.adaptive is not None else cfg["adaptive"],
        "precision": args.precision or cfg["precision"],
        "rotation": args.rotation if args.rotation is not None else cfg["rotation"],
        "domain": cfg["domain"],
        "coarse_step": cfg["coarse"],
    }
    bar = None
    with cluster_client(args.scheduler, args.workers) as client:
        print(f"{len(frames)} frame(s) on {describe_client(client)}", flush=True)
        if not args.quiet:
            from tqdm import tqdm

            bar = tqdm(total=1, unit="task", desc="analyze", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.total, bar.n = total, done
                bar.refresh()

        by_window: dict[tuple[int | None, int | None], list[FrameJob]] = {}
        for j, _, fj in frames:
            by_window.setdefault((j.window_px, j.stride_px), []).append(fj)
        outcome = None
        for (w, s), group in by_window.items():  # one run per window geometry (files of different pixel sizes)
            outcome = run_batch(
                group,
                out_dir,
                model=args.model or cfg["model"] or None,
                client=client,
                block_windows=args.block_windows,
                progress=progress,
                window_px=w,
                stride_px=s,
                **options,
            )
            for name, reason in outcome.failed.items():
                print(f"  {name}: error: {reason}", file=sys.stderr)
        if bar is not None:
            bar.close()
    rows = []
    for j, frame, fj in frames:
        path = out_dir / f"{fj.name}.npz"
        if not path.is_file():
            continue
        result = AnalysisResult.load(path)
        written = str(path)
        if args.format == "hspy":
            from aistem.core.io import write_hspy

            written = str(
                write_hspy(result, path.with_suffix(".hspy"), title=f"{j.path.name} frame {frame}", signal=j.label, frame=frame)
            )
        rows.append(summary_row(result, j.path.name, j.label, frame, written))
    return rows
