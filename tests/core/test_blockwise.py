"""map_blocks: blocks in order, on threads or not, the same result as one call over everything."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from aistem.core.blockwise import map_blocks, usable_cores


@pytest.mark.parametrize("threads", [True, False])
@pytest.mark.parametrize(("n", "block"), [(0, 4), (1, 4), (10, 3), (12, 4), (5, 100), (7, 0)])
def test_blocks_cover_the_items_in_order(n, block, threads):
    x = np.arange(n, dtype=np.float32)
    spans = map_blocks(lambda a, b: (a, b), n, block, threads=threads)
    assert [s for s in spans if s[0] >= s[1]] == []
    assert sum((b - a for a, b in spans), 0) == n
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    out = map_blocks(lambda a, b: np.sqrt(x[a:b]), n, block, threads=threads)
    np.testing.assert_array_equal(np.concatenate(out) if out else np.zeros(0, np.float32), np.sqrt(x))


def test_blocks_run_on_other_threads_where_there_are_cores():
    names = map_blocks(lambda a, b: threading.current_thread().name, 8, 1)
    if usable_cores() > 1:
        assert any(name.startswith("aistem-block") for name in names)
    else:
        assert set(names) == {threading.current_thread().name}
    assert map_blocks(lambda a, b: threading.current_thread().name, 8, 1, threads=False) == [threading.current_thread().name] * 8


def test_an_error_in_a_block_reaches_the_caller():
    def fail(a, b):
        if a == 4:
            raise ValueError("block 4 failed")
        return a

    with pytest.raises(ValueError, match="block 4 failed"):
        map_blocks(fail, 8, 2)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_working_pool():
    """The pool's threads do not survive a fork; the child must not wait on them for ever."""
    import os

    map_blocks(lambda a, b: a, 4, 1)  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # child: exit 0 only if the blocks ran (a hang would hit the parent's timeout below)
        ok = False
        try:
            ok = map_blocks(lambda a, b: a, 4, 1) == [0, 1, 2, 3]
        finally:
            os._exit(0 if ok else 1)
    import time

    end = time.monotonic() + 30
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child's blocks never ran")
