"""Statistics behind the domain check's thresholds (docs/domain-check.md).

Simulates 12 Å windows (the project's convolution HAADF, the augmentation's rotations, shears, noise and blur) of

* the ten classes at the edges and centre of their trained lattice range (paper recipe: a ± 0.1 Å);
* out-of-domain crystals built with ASE at their real lattice constants (SrTiO3 [100], Si [110], GaAs [110],
  graphene, MoS2, NaCl [100], Au [110], Al [110], W [100], Ni [100] (in range));
* vacuum with Poisson/Gaussian noise, amorphous cells, a blank and a saturated patch;

and the real files of ../shared/real-files, and prints, per case: the peak-significance percentiles, the share of
windows judged "no lattice", and the share that fits (a) the true class or (b) the best-fitting of the ten classes
(the network can pick any), with the lattice constant the fit implies.

    nice .venv/bin/python benchmarks/measure_domain.py [--windows 40] [--cache /tmp/aistem-domain]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from pathlib import Path

import numpy as np

from aistem.core.domain import KNOWN, NO_LATTICE, DomainSettings, domain_check
from aistem.core.rotation import default_references

PIX = 0.12
WIN = 100
NAMES = list(default_references().class_names)


def _sim(key: str, build, cache: Path) -> tuple[np.ndarray, tuple[float, float]]:
    from aistem.training.haadf import SimulationSettings, convolution_haadf

    f = cache / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".npz")
    if f.is_file():
        z = np.load(f)
        return z["image"], tuple(z["ps"])
    sim = convolution_haadf(build(), SimulationSettings())
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(f, image=sim.image, ps=np.asarray(sim.pixel_size))
    return sim.image, sim.pixel_size


def _repeat(atoms, size: float = 30.0, thickness: float = 20.0):
    lengths = atoms.cell.lengths()
    reps = [max(1, round(t / p)) for t, p in zip((size, size, thickness), lengths, strict=True)]
    return atoms.repeat(reps)


def _cubic(kind: str, symbol: str, a: float, zone: str):
    from ase.lattice.cubic import BodyCenteredCubic, Diamond, FaceCenteredCubic, SimpleCubic

    from aistem.training.crystals import _FCC

    dirs = [list(d) for d in _FCC[zone]]
    cls = {"fcc": FaceCenteredCubic, "bcc": BodyCenteredCubic, "diamond": Diamond, "sc": SimpleCubic}[kind]
    return _repeat(cls(symbol=symbol, latticeconstant=a, directions=dirs, size=(1, 1, 1), pbc=True))


def _compound(kind: str, symbols: tuple[str, str], a: float, zone: str):
    from ase.lattice.compounds import B1, B3

    from aistem.training.crystals import _FCC

    dirs = [list(d) for d in _FCC[zone]]
    cls = {"rocksalt": B1, "zincblende": B3}[kind]
    return _repeat(cls(symbol=list(symbols), latticeconstant=a, directions=dirs, size=(1, 1, 1), pbc=True))


def _perovskite(a: float = 3.905):
    from ase.spacegroup import crystal

    basis = [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)]
    at = crystal(["Sr", "Ti", "O"], basis=basis, spacegroup=221, cellpar=[a, a, a, 90, 90, 90])
    return _repeat(at)


def _ortho_hex(atoms, thickness: float):
    from ase.build import make_supercell

    o = make_supercell(atoms, [[1, 0, 0], [1, 2, 0], [0, 0, 1]])
    o.wrap()
    cell = o.cell.array.copy()
    cell[2] = [0, 0, thickness]
    o.set_cell(cell)
    o.center(axis=2)
    o.pbc = True
    return _repeat(o, thickness=thickness)


def _graphene():
    from ase.build import graphene

    return _ortho_hex(graphene(a=2.46, vacuum=4.0), 8.0)


def _mos2():
    from ase.build import mx2

    return _ortho_hex(mx2("MoS2", kind="2H", a=3.18, vacuum=4.0), 10.0)


def _amorphous(seed: int):
    from aistem.training.crystals import amorphous_cell

    return amorphous_cell(30.0, 20.0, seed=seed)


def _class_cell(name: str, delta: float):
    from aistem.training.crystals import build_cell

    return build_cell(name, lattice_delta=delta, size=30.0, thickness=20.0)


NOISES = ("clean", "poisson", "blur2", "blur4", "poisson+blur2", "poisson+blur4", "gauss0.005", "gauss0.01", "blur2+gauss0.01")


def _noisy(x: np.ndarray, noise: str, rng: np.random.Generator) -> np.ndarray:
    from aistem.training.augment import gaussian_blur, gaussian_noise, minmax, poisson_noise

    x = minmax(x)
    for part in noise.split("+"):
        if part == "poisson":
            x = poisson_noise(x, rng)
        elif part.startswith("blur"):
            x = gaussian_blur(x, float(part[4:]))
        elif part.startswith("gauss"):
            x = gaussian_noise(x, rng, float(part[5:]))
    return x


def windows_of(image: np.ndarray, ps: tuple[float, float], n: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """``n`` windows at random rotation, shear (±0.05), position and augmentation noise; ``scale`` mis-calibrates the pixel."""
    from aistem.training.augment import PeriodicImage

    src = PeriodicImage(image, ps)
    ey, ex = src.extent
    out = np.empty((n, WIN, WIN), np.float32)
    for i in range(n):
        w = src.render(
            (WIN, WIN), PIX * scale, rotation=float(rng.uniform(0, 90)), shear=float(rng.uniform(-0.05, 0.05)),
            centre=(float(rng.uniform(0, ex)), -float(rng.uniform(0, ey))),
        )  # fmt: skip
        out[i] = _noisy(w, NOISES[i % len(NOISES)], rng)
    return out


def no_lattice_windows(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Vacuum with detector noise, blank and saturated patches."""
    out = np.empty((n, WIN, WIN), np.float32)
    for i in range(n):
        if kind == "vacuum-poisson":
            out[i] = rng.poisson(float([0.05, 0.5, 5, 50][i % 4]), (WIN, WIN))
        elif kind == "vacuum-gauss":
            out[i] = 100 + rng.normal(0, 1.0, (WIN, WIN))
        elif kind == "blank":
            out[i] = 7.0
        elif kind == "saturated":
            out[i] = np.minimum(1.0, 0.995 + rng.normal(0, 0.01, (WIN, WIN)))
        elif kind == "vacuum-blurred":
            from scipy.ndimage import gaussian_filter

            out[i] = gaussian_filter(rng.poisson(5.0, (WIN, WIN)).astype(np.float32), 1.0 + i % 3)
    return out


