"""CURVE certificate files, read once for every side (daemon, viewer, replay, record) without importing ZeroMQ.

A certificate pair is two ZeroMQ ZPL text files made by ``aistem keys DIR NAME``: ``NAME.key`` holds
``public-key = "…"``, ``NAME.key_secret`` also ``secret-key = "…"`` (Z85, 40 characters each). Setting the keys on
a socket and the authenticator stay at the socket edges (``aistem.daemon.curve``, ``aistem.gui.receiver``).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["load_public", "load_secret"]

_KEY = re.compile(r'^\s*(public-key|secret-key)\s*=\s*"?([^"\s]*)"?\s*$')


def _read(path: str | Path, what: str) -> dict[str, bytes]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"CURVE {what} not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p} is not a ZeroMQ certificate: {exc}") from exc
    keys: dict[str, bytes] = {}
    for line in text.splitlines():
        m = _KEY.match(line)
        if m:
            keys[m.group(1)] = m.group(2).encode("ascii", "replace")
    for name, key in keys.items():
        if len(key) != 40:
            raise ValueError(f"{p} is not a ZeroMQ certificate: its {name} has {len(key)} characters, not 40 (Z85)")
    if "public-key" not in keys:
        raise ValueError(f"{p} is not a ZeroMQ certificate: no public-key in it")
    return keys


def load_public(path: str | Path) -> bytes:
    """The public key (Z85, 40 bytes) from a ``NAME.key`` or ``NAME.key_secret`` certificate file.

    Raises
    ------
    FileNotFoundError, ValueError
        With a one-line reason.
    """
    return _read(path, "certificate")["public-key"]


def load_secret(path: str | Path) -> tuple[bytes, bytes]:
    """(public, secret) keys (Z85, 40 bytes each) from a ``NAME.key_secret`` certificate file.

    Raises
    ------
    FileNotFoundError, ValueError
        With a one-line reason (a public ``NAME.key`` given where the secret one is needed says so).
    """
    keys = _read(path, "secret certificate")
    if "secret-key" not in keys:
        raise ValueError(f"{path} holds no secret key: give the NAME.key_secret file")
    return keys["public-key"], keys["secret-key"]
