"""HAADF simulation (real abTEM, small cells): column spacings per class, the probe, the cache, multislice."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aistem.training.augment import PeriodicImage
from aistem.training.base import simulate_class
from aistem.training.cache import cache_path, cached_image
from aistem.training.crystals import CLASS_NAMES, CLASSES, build_cell
from aistem.training.haadf import (
    ProbeSettings,
    SimulationSettings,
    convolution_haadf,
    electron_wavelength,
    multislice_haadf,
    probe_intensity,
)

A_CU, A_FE, A_TI, C_TI = 3.63, 2.87, 2.95, 4.68

#: d-spacing [Å] of the strongest reflection of each projection (kinematically allowed, lowest order):
#: bcc {110}; fcc [100] {200}, [110] and [211] {111}, [111] {220}; hcp [0001] {10-10}, else (0002).
STRONGEST_D = {
    "BCC_Fe_100": A_FE / math.sqrt(2),
    "BCC_Fe_110": A_FE / math.sqrt(2),
    "BCC_Fe_111": A_FE / math.sqrt(2),
    "FCC_Cu_100": A_CU / 2,  # 1.815 Å
    "FCC_Cu_110": A_CU / math.sqrt(3),
    "FCC_Cu_111": A_CU / math.sqrt(8),
    "FCC_Cu_211": A_CU / math.sqrt(3),
    "HCP_Ti_0001": A_TI * math.sqrt(3) / 2,
    "HCP_Ti_10m10": C_TI / 2,
    "HCP_Ti_2m1m10": C_TI / 2,
}


def strongest_spacing(image: np.ndarray, pixel_size: tuple[float, float]) -> float:
    """d [Å] of the strongest non-zero Fourier component of a periodic image."""
    f = np.abs(np.fft.fft2(image - image.mean())) ** 2
    qr = np.fft.fftfreq(image.shape[0], pixel_size[0])[:, None]
    qc = np.fft.fftfreq(image.shape[1], pixel_size[1])[None, :]
    i = np.unravel_index(np.argmax(f), f.shape)
    return 1.0 / float(np.hypot(qr[i[0], 0], qc[0, i[1]]))


def peak_spacing_windowed(image: np.ndarray, pixel_size: float, d_guess: float, pad: int = 2048) -> float:
    """d [Å] of the strongest reflection near 1/d_guess, from a Hann-tapered, zero-padded FFT of a non-periodic image."""
    h, w = image.shape
    taper = np.outer(np.hanning(h), np.hanning(w))
    f = np.abs(np.fft.fft2((image - image.mean()) * taper, s=(pad, pad))) ** 2
    q = np.hypot(np.fft.fftfreq(pad, pixel_size)[:, None], np.fft.fftfreq(pad, pixel_size)[None, :])
    ring = np.abs(q - 1 / d_guess) < 0.15 / d_guess
    i = np.argmax(np.where(ring, f, 0))
    return 1.0 / float(q.ravel()[i])


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_columns_at_the_projected_spacing(name):
    """Each class's image has its strongest FFT peak at the crystallographic d-spacing (e.g. Cu [100]: 1/1.815 Å⁻¹)."""
    sim = convolution_haadf(build_cell(name, size=24.0, thickness=8.0))
    assert sim.image.dtype == np.float32 and np.isfinite(sim.image).all()
    assert all(0.11 < p <= 0.12 for p in sim.pixel_size)  # ≤ the requested sampling (FFT-friendly grid)
    assert strongest_spacing(sim.image, sim.pixel_size) == pytest.approx(STRONGEST_D[name], rel=1e-3)


@settings(max_examples=6, deadline=None)
@given(delta=st.floats(min_value=-0.25, max_value=0.25, allow_nan=False))
def test_lattice_delta_moves_the_fft_peak_of_the_final_image(delta):
    """Cu [100] at a + δ, rendered at exactly 0.12 Å/px: the {200} peak sits at 2/(a + δ) Å⁻¹ (within 0.5 %)."""
    sim = convolution_haadf(build_cell("FCC_Cu_100", delta, size=20.0, thickness=4.0))
    img = PeriodicImage(sim.image, sim.pixel_size).render((256, 256), 0.12, rotation=0.0)
    d = peak_spacing_windowed(img, 0.12, (A_CU + delta) / 2)
    assert d == pytest.approx((A_CU + delta) / 2, rel=5e-3)


def test_thicker_cells_are_brighter_in_proportion():
    """The convolution image is linear in the projected potential: twice the thickness, twice the signal."""
    thin = convolution_haadf(build_cell("FCC_Cu_100", size=20.0, thickness=2 * A_CU))
    thick = convolution_haadf(build_cell("FCC_Cu_100", size=20.0, thickness=4 * A_CU))
    assert thick.image.shape == thin.image.shape
    assert float(thick.image.mean() / thin.image.mean()) == pytest.approx(2.0, rel=1e-3)


