"""The daemon's control: the thread that owns the bound control socket, and the answers to its requests.

One room of :class:`aistem.daemon.server.Daemon`: it gets the shared :class:`~aistem.daemon.state.DaemonState`, the
ZeroMQ context and three callbacks: ``status()``, ``post(parts)`` (the publisher's outbox) and
``request_stop(drain)``. Requests: ``status``, ``set`` (the settable settings of
:data:`aistem.daemon.settings.SETTINGS`, all or nothing), ``reload`` (another model file) and ``stop``. The socket
machinery (ROUTER, slow requests in a thread of their own) is :func:`aistem.daemon.control.serve_control`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

import zmq

from aistem.core.protocol import encode_status

from .control import MAX_PART_BYTES, describe_request, parse_request, serve_control
from .publisher import bind_for_thread
from .settings import SETTABLE, settable_values
from .state import DaemonState

__all__ = ["Controller"]

log = logging.getLogger("aistem.daemon.server")

POLL_MS = 100  # the control thread looks at its stop flag at least this often [ms]


class Controller:
    """The control thread and the control requests of the daemon.

    Parameters
    ----------
    state : DaemonState
    context : zmq.Context
    status : callable
        ``status() -> dict``: the daemon's status message.
    post : callable
        ``post(parts)``: queue a message for the publisher.
    request_stop : callable
        ``request_stop(drain)``: the daemon's stop.
    """

    def __init__(
        self,
        state: DaemonState,
        context: zmq.Context,
        status: Callable[[], dict[str, Any]],
        post: Callable[[list[Any]], None],
        request_stop: Callable[[bool], None],
    ) -> None:
        self._state = state
        self._ctx = context
        self._status = status
        self._post = post
        self._request_stop = request_stop
        self.stopped = threading.Event()  # set by the daemon: the control thread closes its socket
        self.endpoint: str | None = None

    def loop(self, ready: threading.Event, errors: list[BaseException]) -> None:
        """The control thread: bind the control socket, then answer requests until :attr:`stopped`."""
        options = {zmq.LINGER: 0, zmq.MAXMSGSIZE: MAX_PART_BYTES}
        s = self._state.settings
        sock, self.endpoint = bind_for_thread(self._ctx, zmq.ROUTER, s, "control", "control", options, ready, errors)
        if sock is None:
            return
        try:
            serve_control(sock, self.answer, lambda req: req.get("command") == "reload", self.stopped, POLL_MS)
        finally:
            sock.close(0)

    def handle_request(self, parts: list[bytes]) -> dict[str, Any]:
        """Answer one control request (a one-part msgpack map with ``command``)."""
        req, refused = parse_request(parts)
        return {"ok": False, "reason": refused} if req is None else self.answer(req)

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        """The reply to a decoded control request (string keys, :func:`~aistem.daemon.control.parse_request`)."""
        cmd = req.get("command")
        (log.debug if cmd == "status" else log.info)("control request: %s", describe_request(req))
        if cmd == "status":
            st = self._status()
            self._post(encode_status(st))
            return {"ok": True, "status": st}
        if cmd == "set":
            return self.apply({k: v for k, v in req.items() if k != "command"})
        if cmd == "reload":
            model = req.get("model")
            if model is not None and not isinstance(model, str):
                return {
                    "ok": False,
                    "reason": f"model must be the path of a model file (a string), got {describe_request(model)}",
                }
            return self.reload(model)
        if cmd == "stop":
            drain = req.get("drain", True)
            if not isinstance(drain, bool):
                return {"ok": False, "reason": f"drain must be true or false, got {describe_request(drain)}"}
            self._request_stop(drain)
            return {"ok": True, "state": "draining" if drain else "stopping"}
        return {"ok": False, "reason": f"unknown command {describe_request(cmd)}: expected status, set, reload or stop"}

    def apply(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change settings at run time (all or nothing). Returns the control reply."""
        unknown = sorted(set(changes) - set(SETTABLE))
        if unknown:
            return {"ok": False, "reason": f"cannot set {', '.join(unknown)}: settable are {', '.join(SETTABLE)}"}
        if not changes:
            return {"ok": False, "reason": f"nothing to set: give one or more of {', '.join(SETTABLE)}"}
        st = self._state
        with st.lock:
            try:
                new = st.settings.replace(**changes)
            except (ValueError, TypeError) as exc:
                return {"ok": False, "reason": str(exc)}
            old_mode = st.settings.mode
            st.settings = new
            if new.mode != old_mode:
                st.queue.set_mode(new.mode)
        log.info("settings changed: %s", describe_request(changes))
        return {"ok": True, "settings": self.settings_dict()}

    def reload(self, path: str | None = None) -> dict[str, Any]:
        """Load another model file (None: the current file again, or the shipped default); the next frame uses it."""
        from aistem.core import load_model

        st = self._state
        with st.lock:
            current = getattr(st.model, "path", None)
        target = path or current
        try:
            model = load_model(target)
        except Exception as exc:  # the detail stays in the log: a reply must not tell which paths exist here
            log.warning("reload of %s failed: %s: %s", target, type(exc).__name__, exc)
            return {
                "ok": False,
                "reason": f"model not loaded, keeping {st.model.name}: not found, not readable or not a model file "
                "(the daemon's log says which)",
            }
        with st.lock:
            st.model = model
            st.settings = dataclasses.replace(st.settings, model=model.path)
        log.info("model reloaded: %s (%s) from %s", model.name, model.hash, model.path)
        return {"ok": True, "model": self.model_dict()}

    def model_dict(self) -> dict[str, Any]:
        m = self._state.model
        return {"name": getattr(m, "name", ""), "hash": getattr(m, "hash", ""), "path": getattr(m, "path", None)}

    def settings_dict(self) -> dict[str, Any]:
        """The run-time settings, by their control ``set`` names (:func:`~aistem.daemon.settings.settable_values`)."""
        return settable_values(self._state.settings)
