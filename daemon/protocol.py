"""The wire protocol (``docs/protocol.md``): encode, decode and validate messages.

Pure functions on lists of message parts (``bytes``-like); no sockets.  Every
multipart message starts with a one-word topic:

* ``[b"frame", header, pixels]`` — acquisition → daemon (``aistem-frame/1``);
* ``[b"result", header, array_1, …, array_n]`` — daemon → viewers (``aistem-result/1.2``: 1 plus the live
  preview keys ``final``, ``stage``, ``stages`` (1.1) and the ``unknown`` array (1.2));
* ``[b"error", header]`` and ``[b"status", header]`` — daemon → viewers.

Headers are msgpack maps; arrays are raw little-endian C-order buffers whose
dtype and shape are given in the header.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

__all__ = [
    "ERROR_PROTOCOL",
    "FRAME_DTYPES",
    "FRAME_PROTOCOL",
    "RESULT_ARRAYS",
    "RESULT_PROTOCOL",
    "STATUS_PROTOCOL",
    "Frame",
    "Limits",
    "Message",
    "ProtocolError",
    "build_result",
    "decode_frame",
    "decode_message",
    "encode_error",
    "encode_frame",
    "encode_result",
    "encode_status",
    "pack",
    "pack_result",
    "unpack",
]

FRAME_PROTOCOL = "aistem-frame/1"
RESULT_PROTOCOL = "aistem-result/1.2"  # 1.1: live previews (final: false, stage, stages); 1.2: the unknown map; readable as 1
ERROR_PROTOCOL = "aistem-error/1"
STATUS_PROTOCOL = "aistem-status/1"

#: Pixel types a frame may have (NumPy names; multi-byte types are little-endian on the wire).
FRAME_DTYPES: tuple[str, ...] = ("uint8", "uint16", "int16", "int32", "float32", "float64")
#: Types an array of a result may have.
RESULT_DTYPES: tuple[str, ...] = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64", "uint64", "float32", "float64")
#: Arrays of a result, in the order they are sent (``AnalysisResult`` attribute, wire name, wire dtype).
RESULT_ARRAYS: tuple[tuple[str, str, str], ...] = (
    ("classes", "classes", "uint8"),
    ("probabilities", "probabilities", "float32"),
    ("mutual_information", "mutual_information", "float32"),
    ("interface", "interface", "uint8"),
    ("unknown", "unknown", "uint8"),
    ("predictive_entropy", "predictive_entropy", "float32"),
    ("variation_ratio", "variation_ratio", "float32"),
    ("samples_used", "samples_used", "int32"),
    ("lattice_rotation", "lattice_rotation", "float32"),
)
REQUIRED_FRAME_KEYS: tuple[str, ...] = ("protocol", "series", "index", "shape", "dtype", "pixel_size", "timestamp")
MAX_SERIES_CHARS = 256
#: Pixel sizes a frame may have [Å/px]: from a sub-picometre sampling to a 100 nm one.
PIXEL_SIZE_RANGE = (1e-3, 1e3)


class ProtocolError(ValueError):
    """A message that breaks the protocol.

    Attributes
    ----------
    code : str
        Machine-readable reason (see ``docs/protocol.md``), e.g. ``"size-mismatch"``.
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


@dataclass(frozen=True)
class Limits:
    """Sizes above which a frame is refused before any pixel memory is allocated.

    Attributes
    ----------
    max_rows, max_cols : int
        Largest frame side [px].
    max_pixels : int
        Largest rows × cols [px].
    max_header_bytes : int
        Largest msgpack header [bytes].
    """

    max_rows: int = 16384
    max_cols: int = 16384
    max_pixels: int = 8192 * 8192
    max_header_bytes: int = 65536

    @property
    def max_message_bytes(self) -> int:
        """Largest acceptable message part [bytes]: the biggest float64 frame (ZeroMQ ``MAXMSGSIZE``)."""
        return self.max_pixels * 8 + self.max_header_bytes


@dataclass
class Frame:
    """One decoded, validated frame.

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
        Arrival at the daemon [Unix s].
    received_perf : float
        Arrival at the daemon [``time.perf_counter()`` s], for latencies.
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


@dataclass
class Message:
    """Any decoded message.

    Attributes
    ----------
    kind : str
        ``"frame"``, ``"result"``, ``"error"`` or ``"status"``.
    header : dict
    arrays : dict of str to ndarray
        Result maps on the window grid (rows × cols [× classes]); a frame's ``"image"``; empty otherwise.
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


