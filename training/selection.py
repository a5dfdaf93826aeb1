"""Model selection as in the paper.

Among the candidate models (e.g. every trial of a search), keep those whose
validation accuracy is at least 99.5 %, and of these take the one with the
highest median mutual information over the windows in the amorphous region of
the polycrystal scene: the model that is most clearly uncertain where no
crystal is, while still classifying the crystals correctly.
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
    eligible : bool
        ``val_accuracy ≥ min_val_accuracy``.
    kernel_size : int or None
    dropout : float or None
    """

    path: str
    val_accuracy: float
    median_amorphous_mi: float = math.nan
    bulk_accuracy: float = math.nan
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


def rank_candidates(candidates: list[Candidate], min_val_accuracy: float = 0.995) -> list[Candidate]:
    """Eligible candidates first (highest median amorphous MI first), then the rest by validation accuracy."""
    for c in candidates:
        c.eligible = math.isfinite(c.val_accuracy) and c.val_accuracy >= min_val_accuracy

    def key(c: Candidate) -> tuple[int, float, float]:
        mi = c.median_amorphous_mi if math.isfinite(c.median_amorphous_mi) else -math.inf
        return (0 if c.eligible else 1, -mi if c.eligible else -c.val_accuracy, -c.val_accuracy)

    return sorted(candidates, key=key)


def select_model(
    paths: Sequence[str | os.PathLike[str]],
    scene: Any,
    *,
    min_val_accuracy: float = 0.995,
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
    window, stride : float
        Analysis window and step [Å].
    samples : int
        MC-dropout samples per window (T).
    out : path, optional
        Copy the chosen model here (``.keras``).

    Returns
    -------
    chosen : Candidate or None
        None when no candidate reaches ``min_val_accuracy``.
    ranking : list of Candidate
        All candidates, best first.
    """
    from aistem.core import load_model

    from .evaluate import evaluate_scene

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
            c.median_amorphous_mi, c.bulk_accuracy = met.median_amorphous_mi, met.bulk_accuracy
        if echo:
            echo(
                f"  {Path(p).name}: val. accuracy {100 * acc:.2f} %"
                + (
                    f", median amorphous MI {c.median_amorphous_mi:.3f} bit, bulk {100 * c.bulk_accuracy:.1f} %"
                    if math.isfinite(c.median_amorphous_mi)
                    else " (below the threshold: not analysed)"
                )
            )
        cands.append(c)
    ranking = rank_candidates(cands, min_val_accuracy)
    chosen = ranking[0] if ranking and ranking[0].eligible else None
    if chosen is not None and out is not None:
        dst = Path(out)
        if dst.suffix != ".keras":
            raise ValueError(f"the chosen model is copied to a .keras file, got {dst}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if Path(chosen.path).resolve() != dst.resolve():
            shutil.copyfile(chosen.path, dst)
    return chosen, ranking
