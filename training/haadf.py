"""HAADF-STEM images of ASE cells with abTEM 1.x.

Two methods:

``convolution`` (the paper's fast approach, the default)
    The probe intensity ``|ψ(r)|²`` convolved with the projected potential
    ``V(r) = Σ_slices V_z(r)`` of the whole cell, by FFT on the periodic cell::

        image = IFFT( FFT(V) · FFT(|ψ|²) )

    The probe (300 kV, 24 mrad, no aberrations) carries the focal spread either as
    a temporal-coherence envelope on the wave function (``"envelope"``, what
    abTEM's legacy ``Probe(focal_spread=…)`` did, so the paper's images) or as an
    incoherent average over a Gaussian distribution of defocus
    (``"incoherent"``, standard deviation ``focal_spread / √2``).

``multislice``
    Full multislice with frozen phonons and an annular (HAADF) detector
    (78–200 mrad).  Slow: for small validation cells.

Images are returned as (rows, cols) arrays in abTEM's array order: rows run
along the cell's first axis (x), columns along its second axis (y);
``pixel_size`` is (row, col) [Å/px].  This is the orientation of the paper's
training images: with it, and rotations counter-clockwise as displayed
(:mod:`aistem.training.augment`), the paper's model recognises every class at
0–90°; the mirror image (the transpose) is only recognised at 0° and 90° for the
rectangular projections.  The cell is periodic, and so is the convolution image.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms

__all__ = [
    "HAADF_VERSION",
    "ProbeSettings",
    "SimulatedImage",
    "SimulationSettings",
    "convolution_haadf",
    "electron_wavelength",
    "multislice_haadf",
    "probe_intensity",
    "projected_potential",
    "simulate_haadf",
]

#: Bumped whenever a change here changes the images (it is part of every cache key).
HAADF_VERSION = 2


@dataclass(frozen=True)
class ProbeSettings:
    """The electron probe.

    Attributes
    ----------
    energy : float
        Beam energy [eV] (paper: 300 kV).
    semiangle : float
        Semi-convergence angle of the aperture [mrad] (paper: 24).
    focal_spread : float
        Focal spread [Å] (paper: 60), in abTEM's convention (√2 × the standard deviation of defocus).
    focal_spread_model : str
        ``"envelope"`` or ``"incoherent"`` (see the module docstring).
    defocus : float
        Defocus [Å] (0: no aberrations).
    focal_spread_points : int
        Defocus values of the ``"incoherent"`` average (Gauss–Hermite quadrature).
    """

    energy: float = 300e3
    semiangle: float = 24.0
    focal_spread: float = 60.0
    focal_spread_model: str = "envelope"
    defocus: float = 0.0
    focal_spread_points: int = 7

    def __post_init__(self) -> None:
        if not (self.energy > 0 and self.semiangle > 0 and self.focal_spread >= 0 and self.focal_spread_points >= 1):
            raise ValueError(f"probe settings must be positive (energy [eV], semiangle [mrad], focal spread [Å]): {self}")
        if self.focal_spread_model not in ("envelope", "incoherent"):
            raise ValueError(f"focal_spread_model must be 'envelope' or 'incoherent', got {self.focal_spread_model!r}")


@dataclass(frozen=True)
class SimulationSettings:
    """How a cell becomes an image.

    Attributes
    ----------
    method : str
        ``"convolution"`` or ``"multislice"``.
    sampling : float
        Largest grid spacing of the potential [Å]; the image's pixel size is
        ``extent / n`` with ``n`` the next FFT-friendly number of pixels (≤ ``sampling``).
    parametrization : str
        abTEM atomic-potential parametrization (``"kirkland"`` or ``"lobato"``).
    probe : ProbeSettings
    detector : (float, float)
        Inner and outer HAADF detector angles [mrad] (multislice only).
    scan_sampling : float
        Probe step [Å] (multislice only).
    frozen_phonons : int
        Frozen-phonon configurations (multislice only).
    phonon_sigma : float
        Standard deviation of the thermal displacements [Å] (multislice only).
    slice_thickness : float
        Slice thickness [Å] (multislice only; the convolution uses one slice).
    seed : int
        Seed of the frozen phonons.
    """

    method: str = "convolution"
    sampling: float = 0.12
    parametrization: str = "kirkland"
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    detector: tuple[float, float] = (78.0, 200.0)
    scan_sampling: float = 0.12
    frozen_phonons: int = 8
    phonon_sigma: float = 0.08
    slice_thickness: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("convolution", "multislice"):
            raise ValueError(f"method must be 'convolution' or 'multislice', got {self.method!r}")
        if not (self.sampling > 0 and self.scan_sampling > 0 and self.slice_thickness > 0):
            raise ValueError("sampling, scan_sampling and slice_thickness must be positive lengths in Å")
        if self.frozen_phonons < 1:
            raise ValueError(f"frozen_phonons must be ≥ 1, got {self.frozen_phonons}")

    def key(self) -> dict[str, Any]:
        """All settings as a plain dict (JSON-able), for cache keys and file metadata."""
        d = asdict(self)
        d["detector"] = list(self.detector)
        return d


@dataclass
class SimulatedImage:
    """A simulated image.

    Attributes
    ----------
    image : ndarray of shape (rows, cols), float32
        Intensity (arbitrary units, consistent between cells simulated with the same settings).
    pixel_size : (float, float)
        (row, col) pixel size [Å/px].
    """

    image: np.ndarray
    pixel_size: tuple[float, float]


def electron_wavelength(energy: float) -> float:
    """Relativistic electron wavelength [Å] at ``energy`` [eV]."""
    m0c2 = 510998.95  # eV
    hc = 12398.419843320026  # eV·Å
    return hc / math.sqrt(energy * (2 * m0c2 + energy))


@contextlib.contextmanager
def _abtem_quiet() -> Iterator[Any]:
    """abTEM on the CPU, synchronous dask, no progress bars (we show our own), no slow FFTW planning."""
    import abtem
    import dask

    quiet = {"device": "cpu", "diagnostics.progress_bar": False, "fftw.planning_effort": "FFTW_ESTIMATE"}
    with abtem.config.set(quiet), dask.config.set(scheduler="synchronous"):
        yield abtem


def _cell_extent(atoms: Atoms) -> tuple[float, float, float]:
    cell = atoms.cell.array
    if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-6:
        raise ValueError("the cell must be orthogonal (a diagonal ASE cell)")
    return float(cell[0, 0]), float(cell[1, 1]), float(cell[2, 2])


def _gpts(atoms: Atoms, sampling: float) -> tuple[int, int]:
    """Grid points: at least ``extent / sampling``, rounded up to an FFT-friendly size (factors 2, 3, 5, 7)."""
    from scipy.fft import next_fast_len

    ex, ey, _ = _cell_extent(atoms)
    return next_fast_len(max(2, math.ceil(ex / sampling - 1e-9))), next_fast_len(max(2, math.ceil(ey / sampling - 1e-9)))


def projected_potential(atoms: Atoms, sampling: float = 0.12, parametrization: str = "kirkland") -> np.ndarray:
    """Projected (summed over the thickness) electrostatic potential of a periodic cell.

    Parameters
    ----------
    atoms : ase.Atoms
        Orthogonal periodic cell; the beam runs along its third axis.
    sampling : float
        Largest grid spacing [Å]; the grid has at least ``extent / sampling`` points per
        axis, rounded up to an FFT-friendly number (so the spacing is ≤ ``sampling``).
    parametrization : str
        ``"kirkland"`` or ``"lobato"``.

    Returns
    -------
    ndarray of shape (nx, ny), float32
        abTEM's (x, y) order [V·Å].
    """
    _, _, ez = _cell_extent(atoms)
    with _abtem_quiet() as abtem:
        pot = abtem.Potential(
            atoms,
            gpts=_gpts(atoms, sampling),
            projection="infinite",
            parametrization=parametrization,
            slice_thickness=ez,
        )
        return np.asarray(pot.project().compute().array, dtype=np.float32)


def _temporal_envelope(k2: np.ndarray, wavelength: float, focal_spread: float) -> np.ndarray:
    """abTEM's temporal-coherence envelope exp(−(½π/λ · Δ · α²)²), α = λ|k| [rad]."""
    alpha2 = wavelength**2 * k2
    return np.exp(-((0.5 * np.pi / wavelength * focal_spread * alpha2) ** 2))


