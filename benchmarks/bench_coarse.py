"""Coarse-to-fine against the dense grid: agreement, fraction of windows evaluated and time, scene by scene.

For each image, ``aistem.core.analyze`` runs dense (``coarse_step`` None, the paper's grid) and coarse-to-fine
(``--k``) with the same seed and settings, in one process, one after the other:

* agreement of the class, interface and unknown maps (issue target ≥ 99.5 %);
* MI difference on the evaluated windows (the same masks: 0 up to float rounding with fixed sampling), also on the
  evaluated windows that drew as many samples as in the dense grid (adaptive sampling: the only source of a
  difference), and the MC noise floor: the same dense grid with another seed (``--no-noise`` skips that run);
* fraction of windows evaluated, and the analysis time of both.

Images: the shipped sample series (frames 0 and the last: the moved region with a new Fe [100] grain), the simulated
polycrystal (training/evaluate.py, seed 0) and bicrystals of three classes, bcc Fe [100] among them as in the paper's
grain-boundary figure (need the training extra: abTEM); ``--files`` adds any image files (``.npz`` scenes or frames).

Run: .venv/bin/python benchmarks/bench_coarse.py [--k 4 --stride 1.5 --samples 100] [--no-scenes]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def images(args: argparse.Namespace) -> list[tuple[str, np.ndarray, float]]:
    from aistem.daemon.sources.replay import load_series, sample_series_path

    out = []
    p = sample_series_path()
    if p is not None:
        s = load_series([p])[0]
        out.append(("sample series frame 0", s.frames[0].astype(np.float32), s.pixel_size))
        last = len(s.frames) - 1
        out.append((f"sample series frame {last}", s.frames[last].astype(np.float32), s.pixel_size))
    if not args.no_scenes:
        from aistem.training.evaluate import bicrystal_scene, polycrystal_scene

        for name in ("BCC_Fe_100", "FCC_Cu_110", "HCP_Ti_0001"):  # Fe [100] first: the paper's grain boundary
            sc = bicrystal_scene(name)
            out.append((f"bicrystal {name}", sc.image, sc.pixel_size))
        sc = polycrystal_scene(seed=0)  # last: the slowest
        out.append(("polycrystal (seed 0)", sc.image, sc.pixel_size))
    for f in args.files:
        from aistem.core.io import read_image

        d = read_image(f)
        out.append((f, d.frames[0].astype(np.float32), d.pixel_size))
    return out


def compare(c: object, d: object, d2: object | None) -> dict[str, float]:
    """Agreement of the coarse-to-fine result ``c`` with the dense ``d``; MI differences; ``d2``: dense, other seed."""
    ev = ~c.filled  # type: ignore[attr-defined]
    row = {f"agree_{n}": float((getattr(c, n) == getattr(d, n)).mean()) for n in ("classes", "interface", "unknown")}
    dmi = np.abs(c.mutual_information - d.mutual_information)  # type: ignore[attr-defined]
    same = ev & (c.samples_used == d.samples_used)  # type: ignore[attr-defined]
    row["dmi_evaluated"] = float(dmi[ev].max()) if ev.any() else 0.0
    row["dmi_same_samples"] = float(dmi[same].max()) if same.any() else 0.0
    row["evaluated"] = float(ev.mean())
    if d2 is not None:
        row["dmi_seed"] = float(np.abs(d2.mutual_information - d.mutual_information)[ev].max())  # type: ignore[attr-defined]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--stride", type=float, default=1.5, help="[Å]")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--fixed", action="store_true", help="fixed sampling (default: adaptive, as the CLI)")
    ap.add_argument("--no-scenes", action="store_true", help="only the sample frames and --files")
    ap.add_argument("--no-noise", action="store_true", help="skip the dense run with another seed (the MC noise floor)")
    ap.add_argument("--files", nargs="*", default=[])
    a = ap.parse_args()
    from aistem.core import analyze, load_model

    model = load_model()
    kw = {"stride": a.stride, "samples": a.samples, "seed": 0, "adaptive": not a.fixed, "precision": "auto", "model": model}
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}; model {model.name}; "
          f"stride {a.stride} Å, T = {a.samples}, {'fixed' if a.fixed else 'adaptive'}, k = {a.k}")  # fmt: skip
    print(f"{'image':<28} {'class':>7} {'iface':>7} {'unknown':>7} {'max dMI':>8} {'same T':>7} {'seed dMI':>8} "
          f"{'evaluated':>9} {'dense s':>8} {'c2f s':>7}")  # fmt: skip
    todo = images(a)
    analyze(todo[0][1][:300, :300], todo[0][2], **kw)  # warm-up: compile the call shapes
    for name, img, px in todo:
        t = time.perf_counter()
        d = analyze(img, px, **kw)
        td = time.perf_counter() - t
        t = time.perf_counter()
        c = analyze(img, px, coarse_step=a.k, **kw)
        tc = time.perf_counter() - t
        d2 = None if a.no_noise else analyze(img, px, **{**kw, "seed": 1})
        r = compare(c, d, d2)
        print(
            f"{name:<28} {r['agree_classes']:>7.2%} {r['agree_interface']:>7.2%} {r['agree_unknown']:>7.2%} "
            f"{r['dmi_evaluated']:>8.4f} {r['dmi_same_samples']:>7.4f} {r.get('dmi_seed', float('nan')):>8.4f} "
            f"{r['evaluated']:>9.1%} {td:>8.1f} {tc:>7.1f}",
            flush=True,
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
