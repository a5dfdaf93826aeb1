"""The summary of a viewer run: what arrived, what was drawn, class and interface shares, rate and latency."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from aistem.core.protocol import Result

from .overlay import interface_at
from .status import frames_dropped

__all__ = ["summarize"]


def summarize(receiver: Any, window: Any, state: dict[str, Any], t0: float) -> dict[str, Any]:
    """What a run of the viewer saw, as :func:`aistem.gui.app.run_view` returns it.

    Parameters
    ----------
    receiver : Receiver
        Its counters and running sums.
    window : ViewerWindow
        What is on screen.
    state : dict
        ``timed_out``, ``interrupted``, ``screenshot`` and optionally ``shown`` and ``panels`` of the run.
    t0 : float
        When the run started [s since the epoch].

    Returns
    -------
    dict
        ``ok`` (False on timeout or Ctrl-C), ``timed_out``, ``interrupted`` (Ctrl-C), ``screenshot`` (path or None),
        ``results`` (live previews included), ``final_results``, ``previews``, ``frames``, ``errors``, ``rejected``,
        ``not_drawn``, ``series``, ``last_index``, ``model``, ``samples``, ``class_fractions`` (over all final
        results: class name → fraction of the known windows, present classes only), ``last_class_fractions``,
        ``interface_fraction`` (mean over final results, the daemon's threshold), ``interface_fraction_displayed``
        (newest result at the display ``threshold``, known windows), ``unknown_fraction`` (mean over final results
        of the share of windows outside the model's domain; None before any), ``threshold`` [bit],
        ``frames_per_second`` (result rate),
        ``latency_ms`` (final result arrival − acquisition timestamp, mean of the last final results),
        ``preview_latency_ms`` (the same for live previews; None without), ``dropped``, ``daemon_status``,
        ``last_error``, ``elapsed_s``, ``shown`` (series, index, final of the result on screen at the end) and
        ``panels`` (where each image panel shown puts the image corners in the screenshot: name →
        ``{"top_left": [y, x], "bottom_right": [y, x]}`` [screen px] of pixel centres (0, 0) and (rows−1, cols−1)).
    """

    s = receiver.snapshot()
    r = window.result
    c = receiver.counters
    finals = c.get("final_results", 0)
    return {
        "ok": not state["timed_out"] and not state["interrupted"],
        "timed_out": state["timed_out"],
        "interrupted": state["interrupted"],
        "screenshot": state["screenshot"],
        "results": c["results"],
        "final_results": finals,
        "previews": c.get("previews", 0),
        "frames": c["frames"],
        "errors": c["errors"],
        "rejected": c["rejected"],
        "not_drawn": c["skipped"],
        **_on_screen(r, window.threshold),
        "class_fractions": _class_fractions(receiver),
        "interface_fraction": round(receiver.interface_sum / finals, 4) if finals else None,
        "unknown_fraction": round(receiver.unknown_sum / finals, 4) if finals else None,
        "threshold": window.threshold,
        "frames_per_second": _rate(receiver),
        "latency_ms": None if s.latency_ms is None else round(s.latency_ms, 1),
        "preview_latency_ms": None if s.preview_latency_ms is None else round(s.preview_latency_ms, 1),
        "dropped": frames_dropped(s, r),
        "daemon_status": s.status.header if s.status is not None else None,
        "last_error": s.last_error,
        "elapsed_s": round(time.time() - t0, 3),
        # what the screenshot shows (else what is on screen now)
        "shown": state.get("shown") or ({"series": r.series, "index": r.index, "final": r.final} if r is not None else None),
        "panels": state.get("panels") or window.panel_corners(),
    }


def _class_fractions(receiver: Any) -> dict[str, float]:
    """Class name → fraction of the known windows over all final results (present classes only)."""
    names, counts = receiver.class_names, receiver.class_counts
    total = int(counts.sum()) if counts.size else 0
    return {names[i]: round(float(counts[i]) / total, 4) for i in np.nonzero(counts)[0]} if total else {}


def _on_screen(r: Result | None, threshold: float) -> dict[str, Any]:
    """The result on screen: which, its model, its class fractions and displayed interface share (known windows)."""
    if r is None:
        keys = ("series", "last_index", "model", "samples", "last_class_fractions", "interface_fraction_displayed")
        return {k: ({} if k == "last_class_fractions" else None) for k in keys}
    unknown = r.unknown if r.unknown is not None else np.zeros(r.grid, bool)
    known = r.classes[~unknown]
    lc = np.bincount(known.astype(np.int64), minlength=len(r.class_names))
    return {
        "series": r.series,
        "last_index": r.index,
        "model": {"name": r.model_name, "hash": r.model_hash},
        "samples": r.samples,
        "last_class_fractions": {
            r.class_names[i]: round(float(lc[i]) / known.size, 4) for i in np.nonzero(lc)[0] if i < len(r.class_names)
        },
        "interface_fraction_displayed": round(float((interface_at(r, threshold) & ~unknown).mean()), 4),
    }


def _rate(receiver: Any) -> float | None:
    """Results per second between the first and the last result; None before two."""
    n = receiver.counters["results"]
    if not (receiver.first_result_at and receiver.last_result_at and n > 1):
        return None
    return round((n - 1) / max(1e-6, receiver.last_result_at - receiver.first_result_at), 3)
