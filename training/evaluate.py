"""Evaluation of a model on labelled scenes and on the validation set.

For a scene with a ground-truth label map (a polycrystal or a bicrystal), every
analysis window is labelled by the pixel at its centre:

* **bulk**: the centre lies in a crystal, farther than ``bulk_margin`` × window
  side (default half a window) from any boundary or amorphous pixel — the
  window sees one crystal only;
* **boundary**: the centre lies within ``boundary_margin`` × window side of a
  boundary between two grains;
* **amorphous**: the centre lies in the amorphous region.

Figures: the fraction of bulk windows assigned their true class (compared by
class *name*, so models with different class orders compare fairly), the ROC
AUC of the mutual information separating boundary-or-amorphous windows
(positives) from bulk windows (negatives), and the median MI of the amorphous
windows.  Windows in neither group (centre between the two margins) are left
out of the AUC.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Scene",
    "SceneMetrics",
    "WindowTruth",
    "evaluate_scene",
    "plot_confusion",
    "plot_scene",
    "scene_from_simulation",
    "validation_confusion",
    "window_truth",
]


@dataclass
class Scene:
    """A simulated image with its ground truth.

    Attributes
    ----------
    name : str
    image : ndarray of shape (H, W), float32
    labels : ndarray of shape (H, W), int
        Class index (into ``class_names``) per pixel, or ``amorphous_code`` / ``boundary_code``.
    class_names : list of str
    pixel_size : float
        [Å/px].
    amorphous_code, boundary_code : int or None
        Label values of amorphous and boundary pixels (None: the scene has none).
    grains : ndarray of shape (H, W), int, optional
        Grain id per pixel; boundaries between grains of the same class are found from it.
    """

    name: str
    image: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    pixel_size: float
    amorphous_code: int | None = None
    boundary_code: int | None = None
    grains: np.ndarray | None = None

    def boundary_pixels(self) -> np.ndarray:
        """Bool map (H, W): boundary-code pixels and pixels whose grain (or label) differs from a 4-neighbour's."""
        ids = self.grains if self.grains is not None else self.labels
        amorph = self.labels == self.amorphous_code if self.amorphous_code is not None else np.zeros(ids.shape, bool)
        # crystal/amorphous edges belong to the amorphous region, not to the grain boundaries
        edge = _grain_edge(ids, amorph)
        if self.boundary_code is not None:
            edge |= self.labels == self.boundary_code
        return edge


def _grain_edge(ids: np.ndarray, amorph: np.ndarray) -> np.ndarray:
    """Pixels next to a different *crystalline* grain (ignoring amorphous neighbours)."""
    out = np.zeros(ids.shape, dtype=bool)
    for a, b, sa, sb in (
        (ids[1:, :], ids[:-1, :], (slice(1, None), slice(None)), (slice(None, -1), slice(None))),
        (ids[:, 1:], ids[:, :-1], (slice(None), slice(1, None)), (slice(None), slice(None, -1))),
    ):
        d = (a != b) & ~amorph[sa] & ~amorph[sb]
        out[sa] |= d
        out[sb] |= d
    return out


def scene_from_simulation(image: Any, labels: Any, info: Any, name: str = "scene") -> Scene:
    """Wrap the ``(image, labels, info)`` of :mod:`aistem.training.scenes` as a :class:`Scene`.

    ``info`` is a mapping (or an object with attributes) giving at least the
    class names and the pixel size; the amorphous/boundary label codes and a
    grain-id map are used when present.
    """

    def get(*keys: str, default: Any = None) -> Any:
        for k in keys:
            if isinstance(info, dict) and k in info:
                return info[k]
            if not isinstance(info, dict) and hasattr(info, k):
                return getattr(info, k)
        return default

    names = get("class_names", "classes")
    if names is None:
        from aistem.core.model import PAPER_CLASS_NAMES

        names = list(PAPER_CLASS_NAMES)
    pixel_size = get("pixel_size")
    if pixel_size is None:
        raise ValueError("the scene's info gives no pixel_size")
    grains = get("grains", "grain_map", "grain_ids")
    return Scene(
        name=str(get("name", default=name)),
        image=np.asarray(image, dtype=np.float32),
        labels=np.asarray(labels),
        class_names=[str(n) for n in names],
        pixel_size=float(pixel_size),
        amorphous_code=get("amorphous_label", "amorphous_code", "AMORPHOUS"),
        boundary_code=get("boundary_label", "boundary_code", "BOUNDARY"),
        grains=None if grains is None else np.asarray(grains),
    )


