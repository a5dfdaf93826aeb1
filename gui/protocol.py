"""The wire messages the viewer reads (and, for tests and replays, writes): pure functions, no sockets, no Qt.

Frames (``aistem-frame/1``) come from the acquisition side as ``[b"frame", header, pixels]``; results
(``aistem-result/1``), errors and status come from the daemon as ``[b"result", header, array_1, …]``,
``[b"error", header]`` and ``[b"status", header]``. Headers are msgpack maps; arrays are raw C-order buffers
described by the header. ``docs/protocol.md`` is the authoritative description; this module follows it and
rejects, with a message that says why, anything it cannot draw.

Geometry: grid cell (i, j) covers the window whose top-left pixel is ``origins + (i·stride, j·stride)``; the
window centre is that corner + (window_px − 1)/2. The viewer draws each cell as a stride × stride block centred
on its window centre, in pixel-centre coordinates (pixel (r, c) is centred on (r, c)).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

__all__ = [
    "DTYPES",
    "FRAME_PROTOCOL",
    "RESULT_PROTOCOL",
    "DaemonError",
    "Frame",
    "ProtocolError",
    "Result",
    "Status",
    "decode",
    "encode_error",
    "encode_frame",
    "encode_result",
    "encode_status",
    "frame_order",
    "preview_outdated",
    "result_minor_version",
]

FRAME_PROTOCOL = "aistem-frame/1"
RESULT_PROTOCOL = "aistem-result/1"
DTYPES = ("uint8", "uint16", "int16", "int32", "float32", "float64")
RESULT_DTYPES = (*DTYPES, "bool", "int8", "uint32", "int64", "uint64")


class ProtocolError(ValueError):
    """A message the viewer cannot decode (wrong protocol, missing field, size mismatch)."""


@dataclass
class Frame:
    """One acquired image.

    Attributes
    ----------
    series : str
    index : int
    image : ndarray of shape (rows, cols)
        Pixels in the sender's dtype.
    pixel_size : float or None
        [Å/px].
    timestamp : float or None
        Acquisition time [Unix s].
    detector : str or None
    meta : dict
    received : float
        Arrival time at the viewer [Unix s].
    """

    series: str
    index: int
    image: np.ndarray
    pixel_size: float | None = None
    timestamp: float | None = None
    detector: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    received: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        return (self.series, self.index)


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
        False for a live preview (``aistem-result/1.1``): a coarser grid and fewer samples, drawn until the same
        frame's final result (or a newer frame's result) replaces it. Absent in the header: True.
    arrays : dict of str to ndarray
        ``classes`` (uint8), ``probabilities`` (float32, rows × cols × classes), ``mutual_information``
        (float32 [bit]), ``interface`` (uint8), ``unknown`` (uint8 0/1, since 1.2; :attr:`unknown` gives it as bool),
        optionally ``lattice_rotation`` (float32 [°], NaN in the interface and unknown windows).
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
        return result_minor_version(self.header)

    @property
    def unknown(self) -> np.ndarray | None:
        """Windows outside the model's domain, (rows, cols) bool (``aistem-result/1.2``); None from older daemons."""
        a = self.arrays.get("unknown")
        return None if a is None else a.astype(bool)

    @property
    def timestamp(self) -> float | None:
        """Acquisition time of the frame [Unix s] if the daemon passed it on, else None."""
        t = self.header.get("timestamp")
        return float(t) if isinstance(t, (int, float)) else None

    def cell_rect(self) -> tuple[float, float, float, float]:
        """Where the grid is drawn: (top, left, height, width) in pixel-centre coordinates [px].

        Cell (i, j) is the stride × stride block centred on its window's centre, so the block of the whole grid
        starts half a stride before the first window centre.
        """
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


@dataclass
class DaemonError:
    """The daemon could not analyse a frame."""

    series: str
    index: int
    reason: str
    code: str = ""
    header: dict[str, Any] = field(default_factory=dict)
    received: float = 0.0

    def text(self) -> str:
        """One line, e.g. ``daemon error on s1 #3 (non-finite): the frame has 12 NaN pixel(s)``."""
        where = f" on {self.series} #{self.index}" if self.series or self.index >= 0 else ""
        code = f" ({self.code})" if self.code else ""
        return f"daemon error{where}{code}: {self.reason}"


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
        for label, names in (
            ("received", ("frames_received", "received")),
            ("processed", ("frames_processed", "processed")),
            ("dropped", ("frames_dropped", "dropped")),
            ("rejected", ("frames_rejected", "rejected")),
            ("queue", ("queue_length", "queue", "queued")),
        ):
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


Message = Frame | Result | DaemonError | Status


def _unpack(raw: bytes) -> dict[str, Any]:
    try:
        h = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except Exception as exc:
        raise ProtocolError(f"header is not msgpack: {exc}") from exc
    if not isinstance(h, dict):
        raise ProtocolError(f"header must be a msgpack map, got {type(h).__name__}")
    return h


