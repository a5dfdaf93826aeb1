"""analyze(): the paper's model on synthetic lattices, every error path, the saved result."""

import numpy as np
import pytest

from aistem.core import AnalysisResult, analyze
from tests.conftest import square_lattice


@pytest.fixture(scope="module")
def bicrystal():
    left = square_lattice((220, 400))
    right = square_lattice((220, 400), angle=30.0)
    img = left.copy()
    img[:, 200:] = right[:, 200:]
    return img


def test_paper_model_finds_fcc_cu_100_with_low_mi(reference_model):
    img = square_lattice((220, 220))
    r = analyze(img, 0.12, model=reference_model, stride=3.0, samples=30, seed=0)
    assert r.class_names[3] == "FCC_Cu_100"
    assert (r.classes == 3).mean() >= 0.8
    assert np.median(r.mutual_information) < 0.1
    assert r.classes.dtype == np.uint8 and r.mutual_information.dtype == np.float32
    assert r.probabilities.shape == (*r.classes.shape, 10)


def test_boundary_windows_have_higher_mi(reference_model, bicrystal):
    r = analyze(bicrystal, 0.12, model=reference_model, window_px=100, stride_px=10, samples=30, seed=0)
    centre_col = r.origins_px[0, :, 1] + (r.window_px - 1) / 2
    straddle = np.abs(centre_col - 200) < 15  # window half in each grain
    far = np.abs(centre_col - 200) > r.window_px / 2 + 5  # window inside one grain
    assert straddle.any() and far.any()
    mi_straddle = np.median(r.mutual_information[:, straddle])
    mi_far = np.median(r.mutual_information[:, far])
    assert mi_straddle > 2 * mi_far and mi_straddle > 0.05
    assert (r.classes[:, far] == 3).mean() >= 0.8


def test_seed_reproduces_and_save_load_round_trip(small_model, tmp_path):
    img = square_lattice((140, 140))
    a = analyze(img, 0.12, model=small_model, samples=5, seed=3, stride=2.4)
    b = analyze(img, 0.12, model=small_model, samples=5, seed=3, stride=2.4)
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    path = a.save(tmp_path / "r.npz")
    c = AnalysisResult.load(path)
    for name in AnalysisResult.ARRAYS:
        np.testing.assert_array_equal(getattr(c, name), getattr(a, name))
    assert c.class_names == a.class_names and c.window_px == 100 and c.stride_px == 20
    assert a.precision == c.precision == "float32"  # the default; "auto" is resolved to what ran
    h = analyze(img, 0.12, model=small_model, samples=2, seed=3, stride=2.4, precision="bfloat16", rotation=False)
    assert AnalysisResult.load(h.save(tmp_path / "h.npz")).precision == "bfloat16"
    z = np.load(path)
    for key in (
        "classes",
        "probabilities",
        "mutual_information",
        "predictive_entropy",
        "variation_ratio",
        "interface",
        "class_names",
        "origins_px",
        "window_px",
        "stride_px",
        "pixel_size",
    ):
        assert key in z.files


def test_window_and_stride_in_pixels_override_angstrom(small_model):
    img = square_lattice((130, 160))
    r = analyze(img, None, window_px=96, stride_px=16, model=small_model, samples=2, seed=0)
    assert (r.window_px, r.stride_px) == (96, 16)
    assert r.grid_shape == ((130 - 96) // 16 + 1, (160 - 96) // 16 + 1)
    assert r.with_threshold(0.0).interface.sum() >= r.interface.sum()


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (np.full((120, 120), np.nan, np.float32), {}, "NaN or infinite"),
        (np.zeros((2, 120, 120), np.float32), {}, "single 2-D image"),
        (np.zeros((60, 400), np.float32), {}, "smaller than one window"),
        (np.zeros((120, 120), np.complex64), {}, "unsupported pixel type"),
        (np.zeros((0, 0), np.float32), {}, "empty"),
        (np.zeros((120, 120), np.float32), {"samples": 0}, "samples"),
        (np.zeros((120, 120), np.float32), {"threshold": -1.0}, "threshold"),
        (np.zeros((120, 120), np.float32), {"window": 6.0}, "smaller than the 64×64 descriptor"),
    ],
)
def test_errors_are_clear(small_model, image, kwargs, message):
    with pytest.raises(ValueError, match=message):
        analyze(image, 0.12, model=small_model, **kwargs)


def test_unknown_pixel_size_is_an_error(small_model):
    with pytest.raises(ValueError, match="pixel size is unknown"):
        analyze(np.zeros((120, 120), np.float32), None, model=small_model)


def test_constant_image_is_analysed_without_nan(small_model):
    r = analyze(np.full((120, 120), 7, np.uint16), 0.12, model=small_model, samples=3, seed=0)
    assert np.isfinite(r.mutual_information).all() and np.isfinite(r.probabilities).all()


def test_float32_policy(small_model):
    r = analyze(square_lattice((120, 120)).astype(np.float64), 0.12, model=small_model, samples=2, seed=0)
    for name in ("probabilities", "mutual_information", "predictive_entropy", "variation_ratio"):
        assert getattr(r, name).dtype == np.float32, name


def test_adaptive_sampling_agrees_with_fixed_and_draws_fewer(reference_model):
    """Bulk windows settle after a few samples; decisions match fixed T on a bicrystal."""
    from aistem.core.synthetic import synthetic_bicrystal

    img = synthetic_bicrystal((260, 400), noise=0.05)
    fixed = analyze(img, 0.12, model=reference_model, stride=2.4, samples=40, seed=0)
    adapt = analyze(img, 0.12, model=reference_model, stride=2.4, samples=40, seed=0, adaptive=True)
    assert adapt.samples_used.min() == 16 and adapt.samples_used.max() == 40
    assert adapt.mean_samples < 0.8 * 40
    assert (adapt.classes == fixed.classes).mean() >= 0.95  # different random streams: boundary windows may differ
    assert (adapt.interface == fixed.interface).mean() >= 0.9
    assert fixed.mean_samples == 40


