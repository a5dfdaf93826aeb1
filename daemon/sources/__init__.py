"""Frame sources, one module each (``docs/sources.md``): :mod:`.base` (a series of frames and the publishing
loop), :mod:`.replay` (files and recordings), :mod:`.sim` (synthetic frames), :mod:`.record` (a stream captured
into files) and :mod:`.client` (the acquisition side's publisher, the result reader and control requests)."""

from .base import Series, publish_series

__all__ = ["Series", "publish_series"]