def judge(wins: np.ndarray, true_class: str | None, settings: DomainSettings) -> dict[str, float]:
    """Shares over the windows: no lattice, fits the true class, fits any class; significance and lattice constant."""
    n = len(wins)
    any_known = np.zeros(n, bool)
    res_true = None
    for ci, name in enumerate(NAMES):
        r = domain_check(wins, np.full(n, ci), NAMES, pixel_size=PIX, settings=settings)
        any_known |= r.reason == KNOWN
        if name == true_class:
            res_true = r
    r0 = res_true or r
    out = {
        "sig_p5": float(np.percentile(r0.significance, 5)),
        "sig_p50": float(np.percentile(r0.significance, 50)),
        "sig_max": float(r0.significance.max()),
        "no_lattice": float((r0.reason == NO_LATTICE).mean()),
        "any_known": float(any_known.mean()),
    }
    if res_true is not None:
        out["true_known"] = float((res_true.reason == KNOWN).mean())
        out["reasons"] = np.bincount(res_true.reason, minlength=4) / n
        out["a_p5_p50_p95"] = np.nanpercentile(res_true.lattice_a, [5, 50, 95]) if np.isfinite(res_true.lattice_a).any() else None
        out["expl_p5"] = float(np.nanpercentile(res_true.explained, 5)) if np.isfinite(res_true.explained).any() else math.nan
    return out


