"""Reference reflections for the lattice rotation: extraction, symmetry, and the shipped file against the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from aistem.core.model import PAPER_CLASS_NAMES
from aistem.core.rotation import RotationReferences, default_references, rotation_fold
from aistem.training.rotation_refs import build_references, main, reference_from_image
from tests.conftest import square_lattice


def _rotate(p: np.ndarray, deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.stack([p[:, 0] * np.cos(t) - p[:, 1] * np.sin(t), p[:, 0] * np.sin(t) + p[:, 1] * np.cos(t)], 1)


def _matches(a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray, tol: float = 2e-3) -> bool:
    """Every reflection of a (or its Friedel mate) is in b with the same weight (±5 %)."""
    for p, w in zip(a, wa, strict=True):
        d = np.minimum(np.hypot(*(b - p).T), np.hypot(*(b + p).T))
        j = int(np.argmin(d))
        if d[j] > tol or abs(wb[j] - w) > 0.05 * max(w, wb[j]):
            return False
    return True


def test_reflections_of_a_periodic_square_lattice():
    """15 px per period, 10 periods: the reflections are (1/a)(h, k) exactly, strongest {10}, then {11}."""
    a = 1.8  # [Å]
    img = square_lattice((150, 150), spacing=a, pixel_size=0.12, sigma=0.4)
    peaks, weights = reference_from_image(img, 0.12, max_peaks=4)
    assert peaks.dtype == np.float32 and weights[0] == pytest.approx(1.0)
    assert len(weights) == 4  # {10}: 2 of each Friedel pair; {11}: 2 — the cut keeps ties together
    q = np.hypot(peaks[:, 0], peaks[:, 1])
    np.testing.assert_allclose(np.sort(q), [1 / a, 1 / a, np.sqrt(2) / a, np.sqrt(2) / a], rtol=1e-5)
    assert np.all((peaks[:, 1] > 0) | ((peaks[:, 1] == 0) & (peaks[:, 0] > 0)))  # one of each Friedel pair
    with pytest.raises(ValueError, match="no Bragg reflection"):
        reference_from_image(np.ones((32, 32)), 0.12)


@pytest.mark.parametrize("name", PAPER_CLASS_NAMES)
def test_shipped_references_have_exactly_their_symmetry(name):
    """Invariant under 360°/n; and not under the next larger symmetry (else angles would be ambiguous)."""
    peaks, weights, fold = default_references().reference(name)
    assert fold == rotation_fold(name)
    assert _matches(_rotate(peaks, 360.0 / fold), weights, peaks, weights)
    for higher in {2: (4, 6), 4: (8,), 6: (12,)}[fold]:
        assert not _matches(_rotate(peaks, 360.0 / higher), weights, peaks, weights), higher


@pytest.mark.parametrize("name", ["FCC_Cu_100", "HCP_Ti_10m10", "BCC_Fe_111"])
def test_shipped_references_match_the_simulator(name):
    """A fresh, smaller simulation of the class gives the shipped reflections (positions and weights).

    Fails when the simulation's geometry changes (e.g. its image axes): rebuild with
    ``python -m aistem.training.rotation_refs``.
    """
    fresh = build_references([name], size=20.0, thickness=80.0)
    p, w, _ = fresh.reference(name)
    sp, sw, _ = default_references().reference(name)
    strong = w > 0.3
    assert strong.sum() >= 2
    assert _matches(p[strong], w[strong], sp, sw, tol=2e-3)


def test_references_save_and_command(tmp_path, capsys):
    refs = RotationReferences(["X_Y_100"], np.array([4]), np.array([[[0.5, 0.0], [0.0, 0.5]]]), np.array([[1.0, 1.0]]), {"k": 1})
    back = RotationReferences.load(refs.save(tmp_path / "r.json"))
    assert back.meta == {"k": 1} and back.reference("X_Y_100")[2] == 4
    assert back.reference("other") is None
    assert main(["--out", str(tmp_path / "r.txt")]) == 2
    assert "--out must name a .json file" in capsys.readouterr().err
