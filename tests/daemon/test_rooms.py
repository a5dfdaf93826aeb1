"""The daemon in rooms of one job (issue 18): :class:`Daemon` composes its rooms instead of inheriting them, and each
room gets the shared state and narrow callbacks, never another room or the daemon itself."""

from __future__ import annotations

import inspect

import zmq

from aistem.daemon.controller import Controller
from aistem.daemon.publisher import Publisher
from aistem.daemon.receiver import Receiver
from aistem.daemon.server import Daemon
from aistem.daemon.settings import DaemonSettings
from aistem.daemon.state import DaemonState
from aistem.daemon.worker import AnalysisWorker

ROOMS = (Receiver, AnalysisWorker, Publisher, Controller)


def test_the_daemon_inherits_no_room():
    assert Daemon.__mro__ == (Daemon, object)
    for room in ROOMS:
        assert room.__mro__ == (room, object), f"{room.__name__} inherits"


def test_each_room_holds_the_shared_state_and_no_other_room():
    ctx = zmq.Context()
    try:
        d = Daemon(DaemonSettings(results="tcp://127.0.0.1:*", control="tcp://127.0.0.1:*"), context=ctx)
        rooms = {"receiver": d.receiver, "worker": d.worker, "publisher": d.publisher, "controller": d.controller}
        for name, room in rooms.items():
            held = vars(room).values()
            assert any(v is d.state for v in held), f"{name} lacks the shared state"
            assert isinstance(d.state, DaemonState)
            wrong = [v for v in held if v is d or isinstance(v, ROOMS)]
            assert not wrong, f"{name} holds {wrong}"
        # the worker's callbacks are the publisher's, not the daemon's
        assert d.worker._post.__self__ is d.publisher
        assert d.worker._publish_result.__self__ is d.publisher
        assert d.receiver._post.__self__ is d.publisher
    finally:
        ctx.destroy(linger=0)


def test_room_constructors_take_narrow_parameters():
    """What each room gets, as docs/architecture.md lists it."""
    params = {room.__name__: list(inspect.signature(room).parameters) for room in ROOMS}
    assert params == {
        "Receiver": ["state", "context", "post"],
        "AnalysisWorker": ["state", "post", "publish"],
        "Publisher": ["state", "context", "status"],
        "Controller": ["state", "context", "status", "post", "request_stop"],
    }
