"""`aistem demo` for real, offscreen: daemon, paced replay of the shipped sample series, viewer, screenshot, summary.

The screenshot is checked where the ground truth says each thing is: every crystalline grain of the frame on screen
in its class colour, the interface outline (white) on the boundary between two classes, and the two Ti [0001]
grains in different colours of the rotation panel (a same-class boundary only the rotation map shows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")


def _screen(panel: dict, rc: tuple[float, float], shape: tuple[int, int]) -> tuple[int, int]:
    (y0, x0), (y1, x1) = panel["top_left"], panel["bottom_right"]
    return round(y0 + rc[0] * (y1 - y0) / (shape[0] - 1)), round(x0 + rc[1] * (x1 - x0) / (shape[1] - 1))


def _patch(img: np.ndarray, yx: tuple[int, int], half: int = 2) -> np.ndarray:
    return img[yx[0] - half : yx[0] + half + 1, yx[1] - half : yx[1] + half + 1, :3].reshape(-1, 3).astype(float).mean(0)


def _nearest_class(rgb: np.ndarray, lut: np.ndarray) -> int:
    """The class whose colour the (image-blended) pixel leans towards: cosine of the chroma vectors."""
    v = rgb - rgb.mean()
    c = lut[:, :3].astype(float) - lut[:, :3].mean(1, keepdims=True)
    return int(np.argmax(c @ v / (np.linalg.norm(c, axis=1) * np.linalg.norm(v) + 1e-9)))


def _deep_point(mask: np.ndarray, lo: int, hi: int) -> tuple[tuple[int, int], float]:
    """The point of ``mask`` farthest from its edge, inside the analysed area [lo, hi) of rows and cols."""
    from scipy.ndimage import distance_transform_edt

    d = distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    inner = np.zeros_like(d)
    inner[lo:hi, lo:hi] = d[lo:hi, lo:hi]
    r, c = np.unravel_index(int(np.argmax(inner)), d.shape)
    return (int(r), int(c)), float(inner[r, c])


def run_demo(tmp_path: Path, *extra: str) -> tuple[dict, np.ndarray, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = tmp_path / "demo-out"
    proc = subprocess.run(
        [sys.executable, "-m", "aistem.cli", "demo", "--out", str(out), "--timeout", "400", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    console = proc.stdout + proc.stderr
    assert proc.returncode == 0, console
    summary = json.loads((out / "summary.json").read_text())
    from PIL import Image

    img = np.asarray(Image.open(out / "viewer.png").convert("RGB"))
    return summary, img, console


def check_demo(summary: dict, img: np.ndarray, console: str) -> None:
    from aistem.gui.overlay import class_lut
    from aistem.training import load_sample_series

    assert "propagateSizeHints" not in console  # Qt's noise stays off the console
    assert "against the ground truth" in console
    # summary: classes over known bulk windows, interface share, agreement with the truth
    fr = summary["class_fractions"]
    assert sum(v >= 0.05 for v in fr.values()) >= 3, fr
    assert 0.03 <= summary["interface_fraction"] <= 0.5, summary["interface_fraction"]
    assert summary["unknown_fraction"] is not None
    truth = summary["ground_truth"]
    assert truth["bulk_right"] >= 0.9 and truth["agreement"] >= 0.8, truth
    assert summary["shown"]["final"] is True
    # the screenshot, at the places the ground truth gives
    _, info = load_sample_series()
    t = summary["shown"]["index"] % info["labels"].shape[0]
    labels, grains, names = info["labels"][t], info["grain_map"][t], info["grain_classes"]
    shape = labels.shape
    lut = class_lut(10)
    class_names = info["class_names"]
    main, rot = summary["panels"]["main"], summary["panels"]["rotation"]
    colours = set()
    rot_colour = {}
    for g, name in enumerate(names):
        if name == "amorphous":
            continue
        (r, c), depth = _deep_point(grains == g, 60, 440)  # inside the analysed grid at either stride
        if depth < 30:
            continue  # not (enough) in view in this frame
        rgb = _patch(img, _screen(main, (r, c), shape))
        assert _nearest_class(rgb, lut) == class_names.index(name), (name, rgb)
        colours.add(name)
        rot_colour[g] = _patch(img, _screen(rot, (r, c), shape))
    assert len(colours) >= 3, colours
    # the white interface outline near the boundary between two different classes
    fe, cu = names.index("BCC_Fe_100"), names.index("FCC_Cu_110")
    from scipy.ndimage import binary_dilation

    edge = binary_dilation(grains == fe, iterations=3) & binary_dilation(grains == cu, iterations=3)
    edge[:80], edge[-80:], edge[:, :80], edge[:, -80:] = False, False, False, False
    rr, cc = np.nonzero(edge)
    assert rr.size, "no Fe | Cu boundary in the frame on screen"
    r, c = int(np.median(rr)), int(np.median(cc))
    y, x = _screen(main, (r, c), shape)
    scale = (main["bottom_right"][1] - main["top_left"][1]) / shape[1]
    reach = int(np.ceil(60 * scale)) + 2  # a couple of windows' stride on screen
    near = img[y - reach : y + reach + 1, x - reach : x + reach + 1, :3]
    assert (near.min(axis=2) >= 250).any(), "no white interface outline at the Fe | Cu boundary"
    # the same-class boundary: the two Ti [0001] grains differ in the rotation panel
    ti = [g for g, n in enumerate(names) if n == "HCP_Ti_0001" and g in rot_colour]
    assert len(ti) == 2, ti
    assert np.abs(rot_colour[ti[0]] - rot_colour[ti[1]]).sum() > 40, rot_colour


def test_demo_offscreen_quick(tmp_path):
    """A quicker demo (coarser stride, fewer samples, one final map): what `make test` runs (~40–60 s on 2 cores)."""
    summary, img, console = run_demo(tmp_path, "--results", "1", "--stride", "4.5", "--samples", "10")
    check_demo(summary, img, console)


@pytest.mark.slow
def test_demo_offscreen_as_make_demo_runs_it(tmp_path):
    """`aistem demo` with its defaults (as `make demo`), three final maps (~2 min on 2 cores)."""
    summary, img, console = run_demo(tmp_path)
    assert summary["final_maps"] >= 3
    check_demo(summary, img, console)