def _row(label: str, d: dict) -> str:
    s = f"{label:34s} sig p5 {d['sig_p5']:8.1f} p50 {d['sig_p50']:8.1f} max {d['sig_max']:8.1f}"
    s += f"  no-lattice {d['no_lattice']:5.0%}"
    if "true_known" in d:
        a = d["a_p5_p50_p95"]
        a_txt = "" if a is None else f"  a [Å] p5/50/95 {a[0]:.3f}/{a[1]:.3f}/{a[2]:.3f}"
        s += f"  true-class known {d['true_known']:5.0%} (reasons {np.round(d['reasons'], 2)})"
        s += f" explained p5 {d['expl_p5']:.2f}{a_txt}"
    s += f"  any-class known {d['any_known']:5.0%}"
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=36, help="windows per case")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/aistem-domain-cache"))
    ap.add_argument("--only", default="", help="comma-separated groups: classes,scale,ood,none,real,time")
    ap.add_argument("--classes", default="", help="comma-separated class names (default: all ten)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a DomainSettings threshold")
    args = ap.parse_args()
    groups = set(args.only.split(",")) if args.only else {"classes", "scale", "ood", "none", "real", "time"}
    st = DomainSettings.from_dict({k: float(v) for k, v in (a.split("=", 1) for a in args.set)})
    rng = np.random.default_rng(0)
    n = args.windows
    print(f"settings: {st}")
    if "classes" in groups:
        print("\n== in-domain: the ten classes at a − 0.1, a, a + 0.1 Å (augmentation rotations, shears, noise) ==")
        for name in [n for n in NAMES if not args.classes or n in args.classes.split(",")]:
            for delta in (-0.1, 0.0, 0.1):
                img, ps = _sim(f"class {name} {delta}", lambda name=name, delta=delta: _class_cell(name, delta), args.cache)
                print(_row(f"{name} {delta:+.1f}", judge(windows_of(img, ps, n, rng), name, st)), flush=True)
    if "scale" in groups:
        print("\n== pixel-size calibration error: FCC_Cu_110 and BCC_Fe_100 at a, pixel size off by ±2 %, ±4 % ==")
        for name in ("FCC_Cu_110", "BCC_Fe_100", "HCP_Ti_2m1m10"):
            img, ps = _sim(f"class {name} 0.0", lambda name=name: _class_cell(name, 0.0), args.cache)
            for sc in (0.96, 0.98, 1.02, 1.04):
                print(_row(f"{name} pixel ×{sc}", judge(windows_of(img, ps, n, rng, scale=sc), name, st)), flush=True)
    if "ood" in groups:
        print("\n== out of domain (ASE, real lattice constants) ==")
        cases = {
            "SrTiO3 [100] 3.905": _perovskite,
            "Si [110] 5.431": lambda: _cubic("diamond", "Si", 5.431, "110"),
            "GaAs [110] 5.653": lambda: _compound("zincblende", ("Ga", "As"), 5.653, "110"),
            "NaCl [100] 5.64": lambda: _compound("rocksalt", ("Na", "Cl"), 5.64, "100"),
            "graphene": _graphene,
            "MoS2 [001]": _mos2,
            "Au [110] 4.08": lambda: _cubic("fcc", "Au", 4.08, "110"),
            "Al [110] 4.05": lambda: _cubic("fcc", "Al", 4.05, "110"),
            "Au [100] 4.08": lambda: _cubic("fcc", "Au", 4.08, "100"),
            "W [100] 3.165": lambda: _cubic("bcc", "W", 3.165, "100"),
            "W [111] 3.165": lambda: _cubic("bcc", "W", 3.165, "111"),
            "Ni [100] 3.52 (in range)": lambda: _cubic("fcc", "Ni", 3.52, "100"),
        }
        for label, build in cases.items():
            img, ps = _sim(label, build, args.cache)
            true = "FCC_Cu_100" if label.startswith("Ni") else None
            print(_row(label, judge(windows_of(img, ps, n, rng), true, st)), flush=True)
    if "none" in groups:
        print("\n== no lattice ==")
        for kind in ("vacuum-poisson", "vacuum-gauss", "vacuum-blurred", "blank", "saturated"):
            print(_row(kind, judge(no_lattice_windows(kind, n, rng), None, st)), flush=True)
        for seed in (0, 1):
            img, ps = _sim(f"amorphous {seed}", lambda seed=seed: _amorphous(seed), args.cache)
            print(_row(f"amorphous Si seed {seed}", judge(windows_of(img, ps, n, rng), None, st)), flush=True)
    if "real" in groups:
        real_files(st, n)
    if "time" in groups:
        timing(st)


