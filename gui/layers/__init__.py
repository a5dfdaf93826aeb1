"""The viewer's overlays: one class per overlay, one module each, all behind :class:`~.base.Layer`.

A new overlay is one new module with a :class:`~.base.Layer` subclass and one line in :data:`LAYERS`. The window
makes every layer once, passes each result to :meth:`~.base.Layer.draw`, asks :meth:`~.base.Layer.set_visible` per
display mode, collects the legend rows (:meth:`~.base.Layer.legend_rows`) and puts each layer's colour bar
(:meth:`~.base.Layer.colorbar`) beside the panels.
"""

from __future__ import annotations

from .base import MODES, DrawSettings, Layer, Panels
from .classes import ClassLayer
from .mi import MILayer
from .outline import OutlineLayer
from .rotation import RotationLayer

__all__ = ["LAYERS", "MODES", "ClassLayer", "DrawSettings", "Layer", "MILayer", "OutlineLayer", "Panels", "RotationLayer"]

#: Every overlay, in drawing order (lowest first).
LAYERS: tuple[type[Layer], ...] = (ClassLayer, MILayer, RotationLayer, OutlineLayer)
