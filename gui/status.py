"""The viewer's status line: what is shown, the rate, latency, drops, the model, and what the viewer waits for."""

from __future__ import annotations

from aistem.core.protocol import Frame, Result

from .overlay import interface_at
from .receiver import Snapshot

__all__ = ["IDLE_S", "frames_dropped", "status_text"]

#: "waiting for frames" after this long without frames or results [s].
IDLE_S = 2.0


def status_text(s: Snapshot, result: Result | None, frame: Frame | None, threshold: float) -> tuple[str, str | None]:
    """The status line, and the text shown over the image while nothing comes (None while things come).

    Parameters
    ----------
    s : Snapshot
        What the receiver has now.
    result, frame : optional
        What is on screen.
    threshold : float
        Display threshold of the MI [bit].
    """
    r = result
    conn = s.counters.get("connected", {})
    parts = [*_shown(r, frame), f"{s.results_per_s:.1f} frames/s", _latency(s, r), f"dropped {frames_dropped(s, r) or 0}"]
    if s.counters.get("skipped"):
        parts.append(f"not drawn {s.counters['skipped']}")
    if r is not None:
        model = r.model_name or "?"
        if r.model_hash:
            model += f" ({r.model_hash[:8]})"
        parts.append(f"model {model}, {r.samples} samples")
        parts.append(f"interface {100 * interface_at(r, threshold).mean():.1f} % at {threshold:g} bit")
    parts += [f"{name}: not connected (retrying)" for name, ok in conn.items() if not ok]
    wait = None
    if s.idle_s > IDLE_S:
        what = "waiting for frames"
        if (r is not None or frame is not None) and s.idle_s != float("inf"):
            what = f"waiting for frames (nothing for {s.idle_s:.0f} s)"
        if s.status is not None:
            daemon = f"daemon: {s.status.text()}"
        else:
            daemon = "daemon: connected, no status yet" if conn.get("results") else "daemon: not connected"
        parts.insert(0, what)
        parts.append(daemon)
        wait = f"{what}\n{daemon}"
    if s.last_error:
        parts.append(s.last_error)
    return " · ".join(parts), wait


def _shown(r: Result | None, frame: Frame | None) -> list[str]:
    if r is not None:
        return [f"{r.series} #{r.index} {r.kind()} ({r.grid[0]}×{r.grid[1]} windows)"]
    if frame is not None:
        return [f"{frame.series} #{frame.index} (no result yet)"]
    return []


def _latency(s: Snapshot, r: Result | None) -> str:
    latency = "latency —" if s.latency_ms is None else f"latency {s.latency_ms:.0f} ms"
    if r is not None and "analysis" in r.timing:
        latency += f" (analysis {r.timing['analysis']:.0f} ms)"
    if s.preview_latency_ms is not None:
        latency += f", preview {s.preview_latency_ms:.0f} ms"
    return latency


def frames_dropped(s: Snapshot, r: Result | None) -> int | None:
    """Frames the daemon dropped: the most its status or the result says; None when neither says."""
    dropped = r.dropped if r is not None else None
    if s.status is not None:
        d = s.status.get("frames_dropped", "dropped")
        if isinstance(d, int):
            dropped = max(dropped or 0, d)
    return dropped
