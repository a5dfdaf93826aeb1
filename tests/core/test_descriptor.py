"""The FFT-HAADF descriptor against a literal, float64, one-window-at-a-time implementation."""

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from aistem.core.backend import cupy_available, get_array_module
from aistem.core.descriptor import fft_haadf_descriptor, hann_periodic
from tests.conftest import square_lattice

GPU = pytest.param("gpu", marks=[pytest.mark.gpu, pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA GPU")])


def _mm(a: np.ndarray) -> np.ndarray:
    span = a.max() - a.min()
    return (a - a.min()) / span if span > 0 else np.zeros_like(a)


def reference_descriptor(x: np.ndarray, threshold: float = 0.1, size: int = 64) -> np.ndarray:
    """The paper's definition, step by step, in float64."""
    h, w = x.shape
    x = _mm(x.astype(np.float64))  # (a)
    x = x * np.sqrt(np.outer(scipy.signal.get_window("hann", h), scipy.signal.get_window("hann", w)))  # (b)
    f = np.fft.fftshift(np.abs(np.fft.fft2(x)) ** 2)  # (c)
    f = _mm(np.minimum(_mm(f) / threshold, 1.0))  # (d)
    f = f[h // 2 - size // 2 : h // 2 + size // 2, w // 2 - size // 2 : w // 2 + size // 2]  # (e)
    return _mm(f)  # (f)


def test_hann_is_scipy_periodic_hann():
    for n in (64, 96, 100, 101):
        np.testing.assert_allclose(hann_periodic(n), scipy.signal.get_window("hann", n), atol=1e-12)


@pytest.mark.parametrize("shape", [(100, 100), (96, 96), (64, 64), (101, 77), (65, 128)])
def test_matches_reference_on_lattice_and_noise(shape):
    rng = np.random.default_rng(0)
    lattice = square_lattice((300, 300), angle=17.0)[: shape[0], : shape[1]]
    batch = np.stack([lattice, lattice + 0.3 * rng.random(shape), rng.random(shape) * 1000, lattice * 7 + 3]).astype(np.float32)
    got = fft_haadf_descriptor(batch)
    assert got.dtype == np.float32 and got.shape == (4, 64, 64)
    ref = np.stack([reference_descriptor(b) for b in batch])
    assert np.abs(got - ref).max() <= 1e-5


@settings(max_examples=25, deadline=None)
@given(
    spacing=st.floats(1.2, 4.0),
    angle=st.floats(0, 90),
    threshold=st.floats(0.02, 1.0),
    size=st.integers(70, 120),
)
def test_matches_reference_for_physical_parameters(spacing, angle, threshold, size):
    img = square_lattice((size, size), spacing=spacing, angle=angle)
    got = fft_haadf_descriptor(img, threshold=threshold)
    assert np.abs(got - reference_descriptor(img, threshold=threshold)).max() <= 1e-5


def test_constant_window_gives_zeros_not_nan():
    out = fft_haadf_descriptor(np.full((3, 100, 100), 5.0, np.float32))
    assert np.all(out == 0) and not np.isnan(out).any()


def test_lattice_peak_at_the_lattice_frequency():
    # a 1.815 Å square lattice in a 100 px × 0.12 Å window: first Bragg peak 12 Å / 1.815 Å = 6.6 bins from the centre
    d = fft_haadf_descriptor(square_lattice((100, 100)))
    row = d[32, :]
    peak = np.argmax(row[32 + 3 :]) + 3  # skip the central DC peak
    assert abs(peak - 100 * 0.12 / 1.815) <= 1


def test_window_smaller_than_crop_names_the_sizes():
    with pytest.raises(ValueError, match=r"50×50 px.*0.12 Å/px.*at least 64 px"):
        fft_haadf_descriptor(np.zeros((2, 50, 50), np.float32), pixel_size=0.12)
    with pytest.raises(ValueError, match="shape"):
        fft_haadf_descriptor(np.zeros((2, 3, 100, 100), np.float32))


def test_integer_input_and_single_window():
    img = (square_lattice((96, 96)) * 60000).astype(np.uint16)
    single = fft_haadf_descriptor(img)
    assert single.shape == (64, 64) and single.dtype == np.float32
    np.testing.assert_allclose(single, reference_descriptor(img.astype(np.float64)), atol=1e-5)


@pytest.mark.parametrize("device", ["cpu", GPU])
def test_same_code_on_each_array_module(device):
    xp = get_array_module(device)
    rng = np.random.default_rng(1)
    batch = rng.random((8, 100, 100)).astype(np.float32)
    out = fft_haadf_descriptor(xp.asarray(batch))
    assert get_array_module(out) is xp
    host = out if xp is np else xp.asnumpy(out)
    np.testing.assert_allclose(host, fft_haadf_descriptor(batch), atol=1e-5)
