"""Protocol names and versions of the wire messages (``docs/protocol.md`` §1).

A receiver accepts a message whose name and **major** version match its own; a minor version only adds optional
keys or arrays, so every ``aistem-result/1.x`` is read by the same code.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ERROR_PROTOCOL",
    "FRAME_PROTOCOL",
    "RESULT_PROTOCOL",
    "STATUS_PROTOCOL",
    "minor_version",
    "same_major",
]

FRAME_PROTOCOL = "aistem-frame/1"
#: 1.1: live previews (``final: false``, ``stage``, ``stages``); 1.2: the ``unknown`` map; 1.3: coarse-to-fine
#: (``filled`` and ``refinement_level`` arrays). Every 1.x is readable as 1.
RESULT_PROTOCOL = "aistem-result/1.3"
ERROR_PROTOCOL = "aistem-error/1"
STATUS_PROTOCOL = "aistem-status/1"


def same_major(value: Any, expected: str) -> bool:
    """``value`` names ``expected``'s protocol with the same major version (``"aistem-frame/1.2"`` is fine)."""
    if not isinstance(value, str):
        return False
    name, _, version = value.partition("/")
    want_name, _, want_version = expected.partition("/")
    return name == want_name and version.split(".")[0] == want_version.split(".")[0]


def minor_version(header: dict[str, Any]) -> int:
    """Minor version of a header's ``protocol`` (``"aistem-result/1.2"`` → 2; 0 when absent or unreadable)."""
    _, _, version = str(header.get("protocol", "")).partition("/")
    _, _, minor = version.partition(".")
    return int(minor) if minor.isdigit() else 0
