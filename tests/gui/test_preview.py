"""Live previews in the viewer: each refinement is drawn as it comes, a preview never hides a final map.

The daemon (live mode) publishes a coarse preview of a frame (``final: false``, ``stage`` 1 of 2) and then its
final result; a preview that arrives after the final result of the same or a newer frame is not drawn.
"""

from __future__ import annotations

import time

import pytest

from aistem.core.protocol import decode, frame_order, preview_outdated
from aistem.core.protocol import encode_status as status_message
from tests.gui.conftest import STRIDE, bicrystal_result_arrays, frame_message, result_message, shown_window, wait_until

COARSE = 2 * STRIDE  # the preview's stride: every second window


def preview_message(index: int, series: str = "bicrystal", **kw) -> list[bytes]:
    """A preview as the daemon sends it: every second window, 2 samples, final false, stage 1 of 2."""
    return result_message(
        index, series, arrays=bicrystal_result_arrays(stride=COARSE), stride_px=COARSE, samples=2, final=False, stage=1,
        stages=2, **kw,
    )  # fmt: skip


def final_message(index: int, series: str = "bicrystal", **kw) -> list[bytes]:
    return result_message(index, series, final=True, stage=2, stages=2, **kw)


def test_which_preview_is_outdated():
    t = time.time()
    final4 = decode(final_message(4, timestamp=t))
    assert final4.final and final4.kind() == "final" and final4.stage == (2, 2)
    p4, p3, p5 = (decode(preview_message(i, timestamp=t + i - 4)) for i in (4, 3, 5))
    assert not p4.final and p4.kind() == "preview 1/2" and p4.stride_px == COARSE and p4.grid != final4.grid
    assert preview_outdated(p4, final4) and preview_outdated(p3, final4)  # the same frame, an older one
    assert not preview_outdated(p5, final4)  # a newer frame's preview replaces an older final
    assert not preview_outdated(p4, decode(preview_message(3)))  # previews replace previews
    assert not preview_outdated(p4, None)
    other = decode(preview_message(0, "next-series", timestamp=t + 10))  # a new series, acquired later
    assert not preview_outdated(other, final4) and frame_order(other, final4) == 1
    late = decode(preview_message(9, "old-series", timestamp=t - 10))
    assert preview_outdated(late, final4)
    # no header keys of 1.1 (an older daemon): a result is final
    plain = decode(result_message(1))
    assert plain.final and plain.kind() == "final" and plain.stage == (1, 1)
    # the daemon's status line tells how many refinements gave way to newer frames, and the preview latency
    st = decode(status_message(frames_processed=9, frames_superseded=4, mean_latency_ms=9000.0, mean_preview_latency_ms=1500.0))
    assert "refinements superseded 4" in st.text() and "preview 1500 ms" in st.text()
    assert "superseded" not in decode(status_message(frames_processed=9, frames_superseded=0)).text()


@pytest.fixture
def window(qapp):
    with shown_window(qapp, (900, 700)) as w:
        yield w


def test_window_draws_preview_then_final_and_never_a_late_preview(window, qapp):
    t = time.time()
    f = decode(frame_message(4))
    assert window.show_result(decode(preview_message(4, timestamp=t)), f)
    assert not window.result.final and window.result.grid == bicrystal_result_arrays(stride=COARSE)["classes"].shape
    assert "window (0, 0), preview 1/2 (2 samples)" in window.hover_at(*window.result.window_centre(0, 0))
    assert "refining" in window.plot.titleLabel.text
    assert window.show_result(decode(final_message(4, timestamp=t)), f)
    assert window.result.final and window.result.stride_px == STRIDE
    assert "window (0, 0), final · " in window.hover_at(*window.result.window_centre(0, 0))
    drawn = window.results_drawn
    assert not window.show_result(decode(preview_message(4, timestamp=t)), f)  # late preview of the same frame
    assert not window.show_result(decode(preview_message(3, timestamp=t - 1)))  # preview of an older frame
    assert window.result.final and window.result.index == 4 and window.results_drawn == drawn
    assert window.previews_ignored == 2
    assert window.show_result(decode(preview_message(5, timestamp=t + 1)))  # a newer frame: drawn at once
    assert window.result.index == 5 and not window.result.final
    qapp.processEvents()


def test_receiver_and_window_on_sockets_a_preview_never_overwrites_a_newer_final(publisher, qapp):
    """Over real sockets: final of frame 4, then late previews of frames 3 and 4 — the window keeps the final."""
    from aistem.gui.receiver import Receiver
    from aistem.gui.window import ViewerWindow

    p = publisher(frames=True)
    rec = Receiver(p.endpoint, p.frames_endpoint).start()
    w = ViewerWindow(rec, opacity=1.0, redraw_hz=50)
    w.resize(900, 700)
    w.show()
    try:
        k = 0

        def connected() -> bool:  # both SUB sockets receive: a status and a frame got through
            nonlocal k
            p.send(status_message(state="running"))
            p.send(frame_message(100 + k, "probe"))
            k += 1
            s = rec.snapshot()
            return s.status is not None and rec.counters["frames"] > 0

        assert wait_until(connected, 10, qapp)
        t = time.time()
        p.send(frame_message(4))
        p.send(preview_message(4, timestamp=t))
        p.send(final_message(4, timestamp=t))
        assert wait_until(lambda: w.result is not None and w.result.index == 4 and w.result.final, 10, qapp)
        assert "bicrystal #4 final" in w.status_label.text()
        p.send(preview_message(3, timestamp=t - 1))
        p.send(preview_message(4, timestamp=t))
        assert wait_until(lambda: rec.counters["previews_ignored"] == 2, 10, qapp)
        for _ in range(5):
            time.sleep(0.03)
            qapp.processEvents()
        assert (w.result.index, w.result.final) == (4, True) and w.results_drawn >= 1
        # the next frame: its preview is drawn as soon as it comes, then its final
        p.send(frame_message(5))
        p.send(preview_message(5, timestamp=t + 1))
        assert wait_until(lambda: w.result.index == 5, 10, qapp)
        assert not w.result.final and "bicrystal #5 preview 1/2" in w.status_label.text()
        assert w.snapshot.preview_latency_ms is not None
        p.send(final_message(5, timestamp=t + 1))
        assert wait_until(lambda: w.result.index == 5 and w.result.final, 10, qapp)
        assert wait_until(lambda: "bicrystal #5 final" in w.status_label.text(), 5, qapp)
        c = rec.counters
        assert (c["previews"], c["previews_ignored"], c["final_results"]) == (4, 2, 2)
    finally:
        rec.stop()
        w.close()
        w.deleteLater()
        qapp.processEvents()
