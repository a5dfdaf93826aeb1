"""Shared fixtures: the paper's reference model (skipped where ../shared is absent) and synthetic lattices."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aistem.core.synthetic import square_lattice  # noqa: F401  (re-exported for the tests)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = ROOT.parent / "shared" / "reference"
REFERENCE_MODEL = REFERENCE_DIR / "ai4stem_optimal_model.h5"


@pytest.fixture(scope="session")
def reference_model_path() -> Path:
    if not REFERENCE_MODEL.is_file():
        pytest.skip("needs ../shared/reference/ai4stem_optimal_model.h5 (the paper's model), absent on this checkout")
    return REFERENCE_MODEL


@pytest.fixture(scope="session")
def reference_model(reference_model_path: Path):
    from aistem.core import load_model

    return load_model(reference_model_path)


@pytest.fixture(scope="session")
def small_model():
    """A freshly built (untrained) network of the paper's architecture: real Keras, no file needed."""
    from aistem.core.model import AistemModel, ModelInfo, build_model

    km = build_model(10, kernel_size=3, dropout=0.07, seed=1)
    return AistemModel(km, ModelInfo(class_names=[f"c{i}" for i in range(10)]), name="untrained", hash="0" * 16)