@dataclass
class WindowTruth:
    """Ground truth on the window grid (rows × cols).

    Attributes
    ----------
    label : ndarray of int
        Scene label at each window centre.
    bulk, boundary, amorphous : ndarray of bool
        Window groups (see the module docstring).
    """

    label: np.ndarray
    bulk: np.ndarray
    boundary: np.ndarray
    amorphous: np.ndarray


def window_truth(
    scene: Scene, origins_px: np.ndarray, window_px: int, *, bulk_margin: float = 0.5, boundary_margin: float = 0.25
) -> WindowTruth:
    """Label each window of a grid by its centre pixel (window centre = origin + (window_px − 1)/2).

    Parameters
    ----------
    scene : Scene
    origins_px : ndarray of shape (rows, cols, 2)
        Top-left pixel of each window.
    window_px : int
        Window side [px].
    bulk_margin, boundary_margin : float
        Distances as fractions of the window side.
    """
    from scipy.ndimage import distance_transform_edt

    centre = np.rint(origins_px + (window_px - 1) / 2.0).astype(np.int64)
    r = np.clip(centre[..., 0], 0, scene.labels.shape[0] - 1)
    c = np.clip(centre[..., 1], 0, scene.labels.shape[1] - 1)
    lab = scene.labels[r, c]
    edge = scene.boundary_pixels()
    amorph_px = scene.labels == scene.amorphous_code if scene.amorphous_code is not None else np.zeros_like(edge)
    d_edge = distance_transform_edt(~edge) if edge.any() else np.full(edge.shape, np.inf)
    defect = edge | amorph_px
    d_defect = distance_transform_edt(~defect) if defect.any() else np.full(edge.shape, np.inf)
    n = len(scene.class_names)
    crystal = (lab >= 0) & (lab < n)
    bulk = crystal & (d_defect[r, c] > bulk_margin * window_px)
    amorphous = amorph_px[r, c]
    boundary = ~amorphous & (d_edge[r, c] <= boundary_margin * window_px)
    return WindowTruth(label=lab, bulk=bulk, boundary=boundary, amorphous=amorphous)


@dataclass
class SceneMetrics:
    """Figures of one model on one scene.

    Attributes
    ----------
    scene, model : str
    bulk_accuracy : float
        Fraction of bulk windows assigned their true class (NaN: no bulk window).
    mi_auc : float
        ROC AUC of MI, boundary-or-amorphous (positive) vs bulk windows (NaN: a group is empty).
    median_amorphous_mi, median_bulk_mi, median_boundary_mi : float
        Medians of MI [bit] per group (NaN: empty).
    n_windows, n_bulk, n_boundary, n_amorphous : int
    samples : int
        MC samples per window (T).
    stride_px, window_px : int
    """

    scene: str
    model: str
    bulk_accuracy: float
    mi_auc: float
    median_amorphous_mi: float
    median_bulk_mi: float
    median_boundary_mi: float
    n_windows: int
    n_bulk: int
    n_boundary: int
    n_amorphous: int
    samples: int
    stride_px: int
    window_px: int
    per_class_bulk_accuracy: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def _median(a: np.ndarray) -> float:
    return float(np.median(a)) if a.size else math.nan


def scene_metrics(result: Any, scene: Scene, truth: WindowTruth, model_name: str = "") -> SceneMetrics:
    """Figures of an :class:`~aistem.core.AnalysisResult` against a scene's ground truth."""
    from sklearn.metrics import roc_auc_score

    mi = np.asarray(result.mutual_information, dtype=np.float64)
    pred_names = np.asarray(result.class_names, dtype=object)[result.classes]
    true_names = np.asarray([*scene.class_names, "?"], dtype=object)[np.clip(truth.label, 0, len(scene.class_names))]
    correct = pred_names == true_names
    bulk = truth.bulk
    acc = float(correct[bulk].mean()) if bulk.any() else math.nan
    per_class = {
        n: float(correct[bulk & (true_names == n)].mean()) for n in scene.class_names if (bulk & (true_names == n)).any()
    }
    pos = truth.boundary | truth.amorphous
    if pos.any() and bulk.any():
        y = np.concatenate([np.ones(int(pos.sum())), np.zeros(int(bulk.sum()))])
        auc = float(roc_auc_score(y, np.concatenate([mi[pos], mi[bulk]])))
    else:
        auc = math.nan
    return SceneMetrics(
        scene=scene.name,
        model=model_name or getattr(result, "model_name", ""),
        bulk_accuracy=acc,
        mi_auc=auc,
        median_amorphous_mi=_median(mi[truth.amorphous]),
        median_bulk_mi=_median(mi[bulk]),
        median_boundary_mi=_median(mi[truth.boundary]),
        n_windows=int(mi.size),
        n_bulk=int(bulk.sum()),
        n_boundary=int(truth.boundary.sum()),
        n_amorphous=int(truth.amorphous.sum()),
        samples=int(result.samples),
        stride_px=int(result.stride_px),
        window_px=int(result.window_px),
        per_class_bulk_accuracy=per_class,
    )