def probe_intensity(extent: tuple[float, float], gpts: tuple[int, int], probe: ProbeSettings = ProbeSettings()) -> np.ndarray:
    """Probe intensity ``|ψ|²`` centred at the origin (0, 0) of a periodic grid.

    Parameters
    ----------
    extent : (float, float)
        Size of the grid along x, y [Å].
    gpts : (int, int)
        Grid points along x, y.
    probe : ProbeSettings

    Returns
    -------
    ndarray of shape (nx, ny), float64
        Intensity, summing to 1 over the grid.
    """
    kx = np.fft.fftfreq(gpts[0], extent[0] / gpts[0])
    ky = np.fft.fftfreq(gpts[1], extent[1] / gpts[1])
    k2 = kx[:, None] ** 2 + ky[None, :] ** 2
    lam = electron_wavelength(probe.energy)
    with _abtem_quiet() as abtem:

        def wave(defocus: float) -> np.ndarray:
            p = abtem.Probe(energy=probe.energy, semiangle_cutoff=probe.semiangle, extent=extent, gpts=gpts, defocus=defocus)
            return np.asarray(p.build(scan=np.zeros((1, 2))).compute().array, dtype=np.complex128).reshape(gpts)

        if probe.focal_spread > 0 and probe.focal_spread_model == "incoherent":
            sigma = probe.focal_spread / math.sqrt(2.0)
            nodes, weights = np.polynomial.hermite_e.hermegauss(probe.focal_spread_points)
            weights = weights / weights.sum()
            intensity = sum(w * np.abs(wave(probe.defocus + sigma * z)) ** 2 for z, w in zip(nodes, weights, strict=True))
        else:
            psi = wave(probe.defocus)
            if probe.focal_spread > 0:
                psi = np.fft.ifft2(np.fft.fft2(psi) * _temporal_envelope(k2, lam, probe.focal_spread))
            intensity = np.abs(psi) ** 2
    intensity = np.asarray(intensity, dtype=np.float64)
    return intensity / intensity.sum()


