"""What the daemon's rooms share: the settings, the model, the frame queue, the counters, one lock and the stop flags.

:class:`DaemonState` is built once by :class:`aistem.daemon.server.Daemon` and handed to each room
(:class:`~aistem.daemon.receiver.Receiver`, :class:`~aistem.daemon.worker.AnalysisWorker`,
:class:`~aistem.daemon.publisher.Publisher`, :class:`~aistem.daemon.controller.Controller`) together with the narrow
callbacks that room needs; no room holds another room or the daemon itself.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aistem.core.protocol import Frame

from .queueing import FrameQueue
from .settings import DaemonSettings

__all__ = ["COUNTERS", "DaemonState"]

#: The daemon's counters (``docs/protocol.md``, the status message).
COUNTERS = (
    "received",
    "processed",
    "rejected",
    "failed",
    "unsent",
    "superseded",
    "previews",
    "cancelled",
    "abandoned",
    "too_large",
    "handshake_failed",
    "link_drops",
)


@dataclass
class DaemonState:
    """The state shared by the daemon's threads; ``lock`` guards ``settings``, ``model``, ``counts``,
    ``latencies``, ``preview_latencies`` and ``in_progress``.

    Parameters
    ----------
    settings : DaemonSettings
        The current settings (replaced as a whole by control ``set`` and ``reload``).
    model : AistemModel or None
        The network; None until :meth:`aistem.daemon.server.Daemon.start` has loaded it.
    """

    settings: DaemonSettings
    model: Any = None
    queue: FrameQueue = field(init=False)
    lock: threading.RLock = field(default_factory=threading.RLock)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=100))  # final results [ms]
    preview_latencies: deque[float] = field(default_factory=lambda: deque(maxlen=100))  # previews [ms]
    in_progress: dict[str, Any] | None = None
    stop: threading.Event = field(default_factory=threading.Event)  # stop after the frame in hand
    drain: threading.Event = field(default_factory=threading.Event)  # stop reading; analyse what is queued, then stop
    receiver_done: threading.Event = field(default_factory=threading.Event)
    store: Any = None  # the SeriesStore of --save

    def __post_init__(self) -> None:
        self.queue = FrameQueue(self.settings.mode, self.settings.queue_length)

    def count(self, key: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``key``."""
        with self.lock:
            self.counts[key] += n

    def set_in_progress(self, frame: Frame | None, stage: int = 0, stages: int = 0) -> None:
        """The frame being analysed and its stage (None: none)."""
        with self.lock:
            self.in_progress = (
                None if frame is None else {"series": frame.series, "index": frame.index, "stage": stage, "stages": stages}
            )
