"""Encode and decode wire messages (``docs/protocol.md``): pure functions on lists of message parts, no sockets.

Every multipart message starts with a one-word topic: ``[b"frame", header, pixels]``, ``[b"result", header,
array_1, …]``, ``[b"error", header]``, ``[b"status", header]``. Headers are msgpack maps; arrays are raw
little-endian C-order buffers whose dtype and shape the header gives. The result message is :mod:`.result`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import msgpack
import numpy as np

from .limits import FRAME_DTYPES, MAX_SERIES_CHARS, PIXEL_SIZE_RANGE, REQUIRED_FRAME_KEYS, RESULT_DTYPES, Limits
from .messages import Frame, Message, ProtocolError
from .version import ERROR_PROTOCOL, FRAME_PROTOCOL, RESULT_PROTOCOL, STATUS_PROTOCOL, same_major

__all__ = [
    "buffer",
    "decode_array",
    "decode_frame",
    "decode_message",
    "encode_error",
    "encode_frame",
    "encode_status",
    "pack",
    "unpack",
]


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
    buf = buffer(raw)
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


def buffer(part: Any) -> memoryview:
    """A memoryview of a message part (``bytes``, ``zmq.Frame`` or anything with the buffer protocol)."""
    b = getattr(part, "buffer", None)
    return b if isinstance(b, memoryview) else memoryview(part)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def _topic(parts: list[Any]) -> bytes:
    if len(parts) == 0:
        raise ProtocolError("bad-parts", "empty message")
    return bytes(buffer(parts[0])[:32])


# -- frames ------------------------------------------------------------------------------------------------------


def encode_frame(
    image: np.ndarray,
    series: str,
    index: int,
    pixel_size: float | None,
    timestamp: float | None = None,
    *,
    detector: str | None = None,
    meta: dict[str, Any] | None = None,
    **extra: Any,
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
        [Å/px] (None only to build a message the receiver must refuse, in tests).
    timestamp : float, optional
        Acquisition time [Unix s]; default: now.
    detector : str, optional
    meta : dict, optional
        Anything msgpack can encode.
    **extra
        More header keys (they override the ones above; for tests of the receiver).
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
        "pixel_size": None if pixel_size is None else float(pixel_size),
        "timestamp": time.time() if timestamp is None else float(timestamp),
    }
    if detector is not None:
        header["detector"] = str(detector)
    if meta:
        header["meta"] = dict(meta)
    header.update(extra)
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


def _frame_header(h: dict[str, Any], limits: Limits) -> tuple[str, int, int, int]:
    """Validate a frame header up to its shape; (series, index, rows, cols)."""
    series = h.get("series")
    series = series if isinstance(series, str) else None
    index = _int(h.get("index"))

    def fail(code: str, reason: str) -> ProtocolError:
        return ProtocolError(code, reason, series=series, index=index)

    missing = [k for k in REQUIRED_FRAME_KEYS if k not in h]
    if "protocol" not in missing and not same_major(h.get("protocol"), FRAME_PROTOCOL):
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
    return series, index, rows, cols


def _frame_fields(h: dict[str, Any], fail: Any) -> tuple[str, float, float, str | None, dict[str, Any]]:
    """Validate dtype, pixel size, timestamp, detector and meta; (dtype, pixel_size, timestamp, detector, meta)."""
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
    return dtype, pixel_size, timestamp, detector, meta


def decode_frame(parts: list[Any], limits: Limits | None = None, *, check_finite: bool = True) -> Frame:
    """Decode and validate ``[b"frame", header, pixels]``.

    Checks, in this order: number of parts and topic, header size, msgpack map, protocol, required keys and their
    types, shape against ``limits`` (before the pixel buffer is looked at), dtype, buffer length, finite pixels.

    Parameters
    ----------
    parts : list of bytes-like
        The message parts (``bytes`` or ``zmq.Frame``).
    limits : Limits, optional
        Size limits (defaults: :class:`Limits`).
    check_finite : bool
        Refuse float frames with NaN or infinite pixels (the daemon; a viewer or recorder just shows or keeps them).

    Raises
    ------
    ProtocolError
        With ``code``, a readable reason, and the series and index where they were readable.
    """
    limits = limits or Limits()
    now, now_perf = time.time(), time.perf_counter()
    topic = _topic(parts)
    if topic != b"frame":
        raise ProtocolError("unknown-type", f"expected a b'frame' message, got topic {topic[:20]!r} ({len(parts)} part(s))")
    if len(parts) != 3:
        raise ProtocolError("bad-parts", f"a frame has 3 parts [b'frame', header, pixels], got {len(parts)}")
    h = unpack(parts[1], max_bytes=limits.max_header_bytes)
    series, index, rows, cols = _frame_header(h, limits)

    def fail(code: str, reason: str) -> ProtocolError:
        return ProtocolError(code, reason, series=series, index=index)

    dtype, pixel_size, timestamp, detector, meta = _frame_fields(h, fail)
    dt = np.dtype(dtype).newbyteorder("<")
    buf = buffer(parts[2])
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


# -- errors, status, any message -----------------------------------------------------------------------------------


def encode_error(reason: str, *, code: str = "error", series: str | None = None, index: int | None = None) -> list[bytes]:
    """``[b"error", header]``: ``series`` and ``index`` where known (else nil), a ``code`` and a readable ``reason``."""
    header = {
        "protocol": ERROR_PROTOCOL,
        "series": series,
        "index": None if index is None else int(index),
        "code": code,
        "reason": str(reason),
        "time": time.time(),
    }
    return [b"error", pack(header)]


def encode_status(status: dict[str, Any] | None = None, **fields: Any) -> list[bytes]:
    """``[b"status", header]`` with the daemon's counters (a dict, keyword fields, or both)."""
    return [b"status", pack({"protocol": STATUS_PROTOCOL, **(status or {}), **fields})]


