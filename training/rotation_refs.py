"""Reference Bragg reflections of every class, for the lattice-rotation measurement.

The references come from the project's own simulated HAADF images of each
class (:func:`aistem.training.base.simulate_class`, the periodic cells the
training data are cut from), at the orientation the training images have
before augmentation (rotation 0).  Rebuild them whenever the simulation's
geometry changes (``tests/training/test_rotation_refs.py`` checks that the
shipped file matches the simulator).  A simulated image is one period
of a periodic cell, so its discrete Fourier transform has the Bragg
reflections exactly on frequency bins: each reflection's position
(q_row, q_col) [Å⁻¹] and amplitude are read off directly, no fitting.

Build and ship (``aistem_core/models/rotation_references.json``)::

    python -m aistem.training.rotation_refs --out aistem_core/models/rotation_references.json

>>> refs = build_references()
>>> refs.reference("FCC_Cu_100")[0].shape
(8, 2)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from collections.abc import Callable, Sequence

import numpy as np

from aistem.core import DEFAULT_REFERENCES, RotationReferences, rotation_fold

__all__ = ["build_references", "main", "reference_from_image", "simulate_class_image"]

#: Reflections kept per class (at most; ties at the cut are kept together).
MAX_PEAKS = 16
#: Largest spatial frequency considered [Å⁻¹] (the 24 mrad, 300 kV probe transfers little beyond ~2 Å⁻¹).
Q_MAX = 2.0
#: Reflections weaker than this fraction of the strongest amplitude are dropped.
MIN_AMPLITUDE = 0.02


def simulate_class_image(
    class_name: str, *, size: float = 80.0, thickness: float = 80.0, settings: object | None = None
) -> tuple[np.ndarray, tuple[float, float]]:
    """One period of the simulated HAADF image of a class, at rotation 0, as the training data sees it.

    Uses :func:`aistem.training.base.simulate_class` (cached).

    Parameters
    ----------
    class_name : str
        One of :data:`aistem.training.crystals.CLASS_NAMES`.
    size, thickness : float
        Lateral size and thickness of the cell [Å] (the training defaults: 80 Å).
    settings : aistem.training.haadf.SimulationSettings, optional
        Simulation settings (default: the project's convolution HAADF at 0.12 Å).

    Returns
    -------
    image : ndarray of shape (rows, cols), float32
        Periodic image.
    pixel_size : (float, float)
        (row, col) pixel size [Å/px].
    """
    from aistem.training.base import simulate_class
    from aistem.training.haadf import SimulationSettings

    sim = simulate_class(class_name, cell_size=size, thickness=thickness, settings=settings or SimulationSettings())
    return np.asarray(sim.image, np.float32), (float(sim.pixel_size[0]), float(sim.pixel_size[1]))


def reference_from_image(
    image: np.ndarray,
    pixel_size: float | Sequence[float],
    *,
    max_peaks: int = MAX_PEAKS,
    q_max: float = Q_MAX,
    min_amplitude: float = MIN_AMPLITUDE,
) -> tuple[np.ndarray, np.ndarray]:
    """Strongest Bragg reflections of one period of a periodic lattice image.

    Parameters
    ----------
    image : ndarray of shape (rows, cols)
        One period of a periodic image (no taper is applied: the reflections lie on bins).
    pixel_size : float or (float, float)
        (row, col) pixel size [Å/px].
    max_peaks : int
        Reflections to keep (one per Friedel pair); reflections tied in amplitude with the last kept one are kept too.
    q_max : float
        Largest spatial frequency [Å⁻¹].
    min_amplitude : float
        Drop reflections weaker than this fraction of the strongest amplitude.

    Returns
    -------
    peaks : ndarray of shape (K, 2), float32
        (q_row, q_col) [Å⁻¹], strongest first, one of each Friedel pair (q_col > 0, or q_col = 0 and q_row > 0).
    weights : ndarray of shape (K,), float32
        Relative amplitudes (strongest 1).
    """
    img = np.asarray(image, np.float64)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {img.shape}")
    pr, pc = (float(pixel_size), float(pixel_size)) if np.isscalar(pixel_size) else (float(pixel_size[0]), float(pixel_size[1]))  # type: ignore[index]
    amp = np.abs(np.fft.rfft2(img - img.mean()))
    qr = np.fft.fftfreq(img.shape[0], pr)[:, None] * np.ones((1, amp.shape[1]))
    qc = np.fft.rfftfreq(img.shape[1], pc)[None, :] * np.ones((amp.shape[0], 1))
    q = np.hypot(qr, qc)
    half = (qc > 0) | ((qc == 0) & (qr > 0))
    cand = half & (q <= q_max) & (q > 0)
    a = amp[cand]
    if a.size == 0 or a.max() <= 0:
        raise ValueError("no Bragg reflection found: is the image a lattice?")
    order = np.argsort(-a, kind="stable")
    a = a[order] / a.max()
    keep = a >= min_amplitude
    if keep.sum() > max_peaks:
        cut = a[max_peaks - 1] * (1 - 1e-3)
        keep &= a >= cut
    peaks = np.stack([qr[cand][order][keep], qc[cand][order][keep]], axis=1)
    return peaks.astype(np.float32), a[keep].astype(np.float32)


def build_references(
    class_names: Sequence[str] | None = None,
    *,
    size: float = 80.0,
    thickness: float = 80.0,
    max_peaks: int = MAX_PEAKS,
    q_max: float = Q_MAX,
    progress: Callable[[str], None] | None = None,
) -> RotationReferences:
    """Simulate every class once and extract its reference reflections.

    Parameters
    ----------
    class_names : sequence of str, optional
        Classes (default: all of :data:`aistem.training.crystals.CLASS_NAMES`).
    size, thickness : float
        Simulated cell [Å].
    max_peaks, q_max : see :func:`reference_from_image`.
    progress : callable, optional
        Called with each class name when it is done.

    Returns
    -------
    RotationReferences
    """
    from aistem.training.crystals import CLASS_NAMES
    from aistem.training.haadf import HAADF_VERSION, SimulationSettings

    names = list(class_names) if class_names is not None else list(CLASS_NAMES)
    settings = SimulationSettings()
    found = []
    for name in names:
        image, ps = simulate_class_image(name, size=size, thickness=thickness, settings=settings)
        found.append(reference_from_image(image, ps, max_peaks=max_peaks, q_max=q_max))
        if progress is not None:
            progress(name)
    k = max(len(w) for _, w in found)
    peaks = np.zeros((len(names), k, 2), np.float32)
    weights = np.zeros((len(names), k), np.float32)
    for i, (p, w) in enumerate(found):
        peaks[i, : len(w)] = p
        weights[i, : len(w)] = w
    meta = {
        "source": "aistem.training.rotation_refs.build_references",
        "simulation": settings.key(),
        "haadf_version": HAADF_VERSION,
        "cell_size_angstrom": size,
        "thickness_angstrom": thickness,
        "max_peaks": max_peaks,
        "q_max_per_angstrom": q_max,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return RotationReferences(names, np.asarray([rotation_fold(n) for n in names]), peaks, weights, meta)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m aistem.training.rotation_refs",
        description="Simulate each class once and write its reference Bragg reflections for the lattice-rotation map.",
    )
    ap.add_argument("--out", default=str(DEFAULT_REFERENCES), help=f"output .json file (default: {DEFAULT_REFERENCES})")
    ap.add_argument("--size", type=float, default=80.0, help="lateral cell size [Å] (default 80)")
    ap.add_argument("--thickness", type=float, default=80.0, help="cell thickness [Å] (default 80)")
    ap.add_argument("--max-peaks", type=int, default=MAX_PEAKS, help=f"reflections per class (default {MAX_PEAKS})")
    ap.add_argument("--q-max", type=float, default=Q_MAX, help=f"largest spatial frequency [1/Å] (default {Q_MAX})")
    args = ap.parse_args(argv)
    if not args.out.endswith(".json"):
        print("error: --out must name a .json file", file=sys.stderr)
        return 2
    refs = build_references(
        size=args.size,
        thickness=args.thickness,
        max_peaks=args.max_peaks,
        q_max=args.q_max,
        progress=lambda n: print(f"  {n}", file=sys.stderr),
    )
    path = refs.save(args.out)
    for name in refs.class_names:
        p, w, fold = refs.reference(name)  # type: ignore[misc]
        print(f"{name:14s} {fold}-fold, {len(w):2d} reflections, |q| {np.hypot(*p.T).min():.3f}–{np.hypot(*p.T).max():.3f} 1/Å")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
