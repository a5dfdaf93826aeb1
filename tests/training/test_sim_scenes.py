"""Test scenes with ground truth: bicrystal (true grain rotations), polycrystal, drifting series, files, sample data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aistem.training import load_sample_series, sample_series_path
from aistem.training.crystals import AMORPHOUS_LABEL, BOUNDARY_LABEL, CLASS_NAMES
from aistem.training.scenes import load_scene, make_bicrystal, make_polycrystal, make_series, save_scene

SMALL = {"cell_size": 16.0, "thickness": 8.0}
CU100 = CLASS_NAMES.index("FCC_Cu_100")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("haadf-cache")


def lattice_angle(region: np.ndarray, pixel_size: float, d: float, fold: int, pad: int = 1024) -> float:
    """Orientation [°] (counter-clockwise as displayed, modulo 360/fold) of the reflection at spacing d [Å]."""
    h, w = region.shape
    f = np.abs(np.fft.fft2((region - region.mean()) * np.outer(np.hanning(h), np.hanning(w)), s=(pad, pad))) ** 2
    qr = np.fft.fftfreq(pad, pixel_size)[:, None] * np.ones((1, pad))
    qc = np.fft.fftfreq(pad, pixel_size)[None, :] * np.ones((pad, 1))
    ring = np.abs(np.hypot(qr, qc) - 1 / d) < 0.1 / d
    i = np.argmax(np.where(ring, f, 0))
    return math.degrees(math.atan2(-qr.ravel()[i], qc.ravel()[i])) % (360 / fold)


def angle_diff(a: float, b: float, period: float) -> float:
    return abs((a - b + period / 2) % period - period / 2)


def test_bicrystal_truth_rotations_and_boundary(cache):
    img, labels, info = make_bicrystal("FCC_Cu_100", 30.0, 0.0, shape=(200, 300), rotation_deg=10.0, cache_dir=cache, **SMALL)
    assert img.shape == labels.shape == (200, 300) and img.dtype == np.float32
    assert img.min() == 0.0 and img.max() == 1.0
    assert info["rotations_deg"] == [10.0, 40.0] and info["pixel_size"] == 0.12
    assert info["grain_classes"] == ["FCC_Cu_100"] * 2
    # vertical boundary in the middle: grain 1 left, grain 2 right, a 2 Å band labelled boundary
    assert set(np.unique(labels)) == {CU100, BOUNDARY_LABEL}
    band_cols = np.flatnonzero((labels == BOUNDARY_LABEL).all(axis=0))
    assert band_cols.size == pytest.approx(2.0 / 0.12, abs=1.5) and abs(band_cols.mean() - 149.5) < 1
    gm = info["grain_map"]
    assert (gm[:, :140] == 0).all() and (gm[:, 160:] == 1).all()
    # the true rotations are the lattices' orientations ({200} of Cu [100], 4-fold)
    left = lattice_angle(img[:, :130], 0.12, 1.815, 4)
    right = lattice_angle(img[:, 170:], 0.12, 1.815, 4)
    assert angle_diff(left, 10.0, 90) < 1.5 and angle_diff(right, 40.0, 90) < 1.5


def test_bicrystal_boundary_angle(cache):
    _, labels, info = make_bicrystal("BCC_Fe_110", 20.0, 90.0, shape=(120, 120), cache_dir=cache, **SMALL)
    gm = info["grain_map"]
    assert (gm[:50] == 1).all() and (gm[70:] == 0).all()  # 90°: grain 1 at the bottom, grain 2 at the top
    assert (labels[60] == BOUNDARY_LABEL).all()
    _, labels45, _ = make_bicrystal("BCC_Fe_110", 20.0, 45.0, shape=(120, 120), boundary_width=0.0, cache_dir=cache, **SMALL)
    assert BOUNDARY_LABEL not in labels45


def test_bicrystal_bad_input(cache):
    with pytest.raises(ValueError, match="unknown class"):
        make_bicrystal("FCC_Cu_999", 30, 0, cache_dir=cache)
    with pytest.raises(ValueError, match="shape"):
        make_bicrystal("FCC_Cu_100", 30, 0, shape=(-5, 10), cache_dir=cache)
    with pytest.raises(ValueError, match="pixel_size"):
        make_bicrystal("FCC_Cu_100", 30, 0, pixel_size=0.0, cache_dir=cache)


def test_polycrystal_layout_labels_and_boundaries(cache):
    img, labels, info = make_polycrystal(grain_size=15.0, rotations_deg=[0, 10, 20, 0], cache_dir=cache, **SMALL)
    g = 125  # 15 Å / 0.12 Å/px
    assert img.shape == labels.shape == (2 * g, 2 * g) and info["grain_size_px"] == g
    fe, cu, ti = (CLASS_NAMES.index(n) for n in ("BCC_Fe_100", "FCC_Cu_100", "HCP_Ti_0001"))
    centre = g // 2
    assert labels[centre, centre] == fe and labels[centre, g + centre] == cu
    assert labels[g + centre, centre] == ti and labels[g + centre, g + centre] == AMORPHOUS_LABEL
    # boundary bands only between two crystals: Fe|Cu and Fe/Ti, not at the amorphous region
    assert labels[centre, g] == BOUNDARY_LABEL and labels[g, centre] == BOUNDARY_LABEL
    assert labels[g + centre, g - 1] == ti and labels[g + centre, g] == AMORPHOUS_LABEL  # Ti | amorphous edge: no band
    assert (labels == BOUNDARY_LABEL).sum() == pytest.approx(2 * g * (2.0 / 0.12), rel=0.15)
    assert info["rotations_deg"] == [0.0, 10.0, 20.0, 0.0] and info["grain_classes"][3] == "amorphous"
    assert np.array_equal(np.unique(info["grain_map"]), [0, 1, 2, 3])
    # the amorphous Si is dimmer and has no lattice; Cu [100] has its {200} reflection
    amorph = img[g + 10 : -10, g + 10 : -10]
    assert amorph.mean() < img[10 : g - 10, g + 10 : -10].mean()
    with pytest.raises(ValueError, match="layout"):
        make_polycrystal(grains=["FCC_Cu_100"], cache_dir=cache, **SMALL)


def test_series_drift_noise_and_truth(cache):
    frames, labels, info = make_series(
        "FCC_Cu_100", frames=3, shape=(128, 128), line_jitter_px=0.0, drift_px=(2.0, 3.0), cache_dir=cache, **SMALL
    )
    assert frames.shape == labels.shape == (3, 128, 128) and frames.dtype == np.uint16
    shift = np.asarray(info["shift_px"])
    assert shift.shape == (3, 2) and np.array_equal(shift[0], [0, 0])
    assert np.allclose(np.diff(shift, axis=0), [2.0, 3.0], atol=1.5)
    assert 50 < frames.mean() < 100 + 200  # background + dose × mean intensity
    # the measured drift (phase correlation) is the true one
    a, b = frames[0].astype(float), frames[2].astype(float)
    xc = np.fft.ifft2(np.conj(np.fft.fft2(a - a.mean())) * np.fft.fft2(b - b.mean()))
    peak = np.array(np.unravel_index(np.argmax(np.abs(xc)), xc.shape))
    peak = np.where(peak > 64, peak - 128, peak)
    assert np.allclose(peak, shift[2], atol=1.0)


def test_scene_files_round_trip(tmp_path, cache):
    img, labels, info = make_bicrystal("HCP_Ti_0001", 15.0, 0.0, shape=(64, 64), cache_dir=cache, **SMALL)
    paths = save_scene(tmp_path, "bi", img, labels, info)
    assert {p.name for p in paths.values()} == {"bi.npy", "bi_truth.npz", "bi.json"}
    img2, labels2, info2 = load_scene(tmp_path, "bi")
    assert np.array_equal(img, img2) and np.array_equal(labels, labels2)
    assert np.array_equal(info["grain_map"], info2["grain_map"]) and info2["rotations_deg"] == [0.0, 15.0]
    assert info2["label_names"]["10"] == "amorphous" and info2["label_names"]["11"] == "boundary"


def test_scene_info_feeds_the_evaluation(cache):
    """The evaluation (issue 5) wraps (image, labels, info) as a Scene: keys and codes must match."""
    from aistem.training.evaluate import scene_from_simulation

    out = make_polycrystal(grain_size=13.0, cache_dir=cache, **SMALL)
    scene = scene_from_simulation(*out)
    assert scene.pixel_size == 0.12 and scene.class_names == list(CLASS_NAMES)
    assert scene.amorphous_code == AMORPHOUS_LABEL and scene.boundary_code == BOUNDARY_LABEL
    assert scene.grains is not None and scene.grains.shape == out[0].shape


def test_shipped_sample_series():
    p = sample_series_path()
    assert p.stat().st_size < 4e6  # "a few MB at most"
    frames, info = load_sample_series()
    assert frames.shape == (10, 512, 512) and frames.dtype == np.uint16
    assert info["pixel_size"] == 0.12 and info["labels"].shape == frames.shape
    grains = info["grain_classes"]
    assert {"BCC_Fe_100", "FCC_Cu_110", "HCP_Ti_0001", "amorphous"} <= set(grains)
    assert grains.count("HCP_Ti_0001") == 2  # a same-class boundary
    first = set(np.unique(info["labels"][0]).tolist())  # the first region shows three classes, amorphous, boundaries
    assert {CLASS_NAMES.index("BCC_Fe_100"), CLASS_NAMES.index("FCC_Cu_110"), CLASS_NAMES.index("HCP_Ti_0001"), 10, 11} <= first
    assert info["shift_px"].shape == (10, 2) and 2 <= np.abs(info["shift_px"][6]).max() <= 30  # drift …
    assert np.abs(info["shift_px"][-1]).max() > 250  # … and a move to a new region
    assert frames.std() > 10  # contrast and noise, not a flat image
