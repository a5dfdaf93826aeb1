"""Figures of the evaluation: a scene with each model's maps and ROC, the confusion matrix, the bicrystal bars."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .labelled_scenes import Scene

if TYPE_CHECKING:
    from .evaluate import SceneMetrics, WindowTruth

__all__ = ["plot_bicrystals", "plot_confusion", "plot_scene"]


def plot_scene(
    scene: Scene, results: list[tuple[str, Any, WindowTruth, SceneMetrics]], path: str | Path, *, title: str = ""
) -> Path:
    """Per model: class map and MI map over the image; the ground truth; and the MI ROC curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from sklearn.metrics import roc_curve

    from aistem.core import class_colors, grid_extent

    names = scene.class_names
    colors = class_colors(len(names))
    extra = np.asarray([[0.15, 0.15, 0.15], [1.0, 1.0, 1.0]])
    cmap = ListedColormap(np.vstack([colors, extra]))
    gt = scene.labels.copy().astype(np.int64)
    gt_disp = np.where((gt >= 0) & (gt < len(names)), gt, len(names))  # amorphous/boundary → dark grey
    gt_disp[scene.boundary_pixels()] = len(names) + 1
    rows = len(results)
    fig, axes = plt.subplots(rows, 4, figsize=(17, 4.3 * rows), constrained_layout=True, squeeze=False)
    for i, (label, result, truth, met) in enumerate(results):
        ax = axes[i, 0]
        ax.imshow(scene.image, cmap="gray")
        ax.imshow(gt_disp, cmap=cmap, vmin=-0.5, vmax=len(names) + 1.5, alpha=0.35, interpolation="nearest")
        ax.set_title(f"{scene.name}: ground truth")
        ax.set_axis_off()
        ext = grid_extent(result)
        # map the model's class indices onto the scene's class order for matching colours
        idx = {n: j for j, n in enumerate(names)}
        remap = np.asarray([idx.get(n, len(names)) for n in result.class_names])
        ax = axes[i, 1]
        ax.imshow(scene.image, cmap="gray")
        ax.imshow(
            remap[result.classes], cmap=cmap, vmin=-0.5, vmax=len(names) + 1.5, alpha=0.6, extent=ext, interpolation="nearest"
        )
        ax.set_xlim(-0.5, scene.image.shape[1] - 0.5)
        ax.set_ylim(scene.image.shape[0] - 0.5, -0.5)
        ax.set_title(f"{label}: classes (bulk {100 * met.bulk_accuracy:.1f} %)")
        ax.set_axis_off()
        ax = axes[i, 2]
        im = ax.imshow(result.mutual_information, cmap="viridis", vmin=0, extent=ext, interpolation="nearest")
        ax.set_xlim(-0.5, scene.image.shape[1] - 0.5)
        ax.set_ylim(scene.image.shape[0] - 0.5, -0.5)
        ax.set_title(f"{label}: MI [bit] (amorphous median {met.median_amorphous_mi:.3f})")
        ax.set_axis_off()
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax = axes[i, 3]
        pos = truth.boundary | truth.amorphous
        if pos.any() and truth.bulk.any():
            y = np.concatenate([np.ones(int(pos.sum())), np.zeros(int(truth.bulk.sum()))])
            s = np.concatenate([result.mutual_information[pos], result.mutual_information[truth.bulk]])
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=f"AUC {met.mi_auc:.3f}")
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set_xlabel("false-positive rate (bulk)")
        ax.set_ylabel("true-positive rate (boundary/amorphous)")
        ax.set_title(f"{label}: MI ROC")
        ax.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)


def plot_confusion(cm: np.ndarray, names: list[str], path: str | Path, *, title: str = "") -> Path:
    """Confusion matrix (row-normalised colours, counts written in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * n, 0.8 + 0.55 * n), constrained_layout=True)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "validation confusion matrix")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_bicrystals(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Bulk accuracy and MI AUC per bicrystal class, one bar group per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model_label"] for r in rows}, key=lambda m: [r["model_label"] for r in rows].index(m))
    scenes = list(dict.fromkeys(r["scene"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), constrained_layout=True)
    width = 0.8 / max(1, len(models))
    for k, key, ylabel in ((0, "bulk_accuracy", "bulk accuracy [%]"), (1, "mi_auc", "MI ROC AUC")):
        ax = axes[k]
        for j, m in enumerate(models):
            vals = [next((r[key] for r in rows if r["scene"] == s and r["model_label"] == m), None) for s in scenes]
            vals = [np.nan if v is None else v * (100 if k == 0 else 1) for v in vals]
            ax.bar(np.arange(len(scenes)) + j * width, vals, width, label=m)
        ax.set_xticks(np.arange(len(scenes)) + width * (len(models) - 1) / 2, scenes, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
