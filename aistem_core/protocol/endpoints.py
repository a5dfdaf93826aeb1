"""The default ZeroMQ endpoints of AI-STEM live (``docs/protocol.md`` §1), written once.

The daemon's settings, the client helpers, replay, record, the relay, the viewer and ``config/default.toml`` all
take their defaults from here (a test checks that the TOML spells the same values). All are on loopback: this
machine only; ``tcp://*:PORT`` listens on every interface.
"""

from __future__ import annotations

__all__ = ["DEFAULT_CONTROL", "DEFAULT_FRAMES", "DEFAULT_RELAY", "DEFAULT_RESULTS"]

#: The acquisition program's frame endpoint (it binds PUB or PUSH; the daemon, viewer and recorder connect).
DEFAULT_FRAMES = "tcp://127.0.0.1:5555"
#: The daemon's result, error and status endpoint (the daemon binds XPUB; viewers and recorders connect).
DEFAULT_RESULTS = "tcp://127.0.0.1:5556"
#: The daemon's control endpoint (the daemon binds ROUTER; REQ clients connect).
DEFAULT_CONTROL = "tcp://127.0.0.1:5557"
#: The relay's merged result endpoint (``aistem relay`` binds it for viewers and recorders).
DEFAULT_RELAY = "tcp://127.0.0.1:5566"