def evaluate_scene(
    model: Any,
    scene: Scene,
    *,
    window: float = 12.0,
    stride: float = 1.5,
    samples: int = 100,
    seed: int | None = 0,
    bulk_margin: float = 0.5,
    boundary_margin: float = 0.25,
    progress: Any = None,
) -> tuple[SceneMetrics, Any, WindowTruth]:
    """Analyse a scene with a model and score it against the ground truth.

    Parameters
    ----------
    model : AistemModel or path
    scene : Scene
    window, stride : float
        Window side and step [Å].
    samples : int
        MC-dropout samples per window (T).
    seed : int, optional
        Seed of the dropout masks.

    Returns
    -------
    metrics : SceneMetrics
    result : AnalysisResult
    truth : WindowTruth
    """
    from aistem.core import analyze, load_model
    from aistem.core.model import AistemModel

    m = model if isinstance(model, AistemModel) else load_model(model)
    result = analyze(
        scene.image, scene.pixel_size, window=window, stride=stride, samples=samples, model=m, seed=seed, progress=progress
    )
    truth = window_truth(scene, result.origins_px, result.window_px, bulk_margin=bulk_margin, boundary_margin=boundary_margin)
    return scene_metrics(result, scene, truth, m.name), result, truth


def validation_confusion(model: Any, data: Any) -> tuple[np.ndarray, list[str], float]:
    """Confusion matrix of a model on the validation split of a descriptor set.

    The split is the training split (stratified, ``random_state=42``, the
    validation fraction and subset stored in the model's metadata when present).
    Predictions are deterministic (dropout off), like the validation accuracy
    reported during training.

    Returns
    -------
    matrix : ndarray of shape (n, n), int64
        Rows: true class; columns: predicted class (the data's class order).
    names : list of str
    accuracy : float
    """
    from .train import SPLIT_RANDOM_STATE, split_data

    hyper = model.info.extra.get("hyperparameters", {}) if hasattr(model, "info") else {}
    sub = data.subset(hyper.get("subset"), seed=SPLIT_RANDOM_STATE)
    _, va = split_data(sub, float(hyper.get("val_fraction", 0.2)))
    x = sub.x[va][..., None]
    probs = np.asarray(model.keras_model.predict(x, batch_size=256, verbose=0))
    pred_names = np.asarray(model.class_names, dtype=object)[probs.argmax(axis=1)]
    index = {n: i for i, n in enumerate(data.class_names)}
    pred = np.asarray([index.get(n, -1) for n in pred_names])
    true = sub.y[va]
    n = len(data.class_names)
    cm = np.zeros((n, n), dtype=np.int64)
    ok = pred >= 0
    np.add.at(cm, (true[ok], pred[ok]), 1)
    return cm, list(data.class_names), float((pred == true).mean())


