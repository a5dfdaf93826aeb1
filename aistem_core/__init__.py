"""AI-STEM analysis core: windows, FFT-HAADF descriptors, the Bayesian CNN, MC-dropout uncertainty.

Pure batched array code (NumPy or CuPy); imports no ZeroMQ, Qt or training code.

>>> from aistem.core import analyze, load_model
>>> result = analyze(image, pixel_size=0.12, samples=100)      # the shipped model (or model=load_model("m.keras"))
>>> result = analyze("scan.dm4")                                 # a file: its HAADF signal, its pixel size
"""

from .analysis import AnalysisResult, analyze
from .mc_dropout import AnalysisCancelled
from .model import AistemModel, ModelNotFoundError, load_model

__all__ = ["AistemModel", "AnalysisCancelled", "AnalysisResult", "ModelNotFoundError", "analyze", "load_model"]
