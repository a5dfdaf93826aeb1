"""``aistem simulate``: the training set, test scenes with ground truth, and the sample frame series.

Registered by the ``aistem`` dispatcher through :func:`register_simulate`.
abTEM and ASE are imported only when a subcommand runs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from .crystals import CLASS_NAMES

__all__ = ["main", "register_simulate"]


# ---------------------------------------------------------------- argument types
def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return v


def _nonneg_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {text}")
    return v


def _finite_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {text}")
    return v


def _class_name(text: str) -> str:
    if text not in CLASS_NAMES:
        raise argparse.ArgumentTypeError(f"unknown class {text!r}; choose one of: {', '.join(CLASS_NAMES)}")
    return text


def _grain_name(text: str) -> str:
    return text if text == "amorphous" else _class_name(text)


# ---------------------------------------------------------------- helpers
def _fail(args: argparse.Namespace, message: str) -> int:
    what = " ".join(str(w) for w in (getattr(args, "simulate_command", None), getattr(args, "scene_kind", None)) if w)
    print(f"aistem simulate {what}: error: {message}", file=sys.stderr)
    return 2


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _tell(args: argparse.Namespace) -> Any:
    """Where the progress lines go: :func:`_say`, or nowhere with ``--quiet``."""
    return (lambda message: None) if args.quiet else _say


def _writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and check it can be written; raise PermissionError/NotADirectoryError with a clear message."""
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"output folder {path} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"cannot create the output folder {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"output folder {path} is not writable")
    return path


def _out_file(out: str, default_name: str, suffixes: tuple[str, ...]) -> Path:
    """``--out``: a file if it ends in one of ``suffixes``, else a folder that gets ``default_name``."""
    p = Path(out).expanduser()
    if p.suffix.lower() in suffixes:
        _writable_dir(p.parent if str(p.parent) else Path("."))
        return p
    return _writable_dir(p) / default_name


def _config(args: argparse.Namespace) -> dict[str, Any]:
    from .config import load_simulate_config

    overrides: dict[str, dict[str, Any]] = {
        "simulation": {
            "pixel_size": args.pixel_size,
            "sampling": args.sampling,
            "cell_size": getattr(args, "cell_size", None),
            "thickness": args.thickness,
            "method": args.method,
            "focal_spread_model": args.focal_spread_model,
            "cache_dir": args.cache_dir,
        }
    }
    for table, pairs in getattr(args, "_table_overrides", {}).items():
        overrides.setdefault(table, {}).update({key: getattr(args, dest) for key, dest in pairs})
    return load_simulate_config(args.config, overrides)


def _settings(cfg: dict[str, Any]) -> tuple[Any, str | None, float]:
    from .config import simulation_settings

    sim = cfg["simulation"]
    return simulation_settings(cfg), (sim["cache_dir"] or None), float(sim["pixel_size"])


def _add_common(p: argparse.ArgumentParser, *, cell_size: bool = True) -> None:
    g = p.add_argument_group("simulation settings (defaults from config/simulate.toml)")
    g.add_argument("--config", metavar="FILE", help="TOML file overriding config/simulate.toml (same tables and keys)")
    g.add_argument("--pixel-size", type=_positive_float, metavar="Å/PX", help="pixel size of the output [Å/px] (default 0.12)")
    g.add_argument("--sampling", type=_positive_float, metavar="Å", help="grid spacing of the simulation [Å] (default 0.12)")
    if cell_size:
        g.add_argument("--cell-size", type=_positive_float, metavar="Å", help="lateral size of the simulated periodic cells [Å]")
    g.add_argument(
        "--thickness", type=_positive_float, metavar="Å", help="thickness of the simulated cells along the beam [Å] (default 80)"
    )
    g.add_argument(
        "--method", choices=("convolution", "multislice"), help="convolution approach (fast, default) or multislice (slow)"
    )
    g.add_argument(
        "--focal-spread-model",
        choices=("envelope", "incoherent"),
        help="focal spread as a coherence envelope (the paper's images, default) or an incoherent defocus average",
    )
    g.add_argument("--cache-dir", metavar="DIR", help="cache of simulated cells (default $AISTEM_CACHE or ~/.cache/aistem)")
    g.add_argument("--no-cache", action="store_true", help="simulate again and do not write the cache")
    g.add_argument("--seed", type=int, metavar="N", help="seed of translations, noise and amorphous structures")
    p.add_argument("--quiet", action="store_true", help="no progress bar or progress lines (warnings and errors only)")


