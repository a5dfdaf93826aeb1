"""Uncertainty of Monte-Carlo dropout predictions, in bits (log base 2, as the paper's code).

With T samples ``p_t`` (class probability vectors) per window:

* predictive entropy ``H[p̄] = -Σ_c p̄_c log2 p̄_c`` with ``p̄ = mean_t p_t``;
* mutual information ``MI = H[p̄] - mean_t H[p_t]`` (BALD: information between the
  prediction and the network weights), 0 when all samples agree, 1 bit when two
  classes split 50/50 across confident samples;
* variation ratio ``1 - f_mode / T`` where ``f_mode`` counts the samples whose
  arg-max is the most frequent class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MCStats", "entropy_bits", "segment_interface", "stats_from_samples", "uncertainty_maps"]

_TINY = np.float32(1e-30)


@dataclass
class MCStats:
    """Sufficient statistics of T Monte-Carlo samples per window.

    Attributes
    ----------
    prob_sum : ndarray of shape (N, C), float32
        Sum over samples of the class probabilities.
    entropy_sum : ndarray of shape (N,), float32
        Sum over samples of each sample's entropy [bit].
    vote_counts : ndarray of shape (N, C), int32
        Per class, the number of samples whose arg-max is that class.
    samples : ndarray of shape (N,), int32
        Number of samples T drawn for each window.
    """

    prob_sum: np.ndarray
    entropy_sum: np.ndarray
    vote_counts: np.ndarray
    samples: np.ndarray


def entropy_bits(p: Any, axis: int = -1) -> Any:
    """Shannon entropy [bit] of probability vectors along ``axis`` (0 log 0 = 0)."""
    p = np.asarray(p, dtype=np.float32)
    return -(p * np.log2(np.maximum(p, _TINY))).sum(axis=axis)


def stats_from_samples(probs: np.ndarray) -> MCStats:
    """Statistics of explicit per-sample probabilities.

    Parameters
    ----------
    probs : ndarray of shape (N, T, C)
        Class probabilities of T samples for N windows.
    """
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 3:
        raise ValueError(f"expected probabilities of shape (N, T, C), got {probs.shape}")
    n, t, c = probs.shape
    votes = np.zeros((n, c), dtype=np.int32)
    np.add.at(votes, (np.repeat(np.arange(n), t), probs.argmax(-1).ravel()), 1)
    return MCStats(
        prob_sum=probs.sum(1),
        entropy_sum=entropy_bits(probs).sum(1),
        vote_counts=votes,
        samples=np.full(n, t, dtype=np.int32),
    )


def uncertainty_maps(stats: MCStats) -> dict[str, np.ndarray]:
    """Mean probabilities, class, predictive entropy, mutual information and variation ratio.

    Returns
    -------
    dict
        ``probabilities`` (N, C) float32, ``classes`` (N,) int64,
        ``predictive_entropy``, ``mutual_information``, ``variation_ratio`` (N,) float32 [bit, bit, 1].
    """
    t = np.maximum(stats.samples, 1).astype(np.float32)
    mean = (stats.prob_sum / t[:, None]).astype(np.float32)
    h = entropy_bits(mean).astype(np.float32)
    expected = (stats.entropy_sum / t).astype(np.float32)
    mi = np.maximum(h - expected, 0.0).astype(np.float32)  # ≥ 0 by Jensen; clip float rounding
    vr = (1.0 - stats.vote_counts.max(-1) / t).astype(np.float32)
    return {
        "probabilities": mean,
        "classes": mean.argmax(-1),
        "predictive_entropy": h,
        "mutual_information": mi,
        "variation_ratio": vr,
    }


def segment_interface(mutual_information: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Interface mask: True where MI > ``threshold`` [bit], bulk elsewhere."""
    return np.asarray(mutual_information) > threshold
