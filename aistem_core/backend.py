"""Array-module switch: the only place that imports CuPy.

The core is written once against an *array module* ``xp`` (``numpy`` or
``cupy``), in the manner of abTEM's ``abtem/core/backend.py``.  Everything that
needs to know whether data lives on the GPU asks this module.
"""

from __future__ import annotations

from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

try:  # pragma: no cover - depends on the machine
    import cupy as cp

    try:
        cp.cuda.runtime.getDeviceCount()
    except Exception:  # CuPy installed but no usable GPU/driver
        cp = None
except ImportError:  # pragma: no cover - the usual CPU machine
    cp = None

__all__ = [
    "PRECISIONS",
    "PRECISION_HELP",
    "USER_PRECISIONS",
    "asnumpy",
    "cupy_available",
    "fft_module",
    "get_array_module",
    "is_xla_failure",
    "native_bfloat16",
    "reduced_precision_copy",
    "resolve_device",
    "resolve_precision",
    "to_tensor",
]

#: Compute dtypes of the network; ``auto`` is resolved by :func:`resolve_precision`.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
#: The ones the command line and the daemon's settings offer (float16 has no fast CPU path).
USER_PRECISIONS = ("auto", "float32", "bfloat16")
PRECISION_HELP = "compute dtype of the network; auto: bfloat16 on a CPU with native bfloat16 (AVX512-BF16/AMX), else float32"


def cupy_available() -> bool:
    """True when CuPy is importable and a CUDA device answers."""
    return cp is not None


def get_array_module(x: Any = None) -> ModuleType:
    """Return ``numpy`` or ``cupy``.

    Parameters
    ----------
    x : array, str or None
        An array (its module is returned), a device name ``"cpu"``/``"numpy"``
        or ``"gpu"``/``"cupy"``, or None for NumPy.
    """
    if x is None:
        return np
    if isinstance(x, str):
        name = x.lower()
        if name in ("cpu", "numpy"):
            return np
        if name in ("gpu", "cupy", "cuda"):
            if cp is None:
                raise RuntimeError("device 'gpu' requested but CuPy with a working CUDA device is not available")
            return cp
        raise ValueError(f"unknown device {x!r}: use 'cpu' or 'gpu'")
    if isinstance(x, ModuleType):
        return x
    if cp is not None and isinstance(x, cp.ndarray):
        return cp
    return np


def resolve_device(device: str | None) -> str:
    """Map ``"auto"``/None to ``"gpu"`` when CuPy works, else ``"cpu"``."""
    if device in (None, "auto"):
        return "gpu" if cp is not None else "cpu"
    get_array_module(device)  # validates
    return "gpu" if device in ("gpu", "cupy", "cuda") else "cpu"


def asnumpy(x: Any) -> np.ndarray:
    """Copy an array of either module to host memory as a NumPy array."""
    if cp is not None and isinstance(x, cp.ndarray):
        return cp.asnumpy(x)
    return np.asarray(x)


def to_tensor(x: Any) -> Any:
    """An array as a tensor of the Keras backend, without leaving the device.

    A CuPy array goes to JAX, torch or TensorFlow through DLPack (zero-copy on the GPU); a NumPy array through
    ``keras.ops.convert_to_tensor``.
    """
    from keras import backend, ops

    if cp is not None and isinstance(x, cp.ndarray):  # pragma: no cover - needs a GPU
        name = backend.backend()
        if name == "jax":
            import jax.dlpack

            return jax.dlpack.from_dlpack(x)
        if name == "torch":
            import torch

            return torch.from_dlpack(x)
        if name == "tensorflow":
            import tensorflow as tf

            return tf.experimental.dlpack.from_dlpack(x.toDlpack())
    return ops.convert_to_tensor(np.asarray(x))


def fft_module(xp: ModuleType) -> Any:
    """The SciPy-compatible FFT module for ``xp`` (``scipy.fft`` or ``cupyx.scipy.fft``)."""
    if xp is np:
        import scipy.fft

        return scipy.fft
    import cupyx.scipy.fft  # pragma: no cover - GPU only

    return cupyx.scipy.fft


@lru_cache(maxsize=1)
def native_bfloat16() -> bool:
    """True where this CPU has bfloat16 arithmetic in hardware (AVX512-BF16, which every AMX CPU also has).

    Read from NumPy's CPU-feature table (any OS), else from ``/proc/cpuinfo`` (Linux).
    """
    import importlib

    features: dict[str, bool] = {}
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # NumPy 2, NumPy 1
        try:
            features = dict(getattr(importlib.import_module(name), "__cpu_features__", {}))
            break
        except ImportError:
            continue
    if features.get("AVX512BF16"):
        return True
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def resolve_precision(precision: str) -> str:
    """The compute dtype ``precision`` stands for: ``auto`` is ``bfloat16`` on the TensorFlow backend of a CPU with
    native bfloat16 (:func:`native_bfloat16`; the sampler then runs on oneDNN's bfloat16 kernels, ≈ 1.5–2× faster
    than float32 with the same class map, ``benchmarks/RESULTS.md``), ``float32`` everywhere else (including GPUs,
    where reduced precision has not been measured yet). Other values are returned unchanged.

    Raises
    ------
    ValueError
        For a value not in :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    import keras

    return _auto_precision(keras.backend.backend())


@lru_cache(maxsize=4)
def _auto_precision(backend: str) -> str:
    """What ``auto`` means for ``backend`` on this machine (asked once: it reads the CPU flags and TF's devices)."""
    if backend == "tensorflow" and native_bfloat16():
        import tensorflow as tf

        if not tf.config.list_logical_devices("GPU"):
            return "bfloat16"
    return "float32"


def reduced_precision_copy(keras_model: Any, precision: str) -> Any:
    """The same network with a mixed-precision compute dtype and the same (float32) weights."""
    import keras

    policy = f"mixed_{precision}"

    def clone(layer: Any) -> Any:
        cfg = layer.get_config()
        cfg["dtype"] = policy
        return layer.__class__.from_config(cfg)

    copy = keras.models.clone_model(keras_model, clone_function=clone)
    copy.set_weights(keras_model.get_weights())
    return copy


def is_xla_failure(exc: BaseException) -> bool:
    """True for the errors TensorFlow raises when XLA cannot compile or run a function."""
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - other backends do not compile with XLA
        return False
    text = str(exc)
    return isinstance(exc, (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError, tf.errors.InternalError)) and (
        "XLA" in text or "xla" in text or "jit" in text.lower()
    )
