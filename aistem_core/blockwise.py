"""Run a batched array function block by block: small blocks stay in the CPU cache, and on NumPy they run on threads.

The window-wise checks of the core (the domain check's pattern fit) build arrays of shape (windows, hypotheses,
peaks, reflections). Over a thousand windows at once those are hundreds of MB and every step streams them through
memory; in blocks of a few dozen windows the same work is 2–5× faster on one core (``benchmarks/RESULTS.md``,
"domain check in blocks"). NumPy releases the GIL inside its array operations, so the blocks also run in parallel
on a small thread pool, one thread per usable core. CuPy arrays are taken at once (a GPU wants large batches).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["map_blocks", "usable_cores"]

T = TypeVar("T")

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _forget_pool_in_child() -> None:
    """A forked child inherits the pool object but not its threads: work put on it would never run. Start afresh."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=usable_cores(), thread_name_prefix="aistem-block")
        return _POOL


def map_blocks(fn: Callable[[int, int], T], n: int, block: int, *, threads: bool = True) -> list[T]:
    """``[fn(start, stop) for each block]`` over ``range(n)`` in blocks of ``block``, in order.

    Parameters
    ----------
    fn : callable (start, stop) -> T
        Works on items ``start`` … ``stop − 1``; must not share mutable state between blocks.
    n : int
        Number of items (windows).
    block : int
        Items per block (≥ 1).
    threads : bool
        Run the blocks on the module's thread pool (one thread per usable core) when there is more than one block
        and more than one core; else one after the other in the caller's thread.

    Returns
    -------
    list
        One result per block, in the order of the blocks.
    """
    block = max(1, int(block))
    spans = [(a, min(n, a + block)) for a in range(0, n, block)]
    if not threads or len(spans) < 2 or usable_cores() < 2:
        return [fn(a, b) for a, b in spans]
    return list(_pool().map(lambda span: fn(*span), spans))
