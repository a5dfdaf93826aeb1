"""Adaptive Monte-Carlo sampling: a stopping rule for windows whose decisions are settled.

All windows get ``initial`` samples; after each stage the windows whose class
and interface decision the remaining samples can no longer change (at
confidence ``z`` standard deviations) stop, and the others get more, until the
paper's T.  Derivation (``docs/adaptive-sampling.md``):

With n of T samples drawn, the final T-sample mean of any per-sample quantity
``q_t`` is ``Q_T = (n Q_n + r Q_r) / T`` with ``r = T - n`` samples still to
come.  Treating samples as i.i.d. with variance σ², the change
``Q_T - Q_n = (r / T)(Q_r - Q_n)`` has standard deviation
``(r / T) σ sqrt(1/r + 1/n)`` (future mean and current mean both uncertain).

* Class: ``q_t = p_t[a] - p_t[b]``, the margin between the two leading classes
  of the current mean; the class cannot change while ``Q_n > z · sd``.
* Interface: MI is a smooth function of sample means, ``MI = H(p̄) - mean_t h_t``;
  to first order its fluctuation is the mean of ``q_t = g·p_t - h_t`` with
  ``g = ∇H(p̄) = -(log2 p̄ + 1/ln 2)``; the decision cannot change while
  ``|MI_n - threshold| > z · sd``.

A variance floor ``σ² ≥ floor / n`` stands for the disagreement that few
identical samples cannot rule out (a pseudo-sample of prior disagreement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AdaptiveSettings", "MomentStats", "settled", "stage_schedule"]

_LN2 = np.log(2.0)


@dataclass(frozen=True)
class AdaptiveSettings:
    """Parameters of the stopping rule.

    Attributes
    ----------
    initial : int
        Samples every window gets first.
    z : float
        Confidence, in standard deviations of the predicted change.
    variance_floor : float
        Prior variance (per sample, times n) assumed when the samples drawn agree exactly.
    neighbours : int
        Grid cells around an unsettled window that keep sampling too (rare flips
        cluster near interfaces, where few samples cannot see them).
    """

    initial: int = 8
    z: float = 2.0
    variance_floor: float = 0.5
    neighbours: int = 1


@dataclass
class MomentStats:
    """First and second moments of MC samples per window (sums over the n samples drawn).

    Attributes
    ----------
    n : ndarray of shape (N,), int32
    p : ndarray of shape (N, C)        Σ p_t
    pp : ndarray of shape (N, C, C)    Σ p_t p_tᵀ
    h : ndarray of shape (N,)          Σ h_t  [bit]
    hh : ndarray of shape (N,)         Σ h_t²
    hp : ndarray of shape (N, C)       Σ h_t p_t
    votes : ndarray of shape (N, C), int32
    """

    n: np.ndarray
    p: np.ndarray
    pp: np.ndarray
    h: np.ndarray
    hh: np.ndarray
    hp: np.ndarray
    votes: np.ndarray

    @classmethod
    def zeros(cls, n: int, c: int) -> MomentStats:
        f = np.float64  # sums of up to T products: keep them exact enough for variances
        return cls(
            np.zeros(n, np.int32),
            np.zeros((n, c), f),
            np.zeros((n, c, c), f),
            np.zeros(n, f),
            np.zeros(n, f),
            np.zeros((n, c), f),
            np.zeros((n, c), np.int32),
        )

    @classmethod
    def from_samples(cls, probs: np.ndarray) -> MomentStats:
        """Moments of explicit samples, probs of shape (N, T, C)."""
        p = probs.astype(np.float64)
        h = -(p * np.log2(np.maximum(p, 1e-30))).sum(-1)
        votes = np.zeros(p.shape[::2], np.int32)
        np.add.at(votes, (np.repeat(np.arange(p.shape[0]), p.shape[1]), p.argmax(-1).ravel()), 1)
        return cls(
            np.full(p.shape[0], p.shape[1], np.int32),
            p.sum(1),
            np.einsum("ntc,ntd->ncd", p, p),
            h.sum(1),
            (h * h).sum(1),
            np.einsum("nt,ntc->nc", h, p),
            votes,
        )


def stage_schedule(total: int, initial: int) -> list[int]:
    """Sample counts after each stage: initial, 2·initial, 4·initial, …, total."""
    if total < 1 or initial < 1:
        raise ValueError("sample counts must be ≥ 1")
    out, n = [], min(initial, total)
    while n < total:
        out.append(n)
        n *= 2
    out.append(total)
    return out


def settled(m: MomentStats, total: int, threshold: float, settings: AdaptiveSettings = AdaptiveSettings()) -> np.ndarray:
    """Windows whose class and interface decision can no longer change (at ``settings.z``).

    Parameters
    ----------
    m : MomentStats
        Moments of the n samples drawn so far (n may differ per window).
    total : int
        T, the most samples any window gets.
    threshold : float
        MI threshold of the interface decision [bit].

    Returns
    -------
    ndarray of shape (N,), bool
    """
    n = np.maximum(m.n.astype(np.float64), 1.0)
    r = np.maximum(total - n, 0.0)
    mean = m.p / n[:, None]
    cov = m.pp / n[:, None, None] - mean[:, :, None] * mean[:, None, :]
    hbar = m.h / n
    # how far the final mean can still move, per unit of per-sample standard deviation
    spread = np.where(r > 0, (r / total) * np.sqrt(1.0 / np.maximum(r, 1.0) + 1.0 / n), 0.0)
    floor = settings.variance_floor / n

    order = np.argsort(-mean, axis=1)
    a, b = order[:, 0], order[:, 1]
    idx = np.arange(len(n))
    margin = mean[idx, a] - mean[idx, b]
    var_margin = cov[idx, a, a] + cov[idx, b, b] - 2.0 * cov[idx, a, b]
    class_ok = margin > settings.z * spread * np.sqrt(np.maximum(var_margin, 0.0) + floor)

    g = -(np.log2(np.maximum(mean, 1e-12)) + 1.0 / _LN2)
    mi = -(mean * np.log2(np.maximum(mean, 1e-30))).sum(1) - hbar
    cov_hp = m.hp / n[:, None] - hbar[:, None] * mean
    var_h = m.hh / n - hbar**2
    var_q = np.einsum("nc,ncd,nd->n", g, cov, g) - 2.0 * (g * cov_hp).sum(1) + var_h
    mi_ok = np.abs(mi - threshold) > settings.z * spread * np.sqrt(np.maximum(var_q, 0.0) + floor)
    return (class_ok & mi_ok) | (r <= 0)
