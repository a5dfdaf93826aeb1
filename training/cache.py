"""On-disk cache of simulated base images, keyed by every parameter that changes them.

Directory: the ``cache_dir`` argument, else ``$AISTEM_CACHE``, else
``~/.cache/aistem``; images go to ``<dir>/haadf/<sha256 of the key>.npz`` with
the key stored alongside (so a stale or colliding file is never used).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .haadf import HAADF_VERSION, SimulatedImage

__all__ = ["cache_path", "cached_image", "default_cache_dir", "key_digest"]


def default_cache_dir() -> Path:
    """``$AISTEM_CACHE`` if set, else ``~/.cache/aistem``."""
    env = os.environ.get("AISTEM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "aistem"


def key_digest(key: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``key`` (with the simulator's version added)."""
    text = json.dumps({**key, "haadf_version": HAADF_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_path(key: dict[str, Any], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the image for ``key`` is (or would be) cached."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "haadf" / f"{key_digest(key)}.npz"


def cached_image(
    key: dict[str, Any],
    compute: Callable[[], SimulatedImage],
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = True,
) -> tuple[SimulatedImage, bool]:
    """Load the image for ``key`` from the cache, or compute and store it.

    Parameters
    ----------
    key : dict
        JSON-able description of everything that determines the image.
    compute : callable
        Makes the image when it is not cached.
    cache_dir : path, optional
        Cache root (default :func:`default_cache_dir`).
    use_cache : bool
        False: always compute, never read or write the cache.

    Returns
    -------
    (SimulatedImage, bool)
        The image, and whether it came from the cache.
    """
    if not use_cache:
        return compute(), False
    path = cache_path(key, cache_dir)
    text = json.dumps({**key, "haadf_version": HAADF_VERSION}, sort_keys=True, default=str)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) == text:
                    return SimulatedImage(
                        z["image"].astype(np.float32), (float(z["pixel_size"][0]), float(z["pixel_size"][1]))
                    ), True
        except (OSError, ValueError, KeyError):
            pass  # unreadable or partial file: simulate again and overwrite it
    sim = compute()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
        os.close(fd)
        np.savez(tmp, image=sim.image, pixel_size=np.asarray(sim.pixel_size), key=np.asarray(text))
        os.replace(tmp, path)
        tmp = None
    except OSError:  # a read-only or full cache only costs time
        pass
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return sim, False
