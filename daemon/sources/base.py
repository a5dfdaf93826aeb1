"""What every frame source shares: a :class:`Series` of frames and the loop that publishes series as an
acquisition program would (``docs/sources.md``).

A source makes :class:`Series` (``replay``: files; ``sim``: synthetic frames) and hands them to
:func:`publish_series`, or sends each frame as it comes with
:meth:`~aistem.daemon.sources.client.FramePublisher.send` (a live detector); ``record`` is the other direction
(it captures a stream into files), and ``client`` holds the publisher, the result reader and control requests.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .client import FramePublisher

__all__ = ["Series", "publish_series"]

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
