"""What a message may hold: pixel and array types, size limits, the pixel-size range (``docs/protocol.md`` §4)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FRAME_DTYPES",
    "MAX_SERIES_CHARS",
    "PIXEL_SIZE_RANGE",
    "REQUIRED_FRAME_KEYS",
    "RESULT_DTYPES",
    "Limits",
]

#: Pixel types a frame may have (NumPy names; multi-byte types are little-endian on the wire).
FRAME_DTYPES: tuple[str, ...] = ("uint8", "uint16", "int16", "int32", "float32", "float64")
#: Types an array of a result may have (``bool`` is read as one byte per element; the daemon sends uint8).
RESULT_DTYPES: tuple[str, ...] = (
    "uint8",
    "int8",
    "uint16",
    "int16",
    "uint32",
    "int32",
    "int64",
    "uint64",
    "float32",
    "float64",
    "bool",
)
REQUIRED_FRAME_KEYS: tuple[str, ...] = ("protocol", "series", "index", "shape", "dtype", "pixel_size", "timestamp")
MAX_SERIES_CHARS = 256
#: Pixel sizes a frame may have [Å/px]: from a sub-picometre sampling to a 100 nm one.
PIXEL_SIZE_RANGE = (1e-3, 1e3)


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