# ---------------------------------------------------------------- handlers
def _run_dataset(args: argparse.Namespace) -> int:
    try:
        cfg = _config(args)
        out = _out_file(args.out or cfg["dataset"]["out"], "train.h5", (".h5", ".hdf5"))
        from .dataset import generate_dataset, plan_dataset

        plan = plan_dataset(cfg)
        if cfg["simulation"]["method"] == "multislice":
            _say(
                f"warning: multislice on {cfg['simulation']['cell_size']} Å cells takes hours per base image; "
                "it is meant for small validation cells (the convolution approach is the default)"
            )
        if args.dry_run:  # the answer asked for, also with --quiet
            _say(f"{len(plan.units)} base images × {plan.recipe.per_base} windows = {plan.total} descriptors → {out}")
            return 0
        t0 = time.perf_counter()
        from aistem.core import cluster_client, describe_client

        with cluster_client(args.scheduler, args.workers) as client:
            if client is not None:
                _tell(args)(f"simulating on {describe_client(client)}")
            result = generate_dataset(
                cfg,
                out,
                overwrite=args.overwrite,
                progress=not args.quiet,
                cache_dir=cfg["simulation"]["cache_dir"] or None,
                use_cache=not args.no_cache,
                max_units=args.max_units,
                log=_tell(args),
                client=client,
            )
        _tell(args)(f"done in {time.perf_counter() - t0:.1f} s: {result}")
        return 0
    except (ValueError, OSError, RuntimeError) as exc:
        return _fail(args, str(exc))


def _run_polycrystal(args: argparse.Namespace) -> int:
    try:
        cfg = _config(args)
        out = _writable_dir(Path(args.out).expanduser())
        settings, cache_dir, pixel_size = _settings(cfg)
        pc, sc = cfg["polycrystal"], cfg["scene"]
        from .scenes import make_polycrystal, save_scene

        image, labels, info = make_polycrystal(
            grain_size=float(pc["grain_size"]),
            grains=list(pc["grains"]),
            rotations_deg=[float(r) for r in pc["rotations"]],
            pixel_size=pixel_size,
            boundary_width=float(sc["boundary_width"]),
            cell_size=float(sc["cell_size"]),
            thickness=float(cfg["simulation"]["thickness"]),
            amorphous_symbol=str(pc["amorphous_symbol"]),
            amorphous_density=float(pc["amorphous_density"]),
            amorphous_min_distance=float(pc["amorphous_min_distance"]),
            settings=settings,
            seed=int(sc["seed"]),
            cache_dir=cache_dir,
            use_cache=not args.no_cache,
        )
        paths = save_scene(out, args.name, image, labels, info)
        _tell(args)(f"polycrystal {image.shape[0]}×{image.shape[1]} px → {', '.join(str(p) for p in paths.values())}")
        return 0
    except (ValueError, OSError) as exc:
        return _fail(args, str(exc))


def _run_bicrystal(args: argparse.Namespace) -> int:
    try:
        cfg = _config(args)
        out = _writable_dir(Path(args.out).expanduser())
        settings, cache_dir, pixel_size = _settings(cfg)
        bc, sc = cfg["bicrystal"], cfg["scene"]
        _class_name(str(bc["class"]))
        from .scenes import make_bicrystal, save_scene

        image, labels, info = make_bicrystal(
            str(bc["class"]),
            float(bc["misorientation"]),
            float(bc["boundary_angle"]),
            shape=tuple(int(s) for s in bc["shape"]),
            pixel_size=pixel_size,
            rotation_deg=float(bc["rotation"]),
            boundary_width=float(sc["boundary_width"]),
            lattice_delta=float(args.lattice_delta or 0.0),
            cell_size=float(sc["cell_size"]),
            thickness=float(cfg["simulation"]["thickness"]),
            settings=settings,
            seed=int(sc["seed"]),
            cache_dir=cache_dir,
            use_cache=not args.no_cache,
        )
        paths = save_scene(out, args.name, image, labels, info)
        _tell(args)(
            f"bicrystal {bc['class']} {image.shape[0]}×{image.shape[1]} px, grains at {info['rotations_deg']}° → "
            + ", ".join(str(p) for p in paths.values())
        )
        return 0
    except (ValueError, OSError, argparse.ArgumentTypeError) as exc:
        return _fail(args, str(exc))