def result_minor_version(header: dict[str, Any]) -> int:
    """Minor version of a result header's ``protocol`` (``"aistem-result/1.2"`` → 2; 0 when absent or unreadable)."""
    _, _, version = str(header.get("protocol", "")).partition("/")
    _, _, minor = version.partition(".")
    return int(minor) if minor.isdigit() else 0


def _check_protocol(h: dict[str, Any], expected: str) -> None:
    p = h.get("protocol")
    if p is None:
        return  # tolerated: errors and status may leave it out
    name, _, major = str(p).partition("/")
    want_name, _, want_major = expected.partition("/")
    if name != want_name or major.split(".")[0] != want_major:
        raise ProtocolError(f"protocol {p!r} is not {expected!r}: update the viewer or the sender")


def _array(buf: bytes | memoryview, dtype: str, shape: Any, what: str) -> np.ndarray:
    if str(dtype) not in RESULT_DTYPES:
        raise ProtocolError(f"{what}: unsupported dtype {dtype!r} (expected one of {', '.join(RESULT_DTYPES)})")
    try:
        shp = tuple(int(s) for s in shape)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"{what}: bad shape {shape!r}") from exc
    dt = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)
    need = int(np.prod(shp, dtype=np.int64)) * dt.itemsize
    if len(buf) != need:
        raise ProtocolError(f"{what}: {len(buf)} bytes for shape {list(shp)} {dtype} (expected {need})")
    return np.frombuffer(buf, dtype=dt).reshape(shp).astype(dt.newbyteorder("="), copy=False)


def _decode_frame(parts: list[bytes], now: float) -> Frame:
    if len(parts) != 3:
        raise ProtocolError(f"a frame has 3 parts [b'frame', header, pixels], got {len(parts)}")
    h = _unpack(parts[1])
    _check_protocol(h, FRAME_PROTOCOL)
    try:
        shape = h["shape"]
        dtype = h["dtype"]
        series = str(h["series"])
        index = int(h["index"])
    except KeyError as exc:
        raise ProtocolError(f"frame header misses {exc.args[0]!r}") from exc
    if str(dtype) not in DTYPES:
        raise ProtocolError(f"frame dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if len(shape) != 2:
        raise ProtocolError(f"frame shape must be [rows, cols], got {shape!r}")
    img = _array(parts[2], dtype, shape, "frame pixels")
    ps = h.get("pixel_size")
    ts = h.get("timestamp")
    return Frame(
        series=series,
        index=index,
        image=img,
        pixel_size=float(ps) if isinstance(ps, (int, float)) and ps > 0 else None,
        timestamp=float(ts) if isinstance(ts, (int, float)) else None,
        detector=h.get("detector"),
        meta=h.get("meta") or {},
        received=now,
    )


def _model(h: dict[str, Any]) -> tuple[str, str]:
    m = h.get("model")
    if isinstance(m, dict):
        return str(m.get("name", "")), str(m.get("hash", ""))
    if isinstance(m, (list, tuple)) and len(m) == 2:
        return str(m[0]), str(m[1])
    return (str(m) if m is not None else ""), str(h.get("model_hash", ""))


def _decode_result(parts: list[bytes], now: float) -> Result:
    if len(parts) < 2:
        raise ProtocolError("a result has a header")
    h = _unpack(parts[1])
    _check_protocol(h, RESULT_PROTOCOL)
    try:
        specs = h["arrays"]
        grid = (int(h["grid"][0]), int(h["grid"][1]))
        window_px = int(h["window_px"])
        stride_px = int(h["stride_px"])
        series = str(h["series"])
        index = int(h["index"])
        class_names = [str(n) for n in h["class_names"]]
    except KeyError as exc:
        raise ProtocolError(f"result header misses {exc.args[0]!r}") from exc
    if len(specs) != len(parts) - 2:
        raise ProtocolError(f"result header lists {len(specs)} arrays but {len(parts) - 2} came")
    arrays: dict[str, np.ndarray] = {}
    for spec, buf in zip(specs, parts[2:], strict=True):
        name = str(spec["name"])
        arrays[name] = _array(buf, spec["dtype"], spec["shape"], f"array {name!r}")
    if "classes" not in arrays:
        raise ProtocolError("result has no 'classes' array")
    if result_minor_version(h) >= 2 and "unknown" not in arrays:
        raise ProtocolError(f"a {h.get('protocol')} result has no 'unknown' array")
    for name, a in arrays.items():
        if a.shape[:2] != grid:
            raise ProtocolError(f"array {name!r} has shape {list(a.shape)}, not the grid {list(grid)}")
    if window_px < 1 or stride_px < 1:
        raise ProtocolError(f"window_px and stride_px must be ≥ 1, got {window_px} and {stride_px}")
    if int(arrays["classes"].max(initial=0)) >= max(1, len(class_names)) and arrays["classes"].size:
        raise ProtocolError(f"class index {int(arrays['classes'].max())} but only {len(class_names)} class names")
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
        arrays=arrays,
        header=h,
        received=now,
    )