# ---------------------------------------------------------------- figures
def plot_scene(
    scene: Scene, results: list[tuple[str, Any, WindowTruth, SceneMetrics]], path: str | Path, *, title: str = ""
) -> Path:
    """Per model: class map and MI map over the image; the ground truth; and the MI ROC curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from sklearn.metrics import roc_curve

    from aistem.core.figures import class_colors, grid_extent

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


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    """The evaluation as JSON."""
    Path(path).write_text(json.dumps(report, indent=2, default=_json_default), encoding="utf-8")
    return Path(path)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------- scenes
def _codes() -> tuple[int, int]:
    try:
        from .crystals import AMORPHOUS_LABEL, BOUNDARY_LABEL
    except ImportError:  # pragma: no cover - simulation extra absent
        return 10, 11
    return int(AMORPHOUS_LABEL), int(BOUNDARY_LABEL)


def _wrap(out: Any, name: str) -> Scene:
    image, labels, info = out
    scene = scene_from_simulation(image, labels, info, name=name)
    amorphous, boundary = _codes()
    if scene.amorphous_code is None:
        scene.amorphous_code = amorphous
    if scene.boundary_code is None:
        scene.boundary_code = boundary
    if not scene.name or scene.name == "scene":
        scene.name = name
    return scene


def polycrystal_scene(seed: int = 0, **kwargs: Any) -> Scene:
    """The simulated polycrystal (several grains and an amorphous region) of :mod:`aistem.training.scenes`."""
    from .scenes import make_polycrystal

    return _wrap(make_polycrystal(seed=seed, **kwargs), "polycrystal")


def bicrystal_scene(class_name: str, misorientation: float = 30.0, boundary_angle: float = 0.0, seed: int = 0) -> Scene:
    """A simulated bicrystal of one class: two grains misoriented by ``misorientation`` [°]."""
    from .scenes import make_bicrystal

    return _wrap(make_bicrystal(class_name, misorientation, boundary_angle, seed=seed), f"bicrystal {class_name}")


def save_scene(scene: Scene, path: str | Path) -> Path:
    """Write a scene to ``.npz`` (image, labels, grains, class names, pixel size, codes)."""
    arrays: dict[str, Any] = {
        "image": scene.image,
        "labels": scene.labels,
        "class_names": np.asarray(scene.class_names),
        "pixel_size": scene.pixel_size,
        "name": scene.name,
        "amorphous_code": -1 if scene.amorphous_code is None else scene.amorphous_code,
        "boundary_code": -1 if scene.boundary_code is None else scene.boundary_code,
    }
    if scene.grains is not None:
        arrays["grains"] = scene.grains
    np.savez_compressed(path, **arrays)
    return Path(path)


def load_scene(path: str | Path) -> Scene:
    """Read a scene written by :func:`save_scene`.

    Raises
    ------
    FileNotFoundError, ValueError
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"scene file not found: {p}")
    try:
        z = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{p} is not a scene .npz file: {exc}") from exc
    with z:
        missing = {"image", "labels", "class_names", "pixel_size"} - set(z.files)
        if missing:
            raise ValueError(f"{p} is not a scene file: missing {', '.join(sorted(missing))}")
        a, b = int(z["amorphous_code"]) if "amorphous_code" in z else -1, int(z["boundary_code"]) if "boundary_code" in z else -1
        return Scene(
            name=str(z["name"]) if "name" in z else p.stem,
            image=z["image"].astype(np.float32),
            labels=z["labels"],
            class_names=[str(s) for s in z["class_names"]],
            pixel_size=float(z["pixel_size"]),
            amorphous_code=None if a < 0 else a,
            boundary_code=None if b < 0 else b,
            grains=z["grains"] if "grains" in z else None,
        )


