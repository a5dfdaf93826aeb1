"""Monte-Carlo dropout masks keyed by (seed, sample index, layer).

The masks of MC sample ``t`` depend on the seed, ``t`` and the dropout layer only — not on the window,
the call, the block of windows or the adaptive stage that evaluates the sample.  They are drawn on the
host with NumPy's counter-based Philox generator, one independent stream per (seed, t, layer), so every
backend (TensorFlow, JAX, torch; CPU or GPU) applies exactly the same masks, and an adaptive run is a
prefix of the fixed run with the same seed.

A mask is shared by all the windows that a call evaluates: each window still sees T independent
Bernoulli masks, so its MC samples have exactly the law of MC dropout (``docs/adaptive-sampling.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["MaskLayout", "dropout_masks"]

_KEY_BITS_SAMPLE = 48
_KEY_BITS_LAYER = 16


@dataclass(frozen=True)
class MaskLayout:
    """The dropout layers of a network, in order.

    Attributes
    ----------
    shapes : tuple of tuple of int
        Shape of one sample's activation at each dropout layer (without the batch axis).
    rates : tuple of float
        Drop probability of each layer, in (0, 1).
    """

    shapes: tuple[tuple[int, ...], ...]
    rates: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.shapes) != len(self.rates):
            raise ValueError(f"{len(self.shapes)} mask shapes but {len(self.rates)} rates")
        if not all(0.0 < r < 1.0 for r in self.rates):
            raise ValueError(f"dropout rates must be in (0, 1), got {self.rates}")

    @property
    def elements(self) -> int:
        """Mask elements of one MC sample, all layers together."""
        return int(sum(np.prod(s) for s in self.shapes))


def _key(seed: int, t: int, layer: int) -> int:
    if not (0 <= t < 1 << _KEY_BITS_SAMPLE and 0 <= layer < 1 << _KEY_BITS_LAYER):
        raise ValueError(f"sample index {t} or layer {layer} out of range")
    return ((int(seed) & 0xFFFFFFFFFFFFFFFF) << 64) | (t << _KEY_BITS_LAYER) | layer


def dropout_masks(seed: int, start: int, count: int, layout: MaskLayout) -> list[np.ndarray]:
    """Keep-masks of MC samples ``start`` … ``start + count − 1``.

    Parameters
    ----------
    seed : int
        Seed of the analysis (≥ 0).
    start : int
        Index of the first sample (0-based).
    count : int
        Number of samples.
    layout : MaskLayout
        The network's dropout layers.

    Returns
    -------
    list of ndarray of shape (count, *layout.shapes[k]), bool
        One array per dropout layer; True keeps the unit (probability 1 − rate, to 2⁻¹⁶).
    """
    if count < 0 or start < 0:
        raise ValueError(f"start and count must be ≥ 0, got {start}, {count}")
    out = [np.empty((count, *shape), bool) for shape in layout.shapes]
    levels = [round(rate * 65536) for rate in layout.rates]
    for j in range(count):
        for k, (shape, level) in enumerate(zip(layout.shapes, levels, strict=True)):
            g = np.random.Generator(np.random.Philox(key=_key(seed, start + j, k)))
            np.greater_equal(g.integers(0, 65536, shape, dtype=np.uint16), level, out=out[k][j])
    return out


def mask_layout(shapes: Sequence[Sequence[int]], rates: Sequence[float]) -> MaskLayout:
    """A :class:`MaskLayout` from plain sequences."""
    return MaskLayout(tuple(tuple(int(v) for v in s) for s in shapes), tuple(float(r) for r in rates))
