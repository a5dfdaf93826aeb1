"""The viewer's overlays: one class per overlay, one module each, all behind :class:`~.base.Layer`.

A new overlay is one new module with a :class:`~.base.Layer` subclass and one line: its entry in :data:`LAYERS`
below (or ``register_layer(MyLayer)`` from anywhere, before the window is made). The window makes every layer once,
passes each result to :meth:`~.base.Layer.draw`, asks :meth:`~.base.Layer.set_visible` per display mode, sets the
opacity (:meth:`~.base.Layer.set_opacity`), collects the legend rows (:meth:`~.base.Layer.legend_rows`) and puts
each layer's colour bar (:meth:`~.base.Layer.colorbar`) beside the panels; it knows no overlay by name.
"""

from __future__ import annotations

from .base import MODES, DrawSettings, Layer, LegendRow, Panels
from .classes import ClassLayer
from .mi import MILayer
from .outline import OutlineLayer
from .rotation import RotationLayer

__all__ = [
    "LAYERS",
    "MODES",
    "ClassLayer",
    "DrawSettings",
    "Layer",
    "LegendRow",
    "MILayer",
    "OutlineLayer",
    "Panels",
    "RotationLayer",
    "register_layer",
]

#: Every overlay, in the order the window makes them (and lists their legend rows); stacking follows each ``z``.
LAYERS: list[type[Layer]] = [ClassLayer, MILayer, RotationLayer, OutlineLayer]


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Add the overlay ``cls`` to every viewer window made from now on; returns ``cls`` (so it is also a decorator).

    Raises
    ------
    ValueError
        Another overlay already has ``cls.name``.
    """
    if cls in LAYERS:
        return cls
    if any(other.name == cls.name for other in LAYERS):
        raise ValueError(f"an overlay named {cls.name!r} is already registered")
    LAYERS.append(cls)
    return cls
