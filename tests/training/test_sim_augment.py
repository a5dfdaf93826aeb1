"""Augmentation: geometry conventions of rotate/shear/crop, noise and blur, and the recipe's counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aistem.training.augment import (
    PeriodicImage,
    affine_crop,
    gaussian_blur,
    gaussian_noise,
    minmax,
    poisson_noise,
    rotation_shear_matrix,
)
from aistem.training.config import load_simulate_config
from aistem.training.recipe import AUGMENTATION_CODES, AugmentRecipe


def spot_image(n: int = 64, row: int = 32, col: int = 48, sigma: float = 1.5) -> np.ndarray:
    r, c = np.mgrid[0:n, 0:n]
    return np.exp(-((r - row) ** 2 + (c - col) ** 2) / (2 * sigma**2))


def centroid(img: np.ndarray) -> tuple[float, float]:
    r, c = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    w = np.clip(img - 0.2 * img.max(), 0, None)
    return float((r * w).sum() / w.sum()), float((c * w).sum() / w.sum())


def test_identity_crop_reproduces_the_image():
    rng = np.random.default_rng(0)
    img = rng.random((40, 50))
    # centre of the source at the centre of the output, same pixel size, no rotation: exact (spline interpolation)
    out = affine_crop(img, 1.0, (40, 50), 1.0, centre=(24.5, -19.5))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, img, atol=1e-5)


def test_rotation_is_counter_clockwise_as_displayed():
    img = spot_image()  # spot right of the centre (row 32, col 48)
    out = affine_crop(img, 1.0, (64, 64), 1.0, rotation=90.0, centre=(32.0, -32.0))
    r, c = centroid(out)
    # counter-clockwise by 90°: right of the centre → above it (smaller row)
    assert (r, c) == pytest.approx((31.5 - 16, 31.5), abs=0.3)


def test_shear_moves_content_sideways_in_proportion_to_height():
    img = spot_image(row=16, col=32)  # 16 px above the centre
    out = affine_crop(img, 1.0, (64, 64), 1.0, shear=0.25, centre=(32.0, -32.0))
    r, c = centroid(out)
    assert r == pytest.approx(15.5, abs=0.3) and c == pytest.approx(31.5 + 0.25 * 16, abs=0.3)
    m = rotation_shear_matrix(30.0, 0.1)
    assert np.linalg.det(m) == pytest.approx(1.0)  # rotation and shear keep the area


@settings(max_examples=20, deadline=None)
@given(rotation=st.floats(0, 90), shear=st.floats(-0.05, 0.05))
def test_crops_of_a_periodic_image_have_no_border(rotation, shear):
    """A rotated/sheared crop of a periodic lattice keeps the lattice's contrast into the corners."""
    n = 60
    r, c = np.mgrid[0:n, 0:n]
    lattice = (np.cos(2 * np.pi * r / 10) * np.cos(2 * np.pi * c / 10)).astype(np.float64)
    out = PeriodicImage(lattice, 0.1).render((100, 100), 0.12, rotation=rotation, shear=shear, centre=(1.0, -2.0))
    for corner in (out[:12, :12], out[:12, -12:], out[-12:, :12], out[-12:, -12:]):
        assert corner.max() - corner.min() > 1.0  # both peaks and troughs, not a flat fill


def test_resampling_changes_the_pixel_size():
    n = 100
    _r, c = np.mgrid[0:n, 0:n]
    lattice = np.cos(2 * np.pi * c / 20.0)  # period 20 px of 0.1 Å = 2 Å
    out = PeriodicImage(lattice, 0.1).render((1, 200), 0.125)
    f = np.abs(np.fft.rfft(out[0] - out[0].mean()))
    assert np.argmax(f) == round(200 * 0.125 / 2.0)  # 2 Å period on the 0.125 Å/px grid


def test_noise_and_blur():
    rng = np.random.default_rng(1)
    x = np.full((200, 200), 0.5, np.float32)
    p = poisson_noise(x, rng, dose=100.0)
    assert p.dtype == np.float32 and p.mean() == pytest.approx(0.5, abs=0.01)
    assert p.var() == pytest.approx(0.5 / 100.0, rel=0.1)  # Poisson: var = mean/dose
    auto = poisson_noise(minmax(rng.random((100, 100))), rng)  # skimage's rule: 2^14 levels → tiny noise
    assert 0.0 <= auto.min() and auto.max() <= 1.0
    g = gaussian_noise(x, rng, 0.01)
    assert g.var() == pytest.approx(0.01, rel=0.1) and g.min() >= 0 and g.max() <= 1
    noisy = rng.random((100, 100)).astype(np.float32)
    assert gaussian_blur(noisy, 2.0).std() < noisy.std() / 3
    assert np.array_equal(minmax(np.full((3, 3), 2.0)), np.zeros((3, 3)))
    with pytest.raises(ValueError):
        gaussian_noise(x, rng, -1.0)


def test_default_recipe_counts_the_papers_31470():
    cfg = load_simulate_config()
    rec = AugmentRecipe.from_config(cfg["augment"], cfg["simulation"]["pixel_size"])
    assert rec.window_px == 100
    assert len(rec.rotations) == 19 and rec.rotations[0] == 0 and rec.rotations[-1] == 90
    assert len(rec.shears) == 11 and rec.shears[0] == -0.05 and rec.shears[-1] == 0.05
    assert rec.noise_positions == 60
    assert rec.noisy_per_position == 14
    assert rec.per_base == 209 + 840 == 1049
    # the paper's set: each class's own metal at three lattice constants
    assert 3 * 10 * rec.per_base == 31470


def test_recipe_windows_match_the_count_and_codes():
    rec = AugmentRecipe(rotations=(0.0, 45.0, 90.0), shears=(-0.05, 0.0, 0.05))
    src = PeriodicImage(np.random.default_rng(0).random((64, 64)), 0.12)
    wins = list(rec.windows(src, np.random.default_rng(0)))
    assert len(wins) == rec.per_base == 9 + 4 * 14
    codes = [w.augmentation for w in wins]
    assert set(codes) == set(AUGMENTATION_CODES)
    assert codes.count(0) == 9 and codes.count(1) == 4 * 2 and codes.count(3) == 4 * 4 and codes.count(5) == 4 * 4
    for w in wins:
        assert w.image.shape == (100, 100) and w.image.dtype == np.float32
        assert 0.0 <= w.image.min() and w.image.max() <= 1.0
    # reproducible from the seed
    again = list(rec.windows(src, np.random.default_rng(0)))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(wins, again, strict=True))


def test_recipe_rejects_bad_settings():
    cfg = load_simulate_config(overrides={"augment": {"rotation_step": -5.0}})
    with pytest.raises(ValueError, match="rotation step"):
        AugmentRecipe.from_config(cfg["augment"], 0.12)
    with pytest.raises(ValueError, match="unknown setting"):
        load_simulate_config(overrides={"augment": {"rotation_steps": 5.0}})
