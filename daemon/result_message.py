"""The result message of the wire protocol (``aistem-result/1.2``, ``docs/protocol.md`` §5): an analysis as one
msgpack header and raw little-endian array parts. Importable from :mod:`aistem.daemon.protocol` as well."""

from __future__ import annotations

from typing import Any

import numpy as np

from .protocol import RESULT_ARRAYS, RESULT_PROTOCOL, pack

__all__ = ["build_result", "encode_result", "pack_result"]


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
        The analysis of the frame.
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
        False for a live preview that a later result of the same frame may replace (``docs/protocol.md`` §5).
    stage, stages : int
        This result's stage of the frame's analysis (1-based) and the number of stages planned (2 with a
        preview, 1 without).
    extra : dict, optional
        More header keys.

    Returns
    -------
    header : dict
    arrays : dict of str to ndarray
        In wire order and wire dtype (C-contiguous, little-endian).
    """
    arrays: dict[str, np.ndarray] = {}
    for attr, name, dtype in RESULT_ARRAYS:
        a = getattr(result, attr, None)
        if a is None:
            continue
        arrays[name] = np.ascontiguousarray(np.asarray(a), dtype=np.dtype(dtype).newbyteorder("<"))
    specs = [{"name": n, "dtype": a.dtype.name, "shape": [int(s) for s in a.shape]} for n, a in arrays.items()]
    grid = [int(s) for s in np.shape(result.classes)]
    origins = np.asarray(result.origins_px)
    first = [int(origins[0, 0, 0]), int(origins[0, 0, 1])] if origins.size else [0, 0]
    header: dict[str, Any] = {
        "protocol": RESULT_PROTOCOL,
        "series": str(series),
        "index": int(index),
        "grid": grid,
        "window_px": int(result.window_px),
        "stride_px": int(result.stride_px),
        "origins": first,
        "pixel_size": float(result.pixel_size),
        "class_names": [str(n) for n in result.class_names],
        "samples": int(result.samples),
        "threshold": float(result.threshold),
        "model": {"name": str(result.model_name), "hash": str(result.model_hash)},
        "precision": str(result.precision),
        "timing": {k: float(v) for k, v in timing.items()},
        "dropped": int(dropped),
        "timestamp": None if timestamp is None else float(timestamp),
        "seed": seed,
        "final": bool(final),
        "stage": int(stage),
        "stages": int(stages),
        "arrays": specs,
    }
    if extra:
        header.update(extra)
    return header, arrays


def pack_result(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[Any]:
    """``[b"result", header, array_1, …]`` from :func:`build_result`'s output (arrays sent without a copy)."""
    return [b"result", pack(header), *(memoryview(a).cast("B") for a in arrays.values())]


def encode_result(result: Any, **kwargs: Any) -> list[Any]:
    """``[b"result", header, array_1, …]`` for an ``aistem.core.AnalysisResult`` (arguments of :func:`build_result`)."""
    return pack_result(*build_result(result, **kwargs))
