"""Does the element (not the lattice) change the min–max normalised HAADF window and its descriptor?

Convolution approach, 40 Å cells, one 12 Å window at 0.12 Å/px; figures in docs/simulation.md (Materials).
Run: `nice .venv/bin/python benchmarks/species_contrast.py` (about a minute on 2 cores).
"""

from __future__ import annotations

import numpy as np

from aistem.core.descriptor import fft_haadf_descriptor
from aistem.training.augment import PeriodicImage
from aistem.training.base import simulate_class
from aistem.training.crystals import Material

CASES = [
    ("FCC_Cu_110", 3.615, None, ["Cu", "Au", "Al", "Ni"]),
    ("BCC_Fe_100", 3.15, None, ["Fe", "W", "V"]),
    ("HCP_Ti_2m1m10", 2.951, 4.686, ["Ti", "Zr", "Mg"]),
]


def window(class_name: str, material: Material) -> tuple[np.ndarray, np.ndarray]:
    """One clean 100 px window scaled to [0, 1], and its FFT-HAADF descriptor."""
    sim = simulate_class(class_name, 0.0, cell_size=40.0, thickness=40.0, material=material, use_cache=False)
    img = PeriodicImage(sim.image, sim.pixel_size).render((100, 100), 0.12, rotation=0.0, shear=0.0, centre=(0.0, 0.0))
    img = (img - img.min()) / (img.max() - img.min())
    return img, fft_haadf_descriptor(img[None].astype(np.float32))[0]


def main() -> None:
    for class_name, a, c, symbols in CASES:
        ref_img, ref_desc = window(class_name, Material(symbols[0], a, c))
        for s in symbols[1:]:
            img, desc = window(class_name, Material(s, a, c))
            r = np.corrcoef(img.ravel(), ref_img.ravel())[0, 1]
            dd = np.abs(desc - ref_desc)
            print(
                f"{class_name}: {s} vs {symbols[0]}, same lattice: image correlation {r:.4f}, "
                f"mean |Δdescriptor| {dd.mean():.4f}, max {dd.max():.3f}"
            )
    _, d1 = window("FCC_Cu_110", Material("Cu", 3.615))
    _, d2 = window("FCC_Cu_110", Material("Cu", 3.524))
    print(f"for scale, Cu at 3.615 vs 3.524 Å: mean |Δdescriptor| {np.abs(d1 - d2).mean():.4f}, max {np.abs(d1 - d2).max():.3f}")


if __name__ == "__main__":
    main()
