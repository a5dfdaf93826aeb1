"""Confident-known windows before and after the domain check, on the cases of issue 17, for two models.

For each case: the share of windows given a confident known class — neither interface (MI > 0.1 bit) nor, after the
check, unknown — with the shipped model and the paper's model (``../shared/reference/ai4stem_optimal_model.h5``,
skipped when absent); and the simulated polycrystal scene's bulk windows: known and correct.

Cases (300 × 300 px at 0.12 Å/px unless a real file): vacuum with Poisson noise (no lattice), a saturated
featureless patch (contamination-like), SrTiO3 [100], Au [110] and Ni [100] at their real lattice constants, Cu [110]
(convolution HAADF; and a frozen-phonon multislice cell with ``--multislice``), and the real files
``digitalmicrograph/2D/test_STEM_image.dm3`` and ``mrc/HAADFscan.mrc``.

    nice .venv/bin/python benchmarks/measure_unknown.py [--samples 100] [--grain 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure_domain as md

from aistem.core import analyze, load_model

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT.parent / "shared" / "reference" / "ai4stem_optimal_model.h5"
REAL = ROOT.parent / "shared" / "real-files"
SHAPE = (300, 300)


def _tile(label: str, build, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    from aistem.training.augment import PeriodicImage, minmax

    img, ps = md._sim(label, build, Path("/tmp/aistem-domain-cache"))
    x = minmax(PeriodicImage(img, ps).render(SHAPE, md.PIX, rotation=float(rng.uniform(0, 90))))
    return (x + noise * rng.standard_normal(SHAPE)).astype(np.float32)


def cases(rng: np.random.Generator, multislice: bool) -> dict[str, tuple[np.ndarray, float]]:
    out: dict[str, tuple[np.ndarray, float]] = {
        "vacuum, Poisson noise (no lattice)": (rng.poisson(3.0, SHAPE).astype(np.float32), md.PIX),
        "saturated featureless patch": (np.minimum(1.0, 0.99 + 0.01 * rng.standard_normal(SHAPE)).astype(np.float32), md.PIX),
        "SrTiO3 [100] (sim.)": (_tile("SrTiO3 [100] 3.905", md._perovskite, rng), md.PIX),
        "Au [110] 4.08 Å (sim.)": (_tile("Au [110] 4.08", lambda: md._cubic("fcc", "Au", 4.08, "110"), rng), md.PIX),
        "Cu [110] (sim., convolution)": (
            _tile("class FCC_Cu_110 0.0", lambda: md._class_cell("FCC_Cu_110", 0.0), rng),
            md.PIX,
        ),
        "Ni [100] 3.52 Å (sim.)": (_tile("Ni [100] 3.52 (in range)", lambda: md._cubic("fcc", "Ni", 3.52, "100"), rng), md.PIX),
    }
    if multislice:
        out["Cu [110] (sim., multislice)"] = (_multislice_cu110(rng), md.PIX)
    from aistem.core.io import read_image

    for rel in ("digitalmicrograph/2D/test_STEM_image.dm3", "mrc/HAADFscan.mrc"):
        if (REAL / rel).is_file():
            im = read_image(REAL / rel)
            out[f"real: {rel}"] = (np.asarray(im.frames[0], np.float32), float(im.pixel_size or md.PIX))
    return out


def _multislice_cu110(rng: np.random.Generator) -> np.ndarray:
    from aistem.training.augment import PeriodicImage, minmax
    from aistem.training.crystals import build_cell
    from aistem.training.haadf import SimulationSettings, multislice_haadf

    f = Path("/tmp/aistem-domain-cache/multislice_cu110.npz")
    if not f.is_file():  # a 3 × 2 supercell (10.9 × 10.3 Å, 20 Å thick); the probe scans one unit cell of it
        from aistem.training.crystals import unit_cell

        cell = unit_cell("FCC_Cu_110")
        ux, uy, _ = cell.cell.lengths()
        atoms = build_cell("FCC_Cu_110", size=(3 * ux, 2 * uy), thickness=20.0)
        st = SimulationSettings(method="multislice", frozen_phonons=2, scan_sampling=0.12)
        sim = multislice_haadf(atoms, st, scan_region=((0.0, 0.0), (ux, uy)))
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez(f, image=sim.image, ps=np.asarray(sim.pixel_size))
    z = np.load(f)
    x = minmax(PeriodicImage(z["image"], tuple(z["ps"])).render(SHAPE, md.PIX, rotation=float(rng.uniform(0, 90))))
    return (x + 0.05 * rng.standard_normal(SHAPE)).astype(np.float32)


def confident(res, domain: bool) -> float:
    bulk = res.mutual_information <= res.threshold
    return float((bulk & ~res.unknown).mean()) if domain else float(bulk.mean())


def polycrystal(model, grain: float, samples: int) -> str:
    from aistem.training.evaluate import polycrystal_scene, window_truth

    scene = polycrystal_scene(seed=0, grain_size=grain)
    res = analyze(scene.image, scene.pixel_size, model=model, samples=samples, seed=0, adaptive=True)
    truth = window_truth(scene, res.origins_px, res.window_px)
    names = np.asarray(res.class_names)[res.classes]
    true = np.where(
        truth.label < len(scene.class_names),
        np.asarray(scene.class_names + ["?"] * 3)[np.minimum(truth.label, len(scene.class_names))],
        "?",
    )
    correct = names == true
    b = truth.bulk
    return (
        f"polycrystal ({grain:g} Å grains, {res.classes.size} windows): bulk ({int(b.sum())}) correct {correct[b].mean():.1%}, "
        f"known and correct {(correct & ~res.unknown)[b].mean():.1%}; unknown: bulk {res.unknown[b].mean():.1%}, "
        f"boundary {res.unknown[truth.boundary].mean():.1%}, amorphous {res.unknown[truth.amorphous].mean():.1%}; "
        f"interface: boundary {res.interface[truth.boundary].mean():.1%}, amorphous {res.interface[truth.amorphous].mean():.1%}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--grain", type=float, default=30.0, help="polycrystal grain size [Å] (0: skip)")
    ap.add_argument("--multislice", action="store_true", help="also a frozen-phonon multislice Cu [110] (minutes)")
    ap.add_argument("--cases", default="", help="only the cases whose label contains this text")
    args = ap.parse_args()
    models = {"shipped": load_model(None)}
    if PAPER.is_file():
        models["paper"] = load_model(PAPER)
    rng = np.random.default_rng(0)
    imgs = cases(rng, args.multislice)
    print(f"confident known (not interface; after: not unknown either), T={args.samples} adaptive")
    print(f"{'case':45s} " + "  ".join(f"{m + ' before':>14s} {m + ' after':>13s} {'top class (all)':>16s}" for m in models))
    for label, (img, ps) in imgs.items():
        if args.cases and args.cases not in label:
            continue
        cells = []
        for m in models.values():
            t = time.perf_counter()
            try:
                res = analyze(img, ps, model=m, samples=args.samples, seed=0, adaptive=True, rotation=False)
            except ValueError as exc:  # the real files: no lattice at a usable pixel size (../shared/real-files/README.md)
                cells.append(f"refused: {exc}")
                break
            counts = np.bincount(res.classes.ravel(), minlength=len(res.class_names))
            top = res.class_names[int(np.argmax(counts))]  # the most frequent class, before the check
            cells.append(f"{confident(res, False):14.0%} {confident(res, True):13.0%} {top:>16s}")
            _ = time.perf_counter() - t
        print(f"{label:45s} " + "  ".join(cells), flush=True)
    if args.grain > 0:
        for name, m in models.items():
            print(f"{name}: {polycrystal(m, args.grain, args.samples)}", flush=True)


if __name__ == "__main__":
    main()
