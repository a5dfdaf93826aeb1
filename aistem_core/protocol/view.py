"""The typed reading of messages, for the viewer and tools: :func:`decode` gives a :class:`~.messages.Frame`,
:class:`Result`, :class:`~.messages.DaemonError` or :class:`~.messages.Status`.

Every ``aistem-result/1.x`` is read: arrays a minor version added (``unknown`` 1.2, ``filled`` and
``refinement_level`` 1.3) are None on older results. Geometry: grid cell (i, j) covers the window whose top-left
pixel is ``origins + (i·stride, j·stride)``; the window centre is that corner + (window_px − 1)/2. The viewer draws
each cell as a stride × stride block centred on its window centre, in pixel-centre coordinates.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .codec import _topic, decode_frame, decode_message
from .messages import DaemonError, Frame, Message, ProtocolError, Status
from .version import minor_version

__all__ = ["Result", "decode", "frame_order", "preview_outdated", "result_from_message", "result_minor_version"]

#: Old name of :func:`.version.minor_version`.
result_minor_version = minor_version


@dataclass
class Result:
    """The daemon's analysis of one frame, on the window grid (rows × cols).

    Attributes
    ----------
    series : str
    index : int
    grid : tuple of int
        (rows, cols) of the window grid.
    window_px, stride_px : int
        Window side and step [px].
    origins : tuple of int
        Top-left pixel (row, col) of the first window.
    pixel_size : float or None
        [Å/px].
    class_names : list of str
    samples : int
        Monte-Carlo samples per window.
    threshold : float
        The daemon's mutual-information threshold [bit].
    model_name, model_hash : str
    timing : dict
        [ms]: queued, descriptor, inference, total.
    dropped : int
        Frames the daemon has dropped so far.
    final : bool
        False for a live preview (1.1), replaced by the same frame's final result. Absent in the header: True.
    arrays : dict of str to ndarray
        ``classes`` (uint8), ``probabilities`` (float32, rows × cols × classes), ``mutual_information`` (float32
        [bit]), ``interface`` (uint8), ``unknown`` (uint8 0/1, 1.2), ``filled`` (uint8 0/1) and
        ``refinement_level`` (int8, 1.3), optionally ``lattice_rotation`` (float32 [°]).
    header : dict
        The header as sent.
    received : float
        Arrival time at the viewer [Unix s].
    """

    series: str
    index: int
    grid: tuple[int, int]
    window_px: int
    stride_px: int
    origins: tuple[int, int]
    pixel_size: float | None
    class_names: list[str]
    samples: int
    threshold: float
    model_name: str
    model_hash: str
    timing: dict[str, float]
    dropped: int
    final: bool
    arrays: dict[str, np.ndarray]
    header: dict[str, Any] = field(default_factory=dict)
    received: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        return (self.series, self.index)

    @property
    def classes(self) -> np.ndarray:
        return self.arrays["classes"]

    @property
    def probabilities(self) -> np.ndarray | None:
        return self.arrays.get("probabilities")

    @property
    def mutual_information(self) -> np.ndarray | None:
        return self.arrays.get("mutual_information")

    @property
    def interface(self) -> np.ndarray | None:
        return self.arrays.get("interface")

    @property
    def lattice_rotation(self) -> np.ndarray | None:
        return self.arrays.get("lattice_rotation")

    @property
    def minor_version(self) -> int:
        """Minor version of the result message (``aistem-result/1.2`` → 2; 0 when the header has none)."""
        return minor_version(self.header)

    def _bool(self, name: str) -> np.ndarray | None:
        a = self.arrays.get(name)
        return None if a is None else a.astype(bool)

    @property
    def unknown(self) -> np.ndarray | None:
        """Windows outside the model's domain, (rows, cols) bool (1.2); None from older daemons."""
        return self._bool("unknown")

    @property
    def filled(self) -> np.ndarray | None:
        """Windows filled (interpolated) from their coarse-to-fine cell, not computed, (rows, cols) bool (1.3);
        None from older daemons and dense analyses."""
        return self._bool("filled")

    @property
    def refinement_level(self) -> np.ndarray | None:
        """How each window was obtained, (rows, cols) int8: 0 coarse, 1 refined, 2 filled (1.3); else None."""
        return self.arrays.get("refinement_level")

    @property
    def timestamp(self) -> float | None:
        """Acquisition time of the frame [Unix s] if the daemon passed it on, else None."""
        t = self.header.get("timestamp")
        return float(t) if isinstance(t, (int, float)) else None

    def cell_rect(self) -> tuple[float, float, float, float]:
        """Where the grid is drawn: (top, left, height, width) in pixel-centre coordinates [px]."""
        half = (self.window_px - 1) / 2.0
        top = self.origins[0] + half - self.stride_px / 2.0
        left = self.origins[1] + half - self.stride_px / 2.0
        return (top, left, self.grid[0] * self.stride_px, self.grid[1] * self.stride_px)

    def covered_shape(self) -> tuple[int, int]:
        """(rows, cols) of the smallest image that holds every window [px]."""
        return (
            self.origins[0] + (self.grid[0] - 1) * self.stride_px + self.window_px,
            self.origins[1] + (self.grid[1] - 1) * self.stride_px + self.window_px,
        )

    def cell_at(self, row: float, col: float) -> tuple[int, int] | None:
        """Grid cell (i, j) drawn over the point (row, col) [px, pixel-centre coordinates], or None outside."""
        top, left, _, _ = self.cell_rect()
        i = math.floor((row - top) / self.stride_px)
        j = math.floor((col - left) / self.stride_px)
        if 0 <= i < self.grid[0] and 0 <= j < self.grid[1]:
            return (i, j)
        return None

    def window_centre(self, i: int, j: int) -> tuple[float, float]:
        """Centre (row, col) of window (i, j) [px]."""
        half = (self.window_px - 1) / 2.0
        return (self.origins[0] + i * self.stride_px + half, self.origins[1] + j * self.stride_px + half)

    @property
    def stage(self) -> tuple[int, int]:
        """(stage, stages) of the frame's analysis: (1, 2) for a preview, (2, 2) for its final; (1, 1) without."""
        st, n = self.header.get("stage"), self.header.get("stages")
        if isinstance(st, int) and isinstance(n, int) and 1 <= st <= n:
            return (st, n)
        return (1, 1) if self.final else (1, 2)

    def kind(self) -> str:
        """``"final"`` or ``"preview"`` (with its stage when the daemon sends one), for the status line and hover."""
        if self.final:
            return "final"
        st, n = self.stage
        return f"preview {st}/{n}"


