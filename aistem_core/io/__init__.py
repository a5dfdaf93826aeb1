"""Reading microscope files: every signal in a file, which one to analyse, its frames and pixel size.

``aistem.core.io`` keeps its earlier names (:func:`read_frames`, :func:`read_image`, :class:`ImageData`,
``SUPPORTED_SUFFIXES``); :mod:`.readers` holds the formats, :mod:`.signals` the kinds and the signal choice,
:mod:`.units` the unit spellings, :mod:`.results` the HyperSpy and CSV outputs.
"""

from .readers import RSCIIO_FORMATS, SUPPORTED_SUFFIXES, ImageData, list_signals, parse_frames, read_frames, read_image
from .signals import ANALYSABLE, KINDS, SignalInfo, choose_signal, describe
from .units import normalise_unit, to_angstrom

__all__ = [
    "ANALYSABLE",
    "KINDS",
    "RSCIIO_FORMATS",
    "SUPPORTED_SUFFIXES",
    "ImageData",
    "SignalInfo",
    "choose_signal",
    "describe",
    "list_signals",
    "normalise_unit",
    "parse_frames",
    "read_frames",
    "read_image",
    "to_angstrom",
]
