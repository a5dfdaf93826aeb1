"""Results from several daemons (behind a relay) arrive out of frame order: the viewer keeps the newest frame."""

from __future__ import annotations

import time

from aistem.core.protocol import encode_status as status_message
from tests.gui.conftest import result_message, wait_until


def test_a_late_final_of_an_older_frame_is_counted_not_shown(publisher):
    from aistem.gui.receiver import Receiver

    p = publisher()
    rec = Receiver(p.endpoint).start()
    try:
        assert wait_until(lambda: (p.send(status_message(state="running")), rec.snapshot().status is not None)[1], 10)
        t = time.time()
        p.send(result_message(5, "scan", final=True, timestamp=t))
        assert wait_until(lambda: rec.counters["final_results"] == 1, 10)
        p.send(result_message(3, "scan", final=True, timestamp=t - 2))  # analysed by the slower daemon
        p.send(result_message(4, "scan", final=True, timestamp=t - 1))
        assert wait_until(lambda: rec.counters["final_results"] == 3, 10)
        snap = rec.snapshot()
        assert snap.latest_result.index == 5
        assert rec.counters["finals_late"] == 2
        assert rec.class_counts.sum() == 3 * snap.latest_result.classes.size  # the late ones still count in the shares
        p.send(result_message(6, "scan", final=True, timestamp=t + 1))
        assert wait_until(lambda: rec.snapshot().latest_result.index == 6, 10)
    finally:
        rec.stop()
