"""The daemon on coarse-to-fine (issue 21): the live preview is the first level of the same refinement.

256×256 bicrystal frames, 12 Å windows every 3 Å (a 7×7 grid), coarse step 2: the coarse level is every 2nd window
(a 4×4 grid, stride 50 px), published as the preview (``final: false``); the same analysis then refines it and the
final result (``final: true``, 7×7) is exactly :func:`aistem.core.analyze` with ``coarse_step=2``.
"""

from __future__ import annotations

import numpy as np
import pytest

from aistem.core import analyze
from aistem.daemon import request

from .conftest import PIXEL_SIZE, Listener, Source, fast_settings, stop_keeps_the_preview, wait_connected

COARSE = {"stride": 3.0, "samples": 4, "coarse_step": 2, "preview": True, "mode": "live", "adaptive": False}


@pytest.fixture(scope="module")
def coarse_daemon(reference_model):
    from aistem.daemon.server import Daemon

    src = Source()
    d = Daemon(fast_settings(src.endpoint, **COARSE), reference_model)
    thread = d.serve_in_thread()
    ls = Listener(d.results_endpoint)
    wait_connected(src, ls, d.control_endpoint)
    yield d, src, ls
    d.request_stop()
    thread.join(30)
    ls.close()
    src.close()
    assert not thread.is_alive(), "the daemon did not stop"


def test_the_preview_is_the_coarse_level_of_the_final_analysis(coarse_daemon, frames, reference_model):
    d, src, ls = coarse_daemon
    before = request("status", d.control_endpoint)["status"]
    assert before["settings"]["coarse_step"] == 2
    src.send(frames[0], "c2f", 0)
    preview, final = ls.results("c2f", 2, timeout=60)
    hp, hf = preview.header, final.header
    assert (hp["final"], hp["stage"], hp["stages"]) == (False, 1, 2)
    assert (hf["final"], hf["stage"], hf["stages"]) == (True, 2, 2)
    assert (hp["grid"], hp["stride_px"], hp["samples"]) == ([4, 4], 50, 4)  # every 2nd window, the full T
    assert (hf["grid"], hf["stride_px"], hf["samples"]) == ([7, 7], 25, 4)
    # one analysis, not two passes: the preview's windows are the final's coarse windows, evaluated once
    np.testing.assert_array_equal(preview.probabilities, final.probabilities[::2, ::2])
    np.testing.assert_array_equal(preview.classes, final.classes[::2, ::2])
    ref = analyze(frames[0], PIXEL_SIZE, window=12.0, stride=3.0, samples=4, seed=0, model=reference_model, coarse_step=2)
    np.testing.assert_allclose(final.probabilities, ref.probabilities, atol=1e-6)
    np.testing.assert_array_equal(final.classes, ref.classes)
    # the wire says which windows were filled from their corners (result 1.3), as the core's result does
    assert hf["protocol"] == "aistem-result/1.3" and "filled" in final.arrays and "refinement" in hf
    np.testing.assert_array_equal(final.arrays["filled"].astype(bool), ref.filled)
    np.testing.assert_array_equal(final.arrays["refinement_level"], ref.refinement_level)
    after = request("status", d.control_endpoint)["status"]
    assert after["frames_processed"] - before["frames_processed"] == 1
    assert after["previews_published"] - before["previews_published"] == 1


def test_dense_at_run_time_gives_the_papers_grid(coarse_daemon, frames, reference_model):
    d, src, ls = coarse_daemon
    assert request("set", d.control_endpoint, coarse_step=1, preview=False)["ok"]
    try:
        src.send(frames[1], "dense", 0)
        (final,) = ls.results("dense", 1, timeout=60)
    finally:
        assert request("set", d.control_endpoint, coarse_step=2, preview=True)["ok"]
    ref = analyze(frames[1], PIXEL_SIZE, window=12.0, stride=3.0, samples=4, seed=0, model=reference_model)
    assert final.final and final.header["grid"] == [7, 7]
    np.testing.assert_allclose(final.probabilities, ref.probabilities, atol=1e-6)
    bad = request("set", d.control_endpoint, coarse_step=0)
    assert not bad["ok"] and "coarse_step" in bad["reason"]


def test_a_newer_frame_supersedes_the_refinement_after_its_coarse_preview(coarse_daemon, frames):
    d, src, ls = coarse_daemon
    before = request("status", d.control_endpoint)["status"]
    assert request("set", d.control_endpoint, samples=200)["ok"]  # a refinement long enough to arrive during
    try:
        src.send(frames[2], "sup2", 0)
        ls.wait_for(lambda: ls.of("result", "sup2"), 60, "frame 0's preview")
        src.send(frames[3], "sup2", 1)
        ls.wait_for(lambda: [r for r in ls.of("result", "sup2") if r.index == 1 and r.final], 120, "frame 1's final")
    finally:
        assert request("set", d.control_endpoint, samples=4)["ok"]
    got = [(r.index, r.final) for r in ls.of("result", "sup2")]
    assert got == [(0, False), (1, False), (1, True)], got
    after = request("status", d.control_endpoint)["status"]
    assert after["frames_superseded"] - before["frames_superseded"] == 1


def test_stop_during_the_refinement_keeps_the_coarse_preview(reference_model, frames):
    """SIGTERM/stop after the coarse level was published abandons the refinement within one network call."""

    from aistem.daemon.server import Daemon

    src = Source()
    d = Daemon(fast_settings(src.endpoint, **{**COARSE, "samples": 300}), reference_model)
    thread = d.serve_in_thread()
    ls = Listener(d.results_endpoint)
    try:
        wait_connected(src, ls, d.control_endpoint)
        src.send(frames[4], "stop2", 0)
        ls.wait_for(lambda: ls.of("result", "stop2"), 120, "the coarse preview")
        stop_keeps_the_preview(d, thread, ls, "stop2")
    finally:
        d.request_stop()
        thread.join(30)
        ls.close()
        src.close()
