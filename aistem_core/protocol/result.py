"""Encode the result message (``aistem-result/1.3``, ``docs/protocol.md`` §5): an analysis as one msgpack header
and raw little-endian array parts. Decoding is :func:`.codec.decode_message` and the viewer's :mod:`.view`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .codec import pack
from .version import RESULT_PROTOCOL, minor_version

__all__ = ["RESULT_ARRAYS", "build_result", "encode_result", "encode_result_arrays", "pack_result", "result_header"]

#: Arrays of a result, in the order they are sent (``AnalysisResult`` attribute, wire name, wire dtype). The last
#: two (1.3) come only from a coarse-to-fine analysis; every other optional one only where the result has it.
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
    ("filled", "filled", "uint8"),
    ("refinement_level", "refinement_level", "int8"),
)


def _wire(a: Any, dtype: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a), dtype=np.dtype(dtype).newbyteorder("<"))


def result_header(
    series: str,
    index: int,
    arrays: dict[str, np.ndarray],
    *,
    window_px: int,
    stride_px: int,
    class_names: list[str],
    origins: tuple[int, int] | list[int] = (0, 0),
    pixel_size: float | None = None,
    samples: int = 0,
    threshold: float = 0.1,
    model: dict[str, str] | None = None,
    timing: dict[str, float] | None = None,
    dropped: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    """The header of a result message; the grid is the shape of ``arrays["classes"]`` (rows, cols).

    ``arrays`` must already be in wire form (:func:`pack_result` sends them in this order). ``extra`` keys
    (``final``, ``stage``, ``timestamp`` …, even ``protocol`` to write an older version) go in as they are.
    """
    grid = np.shape(arrays["classes"])
    return {
        "protocol": RESULT_PROTOCOL,
        "series": str(series),
        "index": int(index),
        "grid": [int(grid[0]), int(grid[1])],
        "window_px": int(window_px),
        "stride_px": int(stride_px),
        "origins": [int(origins[0]), int(origins[1])],
        "pixel_size": None if pixel_size is None else float(pixel_size),
        "class_names": [str(n) for n in class_names],
        "samples": int(samples),
        "threshold": float(threshold),
        "model": model or {"name": "", "hash": ""},
        "timing": {k: float(v) for k, v in (timing or {}).items()},
        "dropped": int(dropped),
        "arrays": [{"name": n, "dtype": a.dtype.name, "shape": [int(s) for s in a.shape]} for n, a in arrays.items()],
        **extra,
    }


def build_result(
    result: Any,
    *,
    series: str,
    index: int,
    timing: dict[str, float],
    dropped: int,
    timestamp: float | None = None,
    seed: int | None = None,
    final: bool = True,
    stage: int = 1,
    stages: int = 1,
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a result message for an ``aistem.core.AnalysisResult``.

    Parameters
    ----------
    result : AnalysisResult
        The analysis of the frame; its optional maps (``unknown``, ``lattice_rotation``, ``filled``,
        ``refinement_level`` …) are sent where present (:data:`RESULT_ARRAYS`).
    series, index
        The frame's series and index.
    timing : dict
        [ms]: ``queued``, ``descriptor``, ``inference``, ``total``.
    dropped : int
        Frames skipped so far by the daemon.
    timestamp : float, optional
        The frame's acquisition time [Unix s], passed on.
    seed : int, optional
        Seed of the dropout masks (None: fresh per frame).
    final : bool
        False for a live preview that a later result of the same frame may replace (``docs/protocol.md`` §5.1).
    stage, stages : int
        This result's stage of the frame's analysis (1-based) and the number of stages planned.
    extra : dict, optional
        More header keys.

    Returns
    -------
    header : dict
    arrays : dict of str to ndarray
        In wire order and wire dtype (C-contiguous, little-endian).
    """
    arrays = {
        name: _wire(getattr(result, attr), dtype)
        for attr, name, dtype in RESULT_ARRAYS
        if getattr(result, attr, None) is not None
    }
    origins = np.asarray(result.origins_px)
    first = (int(origins[0, 0, 0]), int(origins[0, 0, 1])) if origins.size else (0, 0)
    more: dict[str, Any] = {
        "precision": str(result.precision),
        "timestamp": None if timestamp is None else float(timestamp),
        "seed": seed,
        "final": bool(final),
        "stage": int(stage),
        "stages": int(stages),
    }
    level = getattr(result, "refinement_level", None)
    if level is not None:  # 1.3: how many windows each level computed (0 coarse, 1 refined, 2 filled)
        counts = np.bincount(np.asarray(level, dtype=np.int64).ravel().clip(0), minlength=3)
        more["refinement"] = {"coarse": int(counts[0]), "refined": int(counts[1]), "filled": int(counts[2:].sum())}
    header = result_header(
        series,
        index,
        arrays,
        window_px=int(result.window_px),
        stride_px=int(result.stride_px),
        class_names=list(result.class_names),
        origins=first,
        pixel_size=float(result.pixel_size),
        samples=int(result.samples),
        threshold=float(result.threshold),
        model={"name": str(result.model_name), "hash": str(result.model_hash)},
        timing=timing,
        dropped=dropped,
        **{**more, **(extra or {})},
    )
    return header, arrays


def pack_result(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[Any]:
    """``[b"result", header, array_1, …]`` from :func:`build_result`'s output (arrays sent without a copy)."""
    return [b"result", pack(header), *(memoryview(a).cast("B") for a in arrays.values())]  # type: ignore[arg-type]


def encode_result(result: Any, **kwargs: Any) -> list[Any]:
    """``[b"result", header, array_1, …]`` for an ``aistem.core.AnalysisResult`` (arguments of :func:`build_result`)."""
    return pack_result(*build_result(result, **kwargs))


def encode_result_arrays(series: str, index: int, arrays: dict[str, np.ndarray], **header: Any) -> list[Any]:
    """``[b"result", header, array_1, …]`` from maps by name (tests, replays, tools; arguments of
    :func:`result_header`). Boolean maps are sent as uint8; other dtypes as they are, little-endian. Without an
    ``unknown`` map a message of version 1.2 or later gets an all-0 one (every window known), as §5 requires."""
    wire = {n: _wire(a, np.uint8 if np.asarray(a).dtype == np.bool_ else np.asarray(a).dtype) for n, a in arrays.items()}
    if "unknown" not in wire and minor_version({"protocol": header.get("protocol", RESULT_PROTOCOL)}) >= 2:
        wire["unknown"] = np.zeros(np.shape(wire["classes"])[:2], np.uint8)
    return pack_result(result_header(series, index, wire, **header), wire)
