"""A frame simulator: synthetic series and the loop that publishes series as an acquisition program would.

:func:`synthetic_series` makes a bicrystal movie (Gaussian columns on a square
lattice, 1.815 Å spacing — fcc Cu [100] — at 0.12 Å/px; the right half rotated
30°; the boundary drifting and the noise changing from frame to frame) for
tests, demos and benchmarks without a microscope.  :func:`publish_series` sends
series through a :class:`~aistem.daemon.client.FramePublisher` at a given rate;
``aistem replay`` is its console entry.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .client import FramePublisher

__all__ = ["Series", "publish_series", "synthetic_series"]

log = logging.getLogger(__name__)


@dataclass
class Series:
    """Frames to publish under one series name.

    Attributes
    ----------
    name : str
    frames : ndarray of shape (N, rows, cols)
        In a wire dtype (uint8, uint16, int16, int32, float32, float64).
    pixel_size : float
        [Å/px].
    indices : list of int, optional
        Frame numbers (default 0 … N−1).
    detector : str, optional
    meta : dict
        Sent with every frame.
    """

    name: str
    frames: np.ndarray
    pixel_size: float
    indices: list[int] | None = None
    detector: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def index(self, k: int) -> int:
        return int(self.indices[k]) if self.indices is not None else k


def synthetic_series(
    n: int = 8,
    shape: tuple[int, int] = (512, 512),
    pixel_size: float = 0.12,
    *,
    spacing: float = 1.815,
    misorientation: float = 30.0,
    noise: float = 0.05,
    drift: float = 2.0,
    seed: int = 0,
    dtype: str = "uint16",
) -> np.ndarray:
    """A bicrystal movie: two halves of a square lattice rotated ``misorientation`` apart.

    Parameters
    ----------
    n : int
        Frames.
    shape : tuple of int
        (rows, cols) [px].
    pixel_size : float
        [Å/px].
    spacing : float
        Column spacing [Å].
    misorientation : float
        Rotation of the right grain [°].
    noise : float
        Gaussian noise, relative to the column peak height.
    drift : float
        Boundary shift per frame [px].
    seed : int
        Noise seed.
    dtype : str
        ``"uint16"`` (counts 100 … ~1100) or ``"float32"`` (0 … 1 plus noise).

    Returns
    -------
    ndarray of shape (n, rows, cols)
    """
    from aistem.core.synthetic import square_lattice

    left = square_lattice(shape, spacing=spacing, pixel_size=pixel_size)
    right = square_lattice(shape, spacing=spacing, pixel_size=pixel_size, angle=misorientation)
    rng = np.random.default_rng(seed)
    cols = np.arange(shape[1])[None, :]
    out = np.empty((n, *shape), np.dtype(dtype))
    for k in range(n):
        boundary = shape[1] / 2 + drift * (k - (n - 1) / 2)
        img = np.where(cols < boundary, left, right) + noise * rng.standard_normal(shape)
        if np.dtype(dtype).kind == "f":
            out[k] = img
        else:
            out[k] = np.clip(100 + 1000 * img, 0, np.iinfo(out.dtype).max)
    return out


def publish_series(
    publisher: FramePublisher,
    series: list[Series],
    *,
    rate: float = 2.0,
    loop: bool = False,
    count: int | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Send every frame of every series, in order, at ``rate`` frames per second.

    Parameters
    ----------
    publisher : FramePublisher
    series : list of Series
    rate : float
        [frames/s]; 0 or less: as fast as the socket takes them.
    loop : bool
        Start again after the last frame (indices keep counting up, so every frame sent is distinct).
    count : int, optional
        Stop after this many frames.
    stop : threading.Event, optional
        Set it to stop.

    Returns
    -------
    int
        Frames sent.
    """
    if not series or all(len(s) == 0 for s in series):
        raise ValueError("nothing to publish: no frames")
    period = 1.0 / rate if rate > 0 else 0.0
    sent = 0
    t0 = time.perf_counter()
    rnd = 0
    while True:
        for s in series:
            offset = 0
            if rnd:
                span = (max(s.indices) - min(s.indices) + 1) if s.indices else len(s)
                offset = rnd * span
            for k in range(len(s)):
                if stop is not None and stop.is_set():
                    return sent
                if count is not None and sent >= count:
                    return sent
                if period:
                    delay = t0 + sent * period - time.perf_counter()
                    if delay > 0:
                        if stop is not None:
                            if stop.wait(delay):
                                return sent
                        else:
                            time.sleep(delay)
                publisher.send(
                    s.frames[k],
                    pixel_size=s.pixel_size,
                    series=s.name,
                    index=s.index(k) + offset,
                    detector=s.detector,
                    meta=s.meta or None,
                )
                sent += 1
                log.debug("sent %s #%d", s.name, s.index(k) + offset)
        if not loop:
            return sent
        rnd += 1
