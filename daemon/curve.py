"""ZeroMQ CURVE: certificates, server and client sockets, and the authenticator.

A certificate pair is two files made by :func:`create_keys`: ``NAME.key``
(public, give it to the peers) and ``NAME.key_secret`` (secret, keep it).
The side that binds a socket is the CURVE server; connecting sides are
clients that must know the server's public key and, when the server has an
authenticator with a directory of allowed public keys, be listed there.
A client without the right keys never completes the handshake: it receives
nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import zmq

from aistem.core.protocol import load_public, load_secret  # the certificate files, read once for every side

__all__ = ["Authenticator", "create_keys", "load_public", "load_secret", "make_client", "make_server"]

log = logging.getLogger(__name__)


def _check() -> None:
    if not zmq.has("curve"):
        raise RuntimeError("this libzmq was built without CURVE (libsodium): encryption is not available")


def create_keys(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Create a certificate pair ``DIR/NAME.key`` (public) and ``DIR/NAME.key_secret`` (secret).

    Returns
    -------
    (public_file, secret_file)

    Raises
    ------
    FileExistsError
        If either file exists already: a new pair would lock out every peer that holds the old public key.
    """
    import datetime
    import os

    import zmq

    _check()
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    public, secret = d / f"{name}.key", d / f"{name}.key_secret"
    for p in (public, secret):
        if p.exists():
            raise FileExistsError(
                f"{p} exists already: keep the pair, or delete {public.name} and {secret.name} first (a new pair locks "
                "out every peer that has the old public key)"
            )
    pub, sec = zmq.curve_keypair()
    when = datetime.datetime.now().isoformat(timespec="seconds")

    def write(path: Path, what: str, keys: str, mode: int) -> None:
        text = (
            f"#   ****  Generated on {when} by aistem keys  ****\n#   ZeroMQ CURVE {what} Certificate\n\nmetadata\ncurve\n{keys}"
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)  # the mode from the first byte, never wider
        with os.fdopen(fd, "w") as f:
            f.write(text)

    keys = f'    public-key = "{pub.decode()}"\n'
    write(secret, "**Secret**", keys + f'    secret-key = "{sec.decode()}"\n', 0o600)
    write(public, "Public", keys, 0o644)
    return public, secret


def make_server(sock: zmq.Socket, secret_file: str | Path) -> None:
    """Make ``sock`` a CURVE server with the keys in ``secret_file`` (before bind/connect)."""
    _check()
    public, secret = load_secret(secret_file)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True


def make_client(sock: zmq.Socket, secret_file: str | Path, server_public_file: str | Path) -> None:
    """Make ``sock`` a CURVE client with its own keys and the server's public key (before connect)."""
    _check()
    public, secret = load_secret(secret_file)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_serverkey = load_public(server_public_file)


class Authenticator:
    """The ZAP handler of one context: only the listed clients may connect to its CURVE servers.

    Parameters
    ----------
    context : zmq.Context
    authorized_keys : str or Path or None
        Directory of public certificates (``*.key``) of allowed clients;
        None or "": any client that knows the server's public key.
    """

    def __init__(self, context: zmq.Context, authorized_keys: str | Path | None) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        _check()
        self._auth: Any = ThreadAuthenticator(context, log=logging.getLogger(__name__ + ".zap"))
        self._auth.start()
        if authorized_keys:
            d = Path(authorized_keys)
            if not d.is_dir():
                self._auth.stop()
                raise FileNotFoundError(f"directory of authorized CURVE keys not found: {d}")
            n = len(list(d.glob("*.key")))
            if n == 0:
                log.warning("no public keys (*.key) in %s: no client will be let in", d)
            self._auth.configure_curve(domain="*", location=str(d))
        else:
            import zmq.auth

            log.warning("CURVE without authorized_keys: any client that knows the public key may connect")
            self._auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)

    def stop(self) -> None:
        """Stop the handler thread (before the context is terminated)."""
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
