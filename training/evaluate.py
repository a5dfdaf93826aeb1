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

from .evaluate_plots import plot_bicrystals, plot_confusion, plot_scene
from .labelled_scenes import Scene, bicrystal_scene, load_scene, polycrystal_scene, save_scene, scene_from_simulation

__all__ = [
    "Scene",
    "SceneMetrics",
    "WindowTruth",
    "bicrystal_scene",
    "evaluate_scene",
    "load_scene",
    "plot_bicrystals",
    "plot_confusion",
    "plot_scene",
    "polycrystal_scene",
    "print_side_by_side",
    "run_evaluation",
    "save_scene",
    "scene_from_simulation",
    "validation_confusion",
    "window_truth",
]


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
    from aistem.core import AistemModel, analyze, load_model

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
    named = list(zip(labels, [m for _, m in models], strict=True))
    report: dict[str, Any] = {
        "models": {lab: {"path": m.path, "hash": m.hash} for lab, m in named},
        "settings": {**kw, "threshold": threshold},
    }
    scene = load_scene(scene_path) if scene_path else polycrystal_scene(seed=seed)
    if not scene_path:
        save_scene(scene, out / "polycrystal-scene.npz")
    title = f"polycrystal: window {window} Å, stride {stride} Å, T={samples}"
    report["polycrystal"] = _evaluate_polycrystal(named, scene, kw, out, title, threshold, quiet, echo)
    if bicrystals:
        bkw = dict(kw)
        if bicrystal_samples is not None:
            bkw["samples"] = bicrystal_samples
        if bicrystal_stride is not None:
            bkw["stride"] = bicrystal_stride
        report["settings"]["bicrystals"] = {k: bkw[k] for k in ("samples", "stride")}
        names = classes or list(models[0][1].class_names)
        report["bicrystals"] = _evaluate_bicrystals(named, names, bkw, misorientation, boundary_angle, seed, out, echo)
    if data:
        report["validation"] = _evaluate_validation(named, data, out, echo)
    write_report(report, out / "report.json")
    echo(f"figures and report.json in {out}/")
    return report


def _progress_bar(quiet: bool, desc: str) -> tuple[Any, Any]:
    """A tqdm bar on stderr and its ``progress(done, total)`` callback, or (None, None) when quiet."""
    if quiet:
        return None, None
    import sys

    from tqdm import tqdm

    b = tqdm(total=1, unit="window", desc=desc, file=sys.stderr, leave=False)

    def progress(done: int, total: int) -> None:
        b.total = total
        b.n = done
        b.refresh()

    return b, progress


def _evaluate_polycrystal(
    named: list[tuple[str, Any]],
    scene: Scene,
    kw: dict[str, Any],
    out: Path,
    title: str,
    threshold: float,
    quiet: bool,
    echo: Any,
) -> dict[str, Any]:
    """Every model on the polycrystal scene: printed side by side, ``polycrystal.png``; the report's entry."""
    rows = []
    for lab, m in named:
        b, prog = _progress_bar(quiet, f"{scene.name} / {lab}")
        met, res, truth = evaluate_scene(m, scene, progress=prog, **kw)
        if b is not None:
            b.close()
        rows.append((lab, met, res, truth))
    echo(f"polycrystal scene ({scene.image.shape[0]}×{scene.image.shape[1]} px at {scene.pixel_size} Å/px):")
    print_side_by_side([(lab, met) for lab, met, _, _ in rows], threshold, echo)
    plot_scene(scene, [(lab, res, truth, met) for lab, met, res, truth in rows], out / "polycrystal.png", title=title)
    return {lab: met.to_dict() for lab, met, _, _ in rows}


def _evaluate_bicrystals(
    named: list[tuple[str, Any]],
    names: list[str],
    bkw: dict[str, Any],
    misorientation: float,
    boundary_angle: float,
    seed: int,
    out: Path,
    echo: Any,
) -> list[dict[str, Any]]:
    """Every model on a bicrystal of each class: a printed table, one figure per class and ``bicrystals.png``."""
    brows: list[dict[str, Any]] = []
    echo(
        f"bicrystals ({misorientation:g}° misorientation, boundary at {boundary_angle:g}°; "
        f"stride {bkw['stride']:g} Å, T={bkw['samples']}):"
    )
    echo(f"  {'class':<16}" + "".join(f"{lab[:22]:>24}" for lab, _ in named) + "   (bulk correct / MI AUC)")
    for cname in names:
        bs = bicrystal_scene(cname, misorientation, boundary_angle, seed=seed)
        line = f"  {cname:<16}"
        panels = []
        for lab, m in named:
            met, res, truth = evaluate_scene(m, bs, **bkw)
            brows.append({"model_label": lab, **met.to_dict()})
            panels.append((lab, res, truth, met))
            line += f"{_fmt(met.bulk_accuracy, True):>14} / {_fmt(met.mi_auc):>7}"
        echo(line)
        plot_scene(bs, panels, out / f"bicrystal-{cname}.png", title=bs.name)
    plot_bicrystals(brows, out / "bicrystals.png")
    return brows


def _evaluate_validation(named: list[tuple[str, Any]], data: str, out: Path, echo: Any) -> dict[str, Any]:
    """Every model's confusion matrix on the validation split of the training file ``data``."""
    from .train import load_training_data

    d = load_training_data(data)
    result: dict[str, Any] = {}
    for lab, m in named:
        cm, cnames, acc = validation_confusion(m, d)
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in lab)
        plot_confusion(cm, cnames, out / f"confusion-{safe}.png", title=f"{lab}: validation accuracy {100 * acc:.2f} %")
        echo(f"validation set ({int(cm.sum())} descriptors), {lab}: accuracy {100 * acc:.2f} %")
        result[lab] = {"accuracy": acc, "confusion": cm.tolist(), "class_names": cnames}
    return result