def real_files(st: DomainSettings, n: int) -> None:
    from aistem.core.io import read_image
    from aistem.core.windows import window_grid

    root = Path(__file__).resolve().parents[2] / "shared" / "real-files"
    if not root.is_dir():
        root = Path("/work/shared/real-files")
    print(f"\n== real files ({root}) ==")
    for rel in ("digitalmicrograph/2D/test_STEM_image.dm3", "mrc/HAADFscan.mrc"):
        path = root / rel
        if not path.is_file():
            print(f"{rel}: not found")
            continue
        img = read_image(path)
        ps = img.pixel_size or PIX
        data = np.asarray(img.frames[0], np.float32)
        if min(data.shape) < 64 or ps > 0.5:
            print(
                f"{rel}: {data.shape} px at {ps:.4g} Å/px — no atomic lattice at a usable pixel size (a 12 Å window "
                f"is {12 / ps:.1f} px): analyze refuses it"
            )
            continue
        w = max(8, round(12.0 / ps))
        grid = window_grid(data.shape, w, max(1, w // 2), pixel_size=ps)
        idx = np.linspace(0, grid.size - 1, min(n * 4, grid.size)).astype(int)
        from aistem.core.windows import extract_windows

        wins = np.concatenate([extract_windows(data, grid, i, i + 1) for i in idx])
        rs = [domain_check(wins, np.full(len(wins), ci), NAMES, pixel_size=ps, settings=st) for ci in range(len(NAMES))]
        any_known = np.any([r.reason == KNOWN for r in rs], axis=0)
        sig = rs[0].significance
        print(
            f"{rel:45s} {data.shape} at {ps:.4g} Å/px ({w} px windows): sig p5 {np.percentile(sig, 5):.1f} "
            f"p50 {np.median(sig):.1f} max {sig.max():.1f}  no-lattice {(rs[0].reason == NO_LATTICE).mean():.0%}  "
            f"any-class known {any_known.mean():.0%}"
        )


def timing(st: DomainSettings) -> None:
    import os
    import platform

    from aistem.core.domain import domain_check_map
    from aistem.core.windows import window_grid
    from aistem.training.augment import PeriodicImage

    rng = np.random.default_rng(1)
    cell, ps = _sim("class FCC_Cu_110 0.0", lambda: _class_cell("FCC_Cu_110", 0.0), Path("/tmp/aistem-domain-cache"))
    img = PeriodicImage(cell, ps).render((512, 512), PIX, rotation=17.0)
    img = img + rng.normal(0, 0.05 * float(img.std()), img.shape).astype(np.float32)
    grid = window_grid(img.shape, 100, 12, pixel_size=PIX)
    cls = np.full(grid.shape, NAMES.index("FCC_Cu_110"))
    domain_check_map(img[:200, :200], window_grid((200, 200), 100, 12), cls[:9, :9], NAMES, pixel_size=PIX)
    t, c0 = time.perf_counter(), time.process_time()
    domain_check_map(img, grid, cls, NAMES, pixel_size=PIX, settings=st)
    dt, cpu_s = time.perf_counter() - t, time.process_time() - c0
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    known = float((domain_check_map(img, grid, cls, NAMES, pixel_size=PIX, settings=st).reason == KNOWN).mean())
    print(
        f"\n== time == 512×512 frame of Cu [110] ({known:.0%} known), {grid.size} windows of 100 px: {dt:.2f} s "
        f"({dt / grid.size * 1e3:.2f} ms/window); CPU time {cpu_s:.2f} s; "
        f"{cpu}, {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
