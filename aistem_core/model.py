"""The paper's Bayesian CNN: builder, save/load with metadata, and the legacy ``.h5`` loader.

Architecture (Leitherer et al. 2023): input 64×64×1 descriptor; six conv layers
with 32, 32, 16, 16, 8, 8 filters ('same' padding), each followed by LeakyReLU
and Dropout; max-pooling 2×2 after conv 2 and conv 4; Flatten; Dense 128 (ReLU)
and Dropout; Dense softmax over the classes.  Dropout is kept on at inference
(Monte-Carlo dropout) by :mod:`aistem.core.mc_dropout`, which applies every
``Dropout`` layer explicitly, so it does not depend on how the file was saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .startup import import_keras

__all__ = [
    "FILTERS",
    "PAPER_CLASS_NAMES",
    "AistemModel",
    "ModelInfo",
    "ModelNotFoundError",
    "build_model",
    "default_model_path",
    "load_model",
    "save_model",
]

PAPER_CLASS_NAMES: tuple[str, ...] = (
    "BCC_Fe_100",
    "BCC_Fe_110",
    "BCC_Fe_111",
    "FCC_Cu_100",
    "FCC_Cu_110",
    "FCC_Cu_111",
    "FCC_Cu_211",
    "HCP_Ti_0001",
    "HCP_Ti_10m10",
    "HCP_Ti_2m1m10",
)
FILTERS: tuple[int, ...] = (32, 32, 16, 16, 8, 8)
METADATA_ENTRY = "aistem_metadata.json"


class ModelNotFoundError(FileNotFoundError):
    """No model file where one was asked for or expected."""


@dataclass
class ModelInfo:
    """Metadata stored with a model.

    Attributes
    ----------
    class_names : list of str
        Output index → class name.
    pixel_size : float
        Pixel size of the training images [Å/px].
    window : float
        Window side used in training [Å].
    descriptor : dict
        Descriptor settings (``size`` [px], ``threshold``).
    extra : dict
        Anything else (training data hash, metrics, hyperparameters).
    """

    class_names: list[str]
    pixel_size: float = 0.12
    window: float = 12.0
    descriptor: dict[str, Any] = field(default_factory=lambda: {"size": 64, "threshold": 0.1})
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "class_names": list(self.class_names),
            "pixel_size": self.pixel_size,
            "window": self.window,
            "descriptor": dict(self.descriptor),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInfo:
        return cls(
            class_names=list(d["class_names"]),
            pixel_size=float(d.get("pixel_size", 0.12)),
            window=float(d.get("window", 12.0)),
            descriptor=dict(d.get("descriptor", {"size": 64, "threshold": 0.1})),
            extra=dict(d.get("extra", {})),
        )


@dataclass
class AistemModel:
    """A Keras model with its metadata, name and file hash."""

    keras_model: Any
    info: ModelInfo
    name: str
    hash: str
    path: str | None = None

    @property
    def class_names(self) -> list[str]:
        return self.info.class_names

    @property
    def input_size(self) -> int:
        return int(self.keras_model.input_shape[1])


KERNEL_INITS = ("orthogonal", "glorot_uniform")
"""Conv-kernel initialisers `build_model` accepts (the paper's model: orthogonal)."""


def build_model(
    n_classes: int = 10,
    *,
    kernel_size: int = 3,
    dropout: float = 0.07,
    input_size: int = 64,
    filters: tuple[int, ...] = FILTERS,
    dense_units: int = 128,
    negative_slope: float = 0.0,
    kernel_init: str = "orthogonal",
    seed: int | None = None,
) -> Any:
    """Build the paper's Bayesian CNN as a Keras 3 ``Sequential`` model.

    Parameters
    ----------
    n_classes : int
        Number of output classes.
    kernel_size : int
        Side of the square conv kernels (paper's search: 3, 5 or 7) [px].
    dropout : float
        Dropout rate after every weight layer but the last (paper: 0.02–0.10).
    input_size : int
        Side of the input descriptor [px].
    negative_slope : float
        LeakyReLU slope for negative inputs (the paper's published model uses 0).
    kernel_init : str
        Keras initialiser of the conv kernels: ``"orthogonal"`` as the paper's published model, or
        ``"glorot_uniform"`` (Keras' default). The dense layers use Glorot-uniform, as the paper's.
    seed : int, optional
        Seed for the weight initialisers.
    """
    import keras
    from keras import layers

    if kernel_size < 1 or not (0.0 <= dropout < 1.0) or n_classes < 2:
        raise ValueError(f"invalid model parameters: kernel_size={kernel_size}, dropout={dropout}, n_classes={n_classes}")
    if kernel_init not in KERNEL_INITS:
        raise ValueError(f"kernel_init must be one of {', '.join(KERNEL_INITS)}, got {kernel_init!r}")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = keras.Sequential(name="aistem_bayesian_cnn")
    model.add(keras.Input(shape=(input_size, input_size, 1), name="descriptor"))
    for i, f in enumerate(filters):
        model.add(layers.Conv2D(f, kernel_size, padding="same", kernel_initializer=kernel_init, name=f"conv_{i}"))
        model.add(layers.LeakyReLU(negative_slope=negative_slope, name=f"leaky_relu_{i}"))
        model.add(layers.Dropout(dropout, name=f"dropout_{i}"))
        if i in (1, 3):
            model.add(layers.MaxPooling2D(2, name=f"max_pool_{i // 2}"))
    model.add(layers.Flatten(name="flatten"))
    model.add(layers.Dense(dense_units, activation="relu", name="dense_hidden"))
    model.add(layers.Dropout(dropout, name="dropout_dense"))
    model.add(layers.Dense(n_classes, activation="softmax", name="probabilities"))
    return model


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def save_model(keras_model: Any, path: str | os.PathLike[str], info: ModelInfo) -> Path:
    """Save as ``.keras`` with the metadata inside the archive (entry ``aistem_metadata.json``)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"models are saved as .keras files, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    keras_model.save(path)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(METADATA_ENTRY, json.dumps(info.to_dict(), indent=2))
    return path


def default_model_path() -> Path | None:
    """The model shipped in the package, or ``$AISTEM_MODEL``; None if neither exists."""
    env = os.environ.get("AISTEM_MODEL")
    if env:
        return Path(env)
    from importlib import resources

    shipped = Path(str(resources.files("aistem.core.models").joinpath("aistem_default.keras")))
    return shipped if shipped.is_file() else None


def load_model(path: str | os.PathLike[str] | None = None) -> AistemModel:
    """Load a project model (``.keras``) or the paper's legacy ``.h5`` model.

    Parameters
    ----------
    path : path, optional
        Model file. None loads the shipped default (or ``$AISTEM_MODEL``).

    Raises
    ------
    ModelNotFoundError
        If no file is given and none is installed, or the file does not exist.
    ValueError
        If the file is not a model this program understands.
    """
    if path is None:
        found = default_model_path()
        if found is None:
            raise ModelNotFoundError(
                "no model is installed yet: pass a model file (--model PATH), or set AISTEM_MODEL; "
                "the paper's model ../shared/reference/ai4stem_optimal_model.h5 works"
            )
        path = found
    p = Path(path)
    if not p.is_file():
        raise ModelNotFoundError(f"model file not found: {p}")
    import_keras()  # the first Keras import of a process that analyses: no scikit-learn, no TensorFlow notices
    digest = _file_hash(p)
    if p.suffix == ".h5":
        km, info = _load_legacy_h5(p)
    elif p.suffix == ".keras":
        km, info = _load_keras(p)
    else:
        raise ValueError(f"unknown model format {p.suffix!r} for {p}: expected .keras or the paper's .h5")
    return AistemModel(keras_model=km, info=info, name=p.stem, hash=digest, path=str(p))


def _load_keras(p: Path) -> tuple[Any, ModelInfo]:
    import keras

    try:
        with zipfile.ZipFile(p) as z:
            meta = json.loads(z.read(METADATA_ENTRY)) if METADATA_ENTRY in z.namelist() else None
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{p} is not a valid .keras file: {exc}") from exc
    km = keras.models.load_model(p, compile=False)
    if meta is None:
        n = int(km.output_shape[-1])
        names = list(PAPER_CLASS_NAMES) if n == len(PAPER_CLASS_NAMES) else [f"class_{i}" for i in range(n)]
        info = ModelInfo(class_names=names)
    else:
        info = ModelInfo.from_dict(meta)
    return km, info


def _load_legacy_h5(p: Path) -> tuple[Any, ModelInfo]:
    """Rebuild the paper's architecture from the ``.h5`` config and copy its weights by layer order.

    Keras 3 would load the file but silently lose the always-on dropout; here
    the dropout rates come from the file and MC inference applies them itself.
    """
    import h5py
    import numpy as np

    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise ValueError(f"{p} is not an HDF5 model file: {exc}") from exc
    with f:
        if "model_config" not in f.attrs or "model_weights" not in f:
            raise ValueError(f"{p} has no Keras model config/weights")
        cfg = json.loads(f.attrs["model_config"])
        layers_cfg = cfg["config"]["layers"]
        convs = [c["config"] for c in layers_cfg if c["class_name"] == "Conv2D"]
        rates = [c["config"]["rate"] for c in layers_cfg if c["class_name"] == "Dropout"]
        denses = [c["config"] for c in layers_cfg if c["class_name"] == "Dense"]
        leaky = [c["config"] for c in layers_cfg if c["class_name"] == "LeakyReLU"]
        inp = next((c["config"] for c in layers_cfg if c["class_name"] == "InputLayer"), None)
        if len(convs) != 6 or len(denses) != 2 or not rates:
            raise ValueError(f"{p} is not the AI-STEM architecture (6 conv + 2 dense layers)")
        filters = tuple(int(c["filters"]) for c in convs)
        kernel = int(convs[0]["kernel_size"][0])
        slope = float(leaky[0].get("alpha", leaky[0].get("negative_slope", 0.0))) if leaky else 0.0
        size = int(inp["batch_input_shape"][1]) if inp and inp.get("batch_input_shape") else 64
        n_classes = int(denses[1]["units"])
        weights = []
        group = f["model_weights"]
        for c in convs + denses:
            g = group[c["name"]]
            while "kernel:0" not in g and len(g.keys()) == 1:
                g = g[next(iter(g.keys()))]
            weights.append((np.asarray(g["kernel:0"]), np.asarray(g["bias:0"])))
    if len(set(rates)) != 1:
        raise ValueError(f"{p}: differing dropout rates {rates} are not supported")
    km = build_model(
        n_classes,
        kernel_size=kernel,
        dropout=float(rates[0]),
        input_size=size,
        filters=filters,
        dense_units=int(denses[0]["units"]),
        negative_slope=slope,
    )
    targets = [layer for layer in km.layers if layer.weights]
    for layer, (k, b) in zip(targets, weights, strict=True):
        layer.set_weights([k, b])
    classes_file = p.with_name("ai4stem_classes.json")
    if classes_file.is_file():
        mapping = json.loads(classes_file.read_text())
        names = [mapping[str(i)] for i in range(n_classes)]
    elif n_classes == len(PAPER_CLASS_NAMES):
        names = list(PAPER_CLASS_NAMES)
    else:
        names = [f"class_{i}" for i in range(n_classes)]
    info = ModelInfo(class_names=names, pixel_size=0.12, window=12.0, extra={"source": "paper (legacy .h5)"})
    return km, info
