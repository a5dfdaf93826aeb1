"""AI-STEM analysis core: windows, FFT-HAADF descriptors, the Bayesian CNN, MC-dropout uncertainty.

Pure batched array code (NumPy or CuPy); imports no ZeroMQ, Qt or training code.

>>> from aistem.core import analyze, load_model
>>> result = analyze(image, pixel_size=0.12, samples=100)      # the shipped model (or model=load_model("m.keras"))
>>> result = analyze("scan.dm4")                                 # a file: its HAADF signal, its pixel size
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_getattr

if TYPE_CHECKING:
    from .analysis import AnalysisResult, analyze, resolve_windows, validate_image, warm_up
    from .backend import PRECISION_HELP, USER_PRECISIONS
    from .batch import FrameJob, run_batch
    from .cluster import cluster_client, describe_client
    from .descriptor import fft_haadf_descriptor
    from .descriptor_stream import DescriptorStream
    from .domain import DomainSettings
    from .figures import class_colors, grid_extent, mi_scale_max, plot_result, short_class_name
    from .mc_dropout import AnalysisCancelled, MCDropoutPredictor
    from .model import (
        FILTERS,
        KERNEL_INITS,
        METADATA_ENTRY,
        PAPER_CLASS_NAMES,
        AistemModel,
        ModelInfo,
        ModelNotFoundError,
        build_model,
        default_model_path,
        load_model,
        save_model,
    )
    from .rotation import DEFAULT_REFERENCES, RotationReferences, rotation_fold, rotation_period
    from .samples import sample_series_path
    from .scale_limits import DESCRIPTOR_PX, check_window
    from .synthetic import square_lattice
    from .uncertainty import uncertainty_maps
    from .windows import WindowGrid, to_pixels, window_grid

__all__ = [
    "DEFAULT_REFERENCES",
    "DESCRIPTOR_PX",
    "FILTERS",
    "KERNEL_INITS",
    "METADATA_ENTRY",
    "PAPER_CLASS_NAMES",
    "PRECISION_HELP",
    "USER_PRECISIONS",
    "AistemModel",
    "AnalysisCancelled",
    "AnalysisResult",
    "DescriptorStream",
    "DomainSettings",
    "FrameJob",
    "MCDropoutPredictor",
    "ModelInfo",
    "ModelNotFoundError",
    "RotationReferences",
    "WindowGrid",
    "analyze",
    "build_model",
    "check_window",
    "class_colors",
    "cluster_client",
    "default_model_path",
    "describe_client",
    "fft_haadf_descriptor",
    "grid_extent",
    "load_model",
    "mi_scale_max",
    "plot_result",
    "resolve_windows",
    "rotation_fold",
    "rotation_period",
    "run_batch",
    "sample_series_path",
    "save_model",
    "short_class_name",
    "square_lattice",
    "to_pixels",
    "uncertainty_maps",
    "validate_image",
    "warm_up",
    "window_grid",
]

# Imported on first use (PEP 562), so that ``aistem.core.io`` and the argument checks of ``aistem analyze`` do not
# pay for the analysis modules before they can report an error.
_LAZY = {
    "AnalysisResult": ".analysis",
    "analyze": ".analysis",
    "resolve_windows": ".analysis",
    "validate_image": ".analysis",
    "warm_up": ".analysis",
    "PRECISION_HELP": ".backend",
    "USER_PRECISIONS": ".backend",
    "FrameJob": ".batch",
    "run_batch": ".batch",
    "cluster_client": ".cluster",
    "describe_client": ".cluster",
    "fft_haadf_descriptor": ".descriptor",
    "DescriptorStream": ".descriptor_stream",
    "DomainSettings": ".domain",
    "class_colors": ".figures",
    "grid_extent": ".figures",
    "mi_scale_max": ".figures",
    "plot_result": ".figures",
    "short_class_name": ".figures",
    "AnalysisCancelled": ".mc_dropout",
    "MCDropoutPredictor": ".mc_dropout",
    "AistemModel": ".model",
    "FILTERS": ".model",
    "KERNEL_INITS": ".model",
    "METADATA_ENTRY": ".model",
    "ModelInfo": ".model",
    "ModelNotFoundError": ".model",
    "PAPER_CLASS_NAMES": ".model",
    "build_model": ".model",
    "default_model_path": ".model",
    "load_model": ".model",
    "save_model": ".model",
    "DEFAULT_REFERENCES": ".rotation",
    "RotationReferences": ".rotation",
    "rotation_fold": ".rotation",
    "rotation_period": ".rotation",
    "sample_series_path": ".samples",
    "DESCRIPTOR_PX": ".scale_limits",
    "check_window": ".scale_limits",
    "square_lattice": ".synthetic",
    "uncertainty_maps": ".uncertainty",
    "WindowGrid": ".windows",
    "to_pixels": ".windows",
    "window_grid": ".windows",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
