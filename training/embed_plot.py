"""The figure of ``aistem embed``: the embedding coloured by class and by mutual information (the paper's Fig. 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .embedding import Embedding

__all__ = ["plot_embedding"]


def plot_embedding(emb: Embedding, path: str | Path | None = None, *, threshold: float = 0.1, title: str = "") -> Any:
    """Two panels as in the paper's Fig. 5: the embedding coloured by class, and by mutual information.

    Parameters
    ----------
    emb : Embedding
    path : path, optional
        Write the figure here (.png, .pdf, .svg).
    threshold : float
        MI threshold [bit]: windows above it are drawn on top in the class panel with a black edge.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from aistem.core import class_colors

    colors = class_colors(len(emb.class_names))
    xy = emb.embedding
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.6), constrained_layout=True)
    ax = axes[0]
    high = emb.mutual_information > threshold
    size = max(2.0, min(18.0, 4000.0 / max(1, len(xy))))
    ax.scatter(xy[~high, 0], xy[~high, 1], c=colors[emb.classes[~high]], s=size, linewidths=0)
    if high.any():
        ax.scatter(xy[high, 0], xy[high, 1], c=colors[emb.classes[high]], s=size * 1.6, edgecolors="k", linewidths=0.4)
    present = sorted(set(int(c) for c in np.unique(emb.classes)))
    handles = [Line2D([], [], marker="o", ls="", color=colors[c], label=emb.class_names[c]) for c in present]
    if high.any():
        handles.append(Line2D([], [], marker="o", ls="", mfc="w", mec="k", label=f"MI > {threshold:g} bit"))
    ax.legend(handles=handles, fontsize=8, loc="best", frameon=True)
    ax.set_title("hidden representation (UMAP), coloured by predicted class")
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax = axes[1]
    order = np.argsort(emb.mutual_information)  # uncertain windows drawn last, on top
    sc = ax.scatter(xy[order, 0], xy[order, 1], c=emb.mutual_information[order], cmap="viridis", s=size, linewidths=0, vmin=0)
    fig.colorbar(sc, ax=ax, label="mutual information [bit]")
    ax.set_title("coloured by mutual information")
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    sup = title or ", ".join(emb.sources)
    fig.suptitle(
        f"{sup} — {len(xy)} windows, T={emb.settings.get('samples', '?')}, model {emb.settings.get('model', '?')}", fontsize=10
    )
    if path is not None:
        fig.savefig(path, dpi=130)
        plt.close(fig)
    return fig