def decode(parts: list[bytes], now: float | None = None) -> Message:
    """Decode one multipart message.

    Parameters
    ----------
    parts : list of bytes
        The ZeroMQ frames, topic first (``b"frame"``, ``b"result"``, ``b"error"``, ``b"status"``).
    now : float, optional
        Arrival time [Unix s]; default: now.

    Returns
    -------
    Frame, Result, DaemonError or Status

    Raises
    ------
    ProtocolError
        With a message that says what is wrong.
    """
    now = time.time() if now is None else now
    if not parts:
        raise ProtocolError("empty message")
    topic = bytes(parts[0])
    if topic == b"frame":
        return _decode_frame(parts, now)
    if topic == b"result":
        return _decode_result(parts, now)
    if topic == b"error":
        h = _unpack(parts[1]) if len(parts) > 1 else {}
        idx = h.get("index")
        return DaemonError(
            series="" if h.get("series") is None else str(h["series"]),
            index=int(idx) if isinstance(idx, int) else -1,
            reason=str(h.get("reason", "unknown")),
            code=str(h.get("code") or ""),
            header=h,
            received=now,
        )
    if topic == b"status":
        return Status(header=_unpack(parts[1]) if len(parts) > 1 else {}, received=now)
    raise ProtocolError(f"unknown message type {topic[:20]!r}")


# -- writers: the same wire format, for tests, replays and tools ------------------------------------------------


def encode_frame(
    image: np.ndarray,
    series: str,
    index: int,
    pixel_size: float | None,
    timestamp: float | None = None,
    **extra: Any,
) -> list[bytes]:
    """``[b"frame", header, pixels]`` for one image (rows, cols) in one of :data:`DTYPES`."""
    a = np.ascontiguousarray(image)
    if str(a.dtype) not in DTYPES:
        raise ValueError(f"frame dtype {a.dtype} is not one of {', '.join(DTYPES)}")
    if a.ndim != 2:
        raise ValueError(f"a frame is a 2-D image, got shape {a.shape}")
    h: dict[str, Any] = {
        "protocol": FRAME_PROTOCOL,
        "series": str(series),
        "index": int(index),
        "shape": [int(a.shape[0]), int(a.shape[1])],
        "dtype": str(a.dtype),
        "pixel_size": pixel_size,
        "timestamp": time.time() if timestamp is None else float(timestamp),
        **extra,
    }
    return [b"frame", msgpack.packb(h, use_bin_type=True), a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()]


def encode_result(
    series: str,
    index: int,
    arrays: dict[str, np.ndarray],
    *,
    window_px: int,
    stride_px: int,
    class_names: list[str],
    origins: tuple[int, int] = (0, 0),
    pixel_size: float | None = None,
    samples: int = 0,
    threshold: float = 0.1,
    model: dict[str, str] | None = None,
    timing: dict[str, float] | None = None,
    dropped: int = 0,
    **extra: Any,
) -> list[bytes]:
    """``[b"result", header, array_1, …]``; the grid is the shape of ``arrays["classes"]``."""
    names = list(arrays)
    packed = [np.ascontiguousarray(arrays[n]) for n in names]
    packed = [a.astype(np.uint8) if a.dtype == bool else a for a in packed]
    grid = packed[names.index("classes")].shape
    h: dict[str, Any] = {
        "protocol": RESULT_PROTOCOL,
        "series": str(series),
        "index": int(index),
        "grid": [int(grid[0]), int(grid[1])],
        "window_px": int(window_px),
        "stride_px": int(stride_px),
        "origins": [int(origins[0]), int(origins[1])],
        "pixel_size": pixel_size,
        "class_names": list(class_names),
        "samples": int(samples),
        "threshold": float(threshold),
        "model": model or {"name": "", "hash": ""},
        "timing": timing or {},
        "dropped": int(dropped),
        "arrays": [{"name": n, "dtype": str(a.dtype), "shape": list(a.shape)} for n, a in zip(names, packed, strict=True)],
        **extra,
    }
    return [b"result", msgpack.packb(h, use_bin_type=True)] + [
        a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes() for a in packed
    ]


def encode_error(series: str, index: int, reason: str) -> list[bytes]:
    """``[b"error", header]``."""
    return [b"error", msgpack.packb({"series": series, "index": int(index), "reason": reason}, use_bin_type=True)]


def encode_status(**fields: Any) -> list[bytes]:
    """``[b"status", header]``."""
    return [b"status", msgpack.packb(fields, use_bin_type=True)]
