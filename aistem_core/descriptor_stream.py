"""Descriptors computed on demand, block by block, for the MC sampler: memory bounded whatever the image size.

:class:`DescriptorStream` looks like the (N, size, size) descriptor array of an image's window grid to
:class:`~aistem.core.mc_dropout.MCDropoutPredictor` (``shape``, ``ndim``, ``stream[indices]``), but it computes the
descriptors of the windows asked for when they are asked for, :data:`CHUNK` grid windows at a time, and keeps at most
``cache_bytes`` of them (least recently used first out). A fixed run asks for every window once, in order; an
adaptive run asks again for the unsettled ones at each stage, and those not kept are computed again. A descriptor
depends on its window alone, so the values — and the analysis — are the same as with all descriptors at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from .backend import get_array_module
from .descriptor import fft_haadf_descriptor
from .mc_dropout import AnalysisCancelled
from .windows import WindowGrid

__all__ = ["CACHE_BYTES", "CHUNK", "DescriptorStream"]

CHUNK = 256  # grid windows per descriptor batch: keeps the FFT work set in cache
CACHE_BYTES = 64 << 20  # descriptors kept between requests [bytes]: 4096 descriptors of 64 × 64 float32


class DescriptorStream:
    """The FFT-HAADF descriptors of an image's window grid, computed on demand.

    Parameters
    ----------
    image : ndarray of shape (rows, cols), float32
        NumPy or CuPy.
    grid : WindowGrid
        Its window grid.
    size : int
        Descriptor side [px].
    threshold : float
        Spectrum threshold of the descriptor (fraction of the maximum).
    pixel_size : float, optional
        [Å/px], for error messages.
    cancel : callable, optional
        Asked before each block of descriptors; True stops with :class:`AnalysisCancelled`.
    cache_bytes : int, optional
        Most descriptor memory kept between requests [bytes]; default :data:`CACHE_BYTES`.

    Attributes
    ----------
    seconds : float
        Time spent computing descriptors so far [s].
    computed : int
        Descriptors computed so far (more than N when some were computed again).
    """

    def __init__(
        self,
        image: Any,
        grid: WindowGrid,
        *,
        size: int,
        threshold: float,
        pixel_size: float | None = None,
        cancel: Callable[[], bool] | None = None,
        cache_bytes: int | None = None,
    ) -> None:
        self.image = image
        self.grid = grid
        self.size = int(size)
        self.threshold = float(threshold)
        self.pixel_size = pixel_size
        self.cancel = cancel
        self.xp = get_array_module(image)
        self.shape = (grid.size, self.size, self.size)
        self.ndim = 3
        self.dtype = np.dtype(np.float32)
        budget = CACHE_BYTES if cache_bytes is None else int(cache_bytes)
        self._keep = max(1, budget // (CHUNK * self.size * self.size * 4))  # chunks kept
        self._chunks: OrderedDict[int, Any] = OrderedDict()
        self.seconds = 0.0
        self.computed = 0
        w, s = grid.window_px, grid.stride_px
        gr, gc = grid.shape
        self._view = self.xp.lib.stride_tricks.sliding_window_view(image, (w, w))[::s, ::s][:gr, :gc]

    def __len__(self) -> int:
        return self.shape[0]

    def _compute(self, indices: np.ndarray) -> Any:
        """Descriptors of the grid windows ``indices`` (flat, row-major), computed now."""
        if self.cancel is not None and self.cancel():
            raise AnalysisCancelled("analysis cancelled by the caller while computing descriptors")
        t = time.perf_counter()
        gc = self.grid.shape[1]
        rows, cols = self.xp.asarray(indices // gc), self.xp.asarray(indices % gc)
        d = fft_haadf_descriptor(self._view[rows, cols], threshold=self.threshold, size=self.size, pixel_size=self.pixel_size)
        self.seconds += time.perf_counter() - t
        self.computed += len(indices)
        return d

    def __getitem__(self, index: Any) -> Any:
        """Descriptors of the windows ``index`` (an integer array of flat grid indices, NumPy or CuPy)."""
        idx = np.asarray(index.get() if hasattr(index, "get") else index, dtype=np.int64).reshape(-1)
        out = self.xp.empty((len(idx), self.size, self.size), self.xp.float32)
        if len(idx) == 0:
            return out
        chunk_of = idx // CHUNK
        for c in np.unique(chunk_of):
            at = np.flatnonzero(chunk_of == c)
            block = self._chunks.get(int(c))
            if block is None:
                start = int(c) * CHUNK
                stop = min(start + CHUNK, self.shape[0])
                wanted = idx[at]
                if 4 * len(wanted) >= stop - start or len(self._chunks) < self._keep:
                    block = self._compute(np.arange(start, stop))  # dense, or room to keep it: the whole chunk
                    self._chunks[int(c)] = block
                    while len(self._chunks) > self._keep:
                        self._chunks.popitem(last=False)
                else:  # a few windows of a chunk not kept (a late adaptive stage): only those
                    out[self.xp.asarray(at)] = self._compute(wanted)
                    continue
            else:
                self._chunks.move_to_end(int(c))
            out[self.xp.asarray(at)] = block[self.xp.asarray(idx[at] - int(c) * CHUNK)]
        return out
