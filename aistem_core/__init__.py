"""AI-STEM analysis core: windows, FFT-HAADF descriptors, the Bayesian CNN, MC-dropout uncertainty.

Pure batched array code (NumPy or CuPy); imports no ZeroMQ, Qt or training code.

>>> from aistem.core import analyze, load_model
>>> result = analyze(image, pixel_size=0.12, samples=100)      # the shipped model (or model=load_model("m.keras"))
>>> result = analyze("scan.dm4")                                 # a file: its HAADF signal, its pixel size
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .analysis import AnalysisResult, analyze
    from .mc_dropout import AnalysisCancelled
    from .model import AistemModel, ModelNotFoundError, load_model

__all__ = ["AistemModel", "AnalysisCancelled", "AnalysisResult", "ModelNotFoundError", "analyze", "load_model"]

# Imported on first use (PEP 562), so that ``aistem.core.io`` and the argument checks of ``aistem analyze`` do not
# pay for the analysis modules before they can report an error.
_LAZY = {
    "AnalysisResult": ".analysis",
    "analyze": ".analysis",
    "AnalysisCancelled": ".mc_dropout",
    "AistemModel": ".model",
    "ModelNotFoundError": ".model",
    "load_model": ".model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
