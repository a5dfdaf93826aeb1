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
    summary: str | Path | None = None,
    size: tuple[int, int] = (1280, 820),
    curve: dict[str, tuple[bytes, bytes, bytes]] | None = None,
    finals: bool = False,
    **display: Any,
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
    summary : path, optional
        Also write the returned summary as JSON.
    size : tuple of int
        Window (width, height) [screen px].
    curve : dict, optional
        ZeroMQ CURVE keys per endpoint (``"results"``, ``"frames"``), see :func:`aistem.gui.receiver.curve_keys`.
    finals : bool
        Count only final results towards ``after`` and take the screenshot of a final result (not a live preview).
    **display
        ``threshold``, ``opacity``, ``overlay``, ``colormap``, ``log_scale``, ``export_dir``, ``redraw_hz``: see
        :class:`aistem.gui.window.ViewerWindow`.

    Returns
    -------
    dict
        The run's summary: counts, class and interface shares, rate, latency, what is shown; every key is
        described in :func:`aistem.gui.summary.summarize` (``ok`` is False on timeout or Ctrl-C).
    """
    if after < 1:
        raise ValueError(f"after must be ≥ 1, got {after}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be > 0 s, got {timeout}")
    ensure_display()
    import pyqtgraph as pg
    from pyqtgraph.Qt import QtWidgets

    from .receiver import Receiver

    app = QtWidgets.QApplication.instance() or pg.mkQApp("AI-STEM live")
    t0 = time.time()
    receiver = Receiver(results, frames, curve=curve).start()
    try:
        run = _Run(receiver, screenshot, after, finals, waits_for_frames=bool(frames))
        out = run.in_window(size, display, timeout, t0)
    finally:
        receiver.stop()
        app.processEvents()
    if summary is not None:
        p = Path(summary)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(out, indent=2, default=str) + "\n")
        out["summary"] = str(p)
    return out


class _Run:
    """One run of the viewer's event loop: until the screenshot is taken, the window closes, Ctrl-C or the timeout.

    ``state`` gathers what the summary reports of it: ``timed_out``, ``interrupted``, ``screenshot`` and, once
    the screenshot is taken, ``shown`` and ``panels``.
    """

    def __init__(self, receiver: Any, screenshot: str | Path | None, after: int, finals: bool, waits_for_frames: bool) -> None:
        from pyqtgraph.Qt import QtCore

        self.window: Any = None
        self.receiver = receiver
        self.screenshot, self.after, self.finals, self.waits_for_frames = screenshot, after, finals, waits_for_frames
        self.state: dict[str, Any] = {"timed_out": False, "screenshot": None, "interrupted": False}
        self.loop = QtCore.QEventLoop()

    def in_window(self, size: tuple[int, int], display: dict[str, Any], timeout: float | None, t0: float) -> dict[str, Any]:
        """Open the window (``display``: its settings), run until done, close it; returns the summary."""
        from .summary import summarize
        from .window import ViewerWindow

        try:
            self.window = ViewerWindow(self.receiver, **display)
            self.window.resize(*size)
            self.window.show()
            self.until_done(timeout)
            self.window.tick()
            return summarize(self.receiver, self.window, self.state, t0)
        finally:
            if self.window is not None:
                self.window.timer.stop()
                self.window.close()
                self.window.deleteLater()

    def _count(self, counters: dict[str, Any]) -> int:
        return int(counters.get("final_results", 0) if self.finals else counters["results"])

    def check(self, w: Any) -> None:
        """After each redraw: take the screenshot once ``after`` results are drawn (over their frame, if it comes)."""
        from .window import FRAME_WAIT_S

        s = w.snapshot
        if self.screenshot is None or self.state["screenshot"] is not None or s is None:
            return
        if self._count(s.counters) < self.after or w.result is None or w.result is not s.latest_result:
            return
        if self.finals and not w.result.final:
            return
        waited = time.time() - w.result.received
        if self.waits_for_frames and not w.frame_matches_result and waited < FRAME_WAIT_S:
            return  # give its frame a moment
        self.state["shown"] = {"series": w.result.series, "index": w.result.index, "final": w.result.final}
        self.state["screenshot"] = str(w.screenshot(self.screenshot))
        self.state["panels"] = w.panel_corners()  # as grabbed (the screenshot lets pending layout events run first)
        self.loop.quit()

    def give_up(self) -> None:
        """At the timeout: unless done, say so and take the screenshot of what is shown."""
        if self._count(self.receiver.counters) >= self.after and (
            self.screenshot is None or self.state["screenshot"] is not None
        ):
            return
        self.state["timed_out"] = True
        self.window.tick()
        if self.screenshot is not None and self.state["screenshot"] is None:
            self.state["screenshot"] = str(self.window.screenshot(self.screenshot))
        self.loop.quit()

    def _on_sigint(self, *_: Any) -> None:
        self.state["interrupted"] = True
        self.loop.quit()

    def until_done(self, timeout: float | None) -> None:
        """Run the event loop (Ctrl-C ends it too, from the main thread)."""
        from pyqtgraph.Qt import QtCore

        self.window.add_tick_callback(self.check)
        self.window.closed.connect(self.loop.quit)
        if timeout is not None:
            QtCore.QTimer.singleShot(int(timeout * 1000), self.give_up)
        old_handler = None
        if threading.current_thread() is threading.main_thread():
            old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        # (said once Ctrl-C is ours: a caller may wait for this line before sending SIGINT)
        log.info("viewing %s; close the window or press Ctrl-C to stop", self.receiver.endpoints)
        try:
            wake = QtCore.QTimer()  # lets Python run its signal handlers (Ctrl-C) while Qt waits
            wake.start(200)
            wake.timeout.connect(lambda: self.loop.quit() if self.state["interrupted"] else None)  # Ctrl-C before exec()
            if not self.state["interrupted"]:
                self.loop.exec()
            wake.stop()
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
