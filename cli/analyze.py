"""``aistem analyze IMAGE``: segment one image and write the maps (.npz) and a figure (.png)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aistem.core.backend import PRECISION_HELP, USER_PRECISIONS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "analyze",
        help="classify every window of an image and map its uncertainty",
        description="AI-STEM analysis of one HAADF-STEM image: FFT-HAADF descriptors of sliding windows, "
        "Monte-Carlo-dropout Bayesian CNN, class map, mutual information [bit] and interface map.",
    )
    p.add_argument("image", help="image file: .npy, .npz, .tif/.tiff, .dm3/.dm4/.emd/.mrc")
    p.add_argument("--frame", type=int, default=0, help="frame of a stack to analyse (default: 0)")
    p.add_argument("--pixel-size", type=float, help="pixel size [Å/px]; overrides the file's metadata")
    p.add_argument("--window", type=float, help="window side [Å] (default from config: 12)")
    p.add_argument("--stride", type=float, help="step between windows [Å] (default from config: 1.5)")
    p.add_argument("--window-px", type=int, help="window side [px]; overrides --window")
    p.add_argument("--stride-px", type=int, help="step between windows [px]; overrides --stride")
    p.add_argument("--samples", type=int, help="Monte-Carlo dropout samples per window, T (default from config: 100)")
    p.add_argument("--threshold", type=float, help="mutual-information threshold for interface [bit] (default 0.1)")
    p.add_argument("--model", help="model file (.keras, or the paper's .h5); default: the shipped model")
    p.add_argument("--seed", type=int, help="seed of the dropout masks, for reproducible maps")
    p.add_argument("--out", help="write the maps to this .npz file")
    p.add_argument("--plot", help="write a figure (image, class map, MI map) to this .png file")
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
    p.add_argument("--config", help="TOML file overriding config/default.toml")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run, exit_at_once=True)  # all outputs written and closed on return


def _domain(enabled: bool, table: dict[str, object] | None) -> object:
    """False, or the domain check's thresholds from the config's ``[domain]`` table."""
    from aistem.core.domain import DomainSettings

    return DomainSettings.from_dict(table) if enabled else False


def run(args: argparse.Namespace) -> int:
    from aistem.config import load_config

    full = load_config(args.config)
    cfg = full["analysis"]
    for name in ("out", "plot"):
        path = getattr(args, name)
        if path and not Path(path).parent.exists():
            raise FileNotFoundError(f"--{name}: directory {Path(path).parent} does not exist")
    if args.out and not args.out.endswith(".npz"):
        raise ValueError("--out must name a .npz file")
    if args.plot and not args.plot.lower().endswith((".png", ".pdf", ".svg")):
        raise ValueError("--plot must name a .png, .pdf or .svg file")

    from aistem.core.io import read_image

    data = read_image(args.image, args.frame)
    pixel_size = args.pixel_size if args.pixel_size is not None else data.pixel_size
    window_px, stride_px = args.window_px, args.stride_px
    if pixel_size is None and (window_px is None or stride_px is None):
        raise ValueError(
            f"the pixel size of {args.image} is not known (no metadata): give it with --pixel-size [Å/px], "
            "or give --window-px and --stride-px"
        )
    if pixel_size is not None and not pixel_size > 0:
        raise ValueError(f"--pixel-size must be positive, got {pixel_size}")
    model_path = args.model or cfg["model"] or None

    from tqdm import tqdm

    from aistem.core import analyze, load_model
    from aistem.core.figures import plot_result

    model = load_model(model_path)
    seed = args.seed if args.seed is not None else (cfg["seed"] if cfg["seed"] >= 0 else None)
    image = data.frames[0]
    bar = None if args.quiet else tqdm(total=1, unit="window", desc="analyze", file=sys.stderr, leave=False)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    result = analyze(
        image,
        pixel_size,
        window=args.window if args.window is not None else cfg["window"],
        stride=args.stride if args.stride is not None else cfg["stride"],
        window_px=window_px,
        stride_px=stride_px,
        samples=args.samples if args.samples is not None else cfg["samples"],
        threshold=args.threshold if args.threshold is not None else cfg["threshold"],
        model=model,
        seed=seed,
        adaptive=args.adaptive if args.adaptive is not None else cfg["adaptive"],
        precision=args.precision or cfg["precision"],
        rotation=args.rotation if args.rotation is not None else cfg["rotation"],
        domain=_domain(args.domain if args.domain is not None else cfg.get("domain", True), full.get("domain")),
        progress=progress,
    )
    if bar is not None:
        bar.close()
    result.source = str(Path(args.image).resolve())
    fr = result.class_fractions()
    top = sorted(fr.items(), key=lambda kv: -kv[1])[:3]
    print(
        f"{Path(args.image).name}: {result.grid_shape[0]}×{result.grid_shape[1]} windows of {result.window_px} px "
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
    if args.out:
        print(f"  maps: {result.save(args.out)}")
    if args.plot:
        plot_result(result, image.astype("float32"), args.plot, title=Path(args.image).name)
        print(f"  figure: {args.plot}")
    return 0
