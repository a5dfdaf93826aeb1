"""The frame queue between the receiver thread and the analysis: ``live`` (newest wins) or ``lossless``."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

__all__ = ["MODES", "FrameQueue"]

MODES = ("live", "lossless")


class FrameQueue:
    """A thread-safe frame queue with two policies.

    ``live``: the queue holds one frame; a new frame replaces a waiting one,
    which is counted in :attr:`dropped`.  ``lossless``: frames wait in order,
    up to ``capacity``; :meth:`put` then blocks (so the receiver stops reading
    and ZeroMQ applies back-pressure to the sender).

    Parameters
    ----------
    mode : str
        ``"live"`` or ``"lossless"``.
    capacity : int
        Frames that may wait in lossless mode.
    """

    def __init__(self, mode: str = "live", capacity: int = 16) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be ≥ 1 frame, got {capacity}")
        self._mode = self._check(mode)
        self.capacity = int(capacity)
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self.dropped = 0
        self._closed = False

    @staticmethod
    def _check(mode: str) -> str:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        return mode

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> int:
        """Switch policy; going to ``live`` keeps only the newest waiting frame. Returns the frames dropped by the switch."""
        mode = self._check(mode)
        with self._cond:
            self._mode = mode
            n = 0
            if mode == "live":
                while len(self._items) > 1:
                    self._items.popleft()
                    n += 1
                self.dropped += n
            self._cond.notify_all()
            return n

    def put(self, item: Any, timeout: float | None = None) -> bool:
        """Add a frame.

        Returns
        -------
        bool
            True if queued; False if, in lossless mode, the queue stayed full for ``timeout`` seconds
            (or the queue is closed).
        """
        with self._cond:
            if self._closed:
                return False
            if self._mode == "live":
                if self._items:
                    self.dropped += len(self._items)
                    self._items.clear()
            else:
                deadline = None if timeout is None else time.monotonic() + timeout
                while len(self._items) >= self.capacity and self._mode == "lossless" and not self._closed:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
                if self._closed:
                    return False
                if self._mode == "live" and self._items:
                    self.dropped += len(self._items)
                    self._items.clear()
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> Any | None:
        """The next frame, or None after ``timeout`` seconds without one (or when closed and empty)."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._items:
                if self._closed:
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """Refuse new frames and wake every waiter; frames already queued can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def take_all(self) -> list[Any]:
        """Remove and return the waiting frames, oldest first."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            self._cond.notify_all()
            return items

    def clear(self) -> int:
        """Discard the waiting frames (not counted as dropped); returns how many."""
        with self._cond:
            n = len(self._items)
            self._items.clear()
            self._cond.notify_all()
            return n

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