def convolution_haadf(atoms: Atoms, settings: SimulationSettings = SimulationSettings()) -> SimulatedImage:
    """HAADF image by the convolution approach (probe intensity ⊛ projected potential).

    Parameters
    ----------
    atoms : ase.Atoms
        Orthogonal periodic cell, beam along the third axis; lateral size
        should be ≥ ~15 Å so that the probe's tails do not overlap their periodic images.
    settings : SimulationSettings

    Returns
    -------
    SimulatedImage
        Periodic image, (rows, cols) = (x, y) of the cell.
    """
    ex, ey, _ = _cell_extent(atoms)
    v = projected_potential(atoms, settings.sampling, settings.parametrization)
    gpts = (v.shape[0], v.shape[1])
    p = probe_intensity((ex, ey), gpts, settings.probe)
    img = np.fft.irfft2(np.fft.rfft2(v.astype(np.float64)) * np.fft.rfft2(p), s=gpts)
    return SimulatedImage(np.ascontiguousarray(img, dtype=np.float32), (ex / gpts[0], ey / gpts[1]))


def multislice_haadf(
    atoms: Atoms,
    settings: SimulationSettings = SimulationSettings(method="multislice"),
    scan_region: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> SimulatedImage:
    """HAADF image by multislice with frozen phonons (slow; small validation cells).

    The probe is scanned over the whole periodic cell (or ``scan_region``,
    ((x0, y0), (x1, y1)) [Å], end excluded) with step ``settings.scan_sampling``;
    the detector integrates ``settings.detector`` [mrad].  About 0.1–0.2 s per
    probe position and frozen phonon on 2 CPU cores for a 10 Å × 10 Å × 20 Å
    cell: scan one unit cell of a small supercell for validation.
    The potential's grid is refined below ``settings.sampling`` where needed so
    that it resolves the detector's outer angle (≈ 0.033 Å for 200 mrad at 300 kV).
    The focal spread is not applied (it needs a defocus ensemble); the probe is
    aberration-free at ``settings.probe.defocus``.

    Returns
    -------
    SimulatedImage
        (rows, cols) = (x, y) of the scan, mean over the frozen phonons.
    """
    ex, ey, _ = _cell_extent(atoms)
    s = settings
    # the grid must resolve the detector's outer angle (abTEM keeps 2/3 of the Nyquist frequency)
    sampling = min(s.sampling, 0.98 * electron_wavelength(s.probe.energy) / (3.0 * s.detector[1] * 1e-3))
    with _abtem_quiet() as abtem:
        frozen = abtem.FrozenPhonons(atoms, num_configs=s.frozen_phonons, sigmas=s.phonon_sigma, seed=s.seed)
        pot = abtem.Potential(
            frozen,
            gpts=_gpts(atoms, sampling),
            slice_thickness=s.slice_thickness,
            projection="infinite",
            parametrization=s.parametrization,
        )
        probe = abtem.Probe(energy=s.probe.energy, semiangle_cutoff=s.probe.semiangle, defocus=s.probe.defocus)
        (x0, y0), (x1, y1) = scan_region if scan_region is not None else ((0.0, 0.0), (ex, ey))
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"scan_region must have end > start, got {scan_region}")
        scan = abtem.GridScan(start=(x0, y0), end=(x1, y1), sampling=s.scan_sampling, endpoint=False)
        detector = abtem.AnnularDetector(inner=s.detector[0], outer=s.detector[1])
        measurement = probe.scan(pot, scan=scan, detectors=detector).compute()
        arr = np.asarray(measurement.array, dtype=np.float64)
    while arr.ndim > 2:  # frozen-phonon axis, if abTEM did not reduce it
        arr = arr.mean(axis=0)
    nx, ny = arr.shape
    return SimulatedImage(np.ascontiguousarray(arr, dtype=np.float32), ((x1 - x0) / nx, (y1 - y0) / ny))


def simulate_haadf(atoms: Atoms, settings: SimulationSettings = SimulationSettings()) -> SimulatedImage:
    """HAADF image of a cell by ``settings.method`` (see :func:`convolution_haadf`, :func:`multislice_haadf`)."""
    if settings.method == "convolution":
        return convolution_haadf(atoms, settings)
    return multislice_haadf(atoms, settings)
