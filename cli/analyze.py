"""``aistem analyze FILE…``: segment images (one signal of each file, any of its frames) and write the maps.

Everything that can be wrong with the arguments, the files and their pixel sizes is found before TensorFlow is
imported (under a second), so a typo does not cost a model load.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aistem.core import PRECISION_HELP, USER_PRECISIONS

from .batch import add_cluster_options, check_cluster_options

FORMATS = ("npz", "hspy")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "analyze",
        help="classify every window of an image and map its uncertainty",
        description="AI-STEM analysis of HAADF-STEM images: FFT-HAADF descriptors of sliding windows, "
        "Monte-Carlo-dropout Bayesian CNN, class map, mutual information [bit] and interface map. "
        "Reads .npy/.npz and, through RosettaSciIO, .dm3/.dm4, .emd, .ser/.emi, .mrc, .tif/.tiff, .hspy/.hdf5, .blo, "
        ".png/.jpg (`aistem info FILE` lists a file's signals).",
    )
    p.add_argument("images", nargs="+", metavar="FILE", help="image file(s)")
    p.add_argument(
        "--signal", metavar="NAME|INDEX", help="signal of the file to analyse (default: HAADF/ADF/DF, else the first image)"
    )
    p.add_argument("--frames", metavar="all|N|A:B", help="frames of a stack: all, frame N, or frames A to B−1 (default: 0)")
    p.add_argument("--frame", type=int, help=argparse.SUPPRESS)  # the earlier spelling of --frames N
    p.add_argument("--pixel-size", type=float, help="pixel size [Å/px]; overrides the file's metadata")
    p.add_argument("--window", type=float, help="window side [Å] (default from config: 12; the model was trained at 12)")
    p.add_argument("--stride", type=float, help="step between windows [Å] (default from config: 1.5)")
    p.add_argument("--window-px", type=int, help="window side [px]; overrides --window")
    p.add_argument("--stride-px", type=int, help="step between windows [px]; overrides --stride")
    p.add_argument("--samples", type=int, help="Monte-Carlo dropout samples per window, T (default from config: 100)")
    p.add_argument("--threshold", type=float, help="mutual-information threshold for interface [bit] (default 0.1)")
    p.add_argument("--model", help="model file (.keras, or the paper's .h5); default: the shipped model")
    p.add_argument("--seed", type=int, help="seed of the dropout masks, for reproducible maps")
    p.add_argument("--out", help="write the maps of the one analysed frame to this .npz (or .hspy) file")
    p.add_argument("--plot", help="write a figure (image, class map, MI map) of the one analysed frame to this .png file")
    p.add_argument(
        "--out-dir",
        help="write one result per frame, named FILE_fNNN.npz (or .hspy), and summary.csv (class shares, unknown and "
        "interface fractions per frame) into this folder",
    )
    p.add_argument("--format", choices=FORMATS, default="npz", help="result files: npz (default) or hspy (HyperSpy)")
    p.add_argument(
        "--adaptive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="adaptive MC sampling: settled windows stop early, --samples stays the maximum (default from config: on); "
        "--no-adaptive gives the paper's fixed sampling",
    )
    p.add_argument("--precision", choices=USER_PRECISIONS, help=f"{PRECISION_HELP} (default from config: auto)")
    p.add_argument(
        "--rotation",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure the local lattice rotation of bulk windows (default from config: on)",
    )
    p.add_argument(
        "--domain",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mark windows outside the model's domain as unknown (docs/domain-check.md; default from config: on)",
    )
    p.add_argument(
        "--coarse-step",
        type=int,
        metavar="K",
        help="coarse-to-fine: every K-th window first, then only where the map can change (docs/coarse-to-fine.md; "
        "default from config: 4)",
    )
    p.add_argument("--dense", action="store_true", help="evaluate every window (the paper's full grid; same as --coarse-step 1)")
    add_cluster_options(p)
    p.add_argument("--config", help="TOML file overriding config/default.toml")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run, exit_at_once=True)  # all outputs written and closed on return


@dataclass
class Job:
    """One file to analyse: its frames, pixel size and the signal they came from."""

    path: Path
    data: Any  # aistem.core.io.ImageData
    pixel_size: float | None
    window_px: int | None
    stride_px: int | None

    @property
    def label(self) -> str:
        info = self.data.signal
        return f"signal {info.index} {info.title!r}" if info is not None else "signal 0"


def _check_outputs(args: argparse.Namespace) -> None:
    for name in ("out", "plot"):
        path = getattr(args, name)
        if path and not Path(path).parent.exists():
            raise FileNotFoundError(f"--{name}: directory {Path(path).parent} does not exist")
    if args.out and not args.out.endswith((".npz", ".hspy")):
        raise ValueError("--out must name a .npz (or .hspy) file")
    if args.plot and not args.plot.lower().endswith((".png", ".pdf", ".svg")):
        raise ValueError("--plot must name a .png, .pdf or .svg file")
    if args.out_dir and Path(args.out_dir).exists() and not Path(args.out_dir).is_dir():
        raise ValueError(f"--out-dir {args.out_dir} is a file, not a folder")
    wants_hspy = args.format == "hspy" or (args.out or "").endswith(".hspy")
    if wants_hspy and importlib.util.find_spec("rsciio") is None:
        raise ValueError("--format hspy needs RosettaSciIO: pip install 'aistem[io]'")
    for name in ("pixel_size", "window", "stride"):
        v = getattr(args, name)
        if v is not None and not v > 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {v}")
    for name in ("window_px", "stride_px", "samples"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {v}")


def _windows(path: Path, shape: tuple[int, ...], px: float | None, args: argparse.Namespace, window: float,
             stride: float) -> tuple[int, int]:  # fmt: skip
    """(window, stride) [px] for frames of ``shape`` (rows, cols) at ``px`` [Å/px]; ValueError when they cannot work."""
    from aistem.core import DESCRIPTOR_PX, check_window, to_pixels, window_grid

    w = args.window_px if args.window_px is not None else to_pixels(window, px, name="window")
    s = args.stride_px if args.stride_px is not None else to_pixels(stride, px, name="stride")
    check_window(w, px, window if args.window_px is None else None, DESCRIPTOR_PX)
    try:  # an image smaller than one window, found here rather than after the model has loaded
        window_grid(tuple(shape), w, s, pixel_size=px)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return w, s


def _precheck(path: Path, args: argparse.Namespace, window: float, stride: float) -> None:
    """Report the pixel-size error of a Velox or MRC file whose images all fail alike, from a look at the file's
    metadata, without RosettaSciIO's slow readers (Velox ≈ 2 s of imports: pint, dask, sparse, numba; MRC ≈ 0.5 s:
    dask.array).

    Only when no ``--frames``, ``--pixel-size`` or ``--window-px`` is given, ``--signal`` (if given) names the
    detector of one of the images, every image has a pixel size and every image fails with the same message: the
    full read then ends in that error, whichever image it chooses.
    """
    suffix = path.suffix.lower()
    if suffix not in (".emd", ".mrc") or args.pixel_size is not None or args.window_px:
        return
    if args.frames is not None or args.frame is not None:
        return
    if suffix == ".emd":
        from aistem.core.io import velox_images as peek
    else:
        from aistem.core.io import mrc_images as peek

    images = peek(path)
    if not images or any(i.pixel_size is None for i in images):
        return
    if args.signal is not None:  # a name the full read matches to one of these images (an index needs every signal)
        name = str(args.signal).strip().lower()
        if not name or not any(i.detector.lower() == name for i in images):
            return
    errors = []
    for image in images:
        try:
            _windows(path, image.shape, image.pixel_size, args, window, stride)
        except ValueError as exc:
            errors.append(exc)
    if len(errors) == len(images) and len({str(e) for e in errors}) == 1:
        raise errors[0]


def plan(args: argparse.Namespace, cfg: dict[str, Any]) -> list[Job]:
    """Read every file and check its pixel size and windows: all errors here come before TensorFlow is imported."""
    from aistem.core.io import read_frames

    frames = args.frames if args.frames is not None else (args.frame if args.frame is not None else 0)
    window = args.window if args.window is not None else cfg["window"]
    stride = args.stride if args.stride is not None else cfg["stride"]
    jobs = []
    stems: dict[str, Path] = {}
    for name in args.images:
        path = Path(name)
        _precheck(path, args, window, stride)
        try:
            data = read_frames(path, args.signal, frames)
        except (ValueError, FileNotFoundError) as exc:
            raise type(exc)(f"{exc}" if str(path) in str(exc) else f"{path}: {exc}") from exc
        px = args.pixel_size if args.pixel_size is not None else data.pixel_size
        if px is None and (args.window_px is None or args.stride_px is None):
            raise ValueError(
                f"the pixel size of {path} is not known ({data.signal.note if data.signal else 'no metadata'}): give it "
                "with --pixel-size [Å/px], or give --window-px and --stride-px"
            )
        w, s = _windows(path, tuple(data.frames.shape[1:]), px, args, window, stride)
        if path.stem in stems and args.out_dir:
            raise ValueError(f"{stems[path.stem]} and {path} would write results of the same name: rename one")
        stems[path.stem] = path
        jobs.append(Job(path, data, px, w, s))
    n = sum(len(j.data.frames) for j in jobs)
    if n > 1 and (args.out or args.plot):
        raise ValueError(f"--out and --plot take one frame, and {n} are asked for: use --out-dir DIR")
    return jobs


def run(args: argparse.Namespace) -> int:
    from aistem.config import load_config

    full = load_config(args.config)
    cfg = {**full["analysis"], "domain_table": full.get("domain")}
    _check_outputs(args)
    check_cluster_options(args)
    if args.coarse_step is not None and args.coarse_step < 1:
        raise ValueError(f"--coarse-step must be at least 1, got {args.coarse_step}")
    jobs = plan(args, cfg)
    for j in jobs:
        print(f"{j.path.name}: {j.data.meta['description']}, frame(s) {_frames_text(j.data.meta['frame_indices'])}")
    sys.stdout.flush()

    out_dir = Path(args.out_dir) if args.out_dir else None
    if args.scheduler is not None or args.workers is not None:
        from aistem.core.io import write_summary

        from .batch import run_on_cluster

        assert out_dir is not None  # check_cluster_options
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = run_on_cluster(
            args, {**cfg, "domain": analysis_domain(args, cfg), "coarse": coarse_step(args, cfg)}, jobs, out_dir
        )
        print(f"summary: {write_summary(rows, out_dir / 'summary.csv')}")
        wanted = sum(len(j.data.meta["frame_indices"]) for j in jobs)
        return 0 if len(rows) == wanted else 1

    from aistem.core import load_model

    model = load_model(args.model or cfg["model"] or None)
    rows = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    for j in jobs:
        for image, frame in zip(j.data.frames, j.data.meta["frame_indices"], strict=True):
            result = _analyze_one(args, cfg, model, j, image, frame)
            written = _write(args, result, j, frame, image, out_dir)
            if out_dir is not None:
                from aistem.core.io import summary_row

                rows.append(summary_row(result, j.path.name, j.label, frame, written))
    if out_dir is not None:
        from aistem.core.io import write_summary

        print(f"summary: {write_summary(rows, out_dir / 'summary.csv')}")
    return 0


def analysis_domain(args: argparse.Namespace, cfg: dict[str, Any]) -> Any:
    """False, or the domain check's thresholds from the config's ``[domain]`` table."""
    if not (args.domain if args.domain is not None else cfg.get("domain", True)):
        return False
    from aistem.core import DomainSettings

    return DomainSettings.from_dict(cfg.get("domain_table"))


def coarse_step(args: argparse.Namespace, cfg: dict[str, Any]) -> int | None:
    """The coarse-to-fine step (None: dense) from --dense, --coarse-step and the config."""
    if args.dense:
        return None
    k = args.coarse_step if args.coarse_step is not None else int(cfg.get("coarse_step", 1))
    return None if k <= 1 else k


def _frames_text(idx: list[int]) -> str:
    if len(idx) > 2 and idx == list(range(idx[0], idx[-1] + 1)):
        return f"{idx[0]}–{idx[-1]}"
    return ", ".join(map(str, idx))


def _analyze_one(args: argparse.Namespace, cfg: dict[str, Any], model: Any, j: Job, image: Any, frame: int) -> Any:
    from tqdm import tqdm

    from aistem.core import analyze
    from aistem.core.io import format_source

    seed = args.seed if args.seed is not None else (cfg["seed"] if cfg["seed"] >= 0 else None)
    bar = None if args.quiet else tqdm(total=1, unit="window", desc="analyze", file=sys.stderr, leave=False)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    result = analyze(
        image,
        j.pixel_size,
        window_px=j.window_px,
        stride_px=j.stride_px,
        samples=args.samples if args.samples is not None else cfg["samples"],
        threshold=args.threshold if args.threshold is not None else cfg["threshold"],
        model=model,
        seed=seed,
        adaptive=args.adaptive if args.adaptive is not None else cfg["adaptive"],
        precision=args.precision or cfg["precision"],
        rotation=args.rotation if args.rotation is not None else cfg["rotation"],
        domain=analysis_domain(args, cfg),
        coarse_step=coarse_step(args, cfg),
        progress=progress,
    )
    if bar is not None:
        bar.close()
    info = j.data.signal
    result.source = format_source(j.path.resolve(), info.index if info else 0, info.title if info else "", frame)
    _print_result(result, model, f"{j.path.name} [{j.label}, frame {frame}]")
    return result


def _print_result(result: Any, model: Any, name: str) -> None:
    fr = result.class_fractions()
    top = sorted(fr.items(), key=lambda kv: -kv[1])[:3]
    print(
        f"{name}: {result.grid_shape[0]}×{result.grid_shape[1]} windows of {result.window_px} px "
        f"(stride {result.stride_px} px), T={result.samples}, model {model.name} [{model.hash}], {result.precision}"
    )
    print("  classes (of the known windows): " + (", ".join(f"{n} {f:.1%}" for n, f in top if f > 0) or "none"))
    print(
        f"  unknown (outside the model's domain): {result.unknown_fraction:.1%} of windows; "
        f"interface (MI > {result.threshold:g} bit): {result.interface_fraction:.1%}; "
        f"confident known: {result.confident_fraction:.1%}; mean MI {float(result.mutual_information.mean()):.3f} bit"
    )
    print(
        f"  time: descriptors {result.timing['descriptor']:.0f} ms, inference {result.timing['inference']:.0f} ms; "
        f"domain check {result.timing.get('domain', 0):.0f} ms; rotation {result.timing.get('rotation', 0):.0f} ms; "
        f"mean samples per window {result.mean_samples:.1f}"
    )
    if result.filled is not None:
        print(
            f"  coarse-to-fine: {1 - float(result.filled.mean()):.1%} of the windows evaluated, the rest filled from "
            "identical neighbours (--dense: every window)"
        )


def _save(result: Any, path: Path, j: Job, frame: int) -> Path:
    if path.suffix == ".hspy":
        from aistem.core.io import write_hspy

        return write_hspy(result, path, title=f"{j.path.name} frame {frame}", signal=j.label, frame=frame)
    return result.save(path)


def _write(args: argparse.Namespace, result: Any, j: Job, frame: int, image: Any, out_dir: Path | None) -> str:
    written = ""
    if out_dir is not None:
        written = str(_save(result, out_dir / f"{j.path.stem}_f{frame:03d}.{args.format}", j, frame))
        print(f"  maps: {written}")
    if args.out:
        out = Path(args.out)
        print(f"  maps: {_save(result, out, j, frame)}")
    if args.plot:
        from aistem.core import plot_result

        plot_result(result, image.astype("float32"), args.plot, source=j.path.name, frame=frame)
        print(f"  figure: {args.plot}")
    return written
