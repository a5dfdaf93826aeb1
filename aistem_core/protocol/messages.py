"""The decoded messages: :class:`Frame`, the generic :class:`Message`, :class:`DaemonError`, :class:`Status`, and
:class:`ProtocolError` for a message that breaks the protocol. The result view is :mod:`.result`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DaemonError", "Frame", "Message", "ProtocolError", "Status"]


class ProtocolError(ValueError):
    """A message that breaks the protocol.

    Attributes
    ----------
    code : str
        Machine-readable reason (see ``docs/protocol.md`` §6), e.g. ``"size-mismatch"``.
    reason : str
        Readable explanation (also the exception's text).
    series : str or None
        The frame's series, where it could be read.
    index : int or None
        The frame's index, where it could be read.
    """

    def __init__(self, code: str, reason: str, *, series: str | None = None, index: int | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.series = series
        self.index = index


@dataclass
class Frame:
    """One decoded, validated frame (the daemon's input, and what the viewer draws under a result).

    Attributes
    ----------
    series : str
    index : int
    image : ndarray of shape (rows, cols)
        Pixels in the sender's dtype (native byte order; may be a read-only view of the message).
    pixel_size : float
        [Å/px].
    timestamp : float
        Acquisition time [Unix s], as sent.
    detector : str or None
    meta : dict
    header : dict
        The header as sent.
    received : float
        Arrival [Unix s].
    received_perf : float
        Arrival [``time.perf_counter()`` s], for latencies.
    """

    series: str
    index: int
    image: np.ndarray
    pixel_size: float
    timestamp: float
    detector: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    received: float = 0.0
    received_perf: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        """(series, index): pairs a frame with its results."""
        return (self.series, self.index)


@dataclass
class Message:
    """Any decoded message, untyped: what :func:`~.codec.decode_message` returns.

    Attributes
    ----------
    kind : str
        ``"frame"``, ``"result"``, ``"error"`` or ``"status"``.
    header : dict
    arrays : dict of str to ndarray
        Result maps on the window grid (rows × cols [× classes]); a frame's ``"image"``; empty otherwise.
        They are attributes too (``m.classes``), as are the header's keys (``m.timing``).
    """

    kind: str
    header: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def series(self) -> str | None:
        s = self.header.get("series")
        return None if s is None else str(s)

    @property
    def index(self) -> int | None:
        i = self.header.get("index")
        return None if i is None else int(i)

    def __getattr__(self, name: str) -> Any:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        header = self.__dict__.get("header", {})
        if name in header:
            return header[name]
        raise AttributeError(f"{self.__dict__.get('kind', 'message')} has no {name!r}")


@dataclass
class DaemonError:
    """The daemon could not analyse a frame (an ``error`` message, typed)."""

    series: str
    index: int
    reason: str
    code: str = ""
    header: dict[str, Any] = field(default_factory=dict)
    received: float = 0.0

    @classmethod
    def from_header(cls, h: dict[str, Any], received: float = 0.0) -> DaemonError:
        """From an error header; a missing series is ``""``, a missing index −1."""
        idx = h.get("index")
        return cls(
            series="" if h.get("series") is None else str(h["series"]),
            index=int(idx) if isinstance(idx, int) else -1,
            reason=str(h.get("reason", "unknown")),
            code=str(h.get("code") or ""),
            header=h,
            received=received,
        )

    def text(self) -> str:
        """One line, e.g. ``daemon error on s1 #3 (non-finite): the frame has 12 NaN pixel(s)``."""
        where = f" on {self.series} #{self.index}" if self.series or self.index >= 0 else ""
        code = f" ({self.code})" if self.code else ""
        return f"daemon error{where}{code}: {self.reason}"


_STATUS_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("received", ("frames_received", "received")),
    ("processed", ("frames_processed", "processed")),
    ("dropped", ("frames_dropped", "dropped")),
    ("rejected", ("frames_rejected", "rejected")),
    ("queue", ("queue_length", "queue", "queued")),
)


@dataclass
class Status:
    """The daemon's periodic status: counters, queue, latency, model, uptime (whatever fields it sends)."""

    header: dict[str, Any]
    received: float = 0.0

    def get(self, *names: str, default: Any = None) -> Any:
        """The first of ``names`` present in the header."""
        for n in names:
            if n in self.header:
                return self.header[n]
        return default

    def text(self) -> str:
        """One line for the status bar, e.g. ``received 12, processed 11, dropped 0, queue 1, 140 ms, up 30 s``."""
        h = self.header
        parts: list[str] = []
        state = h.get("state")
        if isinstance(state, str) and state != "running":
            parts.append(state)
        for label, names in _STATUS_FIELDS:
            v = self.get(*names)
            if v is not None:
                parts.append(f"{label} {v}")
        sup = self.get("frames_superseded")
        if isinstance(sup, int) and sup > 0:
            parts.append(f"refinements superseded {sup}")  # live preview: frames left at their preview
        lat = self.get("mean_latency_ms", "latency_ms", "mean_latency")
        if isinstance(lat, (int, float)):
            parts.append(f"mean latency {lat:.0f} ms")
        plat = self.get("mean_preview_latency_ms")
        if isinstance(plat, (int, float)):
            parts.append(f"preview {plat:.0f} ms")
        model = self.get("model")
        if isinstance(model, dict):
            model = model.get("name")
        if model:
            parts.append(f"model {model}")
        up = self.get("uptime_s", "uptime")
        if isinstance(up, (int, float)):
            parts.append(f"up {up:.0f} s")
        if not parts:
            parts = [f"{k} {v}" for k, v in h.items() if isinstance(v, (int, float, str)) and k != "protocol"]
        return ", ".join(parts)
