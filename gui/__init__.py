"""``aistem view``: the live viewer of AI-STEM results beside the acquisition program (pyqtgraph).

>>> from aistem.gui import run_view
>>> summary = run_view("tcp://127.0.0.1:5556", "tcp://127.0.0.1:5555", screenshot="view.png", after=5, timeout=60)

Qt is imported only when the viewer runs: ``import aistem.gui`` and ``aistem --help`` stay fast, and
:mod:`aistem.core.protocol` / :mod:`aistem.gui.overlay` work without a display.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_view"]


def run_view(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run the viewer; see :func:`aistem.gui.app.run_view` (same arguments, returns the summary dict)."""
    from .app import run_view as _run_view

    return _run_view(*args, **kwargs)
