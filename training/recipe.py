"""The augmentation recipe: which windows one base image becomes.

Per base image (defaults, the paper's recipe):

* every rotation (0–90° in 5° steps, 19) × every shear (−0.05…0.05 in 0.01 steps, 11):
  one clean window of 12 Å = 100 px → 209;
* at every second rotation × every second shear (10 × 6 = 60 positions), after
  min–max normalising the window to [0, 1]:

  - Poisson noise, 2 draws                                          → 2
  - Gaussian blur, σ = 2 and 4 px                                   → 2
  - the Poisson images blurred with each σ                          → 4
  - Gaussian noise, variance 0.005 and 0.01, on the images without
    Poisson noise (the clean one and the two blurred ones)          → 6

  → 60 × 14 = 840;

so 1049 windows per base image and 10 classes × 3 lattice constants × 1049 =
31,470 windows, the paper's count.  Every number is a setting of
``[augment]`` in ``config/simulate.toml``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .augment import PeriodicImage, gaussian_blur, gaussian_noise, minmax, poisson_noise

__all__ = ["AUGMENTATION_CODES", "AugmentRecipe", "Window"]

#: Value of the ``augmentation`` field → what was done to the window.
AUGMENTATION_CODES: dict[int, str] = {
    0: "clean",
    1: "poisson",
    2: "blur",
    3: "poisson+blur",
    4: "gaussian",
    5: "blur+gaussian",
}


@dataclass(frozen=True)
class Window:
    """One augmented window and how it was made.

    Attributes
    ----------
    image : ndarray of shape (window_px, window_px), float32
    rotation : float
        [°], counter-clockwise.
    shear : float
    augmentation : int
        Key of :data:`AUGMENTATION_CODES`.
    sigma : float
        Blur [px] (0 if none).
    variance : float
        Gaussian-noise variance (0 if none).
    """

    image: np.ndarray
    rotation: float
    shear: float
    augmentation: int
    sigma: float = 0.0
    variance: float = 0.0


def _steps(start: float, stop: float, step: float, name: str) -> np.ndarray:
    if step <= 0:
        if start == stop:
            return np.array([float(start)])
        raise ValueError(f"{name} step must be positive, got {step}")
    if stop < start:
        raise ValueError(f"{name}: stop {stop} is below start {start}")
    n = math.floor((stop - start) / step + 1e-9) + 1
    return np.round(start + step * np.arange(n), 10).astype(float)


@dataclass(frozen=True)
class AugmentRecipe:
    """Rotations, shears and noise settings (see the module docstring).

    Attributes
    ----------
    window_px : int
        Window side [px].
    pixel_size : float
        [Å/px] of the windows.
    rotations : tuple of float
        [°].
    shears : tuple of float
    noise_every_rotation, noise_every_shear : int
        Noisy copies at every n-th rotation and shear index (0: never).
    poisson_draws : int
    poisson_dose : float
        Counts at intensity 1 (0: skimage's rule).
    blur_sigmas : tuple of float
        [px].
    blur_poisson : bool
    gaussian_variances : tuple of float
    random_translation : bool
    """

    window_px: int = 100
    pixel_size: float = 0.12
    rotations: tuple[float, ...] = tuple(_steps(0, 90, 5, "rotation").tolist())
    shears: tuple[float, ...] = tuple(_steps(-0.05, 0.05, 0.01, "shear").tolist())
    noise_every_rotation: int = 2
    noise_every_shear: int = 2
    poisson_draws: int = 2
    poisson_dose: float = 0.0
    blur_sigmas: tuple[float, ...] = (2.0, 4.0)
    blur_poisson: bool = True
    gaussian_variances: tuple[float, ...] = (0.005, 0.01)
    random_translation: bool = True

    def __post_init__(self) -> None:
        if self.window_px < 2 or self.pixel_size <= 0:
            raise ValueError(f"window must be ≥ 2 px and pixel size > 0, got {self.window_px} px, {self.pixel_size} Å/px")
        if self.poisson_draws < 0 or self.noise_every_rotation < 0 or self.noise_every_shear < 0:
            raise ValueError("poisson_draws and noise_every_* must be ≥ 0")
        if any(s < 0 for s in self.blur_sigmas) or any(v < 0 for v in self.gaussian_variances):
            raise ValueError("blur sigmas [px] and Gaussian variances must be ≥ 0")

    @classmethod
    def from_config(cls, augment: dict[str, Any], pixel_size: float) -> AugmentRecipe:
        """From the ``[augment]`` table and the pixel size [Å/px]."""
        a = augment
        window_px = max(2, round(float(a["window"]) / pixel_size))
        return cls(
            window_px=window_px,
            pixel_size=float(pixel_size),
            rotations=tuple(
                _steps(float(a["rotation_start"]), float(a["rotation_stop"]), float(a["rotation_step"]), "rotation").tolist()
            ),
            shears=tuple(_steps(float(a["shear_start"]), float(a["shear_stop"]), float(a["shear_step"]), "shear").tolist()),
            noise_every_rotation=int(a["noise_every_rotation"]),
            noise_every_shear=int(a["noise_every_shear"]),
            poisson_draws=int(a["poisson_draws"]),
            poisson_dose=float(a["poisson_dose"]),
            blur_sigmas=tuple(float(s) for s in a["blur_sigmas"]),
            blur_poisson=bool(a["blur_poisson"]),
            gaussian_variances=tuple(float(v) for v in a["gaussian_variances"]),
            random_translation=bool(a["random_translation"]),
        )

    def _noisy(self, ir: int, js: int) -> bool:
        return (
            self.noise_every_rotation > 0
            and self.noise_every_shear > 0
            and ir % self.noise_every_rotation == 0
            and js % self.noise_every_shear == 0
        )

    @property
    def noise_positions(self) -> int:
        """Rotation × shear positions that get noisy copies."""
        return sum(self._noisy(i, j) for i in range(len(self.rotations)) for j in range(len(self.shears)))

    @property
    def noisy_per_position(self) -> int:
        """Noisy/blurred windows made at each noise position."""
        nb, ng, npo = len(self.blur_sigmas), len(self.gaussian_variances), self.poisson_draws
        return npo + nb + (npo * nb if self.blur_poisson else 0) + ng * (1 + nb)

    @property
    def per_base(self) -> int:
        """Windows made from one base image."""
        return len(self.rotations) * len(self.shears) + self.noise_positions * self.noisy_per_position

    def windows(self, source: PeriodicImage, rng: np.random.Generator) -> Iterator[Window]:
        """All windows of one base image, in a fixed order (:attr:`per_base` of them).

        Parameters
        ----------
        source : PeriodicImage
            The simulated periodic base image.
        rng : numpy.random.Generator
            Translations and noise.
        """
        w = self.window_px
        margin = math.ceil(4 * max(self.blur_sigmas)) if self.blur_sigmas else 0
        ey, ex = source.extent
        for ir, rot in enumerate(self.rotations):
            for js, shear in enumerate(self.shears):
                centre = (rng.uniform(0, ex), -rng.uniform(0, ey)) if self.random_translation else (ex / 2, -ey / 2)
                noisy = self._noisy(ir, js)
                m = margin if noisy else 0
                padded = source.render((w + 2 * m, w + 2 * m), self.pixel_size, rotation=rot, shear=shear, centre=centre)
                inner = (slice(m, m + w), slice(m, m + w))
                lo, hi = float(padded[inner].min()), float(padded[inner].max())
                pad_n = (padded - lo) / (hi - lo) if hi > lo else np.zeros_like(padded)
                clean = minmax(pad_n[inner])
                yield Window(clean, rot, shear, 0)
                if not noisy:
                    continue
                draws = [poisson_noise(pad_n, rng, self.poisson_dose) for _ in range(self.poisson_draws)]
                for p in draws:
                    yield Window(np.ascontiguousarray(p[inner]), rot, shear, 1)
                blurred = [(s, gaussian_blur(pad_n, s)[inner]) for s in self.blur_sigmas]
                for s, b in blurred:
                    yield Window(np.ascontiguousarray(b), rot, shear, 2, sigma=s)
                if self.blur_poisson:
                    for p in draws:
                        for s in self.blur_sigmas:
                            yield Window(np.ascontiguousarray(gaussian_blur(p, s)[inner]), rot, shear, 3, sigma=s)
                for v in self.gaussian_variances:
                    yield Window(gaussian_noise(clean, rng, v), rot, shear, 4, variance=v)
                    for s, b in blurred:
                        yield Window(gaussian_noise(b, rng, v), rot, shear, 5, sigma=s, variance=v)