# -- msgpack -----------------------------------------------------------------------------------------------------


def pack(obj: Any) -> bytes:
    """msgpack bytes (strings as str, bytes as bin; NumPy scalars become Python numbers)."""
    return msgpack.packb(obj, use_bin_type=True, default=_default)


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot encode {type(obj).__name__} in a header")


def unpack(raw: Any, *, max_bytes: int | None = None) -> dict[str, Any]:
    """Decode a msgpack map.

    Raises
    ------
    ProtocolError
        ``header-too-large``, ``not-msgpack`` or ``bad-header``.
    """
    buf = _buffer(raw)
    if max_bytes is not None and len(buf) > max_bytes:
        raise ProtocolError("header-too-large", f"header of {len(buf)} bytes exceeds the limit of {max_bytes} bytes")
    try:
        h = msgpack.unpackb(buf, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise ProtocolError("not-msgpack", f"header is not msgpack ({detail})") from exc
    if not isinstance(h, dict):
        raise ProtocolError("bad-header", f"header must be a msgpack map, got {type(h).__name__}")
    return h


def _buffer(part: Any) -> memoryview:
    """A memoryview of a message part (``bytes``, ``zmq.Frame`` or anything with the buffer protocol)."""
    b = getattr(part, "buffer", None)
    return b if isinstance(b, memoryview) else memoryview(part)


def _same_major(value: Any, expected: str) -> bool:
    """``value`` names ``expected``'s protocol with the same major version (``"aistem-frame/1.2"`` is fine)."""
    if not isinstance(value, str):
        return False
    name, _, version = value.partition("/")
    want_name, _, want_version = expected.partition("/")
    return name == want_name and version.split(".")[0] == want_version.split(".")[0]


# -- frames ------------------------------------------------------------------------------------------------------


def encode_frame(
    image: np.ndarray,
    *,
    series: str,
    index: int,
    pixel_size: float,
    timestamp: float | None = None,
    detector: str | None = None,
    meta: dict[str, Any] | None = None,
) -> list[bytes]:
    """``[b"frame", header, pixels]`` for one image.

    Parameters
    ----------
    image : ndarray of shape (rows, cols)
        Pixels; dtype one of :data:`FRAME_DTYPES` (bool and float16 are widened, other types refused).
    series : str
        Name of the acquisition series.
    index : int
        Frame number within the series.
    pixel_size : float
        [Å/px].
    timestamp : float, optional
        Acquisition time [Unix s]; default: now.
    detector : str, optional
    meta : dict, optional
        Anything msgpack can encode.
    """
    a = np.asarray(image)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    elif a.dtype == np.float16:
        a = a.astype(np.float32)
    if a.ndim != 2:
        raise ValueError(f"a frame is one 2-D image (rows, cols), got shape {a.shape}")
    name = a.dtype.name
    if name not in FRAME_DTYPES:
        raise ValueError(f"frame dtype {a.dtype} is not one of {', '.join(FRAME_DTYPES)}: convert it first")
    header: dict[str, Any] = {
        "protocol": FRAME_PROTOCOL,
        "series": str(series),
        "index": int(index),
        "shape": [int(a.shape[0]), int(a.shape[1])],
        "dtype": name,
        "pixel_size": float(pixel_size),
        "timestamp": time.time() if timestamp is None else float(timestamp),
    }
    if detector is not None:
        header["detector"] = str(detector)
    if meta:
        header["meta"] = dict(meta)
    pixels = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return [b"frame", pack(header), pixels.tobytes()]


def _non_string_key(obj: Any, depth: int = 0) -> Any:
    """The first map key that is not a string in ``obj`` (maps and lists, nested), or None."""
    if depth > 32:
        return None
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                return k
            bad = _non_string_key(v, depth + 1)
            if bad is not None:
                return bad
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            bad = _non_string_key(v, depth + 1)
            if bad is not None:
                return bad
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def decode_frame(parts: list[Any], limits: Limits | None = None, *, check_finite: bool = True) -> Frame:
    """Decode and validate ``[b"frame", header, pixels]``.

    Checks, in this order: number of parts and topic, header size, msgpack map,
    protocol, required keys and their types, shape against ``limits`` (before
    the pixel buffer is looked at), dtype, buffer length, and finite pixels.

    Parameters
    ----------
    parts : list of bytes-like
        The message parts (``bytes`` or ``zmq.Frame``).
    limits : Limits, optional
        Size limits (defaults: :class:`Limits`).
    check_finite : bool
        Refuse float frames with NaN or infinite pixels.

    Raises
    ------
    ProtocolError
        With ``code``, a readable reason, and the series and index where they were readable.
    """
    limits = limits or Limits()
    now, now_perf = time.time(), time.perf_counter()
    if len(parts) == 0:
        raise ProtocolError("bad-parts", "empty message")
    topic = bytes(_buffer(parts[0])[:32])
    if topic != b"frame":
        raise ProtocolError("unknown-type", f"expected a b'frame' message, got topic {topic[:20]!r} ({len(parts)} part(s))")
    if len(parts) != 3:
        raise ProtocolError("bad-parts", f"a frame has 3 parts [b'frame', header, pixels], got {len(parts)}")
    h = unpack(parts[1], max_bytes=limits.max_header_bytes)
    series = h.get("series")
    series = series if isinstance(series, str) else None
    index = _int(h.get("index"))

    def fail(code: str, reason: str) -> ProtocolError:
        return ProtocolError(code, reason, series=series, index=index)

    missing = [k for k in REQUIRED_FRAME_KEYS if k not in h]
    if "protocol" not in missing and not _same_major(h.get("protocol"), FRAME_PROTOCOL):
        raise fail("bad-protocol", f"protocol {h.get('protocol')!r} is not {FRAME_PROTOCOL!r}")
    if missing:
        raise fail("missing-key", f"frame header misses {', '.join(repr(k) for k in missing)}")
    if series is None:
        raise fail("bad-value", f"series must be a string, got {type(h['series']).__name__}")
    if len(series) > MAX_SERIES_CHARS:
        raise fail("bad-value", f"series name of {len(series)} characters is longer than {MAX_SERIES_CHARS}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in series):
        raise fail("bad-value", f"series name {series!r} has control characters (NUL, newline …): it could not be saved")
    if index is None:
        raise fail("bad-value", f"index must be an integer, got {h['index']!r}")
    shape = h["shape"]
    if not (isinstance(shape, (list, tuple)) and len(shape) == 2 and all(_int(s) is not None for s in shape)):
        raise fail("bad-value", f"shape must be [rows, cols] (two integers), got {shape!r}")
    rows, cols = int(shape[0]), int(shape[1])
    if rows < 1 or cols < 1:
        raise fail("bad-value", f"shape must be positive, got [{rows}, {cols}]")
    if rows > limits.max_rows or cols > limits.max_cols or rows * cols > limits.max_pixels:
        raise fail(
            "too-large",
            f"frame of {rows}×{cols} px exceeds the size limit ({limits.max_rows}×{limits.max_cols} px, "
            f"{limits.max_pixels} pixels)",
        )
    dtype = h["dtype"]
    if dtype not in FRAME_DTYPES:
        raise fail("unsupported-dtype", f"dtype {dtype!r} is not one of {', '.join(FRAME_DTYPES)}")
    pixel_size = _number(h["pixel_size"])
    lo, hi = PIXEL_SIZE_RANGE
    if pixel_size is None or not math.isfinite(pixel_size) or not lo <= pixel_size <= hi:
        raise fail("bad-value", f"pixel_size must be a number of Å/px from {lo:g} to {hi:g}, got {h['pixel_size']!r}")
    timestamp = _number(h["timestamp"])
    if timestamp is None or not math.isfinite(timestamp):
        raise fail("bad-value", f"timestamp must be a number of Unix seconds, got {h['timestamp']!r}")
    detector = h.get("detector")
    if detector is not None and not isinstance(detector, str):
        raise fail("bad-value", f"detector must be a string, got {type(detector).__name__}")
    meta = h.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise fail("bad-value", f"meta must be a map, got {type(meta).__name__}")
    bad_key = _non_string_key(meta)
    if bad_key is not None:
        raise fail("bad-value", f"meta keys must be strings (at every level), got {bad_key!r}: it could not be saved")
    dt = np.dtype(dtype).newbyteorder("<")
    buf = _buffer(parts[2])
    need = rows * cols * dt.itemsize
    if buf.nbytes != need:
        raise fail(
            "size-mismatch",
            f"pixel buffer of {buf.nbytes} bytes does not match shape [{rows}, {cols}] × {dtype} ({need} bytes)",
        )
    image = np.frombuffer(buf, dtype=dt).reshape(rows, cols)
    if not dt.isnative:
        image = image.astype(dt.newbyteorder("="))
    if check_finite and image.dtype.kind == "f":
        finite = np.isfinite(image)
        if not finite.all():
            raise fail("non-finite", f"the frame has {int(finite.size - np.count_nonzero(finite))} NaN or infinite pixel(s)")
        if image.dtype.itemsize > 4:  # the analysis runs in float32: larger values become infinite there
            big = int(np.count_nonzero(np.abs(image) > np.finfo(np.float32).max))
            if big:
                raise fail("non-finite", f"the frame has {big} pixel(s) beyond the float32 range (±3.4e38) of the analysis")
    return Frame(
        series=series,
        index=index,
        image=image,
        pixel_size=pixel_size,
        timestamp=timestamp,
        detector=detector,
        meta=meta,
        header=h,
        received=now,
        received_perf=now_perf,
    )


# -- results, errors, status --------------------------------------------------------------------------------------


def encode_error(reason: str, *, code: str = "error", series: str | None = None, index: int | None = None) -> list[bytes]:
    """``[b"error", header]``: ``series`` and ``index`` where known (else nil), a ``code`` and a readable ``reason``."""
    header = {
        "protocol": ERROR_PROTOCOL,
        "series": series,
        "index": index,
        "code": code,
        "reason": str(reason),
        "time": time.time(),
    }
    return [b"error", pack(header)]


def encode_status(status: dict[str, Any]) -> list[bytes]:
    """``[b"status", header]`` with the daemon's counters (see :meth:`Daemon.status`)."""
    return [b"status", pack({"protocol": STATUS_PROTOCOL, **status})]


def _array(buf: memoryview, spec: Any, what: str) -> np.ndarray:
    if not isinstance(spec, dict) or not {"name", "dtype", "shape"} <= set(spec):
        raise ProtocolError("bad-header", f"{what}: array entry must be a map with name, dtype and shape, got {spec!r}")
    dtype = spec["dtype"]
    if dtype not in RESULT_DTYPES:
        raise ProtocolError("unsupported-dtype", f"{what}: dtype {dtype!r} is not one of {', '.join(RESULT_DTYPES)}")
    shape = spec["shape"]
    if not isinstance(shape, (list, tuple)) or any(_int(s) is None or s < 0 for s in shape):
        raise ProtocolError("bad-value", f"{what}: bad shape {shape!r}")
    dt = np.dtype(dtype).newbyteorder("<")
    need = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if buf.nbytes != need:
        raise ProtocolError("size-mismatch", f"{what}: {buf.nbytes} bytes for shape {list(shape)} {dtype} ({need} expected)")
    a = np.frombuffer(buf, dtype=dt).reshape([int(s) for s in shape])
    return a if dt.isnative else a.astype(dt.newbyteorder("="))


def decode_message(parts: list[Any], limits: Limits | None = None) -> Message:
    """Decode any message (frame, result, error, status).

    Raises
    ------
    ProtocolError
        If the message breaks the protocol.
    """
    if not parts:
        raise ProtocolError("bad-parts", "empty message")
    topic = bytes(_buffer(parts[0])[:32])
    if topic == b"frame":
        f = decode_frame(parts, limits, check_finite=False)
        return Message("frame", f.header, {"image": f.image})
    if topic not in (b"result", b"error", b"status"):
        raise ProtocolError("unknown-type", f"unknown message type {topic[:20]!r}")
    if len(parts) < 2:
        raise ProtocolError("bad-parts", f"a {topic.decode()} message has a header part")
    h = unpack(parts[1])
    kind = topic.decode()
    if kind in ("error", "status"):
        return Message(kind, h)
    if not _same_major(h.get("protocol"), RESULT_PROTOCOL):
        raise ProtocolError("bad-protocol", f"protocol {h.get('protocol')!r} is not {RESULT_PROTOCOL!r}")
    specs = h.get("arrays")
    if not isinstance(specs, list) or len(specs) != len(parts) - 2:
        n = len(specs) if isinstance(specs, list) else "no"
        raise ProtocolError("bad-parts", f"result header lists {n} arrays but {len(parts) - 2} array parts came")
    arrays = {}
    for spec, part in zip(specs, parts[2:], strict=True):
        a = _array(_buffer(part), spec, f"array {spec.get('name') if isinstance(spec, dict) else '?'}")
        arrays[str(spec["name"])] = a
    return Message("result", h, arrays)


# The result message lives in its own module (one job each); its names stay importable from here.
from .result_message import build_result, encode_result, pack_result  # noqa: E402