# ---------------------------------------------------------------- the whole evaluation
def _fmt(v: float, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{100 * v:.2f} %" if pct else f"{v:.3f}"


def print_side_by_side(rows: list[tuple[str, SceneMetrics]], threshold: float = 0.1, echo: Any = print) -> None:
    """One column per model: bulk accuracy, MI AUC, median MI per window group."""
    labels = [label for label, _ in rows]
    w = max(14, *(len(s) for s in labels))
    echo(f"  {'':<38}" + "".join(f"{s:>{w + 2}}" for s in labels))
    for name, key, pct in (
        ("bulk windows correct", "bulk_accuracy", True),
        ("MI ROC AUC (defect vs bulk)", "mi_auc", False),
        (f"median MI amorphous [bit] (thr. {threshold:g})", "median_amorphous_mi", False),
        ("median MI boundary [bit]", "median_boundary_mi", False),
        ("median MI bulk [bit]", "median_bulk_mi", False),
    ):
        echo(f"  {name:<38}" + "".join(f"{_fmt(getattr(m, key), pct):>{w + 2}}" for _, m in rows))
    m0 = rows[0][1]
    echo(
        f"  ({m0.n_windows} windows: {m0.n_bulk} bulk, {m0.n_boundary} boundary, {m0.n_amorphous} amorphous; "
        f"window {m0.window_px} px, stride {m0.stride_px} px, T={m0.samples})"
    )


def run_evaluation(
    *,
    model: str | None,
    compare: str | list[str] | None = None,
    data: str | None = None,
    out: str | Path = "evaluation",
    samples: int = 100,
    stride: float = 1.5,
    window: float = 12.0,
    seed: int = 0,
    threshold: float = 0.1,
    bulk_margin: float = 0.5,
    boundary_margin: float = 0.25,
    scene_path: str | None = None,
    bicrystals: bool = True,
    classes: list[str] | None = None,
    bicrystal_samples: int | None = None,
    bicrystal_stride: float | None = None,
    misorientation: float = 30.0,
    boundary_angle: float = 0.0,
    quiet: bool = False,
    echo: Any = print,
) -> dict[str, Any]:
    """Evaluate a model (and optionally a second one side by side); print, plot and write ``report.json``.

    Returns
    -------
    dict
        The report: ``polycrystal`` (per model), ``bicrystals`` (rows), ``validation`` (confusion matrix).
    """
    import sys

    from aistem.core import load_model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models = [("model", load_model(model))]
    for c in [compare] if isinstance(compare, str) else compare or []:
        models.append(("compare", load_model(c)))
    labels = [f"{m.name}" for _, m in models]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} ({k}{i if i > 1 else ''})" for i, (lab, (k, _)) in enumerate(zip(labels, models, strict=True))]
    kw = {
        "window": window,
        "stride": stride,
        "samples": samples,
        "seed": seed,
        "bulk_margin": bulk_margin,
        "boundary_margin": boundary_margin,
    }

    def bar(desc: str) -> Any:
        if quiet:
            return None, None
        from tqdm import tqdm

        b = tqdm(total=1, unit="window", desc=desc, file=sys.stderr, leave=False)

        def progress(done: int, total: int) -> None:
            b.total = total
            b.n = done
            b.refresh()

        return b, progress

    report: dict[str, Any] = {
        "models": {lab: {"path": m.path, "hash": m.hash} for lab, (_, m) in zip(labels, models, strict=True)},
        "settings": {**kw, "threshold": threshold},
    }
    # polycrystal
    scene = load_scene(scene_path) if scene_path else polycrystal_scene(seed=seed)
    if not scene_path:
        save_scene(scene, out / "polycrystal-scene.npz")
    rows = []
    for lab, (_, m) in zip(labels, models, strict=True):
        b, prog = bar(f"{scene.name} / {lab}")
        met, res, truth = evaluate_scene(m, scene, progress=prog, **kw)
        if b is not None:
            b.close()
        rows.append((lab, met, res, truth))
    echo(f"polycrystal scene ({scene.image.shape[0]}×{scene.image.shape[1]} px at {scene.pixel_size} Å/px):")
    print_side_by_side([(lab, met) for lab, met, _, _ in rows], threshold, echo)
    plot_scene(
        scene,
        [(lab, res, truth, met) for lab, met, res, truth in rows],
        out / "polycrystal.png",
        title=f"polycrystal: window {window} Å, stride {stride} Å, T={samples}",
    )
    report["polycrystal"] = {lab: met.to_dict() for lab, met, _, _ in rows}
    # bicrystals
    if bicrystals:
        names = classes or list(models[0][1].class_names)
        brows: list[dict[str, Any]] = []
        bkw = dict(kw)
        if bicrystal_samples is not None:
            bkw["samples"] = bicrystal_samples
        if bicrystal_stride is not None:
            bkw["stride"] = bicrystal_stride
        report["settings"]["bicrystals"] = {k: bkw[k] for k in ("samples", "stride")}
        echo(
            f"bicrystals ({misorientation:g}° misorientation, boundary at {boundary_angle:g}°; "
            f"stride {bkw['stride']:g} Å, T={bkw['samples']}):"
        )
        echo(f"  {'class':<16}" + "".join(f"{lab[:22]:>24}" for lab in labels) + "   (bulk correct / MI AUC)")
        for cname in names:
            bs = bicrystal_scene(cname, misorientation, boundary_angle, seed=seed)
            line = f"  {cname:<16}"
            panels = []
            for lab, (_, m) in zip(labels, models, strict=True):
                met, res, truth = evaluate_scene(m, bs, **bkw)
                brows.append({"model_label": lab, **met.to_dict()})
                panels.append((lab, res, truth, met))
                line += f"{_fmt(met.bulk_accuracy, True):>14} / {_fmt(met.mi_auc):>7}"
            echo(line)
            plot_scene(bs, panels, out / f"bicrystal-{cname}.png", title=bs.name)
        plot_bicrystals(brows, out / "bicrystals.png")
        report["bicrystals"] = brows
    # validation confusion matrix
    if data:
        from .train import load_training_data

        d = load_training_data(data)
        report["validation"] = {}
        for lab, (_, m) in zip(labels, models, strict=True):
            cm, cnames, acc = validation_confusion(m, d)
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in lab)
            plot_confusion(cm, cnames, out / f"confusion-{safe}.png", title=f"{lab}: validation accuracy {100 * acc:.2f} %")
            echo(f"validation set ({int(cm.sum())} descriptors), {lab}: accuracy {100 * acc:.2f} %")
            report["validation"][lab] = {"accuracy": acc, "confusion": cm.tolist(), "class_names": cnames}
    write_report(report, out / "report.json")
    echo(f"figures and report.json in {out}/")
    return report
