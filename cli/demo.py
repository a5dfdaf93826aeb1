"""``aistem demo``: the main job, end to end, on the shipped model and sample data."""

from __future__ import annotations

import argparse
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "ai4stem_optimal_model.h5"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="run the main job on the shipped model and sample data", description=__doc__)
    p.add_argument("--out", default="demo-out", help="directory for the figure and maps (default: demo-out)")
    p.add_argument("--samples", type=int, default=30, help="Monte-Carlo samples per window (default 30)")
    p.add_argument("--model", help="model file; default: the shipped model, else ../shared/reference (the paper's)")
    p.set_defaults(func=run)


def find_demo_model(explicit: str | None) -> str | None:
    """The model the demo uses: explicit, shipped, or the paper's next to the checkout; None if none."""
    from aistem.core.model import default_model_path

    if explicit:
        return explicit
    shipped = default_model_path()
    if shipped is not None:
        return str(shipped)
    return str(REFERENCE) if REFERENCE.is_file() else None


def run(args: argparse.Namespace) -> int:
    import numpy as np

    model = find_demo_model(args.model)
    if model is None:
        print(
            "aistem demo: no model is installed yet (the project's trained model is not shipped in this version, "
            "and ../shared/reference/ai4stem_optimal_model.h5 is not beside this checkout).\n"
            "Give one with: aistem demo --model PATH"
        )
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from aistem.core.synthetic import synthetic_bicrystal

    sample = out / "sample_bicrystal.npz"
    np.savez_compressed(sample, image=synthetic_bicrystal((384, 384)), pixel_size=0.12)
    from aistem.cli.main import main

    print(f"demo: model {model}\ndemo: sample image {sample} (synthetic fcc Cu [100] bicrystal, 30° boundary)")
    return main(
        [
            "analyze",
            str(sample),
            "--model",
            model,
            "--samples",
            str(args.samples),
            "--seed",
            "0",
            "--out",
            str(out / "result.npz"),
            "--plot",
            str(out / "result.png"),
        ]
    )