def test_probe_intensity_and_focal_spread():
    extent, gpts = (20.0, 20.0), (160, 160)
    sharp = probe_intensity(extent, gpts, ProbeSettings(focal_spread=0.0))
    env = probe_intensity(extent, gpts, ProbeSettings(focal_spread=60.0, focal_spread_model="envelope"))
    inc = probe_intensity(extent, gpts, ProbeSettings(focal_spread=60.0, focal_spread_model="incoherent"))
    for p in (sharp, env, inc):
        assert p.sum() == pytest.approx(1.0, rel=1e-9)
        assert np.unravel_index(np.argmax(p), p.shape) == (0, 0)  # centred at the origin for FFT convolution

    def fwhm_px(p):
        row = np.fft.fftshift(p[:, 0])
        return int((row >= row.max() / 2).sum())

    # aberration-free 24 mrad at 300 kV: FWHM ≈ 0.51 λ/α ≈ 0.42 Å ≈ 3–5 px of 0.125 Å
    lam = electron_wavelength(300e3)
    assert lam == pytest.approx(0.01969, rel=1e-3)
    assert 2 <= fwhm_px(sharp) <= 5
    assert fwhm_px(env) > fwhm_px(sharp)  # the focal spread blurs the probe
    assert inc[0, 0] < sharp[0, 0]
    with pytest.raises(ValueError, match="focal_spread_model"):
        ProbeSettings(focal_spread_model="coherent")


def test_base_images_are_cached_by_parameters(tmp_path):
    kw = dict(cell_size=16.0, thickness=4.0, cache_dir=tmp_path)
    a = simulate_class("BCC_Fe_100", 0.0, **kw)
    files = list((tmp_path / "haadf").glob("*.npz"))
    assert len(files) == 1
    b = simulate_class("BCC_Fe_100", 0.0, **kw)
    assert np.array_equal(a.image, b.image) and a.pixel_size == b.pixel_size
    simulate_class("BCC_Fe_100", 0.1, **kw)  # another lattice constant: another file
    simulate_class("BCC_Fe_100", 0.0, settings=SimulationSettings(sampling=0.1), **kw)
    assert len(list((tmp_path / "haadf").glob("*.npz"))) == 3
    # a cached file is used as is: a second call does not simulate
    key = {"k": 1}
    calls = []

    def compute():
        calls.append(1)
        return a

    _, hit1 = cached_image(key, compute, tmp_path)
    _, hit2 = cached_image(key, compute, tmp_path)
    assert (hit1, hit2, len(calls)) == (False, True, 1)
    # a corrupt cache file is replaced, not trusted
    cache_path(key, tmp_path).write_bytes(b"garbage")
    _, hit3 = cached_image(key, compute, tmp_path)
    assert (hit3, len(calls)) == (False, 2)


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AISTEM_CACHE", str(tmp_path / "env-cache"))
    simulate_class("FCC_Cu_100", cell_size=16.0, thickness=4.0)
    assert len(list((tmp_path / "env-cache" / "haadf").glob("*.npz"))) == 1


@pytest.mark.slow
def test_multislice_agrees_with_the_convolution_approach():
    """Frozen-phonon multislice (HAADF 78–200 mrad) over one unit cell of Cu [100] vs the convolution image (~30 s)."""
    cell = build_cell("FCC_Cu_100", size=11.0, thickness=20.0)
    ms = multislice_haadf(
        cell,
        SimulationSettings(method="multislice", scan_sampling=A_CU / 10, frozen_phonons=1),
        scan_region=((0.0, 0.0), (A_CU, A_CU)),
    )
    assert ms.image.shape == (10, 10) and ms.pixel_size == pytest.approx((A_CU / 10, A_CU / 10))
    conv = convolution_haadf(cell)
    n = ms.image.shape[0]
    r = np.arange(n)[:, None] * ms.pixel_size[0] * np.ones((1, n))
    c = np.arange(n)[None, :] * ms.pixel_size[1] * np.ones((n, 1))
    ref = PeriodicImage(conv.image, conv.pixel_size).sample(c, -r)
    assert np.corrcoef(ref.ravel(), ms.image.ravel())[0, 1] > 0.7
    # the columns (corners and the middle of the edges, spacing a/2) are the brightest pixels
    assert ms.image[0, 0] > np.median(ms.image) * 3 and ms.image[0, 5] > np.median(ms.image) * 3


def test_cells_with_other_settings_are_different():
    assert CLASSES["FCC_Cu_100"].a == A_CU
    a = convolution_haadf(build_cell("FCC_Cu_100", size=16.0, thickness=4.0))
    b = convolution_haadf(build_cell("FCC_Cu_100", size=16.0, thickness=4.0), SimulationSettings(parametrization="lobato"))
    assert a.image.shape == b.image.shape
    assert np.corrcoef(a.image.ravel(), b.image.ravel())[0, 1] > 0.99  # two parametrizations, same physics
    assert not np.array_equal(a.image, b.image)
