"""The result of :func:`aistem.core.analyze`: per-window maps on the window grid, saved to and read from ``.npz``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .uncertainty import segment_interface

__all__ = ["AnalysisResult"]


@dataclass
class AnalysisResult:
    """Maps of one analysed image, on the window grid (rows × cols).

    Attributes
    ----------
    classes : ndarray of shape (rows, cols), uint8
        Index of the most probable class (mean over MC samples).
    probabilities : ndarray of shape (rows, cols, n_classes), float32
        Mean class probabilities.
    mutual_information, predictive_entropy : ndarray of shape (rows, cols), float32
        Uncertainties [bit].
    variation_ratio : ndarray of shape (rows, cols), float32
        1 − (votes for the modal class) / T.
    interface : ndarray of shape (rows, cols), bool
        MI > threshold, among the windows that are not ``unknown``.
    class_names : list of str
    origins_px : ndarray of shape (rows, cols, 2), int64
        Top-left pixel (row, col) of each window.
    window_px, stride_px : int
        Window side and step [px].
    pixel_size : float
        [Å/px].
    threshold : float
        MI threshold [bit].
    samples : int
        Monte-Carlo samples per window (T; the most any window got when sampling was adaptive).
    model_name, model_hash : str
    precision : str
        Compute dtype the network ran in (``float32`` or ``bfloat16``; ``auto`` resolved).
    timing : dict
        Milliseconds spent in ``descriptor`` and ``inference``, and ``total``.
    samples_used : ndarray of shape (rows, cols), int32, optional
        Samples drawn for each window (adaptive sampling).
    lattice_rotation : ndarray of shape (rows, cols), float32, optional
        Rotation of each bulk window's lattice against its class's reference [°, counter-clockwise as displayed],
        in [−period/2, period/2) of the projection's rotational symmetry (period 90°, 60° or 180°);
        NaN at interface windows and for classes without a reference
        (:mod:`aistem.core.rotation`).
    source : str
        Where the image came from (a file name), when known.
    filled : ndarray of shape (rows, cols), bool, optional
        Coarse-to-fine analysis (``coarse_step`` > 1): windows not evaluated but filled from their cell's identical
        corners (class, bulk and known status; MI, probabilities and rotation interpolated); None: every window was
        evaluated (the dense grid).
    refinement_level : ndarray of shape (rows, cols), int8, optional
        How each window was obtained: 0 coarse, 1 refined, 2 filled (:mod:`aistem.core.refine`).
    unknown : ndarray of shape (rows, cols), bool
        Windows outside the model's domain (:mod:`aistem.core.domain`: no lattice, a lattice that does not fit the
        predicted class, or a lattice constant outside the trained range); all False when the check was off.
    unknown_reason : ndarray of shape (rows, cols), uint8, optional
        Why (``aistem.core.domain.REASONS``: 0 known, 1 no lattice, 2 pattern does not fit, 3 out of range).
    """

    classes: np.ndarray
    probabilities: np.ndarray
    mutual_information: np.ndarray
    predictive_entropy: np.ndarray
    variation_ratio: np.ndarray
    interface: np.ndarray
    class_names: list[str]
    origins_px: np.ndarray
    window_px: int
    stride_px: int
    pixel_size: float
    threshold: float
    samples: int
    model_name: str = ""
    model_hash: str = ""
    precision: str = "float32"
    timing: dict[str, float] = field(default_factory=dict)
    samples_used: np.ndarray | None = None
    lattice_rotation: np.ndarray | None = None
    source: str = ""
    unknown: np.ndarray = None  # type: ignore[assignment]  # None → all False (see __post_init__)
    unknown_reason: np.ndarray | None = None
    filled: np.ndarray | None = None
    refinement_level: np.ndarray | None = None

    ARRAYS = (
        "classes",
        "probabilities",
        "mutual_information",
        "predictive_entropy",
        "variation_ratio",
        "interface",
        "origins_px",
    )

    def __post_init__(self) -> None:
        if self.unknown is None:
            self.unknown = np.zeros(np.shape(self.classes), bool)
        else:
            self.unknown = np.asarray(self.unknown, bool)
        if self.unknown.shape != np.shape(self.classes):
            raise ValueError(f"unknown map {self.unknown.shape} does not match the class map {np.shape(self.classes)}")

    @property
    def mean_samples(self) -> float:
        """Mean number of MC samples drawn per window (T unless sampling was adaptive)."""
        if self.samples_used is not None and self.samples_used.size:
            return float(self.samples_used.mean())
        return float(self.samples)

    @property
    def grid_shape(self) -> tuple[int, int]:
        return tuple(self.classes.shape)  # type: ignore[return-value]

    @property
    def interface_fraction(self) -> float:
        """Share of all windows that are interface (MI > threshold among the known windows)."""
        return float(self.interface.mean()) if self.interface.size else 0.0

    @property
    def unknown_fraction(self) -> float:
        """Share of all windows outside the model's domain."""
        return float(self.unknown.mean()) if self.unknown.size else 0.0

    @property
    def confident_fraction(self) -> float:
        """Share of all windows given a confident known class (neither unknown nor interface)."""
        return float((~self.unknown & ~self.interface).mean()) if self.unknown.size else 0.0

    def class_fractions(self) -> dict[str, float]:
        """Fraction of the known (not ``unknown``) windows assigned to each class (all 0 when none is known)."""
        known = self.classes[~self.unknown]
        counts = np.bincount(known.ravel(), minlength=len(self.class_names))[: len(self.class_names)]
        total = max(1, known.size)
        return {n: float(c) / total for n, c in zip(self.class_names, counts, strict=True)}

    def with_threshold(self, threshold: float) -> AnalysisResult:
        """The same result segmented at another MI threshold."""
        import dataclasses

        unknown = self.unknown
        if self.unknown_reason is not None:  # a mismatch is interface where MI is high (domain.unknown_from_reason)
            from .domain import unknown_from_reason

            unknown = unknown_from_reason(self.unknown_reason, self.mutual_information, threshold)
        interface = segment_interface(self.mutual_information, threshold) & ~unknown
        rotation = self.lattice_rotation
        if rotation is not None:  # windows that were interface and become bulk stay NaN: they were not measured
            rotation = np.where(interface, np.float32(np.nan), rotation).astype(np.float32)
        return dataclasses.replace(
            self, threshold=float(threshold), interface=interface, unknown=unknown, lattice_rotation=rotation
        )

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` with every map and setting."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {name: getattr(self, name) for name in self.ARRAYS}
        np.savez_compressed(
            path,
            **arrays,
            class_names=np.asarray(self.class_names),
            window_px=self.window_px,
            stride_px=self.stride_px,
            pixel_size=self.pixel_size,
            threshold=self.threshold,
            samples=self.samples,
            model_name=self.model_name,
            model_hash=self.model_hash,
            precision=self.precision,
            source=self.source,
            **{
                k: v
                for k, v in (
                    ("samples_used", self.samples_used),
                    ("lattice_rotation", self.lattice_rotation),
                    ("unknown", self.unknown),
                    ("unknown_reason", self.unknown_reason),
                    ("filled", self.filled),
                    ("refinement_level", self.refinement_level),
                )
                if v is not None
            },  # type: ignore[arg-type]
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> AnalysisResult:
        """Read a result written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(
                **{name: z[name] for name in cls.ARRAYS},
                class_names=[str(s) for s in z["class_names"]],
                window_px=int(z["window_px"]),
                stride_px=int(z["stride_px"]),
                pixel_size=float(z["pixel_size"]),
                threshold=float(z["threshold"]),
                samples=int(z["samples"]),
                model_name=str(z["model_name"]),
                model_hash=str(z["model_hash"]),
                precision=str(z["precision"]) if "precision" in z.files else "float32",
                samples_used=z["samples_used"] if "samples_used" in z.files else None,
                lattice_rotation=z["lattice_rotation"] if "lattice_rotation" in z.files else None,
                source=str(z["source"]) if "source" in z.files else "",
                unknown=z["unknown"].astype(bool) if "unknown" in z.files else None,  # type: ignore[arg-type]  # old: all known
                unknown_reason=z["unknown_reason"] if "unknown_reason" in z.files else None,
                filled=z["filled"] if "filled" in z.files else None,
                refinement_level=z["refinement_level"] if "refinement_level" in z.files else None,
            )