def test_lattice_rotation_field_measures_both_grains(reference_model, bicrystal, tmp_path):
    """Issue 7 in analyze: bulk windows carry their grain's rotation, interface windows NaN; saved and loaded."""
    r = analyze(bicrystal, 0.12, model=reference_model, stride=3.0, samples=10, seed=0)
    rot = r.lattice_rotation
    assert rot is not None and rot.shape == r.grid_shape and rot.dtype == np.float32
    assert np.isnan(rot[r.interface]).all()
    centre_col = r.origins_px[0, :, 1] + (r.window_px - 1) / 2
    left = rot[:, centre_col < 200 - 60]
    right = rot[:, centre_col > 200 + 60]
    left, right = left[np.isfinite(left)], right[np.isfinite(right)]
    assert len(left) and len(right)
    assert np.abs(left).max() < 1.0  # the reference orientation reads ≈ 0°, never 89.9°
    assert abs(abs(np.median(right)) - 30.0) < 1.0  # 30° misorientation (sign per the display convention)
    back = AnalysisResult.load(r.save(tmp_path / "r.npz"))
    np.testing.assert_array_equal(back.lattice_rotation, rot)
    low = r.with_threshold(0.0)
    assert np.isnan(low.lattice_rotation[low.interface]).all()


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "8", np.float32(4)])
def test_batch_size_must_be_a_positive_whole_number(small_model, batch_size):
    with pytest.raises(ValueError, match="batch_size must be a whole number of windows"):
        analyze(np.zeros((120, 120), np.float32), 0.12, model=small_model, batch_size=batch_size)


def test_batch_size_sets_windows_per_call_for_this_call_only(small_model):
    from aistem.core.analysis import _predictor

    img = square_lattice((150, 150))  # window 100 px, stride 5 px → 11 × 11 = 121 windows
    before = _predictor(small_model).windows_per_call
    steps: list[int] = []
    r = analyze(
        img,
        None,
        window_px=100,
        stride_px=5,
        model=small_model,
        samples=3,
        seed=1,
        batch_size=50,
        progress=lambda d, n: steps.append(d),
    )
    assert steps == [50, 100, 121]  # progress is reported after each network call's block of windows
    assert _predictor(small_model).windows_per_call == before  # the shared sampler is left as it was
    np.testing.assert_allclose(r.probabilities.sum(axis=-1), 1.0, atol=1e-5)
    # the same batch size as the default, with the same seed: the same masks, the same result
    a = analyze(img, None, window_px=100, stride_px=5, model=small_model, samples=3, seed=1, batch_size=before)
    b = analyze(img, None, window_px=100, stride_px=5, model=small_model, samples=3, seed=1)
    np.testing.assert_array_equal(a.probabilities, b.probabilities)


def test_cancel_stops_the_analysis_within_one_network_call(small_model):
    """``cancel()`` is asked after every network call; True stops the analysis (the daemon's superseded refinement)."""
    from aistem.core import AnalysisCancelled
    from aistem.core.analysis import _predictor

    img = square_lattice((150, 150))  # window 100 px, stride 10 px: 36 windows, 3 blocks of 16 windows
    before = _predictor(small_model).windows_per_call
    asked: list[int] = []

    def cancel() -> bool:
        asked.append(1)
        return len(asked) >= 3

    kw = dict(window_px=100, stride_px=10, model=small_model, samples=16, seed=1, batch_size=16)
    with pytest.raises(AnalysisCancelled):
        analyze(img, None, cancel=cancel, **kw)
    assert len(asked) == 3  # stopped at the third ask: before the descriptors, after the 1st and the 2nd network call
    assert _predictor(small_model).windows_per_call == before
    for adaptive in (False, True):  # never cancelled: the same result as without cancel
        a = analyze(img, None, cancel=lambda: False, adaptive=adaptive, **kw)
        b = analyze(img, None, adaptive=adaptive, **kw)
        np.testing.assert_array_equal(a.probabilities, b.probabilities)
    # smaller calls: asked more often (once before the one block of descriptors, calls of 8 samples: 2 per block,
    # once before the rotation step and once before its one block of windows), the same samples (masks keyed by the
    # seed and the sample index)
    calls: list[int] = []
    c = analyze(img, None, cancel=lambda: bool(calls.append(1)), samples_per_call=8, **kw)
    assert len(calls) == 1 + 3 * 2 + 1 + 1 and _predictor(small_model).samples_per_call == 32
    np.testing.assert_allclose(c.probabilities, analyze(img, None, **kw).probabilities, atol=1e-6)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="samples_per_call must be a whole number"):
            analyze(img, None, samples_per_call=bad, **kw)


def test_warm_up_checks_its_arguments_and_leaves_the_sampler_as_it_was(small_model):
    from aistem.core.analysis import _predictor, warm_up

    p = _predictor(small_model)
    before = p.windows_per_call, p.samples_per_call
    assert warm_up(small_model, samples=3, batch_size=5, samples_per_call=2) >= 1
    assert (2, False, 5) in p._warm and (1, False, 5) in p._warm
    assert (p.windows_per_call, p.samples_per_call) == before
    with pytest.raises(ValueError, match="batch_size must be a whole number"):
        warm_up(small_model, batch_size=0)
    with pytest.raises(ValueError, match="samples must be"):
        warm_up(small_model, samples=0)
