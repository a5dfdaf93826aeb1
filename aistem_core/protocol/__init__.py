"""The wire protocol of AI-STEM live (``docs/protocol.md``), one implementation for the daemon, the viewer, the
client, replay and record: messages, codec, limits, versions and CURVE certificate files. NumPy and msgpack only
(no ZeroMQ, no Qt), so every layer may import it.

* :mod:`.version` — protocol strings and the minor-version rule;
* :mod:`.limits` — dtypes, size limits, the pixel-size range;
* :mod:`.messages` — :class:`Frame`, :class:`Message`, :class:`DaemonError`, :class:`Status`, :class:`ProtocolError`;
* :mod:`.codec` — msgpack, frames, errors, status, :func:`decode_message`;
* :mod:`.result` — the result message from an ``AnalysisResult`` or from maps;
* :mod:`.view` — the typed reading (:func:`decode`, :class:`Result`) for viewers, every 1.x version;
* :mod:`.keys` — CURVE certificate files;
* :mod:`.endpoints` — the default endpoints (frames 5555, results 5556, control 5557, relay 5566).
"""

from .codec import (
    buffer,
    decode_array,
    decode_frame,
    decode_message,
    encode_error,
    encode_frame,
    encode_status,
    pack,
    unpack,
)
from .endpoints import DEFAULT_CONTROL, DEFAULT_FRAMES, DEFAULT_RELAY, DEFAULT_RESULTS
from .keys import load_public, load_secret
from .limits import FRAME_DTYPES, MAX_SERIES_CHARS, PIXEL_SIZE_RANGE, REQUIRED_FRAME_KEYS, RESULT_DTYPES, Limits
from .messages import DaemonError, Frame, Message, ProtocolError, Status
from .result import RESULT_ARRAYS, build_result, encode_result, encode_result_arrays, pack_result, result_header
from .version import ERROR_PROTOCOL, FRAME_PROTOCOL, RESULT_PROTOCOL, STATUS_PROTOCOL, minor_version, same_major
from .view import Result, decode, frame_order, preview_outdated, result_from_message, result_minor_version

__all__ = [
    "DEFAULT_CONTROL",
    "DEFAULT_FRAMES",
    "DEFAULT_RELAY",
    "DEFAULT_RESULTS",
    "ERROR_PROTOCOL",
    "FRAME_DTYPES",
    "FRAME_PROTOCOL",
    "MAX_SERIES_CHARS",
    "PIXEL_SIZE_RANGE",
    "REQUIRED_FRAME_KEYS",
    "RESULT_ARRAYS",
    "RESULT_DTYPES",
    "RESULT_PROTOCOL",
    "STATUS_PROTOCOL",
    "DaemonError",
    "Frame",
    "Limits",
    "Message",
    "ProtocolError",
    "Result",
    "Status",
    "buffer",
    "build_result",
    "decode",
    "decode_array",
    "decode_frame",
    "decode_message",
    "encode_error",
    "encode_frame",
    "encode_result",
    "encode_result_arrays",
    "encode_status",
    "frame_order",
    "load_public",
    "load_secret",
    "minor_version",
    "pack",
    "pack_result",
    "preview_outdated",
    "result_from_message",
    "result_header",
    "result_minor_version",
    "same_major",
    "unpack",
]