def _run_series(args: argparse.Namespace) -> int:
    try:
        cfg = _config(args)
        se, sc = cfg["series"], cfg["scene"]
        out = _out_file(args.out or se["out"], "sample_series.npz", (".npz",))
        settings, cache_dir, pixel_size = _settings(cfg)
        from .polyseries import make_poly_series
        from .scenes import save_series

        frames, labels, info = make_poly_series(
            frames=int(se["frames"]),
            shape=tuple(int(s) for s in se["shape"]),
            drift_px=tuple(float(v) for v in se["drift"]),
            drift_jitter_px=float(se["drift_jitter"]),
            move_A=float(se["move"]),
            line_jitter_px=float(se["line_jitter"]),
            dose=float(se["dose"]),
            background=float(se["background"]),
            read_noise=float(se["read_noise"]),
            pixel_size=pixel_size,
            boundary_width=float(sc["boundary_width"]),
            cell_size=float(sc["cell_size"]),
            thickness=float(cfg["simulation"]["thickness"]),
            settings=settings,
            seed=int(sc["seed"]),
            cache_dir=cache_dir,
            use_cache=not args.no_cache,
        )
        path = save_series(out, frames, labels, info)
        size_mb = path.stat().st_size / 1e6
        _tell(args)(
            f"series of {frames.shape[0]} frames {frames.shape[1]}×{frames.shape[2]} px (uint16) → {path} ({size_mb:.1f} MB)"
        )
        return 0
    except (ValueError, OSError, argparse.ArgumentTypeError) as exc:
        return _fail(args, str(exc))


