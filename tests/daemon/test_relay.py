"""Several daemons on one stream: two real daemons behind one PUSH source, one relay, one viewer."""

from __future__ import annotations

import time

import numpy as np

from aistem.daemon.relay import Relay, merge_status
from aistem.daemon.sources.client import FramePublisher, request

from .conftest import PIXEL_SIZE, Listener, fast_settings, sync


def test_merge_status_sums_counters_and_marks_silent_daemons() -> None:
    a = {"state": "running", "pid": 1, "frames_processed": 3, "queue_length": 1, "model": {"name": "m", "hash": "h"}}
    b = {"state": "running", "pid": 2, "frames_processed": 4, "queue_length": 0, "model": {"name": "m", "hash": "h"}}
    st = merge_status({"a": (100.0, a), "b": (90.0, b)}, now=101.0, interval=2.0)
    assert st["frames_processed"] == 7 and st["queue_length"] == 1
    assert [d["silent"] for d in st["daemons"]] == [False, True]
    assert st["model"] == {"name": "m", "hash": "h"}
    assert st["protocol"] == "aistem-status/1"


def test_two_daemons_behind_a_relay_answer_every_lossless_frame_exactly_once(reference_model, frames) -> None:
    from aistem.daemon.server import Daemon

    pub = FramePublisher("tcp://127.0.0.1:*", kind="push", send_timeout=20)
    daemons = [Daemon(fast_settings(pub.endpoint, socket="pull", queue_length=1), reference_model) for _ in range(2)]
    threads = [d.serve_in_thread() for d in daemons]
    relay = Relay([d.results_endpoint for d in daemons], "tcp://127.0.0.1:*", status_interval=0.3)
    relay_thread = relay.serve_in_thread()
    viewer = Listener(relay.results_endpoint)
    try:
        for d in daemons:
            sync(viewer, d.control_endpoint)  # each daemon's status reaches the relay...
        viewer.wait_for(lambda: len(relay.daemons()) == 2, 20, "both daemons in the relay's status")
        n = 10
        for i in range(n):
            pub.send(frames[i % len(frames)], pixel_size=PIXEL_SIZE, series="relay", index=i)
        viewer.wait_for(lambda: len(viewer.of("result", "relay")) >= n, 90, "every pushed frame through the relay")
        time.sleep(0.5)  # a duplicate would arrive now
        got = sorted(r.index for r in viewer.of("result", "relay") if r.final)
        assert got == list(range(n))  # every frame once, through one endpoint
        per_daemon = [request("status", d.control_endpoint, timeout=5)["status"]["frames_processed"] for d in daemons]
        assert all(k > 0 for k in per_daemon) and sum(per_daemon) >= n

        def merged_statuses() -> list:
            return [s for s in viewer.of("status") if len(s.header.get("daemons", [])) == 2 and s.header["frames_processed"] >= n]

        merged = viewer.wait_for(
            merged_statuses,
            10,
            "a merged status",
        )[-1].header
        assert merged["relay"]["upstream"] == [d.results_endpoint for d in daemons]
        assert {d["pid"] for d in merged["daemons"]} == {daemons[0].status()["pid"]}  # both in this test process
        assert len({d["key"] for d in merged["daemons"]}) == 2
        assert all(r.classes.shape == (4, 4) and r.classes.dtype == np.uint8 for r in viewer.of("result", "relay"))
    finally:
        viewer.close()
        relay.stop()
        relay_thread.join(5)
        for d in daemons:
            d.request_stop()
        for t in threads:
            t.join(30)
        pub.close()
    assert not relay_thread.is_alive() and not any(t.is_alive() for t in threads)