def _model(h: dict[str, Any]) -> tuple[str, str]:
    m = h.get("model")
    if isinstance(m, dict):
        return str(m.get("name", "")), str(m.get("hash", ""))
    if isinstance(m, (list, tuple)) and len(m) == 2:
        return str(m[0]), str(m[1])
    return (str(m) if m is not None else ""), str(h.get("model_hash", ""))


def _check_result(h: dict[str, Any], arrays: dict[str, np.ndarray], grid: tuple[int, int], n_classes: int) -> None:
    if "classes" not in arrays:
        raise ProtocolError("missing-key", "result has no 'classes' array")
    if minor_version(h) >= 2 and "unknown" not in arrays:
        raise ProtocolError("missing-key", f"a {h.get('protocol')} result has no 'unknown' array")
    for name, a in arrays.items():
        if a.shape[:2] != grid:
            raise ProtocolError("bad-value", f"array {name!r} has shape {list(a.shape)}, not the grid {list(grid)}")
    c = arrays["classes"]
    if c.size and int(c.max()) >= max(1, n_classes):
        raise ProtocolError("bad-value", f"class index {int(c.max())} but only {n_classes} class names")


def result_from_message(msg: Message, received: float | None = None) -> Result:
    """The typed, checked :class:`Result` of a decoded ``result`` message (any 1.x version).

    Raises
    ------
    ProtocolError
        If a key the viewer needs is missing, or an array does not fit the grid or the class names.
    """
    h = msg.header
    try:
        grid = (int(h["grid"][0]), int(h["grid"][1]))
        window_px, stride_px = int(h["window_px"]), int(h["stride_px"])
        series, index = str(h["series"]), int(h["index"])
        class_names = [str(n) for n in h["class_names"]]
    except KeyError as exc:
        raise ProtocolError("missing-key", f"result header misses {exc.args[0]!r}") from exc
    except (TypeError, ValueError, IndexError) as exc:
        raise ProtocolError("bad-value", f"result header has a bad grid, window, index or class names: {exc}") from exc
    if window_px < 1 or stride_px < 1:
        raise ProtocolError("bad-value", f"window_px and stride_px must be ≥ 1, got {window_px} and {stride_px}")
    _check_result(h, msg.arrays, grid, len(class_names))
    origins = h.get("origins") or [0, 0]
    ps = h.get("pixel_size")
    name, mhash = _model(h)
    timing = h.get("timing") or {}
    return Result(
        series=series,
        index=index,
        grid=grid,
        window_px=window_px,
        stride_px=stride_px,
        origins=(int(origins[0]), int(origins[1])),
        pixel_size=float(ps) if isinstance(ps, (int, float)) and ps > 0 else None,
        class_names=class_names,
        samples=int(h.get("samples", 0) or 0),
        threshold=float(h.get("threshold", 0.1)),
        model_name=name,
        model_hash=mhash,
        timing={str(k): float(v) for k, v in timing.items() if isinstance(v, (int, float))},
        dropped=int(h.get("dropped", 0) or 0),
        final=bool(h.get("final", True)),
        arrays=dict(msg.arrays),
        header=h,
        received=time.time() if received is None else received,
    )


def decode(parts: list[Any], now: float | None = None) -> Frame | Result | DaemonError | Status:
    """Decode one multipart message into its typed form.

    Parameters
    ----------
    parts : list of bytes-like
        The ZeroMQ frames, topic first (``b"frame"``, ``b"result"``, ``b"error"``, ``b"status"``).
    now : float, optional
        Arrival time [Unix s]; default: now.

    Raises
    ------
    ProtocolError
        With a message that says what is wrong.
    """
    now = time.time() if now is None else now
    if _topic(parts) == b"frame":
        f = decode_frame(parts, check_finite=False)  # a viewer shows what came; the daemon refuses non-finite frames
        f.received = now
        return f
    msg = decode_message(parts)
    if msg.kind == "result":
        return result_from_message(msg, now)
    if msg.kind == "error":
        return DaemonError.from_header(msg.header, now)
    return Status(header=msg.header, received=now)


def frame_order(a: Result, b: Result) -> int:
    """+1 if ``a``'s frame is newer than ``b``'s, −1 if older, 0 if the same frame or unknown.

    By the frames' acquisition timestamps when both results carry one, else by the index within one series.
    """
    if a.key == b.key:
        return 0
    ta, tb = a.timestamp, b.timestamp
    if ta is not None and tb is not None and ta != tb:
        return 1 if ta > tb else -1
    if a.series == b.series:
        return 1 if a.index > b.index else -1
    return 0


def preview_outdated(preview: Result, final: Result | None) -> bool:
    """True if ``preview`` (a non-final result) must not replace ``final`` on screen: ``final`` is the final result
    of the same frame or of a newer one (:func:`frame_order`)."""
    if final is None or preview.final or not final.final:
        return False
    return preview.key == final.key or frame_order(final, preview) > 0
