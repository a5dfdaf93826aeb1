"""Run the viewer: interactively, or headless for a given number of results (screenshot + summary) and return."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["ensure_display", "run_view"]

log = logging.getLogger(__name__)


def ensure_display() -> str:
    """Use Qt's offscreen platform when there is no display (Linux without X11/Wayland); returns the platform."""
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    return os.environ.get("QT_QPA_PLATFORM", "default")


def run_view(
    results: str | None,
    frames: str | None = None,
    *,
    screenshot: str | Path | None = None,
    after: int = 1,
    timeout: float | None = None,
    threshold: float | None = None,
    opacity: float = 0.6,
    overlay: str = "class",
    colormap: str = "gray",
    log_scale: bool = False,
    export_dir: str | Path = "aistem-export",
    summary: str | Path | None = None,
    size: tuple[int, int] = (1280, 820),
    redraw_hz: float = 15.0,
    curve: dict[str, tuple[bytes, bytes, bytes]] | None = None,
    finals: bool = False,
) -> dict[str, Any]:
    """Open the viewer on a daemon's results (and the acquisition frames) and run it.

    With ``screenshot``, the viewer writes a PNG of the window once ``after`` results have arrived and been drawn
    (over their own frame, when frames are subscribed) and returns. Without it, it runs until the window is closed
    or Ctrl-C. With ``timeout``, it gives up when fewer than ``after`` results arrived in that time (then the
    screenshot, if asked for, shows what was there: "waiting for frames" and the daemon's status).

    Parameters
    ----------
    results : str or None
        The daemon's result endpoint (``tcp://host:port``), subscribed to (SUB connect).
    frames : str, optional
        The acquisition frame endpoint, for the image itself.
    screenshot : path, optional
        PNG to write.
    after : int
        Number of results to wait for (≥ 1).
    timeout : float, optional
        [s]; None: wait as long as it takes.
    threshold, opacity, overlay, colormap, log_scale, export_dir, redraw_hz
        See :class:`aistem.gui.window.ViewerWindow`.
    summary : path, optional
        Also write the returned summary as JSON.
    size : tuple of int
        Window (width, height) [screen px].
    curve : dict, optional
        ZeroMQ CURVE keys per endpoint (``"results"``, ``"frames"``), see :func:`aistem.gui.receiver.curve_keys`.
    finals : bool
        Count only final results towards ``after`` and take the screenshot of a final result (not a live preview).

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
    if after < 1:
        raise ValueError(f"after must be ≥ 1, got {after}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be > 0 s, got {timeout}")
    ensure_display()
    import pyqtgraph as pg
    from pyqtgraph.Qt import QtCore, QtWidgets

    from .receiver import Receiver
    from .window import FRAME_WAIT_S, ViewerWindow

    app = QtWidgets.QApplication.instance() or pg.mkQApp("AI-STEM live")
    t0 = time.time()
    state: dict[str, Any] = {"timed_out": False, "screenshot": None, "interrupted": False}
    receiver = Receiver(results, frames, curve=curve).start()
    window: ViewerWindow | None = None
    loop = QtCore.QEventLoop()
    old_handler = None
    try:
        window = ViewerWindow(
            receiver,
            threshold=threshold,
            opacity=opacity,
            overlay=overlay,
            colormap=colormap,
            log_scale=log_scale,
            redraw_hz=redraw_hz,
            export_dir=export_dir,
        )
        window.resize(*size)
        window.show()
        win = window

        def check(w: ViewerWindow) -> None:
            s = w.snapshot
            if screenshot is None or state["screenshot"] is not None or s is None:
                return
            count = s.counters.get("final_results", 0) if finals else s.counters["results"]
            if count < after or w.result is None or w.result is not s.latest_result:
                return
            if finals and not w.result.final:
                return
            waited = time.time() - w.result.received
            if frames and not w.frame_matches_result and waited < FRAME_WAIT_S:
                return  # give its frame a moment
            state["shown"] = {"series": w.result.series, "index": w.result.index, "final": w.result.final}
            state["screenshot"] = str(w.screenshot(screenshot))
            state["panels"] = w.panel_corners()  # as grabbed (the screenshot lets pending layout events run first)
            loop.quit()

        def give_up() -> None:
            done = receiver.counters.get("final_results", 0) if finals else receiver.counters["results"]
            if done >= after and (screenshot is None or state["screenshot"] is not None):
                return
            state["timed_out"] = True
            win.tick()
            if screenshot is not None and state["screenshot"] is None:
                state["screenshot"] = str(win.screenshot(screenshot))
            loop.quit()

        window.add_tick_callback(check)
        window.closed.connect(loop.quit)
        if timeout is not None:
            QtCore.QTimer.singleShot(int(timeout * 1000), give_up)
        if threading.current_thread() is threading.main_thread():

            def on_sigint(*_: Any) -> None:
                state["interrupted"] = True
                loop.quit()

            old_handler = signal.signal(signal.SIGINT, on_sigint)
        log.info("viewing results from %s and frames from %s; close the window or press Ctrl-C to stop", results, frames)
        wake = QtCore.QTimer()  # lets Python run its signal handlers (Ctrl-C) while Qt waits
        wake.start(200)
        wake.timeout.connect(lambda: loop.quit() if state["interrupted"] else None)  # a Ctrl-C before exec()
        if not state["interrupted"]:
            loop.exec()
        wake.stop()
        window.tick()
        out = _summary(receiver, window, state, t0)
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
        receiver.stop()
        if window is not None:
            window.timer.stop()
            window.close()
            window.deleteLater()
        app.processEvents()
    if summary is not None:
        p = Path(summary)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(out, indent=2, default=str) + "\n")
        out["summary"] = str(p)
    return out


def _summary(receiver: Any, window: Any, state: dict[str, Any], t0: float) -> dict[str, Any]:
    import numpy as np

    from .overlay import interface_at

    s = receiver.snapshot()
    r = window.result
    c = receiver.counters
    names = receiver.class_names
    counts = receiver.class_counts
    total = int(counts.sum()) if counts.size else 0
    fractions = {names[i]: round(float(counts[i]) / total, 4) for i in np.nonzero(counts)[0]} if total else {}
    last = {}
    if r is not None:
        unknown = r.unknown if r.unknown is not None else np.zeros(r.grid, bool)
        known = r.classes[~unknown]
        lc = np.bincount(known.astype(np.int64), minlength=len(r.class_names))
        last = {r.class_names[i]: round(float(lc[i]) / known.size, 4) for i in np.nonzero(lc)[0] if i < len(r.class_names)}
    finals = c.get("final_results", 0)
    fps = None
    if receiver.first_result_at and receiver.last_result_at and c["results"] > 1:
        fps = round((c["results"] - 1) / max(1e-6, receiver.last_result_at - receiver.first_result_at), 3)
    dropped = r.dropped if r is not None else None
    if s.status is not None:
        d = s.status.get("frames_dropped", "dropped")
        if isinstance(d, int):
            dropped = max(dropped or 0, d)
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
        "series": r.series if r is not None else None,
        "last_index": r.index if r is not None else None,
        "model": {"name": r.model_name, "hash": r.model_hash} if r is not None else None,
        "samples": r.samples if r is not None else None,
        "class_fractions": fractions,
        "last_class_fractions": last,
        "interface_fraction": round(receiver.interface_sum / finals, 4) if finals else None,
        "interface_fraction_displayed": round(float((interface_at(r, window.threshold) & ~unknown).mean()), 4)
        if r is not None
        else None,
        "unknown_fraction": round(receiver.unknown_sum / finals, 4) if finals else None,
        "threshold": window.threshold,
        "frames_per_second": fps,
        "latency_ms": None if s.latency_ms is None else round(s.latency_ms, 1),
        "preview_latency_ms": None if s.preview_latency_ms is None else round(s.preview_latency_ms, 1),
        "dropped": dropped,
        "daemon_status": s.status.header if s.status is not None else None,
        "last_error": s.last_error,
        "elapsed_s": round(time.time() - t0, 3),
        # what the screenshot shows (else what is on screen now)
        "shown": state.get("shown") or ({"series": r.series, "index": r.index, "final": r.final} if r is not None else None),
        "panels": state.get("panels") or window.panel_corners(),
    }