# ---------------------------------------------------------------- registration
def register_simulate(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``simulate`` (with ``dataset``, ``scene polycrystal``, ``scene bicrystal``, ``series``) to ``subparsers``.

    Returns
    -------
    argparse.ArgumentParser
        The ``simulate`` parser.
    """
    sim = subparsers.add_parser(
        "simulate",
        help="simulate HAADF training data and test scenes with ground truth (abTEM)",
        description="Simulate HAADF-STEM images with abTEM (the paper's convolution approach): the augmented "
        "training set, test scenes with per-pixel ground truth, and a drifting frame series. "
        "Defaults: config/simulate.toml.",
    )
    sim.set_defaults(func=lambda a: (sim.print_help(), 2)[1])
    sub = sim.add_subparsers(dest="simulate_command", metavar="WHAT")

    _register_dataset(sub)
    sc = sub.add_parser("scene", help="test scenes with ground truth (polycrystal, bicrystal)")
    sc.set_defaults(func=lambda a: (sc.print_help(), 2)[1])
    scs = sc.add_subparsers(dest="scene_kind", metavar="KIND")
    _register_polycrystal(scs)
    _register_bicrystal(scs)
    _register_series(sub)
    return sim


def _register_dataset(sub: Any) -> None:
    ds = sub.add_parser(
        "dataset",
        help="the augmented training set (descriptors + labels, HDF5); resumable",
        description="Simulate every class at each lattice constant, rotate/shear/crop/add noise, compute the "
        "FFT-HAADF descriptors and write one HDF5 file. Interrupt with Ctrl-C and run the same command again to resume.",
    )
    ds.add_argument("--out", metavar="PATH", help="HDF5 file (*.h5) or folder (gets train.h5) (default ./train.h5)")
    ds.add_argument(
        "--classes", nargs="+", type=_class_name, metavar="CLASS", help=f"classes (default all ten: {' '.join(CLASS_NAMES)})"
    )
    ds.add_argument(
        "--lattice-deltas", nargs="+", type=_finite_float, metavar="Å", help="lattice-constant changes [Å] (default -0.1 0 0.1)"
    )
    ds.add_argument("--rotation-step", type=_positive_float, metavar="DEG", help="rotation step [°] over 0–90° (default 5)")
    ds.add_argument(
        "--shear-step", type=_positive_float, metavar="SHEAR", help="shear step (dimensionless) over ±0.05 (default 0.01)"
    )
    ds.add_argument("--store-windows", action="store_const", const=True, help="also store the 12 Å windows (float16)")
    ds.add_argument("--fft-threads", type=_positive_int, metavar="N", help="FFT threads for the descriptors (default 1)")
    ds.add_argument(
        "--scheduler", metavar="ADDRESS", help="simulate the base images on this Dask cluster, e.g. tcp://10.0.0.5:8786"
    )
    ds.add_argument("--workers", type=_positive_int, metavar="N", help="simulate on a local Dask cluster of N processes")
    ds.add_argument("--max-units", type=_positive_int, metavar="N", help="stop after N base images (run again to resume)")
    ds.add_argument("--overwrite", action="store_true", help="discard an existing file or unfinished run")
    ds.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)  # the older name
    ds.add_argument("--dry-run", action="store_true", help="print how many descriptors would be made, and stop")
    _add_common(ds)
    ds.set_defaults(func=_run_dataset, seed=None)
    ds.set_defaults(
        _table_overrides={
            "dataset": [
                ("classes", "classes"),
                ("lattice_deltas", "lattice_deltas"),
                ("store_windows", "store_windows"),
                ("workers", "fft_threads"),
                ("seed", "seed"),
            ],
            "augment": [("rotation_step", "rotation_step"), ("shear_step", "shear_step")],
        }
    )


def _register_polycrystal(scs: Any) -> None:
    pc = scs.add_parser(
        "polycrystal",
        help="four square grains (bcc Fe [100], fcc Cu [100], hcp Ti [0001], amorphous), the paper's Fig. 3",
        description="Writes OUT/NAME.npy (float32 image), OUT/NAME_truth.npz (labels: 0–9 classes, 10 amorphous, "
        "11 boundary; grain_map) and OUT/NAME.json (pixel size, rotations, legend).",
    )
    pc.add_argument("--out", required=True, metavar="DIR", help="output folder")
    pc.add_argument("--name", default="polycrystal", help="file name stem (default polycrystal)")
    pc.add_argument("--grain-size", type=_positive_float, metavar="Å", help="side of each square grain [Å] (default 40)")
    pc.add_argument(
        "--grains", nargs=4, type=_grain_name, metavar="CLASS", help="four grains in reading order (a class or 'amorphous')"
    )
    pc.add_argument(
        "--rotations", nargs=4, type=_finite_float, metavar="DEG", help="in-plane rotation of each grain [°], counter-clockwise"
    )
    pc.add_argument("--boundary-width", type=_nonneg_float, metavar="Å", help="width of the boundary label band [Å] (default 2)")
    _add_common(pc)
    pc.set_defaults(func=_run_polycrystal)
    pc.set_defaults(
        _table_overrides={
            "polycrystal": [("grain_size", "grain_size"), ("grains", "grains"), ("rotations", "rotations")],
            "scene": [("boundary_width", "boundary_width"), ("cell_size", "cell_size"), ("seed", "seed")],
        }
    )


def _register_bicrystal(scs: Any) -> None:
    bi = scs.add_parser(
        "bicrystal",
        help="two grains of one class rotated against each other, straight boundary",
        description="Writes OUT/NAME.npy (float32 image), OUT/NAME_truth.npz (labels, grain_map) and OUT/NAME.json "
        "(rotations of both grains [°], boundary, pixel size).",
    )
    bi.add_argument("--out", required=True, metavar="DIR", help="output folder")
    bi.add_argument("--name", default="bicrystal", help="file name stem (default bicrystal)")
    bi.add_argument(
        "--class", dest="class_name", type=_class_name, metavar="CLASS", help="class of both grains (default FCC_Cu_111)"
    )
    bi.add_argument(
        "--misorientation", type=_finite_float, metavar="DEG", help="rotation of grain 2 against grain 1 [°] (default 30)"
    )
    bi.add_argument(
        "--boundary-angle",
        type=_finite_float,
        metavar="DEG",
        help="boundary direction, counter-clockwise from vertical [°] (default 0)",
    )
    bi.add_argument("--rotation", type=_finite_float, metavar="DEG", help="rotation of grain 1 [°] (default 0)")
    bi.add_argument("--size", nargs=2, type=_positive_int, metavar=("ROWS", "COLS"), help="image size [px] (default 512 512)")
    bi.add_argument("--boundary-width", type=_nonneg_float, metavar="Å", help="width of the boundary label band [Å] (default 2)")
    bi.add_argument("--lattice-delta", type=_finite_float, metavar="Å", help="change of the lattice constant [Å] (default 0)")
    _add_common(bi)
    bi.set_defaults(func=_run_bicrystal)
    bi.set_defaults(
        _table_overrides={
            "bicrystal": [
                ("class", "class_name"),
                ("misorientation", "misorientation"),
                ("boundary_angle", "boundary_angle"),
                ("rotation", "rotation"),
                ("shape", "size"),
            ],
            "scene": [("boundary_width", "boundary_width"), ("cell_size", "cell_size"), ("seed", "seed")],
        }
    )


def _register_series(sub: Any) -> None:
    se = sub.add_parser(
        "series",
        help="frames scanning across a polycrystal (Fe [100], Cu [110], Ti [0001], amorphous), the sample data",
        description="Writes one compressed .npz: frames (N, rows, cols) uint16, labels (N, rows, cols), grain_map, "
        "shift_px (N, 2) [px], pixel_size [Å/px], info (JSON). The grain layout: aistem.training.polyseries.",
    )
    se.add_argument("--out", metavar="PATH", help="file (*.npz) or folder (gets sample_series.npz)")
    se.add_argument("--frames", type=_positive_int, metavar="N", help="number of frames (default 10)")
    se.add_argument("--size", nargs=2, type=_positive_int, metavar=("ROWS", "COLS"), help="frame size [px] (default 512 512)")
    se.add_argument(
        "--drift", nargs=2, type=_finite_float, metavar=("ROWS", "COLS"), help="mean drift per frame [px] (default 0.8 1.2)"
    )
    se.add_argument("--drift-jitter", type=_nonneg_float, metavar="PX", help="random-walk part of the drift [px] (default 0.3)")
    se.add_argument(
        "--move", type=_finite_float, metavar="Å", help="move to the second region along the columns [Å] (default 36)"
    )
    se.add_argument(
        "--line-jitter", type=_nonneg_float, metavar="PX", help="scan-line jitter along the columns [px] (default 0.3)"
    )
    se.add_argument("--dose", type=_positive_float, metavar="COUNTS", help="counts at the brightest intensity (default 400)")
    se.add_argument("--background", type=_nonneg_float, metavar="COUNTS", help="constant background [counts] (default 50)")
    se.add_argument("--read-noise", type=_nonneg_float, metavar="COUNTS", help="Gaussian read noise [counts] (default 3)")
    se.add_argument("--boundary-width", type=_nonneg_float, metavar="Å", help="width of the boundary label band [Å] (default 2)")
    _add_common(se)
    se.set_defaults(func=_run_series)
    se.set_defaults(
        _table_overrides={
            "series": [
                ("frames", "frames"),
                ("shape", "size"),
                ("drift", "drift"),
                ("drift_jitter", "drift_jitter"),
                ("move", "move"),
                ("line_jitter", "line_jitter"),
                ("dose", "dose"),
                ("background", "background"),
                ("read_noise", "read_noise"),
            ],
            "scene": [("boundary_width", "boundary_width"), ("cell_size", "cell_size"), ("seed", "seed")],
        }
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m aistem.training …``: the ``simulate`` command without the ``aistem`` dispatcher."""
    parser = argparse.ArgumentParser(prog="python -m aistem.training")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    register_simulate(sub)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
