"""Model selection as in the paper.

Among the candidate models (e.g. every trial of a search), keep those whose
validation accuracy is at least 99.5 %, and of these take the one with the
highest median mutual information over the windows in the amorphous region of
the polycrystal scene: the model that is most clearly uncertain where no
crystal is, while still classifying the crystals correctly.

Optionally (``min_mi_auc``, off by default, so the default is the paper's rule
exactly) a candidate must also separate defects from bulk on the same scene:
ROC AUC of the MI, boundary-or-amorphous against bulk windows, at least
``min_mi_auc``.  The paper's rule rewards uncertainty in the amorphous grain
only; a model can have the highest amorphous MI and still be as confident a few
Å from a grain boundary as in the bulk (``docs/model-card.md``).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Candidate", "collect_candidates", "rank_candidates", "select_model"]


@dataclass
class Candidate:
    """One candidate model and its selection figures.

    Attributes
    ----------
    path : str
    val_accuracy : float
        From the model's metadata (NaN if it has none).
    median_amorphous_mi : float
        [bit] over the amorphous windows of the scene (NaN if not measured).
    bulk_accuracy : float
        Fraction of the scene's bulk windows classified correctly (reported, not used to rank).
    mi_auc : float
        ROC AUC of the MI, boundary-or-amorphous vs bulk windows of the scene (NaN if not measured).
    eligible : bool
        ``val_accuracy ≥ min_val_accuracy`` (and ``mi_auc ≥ min_mi_auc`` where that is asked for).
    kernel_size : int or None
    dropout : float or None
    """

    path: str
    val_accuracy: float
    median_amorphous_mi: float = math.nan
    bulk_accuracy: float = math.nan
    mi_auc: float = math.nan
    eligible: bool = False
    kernel_size: int | None = None
    dropout: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def collect_candidates(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Model files from files and folders (a folder contributes its ``*.keras``, and ``candidates/*.keras``)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.keras")) + sorted((p / "candidates").glob("*.keras"))
            out.extend(f for f in found if not f.name.endswith(".partial.keras"))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"candidate model not found: {p}")
    unique = list(dict.fromkeys(q.resolve() for q in out))
    if not unique:
        raise FileNotFoundError(f"no .keras candidate models in {', '.join(map(str, paths))}")
    return unique


def _check_auc(min_mi_auc: float) -> None:
    if not 0.0 <= min_mi_auc <= 1.0:
        raise ValueError(f"min_mi_auc is a ROC AUC, between 0 and 1; got {min_mi_auc}")


def rank_candidates(candidates: list[Candidate], min_val_accuracy: float = 0.995, min_mi_auc: float = 0.0) -> list[Candidate]:
    """Eligible candidates first (highest median amorphous MI first), then the rest by validation accuracy.

    A candidate is eligible with ``val_accuracy ≥ min_val_accuracy`` and, if ``min_mi_auc > 0``,
    ``mi_auc ≥ min_mi_auc`` (a candidate whose AUC was not measured is then not eligible).
    """
    _check_auc(min_mi_auc)
    for c in candidates:
        auc_ok = min_mi_auc <= 0 or (math.isfinite(c.mi_auc) and c.mi_auc >= min_mi_auc)
        c.eligible = math.isfinite(c.val_accuracy) and c.val_accuracy >= min_val_accuracy and auc_ok

    def key(c: Candidate) -> tuple[int, float, float]:
        mi = c.median_amorphous_mi if math.isfinite(c.median_amorphous_mi) else -math.inf
        return (0 if c.eligible else 1, -mi if c.eligible else -c.val_accuracy, -c.val_accuracy)

    return sorted(candidates, key=key)


def select_model(
    paths: Sequence[str | os.PathLike[str]],
    scene: Any,
    *,
    min_val_accuracy: float = 0.995,
    min_mi_auc: float = 0.0,
    window: float = 12.0,
    stride: float = 1.0,
    samples: int = 100,
    seed: int | None = 0,
    out: str | os.PathLike[str] | None = None,
    echo: Callable[[str], None] | None = print,
) -> tuple[Candidate | None, list[Candidate]]:
    """Score the candidates and pick one by the paper's rule.

    Parameters
    ----------
    paths : sequence of path
        Candidate model files or folders (see :func:`collect_candidates`).
    scene : Scene
        The polycrystal scene with an amorphous region (:class:`aistem.training.evaluate.Scene`).
    min_val_accuracy : float
        Validation accuracy a candidate needs (paper: 0.995).
    min_mi_auc : float
        MI ROC AUC (boundary-or-amorphous vs bulk windows of ``scene``) a candidate needs; 0 (the default) is the
        paper's rule, which does not look at it.
    window, stride : float
        Analysis window and step [Å].
    samples : int
        MC-dropout samples per window (T).
    out : path, optional
        Copy the chosen model here (``.keras``).

    Returns
    -------
    chosen : Candidate or None
        None when no candidate is eligible.
    ranking : list of Candidate
        All candidates, best first.
    """
    from aistem.core import load_model

    from .evaluate import evaluate_scene

    _check_auc(min_mi_auc)  # before the (slow) analysis of the candidates
    if scene.amorphous_code is None or not (scene.labels == scene.amorphous_code).any():
        raise ValueError(f"scene {scene.name!r} has no amorphous region: model selection needs one")
    cands = []
    for p in collect_candidates(paths):
        m = load_model(p)
        extra = m.info.extra
        acc = float(extra.get("metrics", {}).get("val_accuracy", math.nan))
        hyper = extra.get("hyperparameters", {})
        c = Candidate(str(p), acc, kernel_size=hyper.get("kernel_size"), dropout=hyper.get("dropout"))
        if math.isfinite(acc) and acc >= min_val_accuracy:  # only eligible models need the (slow) scene analysis
            met, _, _ = evaluate_scene(m, scene, window=window, stride=stride, samples=samples, seed=seed)
            c.median_amorphous_mi, c.bulk_accuracy, c.mi_auc = met.median_amorphous_mi, met.bulk_accuracy, met.mi_auc
        if echo:
            echo(
                f"  {Path(p).name}: val. accuracy {100 * acc:.2f} %"
                + (
                    f", median amorphous MI {c.median_amorphous_mi:.3f} bit, bulk {100 * c.bulk_accuracy:.1f} %, "
                    f"MI AUC {c.mi_auc:.3f}"
                    if math.isfinite(c.median_amorphous_mi)
                    else " (below the threshold: not analysed)"
                )
            )
        cands.append(c)
    ranking = rank_candidates(cands, min_val_accuracy, min_mi_auc)
    chosen = ranking[0] if ranking and ranking[0].eligible else None
    if chosen is not None and out is not None:
        dst = Path(out)
        if dst.suffix != ".keras":
            raise ValueError(f"the chosen model is copied to a .keras file, got {dst}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if Path(chosen.path).resolve() != dst.resolve():
            shutil.copyfile(chosen.path, dst)
    return chosen, ranking
