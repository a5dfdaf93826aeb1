"""Coarse-to-fine against dense in one process, side by side: time, and where the network time goes.

For one image (default: frame 0 of the shipped sample series, 512×512 at 0.12 Å/px) ``aistem.core.analyze`` runs
dense (``--dense``) and coarse-to-fine (``coarse_step`` k, the default of ``aistem analyze``) alternately, ``--repeat``
times each, with the same seed and settings (default: the paper's, window 96 px, stride 12 px, T = 30, adaptive,
auto precision, the paper's model from ../shared/reference if present). Printed per run: the wall time and the
CPU time of the process (steadier than the wall time when other jobs share the cores); the network's window-samples
(real windows × samples) and the padded ones (each call computes ``windows_per_call`` windows); the number of
compiled calls; the inference and domain-check times; the evaluated fraction; and the agreement of each
coarse-to-fine run with the dense one before it (class, interface, unknown) and the largest MI difference on the
evaluated windows that drew as many samples as in the dense grid.

Only ratios between rows of one run mean anything on a loaded machine.

Run: nice -n 19 .venv/bin/python benchmarks/bench_coarse_calls.py [--samples 30] [--repeat 2] [--model PATH]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "ai4stem_optimal_model.h5"


class Counter:
    """Counts the sampler's compiled calls: real and padded window-samples."""

    def __init__(self, predictor: object) -> None:
        self.p = predictor
        self.reset()
        orig = predictor._run_blocks  # type: ignore[attr-defined]

        def counted(descriptors: object, index: np.ndarray, s: int, **kw: object) -> object:
            bw = self.p.windows_per_call  # type: ignore[attr-defined]
            n = len(index)
            blocks = -(-n // bw)
            spc = self.p.samples_per_call  # type: ignore[attr-defined]
            self.calls += blocks * (-(-s // spc))
            self.real += n * s
            self.padded += blocks * bw * s
            return orig(descriptors, index, s, **kw)

        predictor._run_blocks = counted  # type: ignore[attr-defined]

    def reset(self) -> None:
        self.calls = self.real = self.padded = 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default="sample", help="'sample' (frame 0 of the sample series) or an image file")
    ap.add_argument("--model", default=str(REFERENCE) if REFERENCE.is_file() else None)
    ap.add_argument("--window-px", type=int, default=96)
    ap.add_argument("--stride-px", type=int, default=12)
    ap.add_argument("--pixel-size", type=float, default=0.12)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    from aistem.core import analyze, load_model, warm_up
    from aistem.core.analysis import _predictor
    from aistem.core.backend import resolve_precision

    if a.image == "sample":
        img = np.load(ROOT / "training" / "data" / "sample_series.npz")["frames"][0].astype(np.float32)
    else:
        from aistem.core.io import read_image

        img = read_image(a.image).frames[0].astype(np.float32)
    model = load_model(a.model)
    count = Counter(_predictor(model, resolve_precision("auto")))
    kw = {"window_px": a.window_px, "stride_px": a.stride_px, "samples": a.samples, "seed": 0, "adaptive": True,
          "precision": "auto", "model": model}  # fmt: skip
    print(f"image {a.image} {img.shape}, model {model.name}, window {a.window_px} px, stride {a.stride_px} px, "
          f"T = {a.samples}, adaptive, auto precision, k = {a.k}; {os.cpu_count()} cores")  # fmt: skip
    warm_up(model, samples=a.samples, adaptive=True, precision="auto")  # compile every call shape first
    analyze(img[:200, :200], a.pixel_size, **kw)
    dense = None
    print(f"{'run':<16} {'wall s':>7} {'CPU s':>6} {'calls':>6} {'win-samples':>11} {'padded':>8} {'infer s':>7} {'domain s':>8} "
          f"{'evaluated':>9} {'class':>7} {'iface':>7} {'unknown':>7} {'dMI same T':>10}")  # fmt: skip
    for i in range(a.repeat):
        for step in (1, a.k):
            count.reset()
            t, cpu = time.perf_counter(), time.process_time()
            r = analyze(img, a.pixel_size, coarse_step=step, **kw)
            wall, cpu = time.perf_counter() - t, time.process_time() - cpu
            name = f"{'dense' if step == 1 else f'coarse k={step}'} #{i + 1}"
            tm = r.timing
            row = f"{name:<16} {wall:>7.1f} {cpu:>6.1f} {count.calls:>6d} {count.real:>11d} {count.padded:>8d} "
            row += f"{tm['inference'] / 1e3:>7.1f} {tm['domain'] / 1e3:>8.2f} "
            if step == 1:
                dense = r
                print(row + f"{'100 %':>9}", flush=True)
                continue
            assert dense is not None
            ev = ~r.filled
            same = ev & (r.samples_used == dense.samples_used)
            dmi = float(np.abs(r.mutual_information - dense.mutual_information)[same].max()) if same.any() else 0.0
            agree = [float((getattr(r, n) == getattr(dense, n)).mean()) for n in ("classes", "interface", "unknown")]
            print(row + f"{ev.mean():>9.1%} {agree[0]:>7.2%} {agree[1]:>7.2%} {agree[2]:>7.2%} {dmi:>10.5f}", flush=True)


if __name__ == "__main__":
    main()