def decode_array(part: Any, spec: Any, what: str) -> np.ndarray:
    """One array part of a result, checked against its header entry ``{"name", "dtype", "shape"}``.

    Returns
    -------
    ndarray
        Native byte order (a read-only view of the message where no swap is needed).
    """
    buf = buffer(part)
    if not isinstance(spec, dict) or not {"name", "dtype", "shape"} <= set(spec):
        raise ProtocolError("bad-header", f"{what}: array entry must be a map with name, dtype and shape, got {spec!r}")
    dtype = spec["dtype"]
    if dtype not in RESULT_DTYPES:
        raise ProtocolError("unsupported-dtype", f"{what}: dtype {dtype!r} is not one of {', '.join(RESULT_DTYPES)}")
    shape = spec["shape"]
    if not isinstance(shape, (list, tuple)) or any(_int(s) is None or s < 0 for s in shape):
        raise ProtocolError("bad-value", f"{what}: bad shape {shape!r}")
    dt = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)
    need = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if buf.nbytes != need:
        raise ProtocolError("size-mismatch", f"{what}: {buf.nbytes} bytes for shape {list(shape)} {dtype} ({need} expected)")
    a = np.frombuffer(buf, dtype=dt).reshape([int(s) for s in shape])
    return a if dt.isnative else a.astype(dt.newbyteorder("="))


def decode_message(parts: list[Any], limits: Limits | None = None) -> Message:
    """Decode any message (frame, result, error, status) into a :class:`Message`.

    Raises
    ------
    ProtocolError
        If the message breaks the protocol.
    """
    topic = _topic(parts)
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
    if not same_major(h.get("protocol"), RESULT_PROTOCOL):
        raise ProtocolError(
            "bad-protocol", f"protocol {h.get('protocol')!r} is not {RESULT_PROTOCOL!r}: update the receiver or the sender"
        )
    specs = h.get("arrays")
    if not isinstance(specs, list) or len(specs) != len(parts) - 2:
        n = len(specs) if isinstance(specs, list) else "no"
        raise ProtocolError("bad-parts", f"result header lists {n} arrays but {len(parts) - 2} array parts came")
    arrays = {}
    for spec, part in zip(specs, parts[2:], strict=True):
        a = decode_array(part, spec, f"array {spec.get('name') if isinstance(spec, dict) else '?'}")
        arrays[str(spec["name"])] = a
    return Message("result", h, arrays)
