"""Reading microscope files: every signal in a file, which one to analyse, its frames and pixel size.

``aistem.core.io`` keeps its earlier names (:func:`read_frames`, :func:`read_image`, :class:`ImageData`,
``SUPPORTED_SUFFIXES``); :mod:`.readers` holds the formats, :mod:`.signals` the kinds and the signal choice,
:mod:`.units` the unit spellings, :mod:`.results` the HyperSpy and CSV outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_getattr
from .readers import RSCIIO_FORMATS, SUPPORTED_SUFFIXES, ImageData, list_signals, parse_frames, read_frames, read_image
from .signals import ANALYSABLE, KINDS, SignalInfo, choose_signal, describe
from .units import normalise_unit, to_angstrom

if TYPE_CHECKING:
    from .mrc_peek import mrc_images
    from .results import format_source, parse_source, summary_row, write_hspy, write_summary
    from .velox_peek import velox_images

# The result writers and the quick metadata looks are imported on first use (PEP 562): the error paths of
# ``aistem analyze`` stay light.
_LAZY = {
    "format_source": ".results",
    "mrc_images": ".mrc_peek",
    "parse_source": ".results",
    "summary_row": ".results",
    "velox_images": ".velox_peek",
    "write_hspy": ".results",
    "write_summary": ".results",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = [
    "ANALYSABLE",
    "KINDS",
    "RSCIIO_FORMATS",
    "SUPPORTED_SUFFIXES",
    "ImageData",
    "SignalInfo",
    "choose_signal",
    "describe",
    "format_source",
    "list_signals",
    "mrc_images",
    "normalise_unit",
    "parse_frames",
    "parse_source",
    "read_frames",
    "read_image",
    "summary_row",
    "to_angstrom",
    "velox_images",
    "write_hspy",
    "write_summary",
]
