"""How much of the sample series the demo got right: final maps against the series' ground truth. Pure NumPy.

Each analysed window is put in one category by the ground truth under it (``labels`` 0–9 class, 10 amorphous,
11 boundary band; ``grain_map`` grain ids), looked at on a 5-px sub-grid of its footprint:

* **bulk**: the whole window in one crystalline grain → right when its class is the grain's and it is neither
  interface nor unknown;
* **class boundary**: the window centre in the boundary band and grains of two or more classes under it → right
  when flagged (interface or unknown);
* **amorphous**: the window centre in the amorphous patch → right when flagged (interface or unknown);
* **same-class boundary**: two grains of one class under it → not scored per window; the rotation map is scored
  instead (median rotation of each grain's bulk windows, their difference against the true misorientation);
* the rest (windows that merely touch a boundary) are not scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FinalMaps", "Score", "same_class_rotation", "score_maps", "shares"]

AMORPHOUS, BOUNDARY = 10, 11
CATEGORIES = ("bulk", "class_boundary", "amorphous")


@dataclass
class FinalMaps:
    """One final result, as plain arrays: everything scoring needs.

    Attributes
    ----------
    index : int
        Frame index as sent (the series' frame is ``index % n_frames``).
    classes : ndarray of shape (rows, cols), int
    interface, unknown : ndarray of shape (rows, cols), bool
        Interface (MI above the threshold, unknown excluded) and unknown windows.
    rotation : ndarray of shape (rows, cols), float32, or None
        Lattice rotation [°] in [−period/2, period/2), NaN where not measured.
    origins : (int, int)
        Top-left pixel (row, col) of window (0, 0).
    window_px, stride_px : int
    """

    index: int
    classes: np.ndarray
    interface: np.ndarray
    unknown: np.ndarray
    rotation: np.ndarray | None
    origins: tuple[int, int]
    window_px: int
    stride_px: int


@dataclass
class Score:
    """Windows and right windows per category, and the same-class rotation check."""

    n: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    right: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    rotations: dict[int, list[float]] = field(default_factory=dict)

    def fraction(self, category: str) -> float | None:
        return self.right[category] / self.n[category] if self.n[category] else None

    @property
    def agreement(self) -> float | None:
        """Right windows over all scored windows."""
        n = sum(self.n.values())
        return sum(self.right.values()) / n if n else None


def _footprints(m: FinalMaps, step: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Sub-grid offsets of a window's footprint and the window centres (rows, cols, 2) [px]."""
    off = np.unique(np.r_[np.arange(0, m.window_px, step), m.window_px - 1])  # the last row/col too
    gr, gc = m.classes.shape
    r0 = m.origins[0] + np.arange(gr) * m.stride_px
    c0 = m.origins[1] + np.arange(gc) * m.stride_px
    centres = np.stack(np.meshgrid(r0, c0, indexing="ij"), -1) + (m.window_px - 1) // 2
    return off, centres


def score_maps(
    maps: list[FinalMaps],
    labels: np.ndarray,
    grain_map: np.ndarray,
    grain_classes: list[str],
    class_names: list[str],
) -> Score:
    """Score final maps against the truth of their frames (see the module docstring).

    Parameters
    ----------
    maps : list of FinalMaps
    labels, grain_map : ndarray of shape (n_frames, H, W), int
        Ground truth of every frame (legend in the module docstring).
    grain_classes : list of str
        Class name (or "amorphous") of each grain id.
    class_names : list of str
        The model's class names (index → name).
    """
    score = Score()
    gcls = np.asarray([class_names.index(c) if c in class_names else -1 for c in grain_classes], np.int64)
    n_frames = labels.shape[0]
    for m in maps:
        t = int(m.index) % n_frames
        lab, gm = labels[t], grain_map[t]
        off, centres = _footprints(m)
        flagged = m.interface | m.unknown
        for i in range(m.classes.shape[0]):
            for j in range(m.classes.shape[1]):
                r, c = centres[i, j]
                r0, c0 = r - (m.window_px - 1) // 2, c - (m.window_px - 1) // 2
                g = np.unique(gm[np.ix_(r0 + off, c0 + off)].astype(np.int64))
                crystal = g[gcls[g] >= 0]
                centre = int(lab[r, c])
                if centre == AMORPHOUS:
                    cat, ok = "amorphous", bool(flagged[i, j])
                elif len(g) == 1 and len(crystal) == 1:
                    cat = "bulk"
                    ok = int(m.classes[i, j]) == int(gcls[g[0]]) and not flagged[i, j]
                    if m.rotation is not None and np.isfinite(m.rotation[i, j]) and ok:
                        score.rotations.setdefault(int(g[0]), []).append(float(m.rotation[i, j]))
                elif centre == BOUNDARY and len(np.unique(gcls[crystal])) >= 2:
                    cat, ok = "class_boundary", bool(flagged[i, j])
                else:
                    continue
                score.n[cat] += 1
                score.right[cat] += int(ok)
    return score


def _wrap(angle: float, period: float) -> float:
    """``angle`` [°] in [−period/2, period/2)."""
    return float((angle + period / 2) % period - period / 2)


def same_class_rotation(
    score: Score, grain_classes: list[str], rotations_deg: list[Any], period_of: dict[str, float]
) -> list[dict[str, Any]]:
    """Measured against true misorientation of every pair of same-class grains both seen in bulk windows."""
    out = []
    seen = sorted(score.rotations)
    for a in seen:
        for b in seen:
            if b <= a or grain_classes[a] != grain_classes[b]:
                continue
            p = float(period_of[grain_classes[a]])
            measured = _wrap(float(np.median(score.rotations[b])) - float(np.median(score.rotations[a])), p)
            true = _wrap(float(rotations_deg[b]) - float(rotations_deg[a]), p)
            out.append(
                {"class": grain_classes[a], "grains": [a, b], "true_deg": round(true, 2), "measured_deg": round(measured, 2)}
            )
    return out


def shares(maps: list[FinalMaps], class_names: list[str]) -> dict[str, Any]:
    """Class shares over the known bulk windows of all maps, and the interface and unknown shares of all windows."""
    n = len(class_names)
    counts = np.zeros(n, np.int64)
    total = iface = unknown = 0
    for m in maps:
        bulk = ~m.interface & ~m.unknown
        counts += np.bincount(m.classes[bulk].astype(np.int64), minlength=n)[:n]
        total += m.classes.size
        iface += int(m.interface.sum())
        unknown += int(m.unknown.sum())
    known = max(1, int(counts.sum()))
    return {
        "class_fractions": {class_names[i]: round(float(counts[i]) / known, 4) for i in np.argsort(-counts) if counts[i]},
        "interface_fraction": round(iface / total, 4) if total else None,
        "unknown_fraction": round(unknown / total, 4) if total else None,
        "windows": total,
    }
