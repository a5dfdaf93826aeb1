"""Domain check on simulated windows: vacuum with noise, amorphous, out-of-domain crystals, in-domain crystals at the
edges of their lattice range (real abTEM convolution images of small cells; the lattice constant is varied by
re-rendering one simulation at a scaled pixel size)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aistem.core.domain import (
    KNOWN,
    MISMATCH,
    NO_LATTICE,
    OUT_OF_RANGE,
    DomainSettings,
    TrainingDomain,
    domain_check,
    domain_check_map,
)
from aistem.core.model import PAPER_CLASS_NAMES
from aistem.core.windows import window_grid

NAMES = list(PAPER_CLASS_NAMES)
PIX = 0.12
WIN = 100


def _render(image, ps, n, rng, *, scale=1.0, noise="poisson"):
    """``n`` 100-px windows at random rotation and position; the lattice looks ``scale`` times larger."""
    from aistem.training.augment import PeriodicImage, gaussian_noise, minmax, poisson_noise

    src = PeriodicImage(image, ps)
    ey, ex = src.extent
    out = np.empty((n, WIN, WIN), np.float32)
    for i in range(n):
        w = src.render(
            (WIN, WIN), PIX / scale, rotation=float(rng.uniform(0, 90)), centre=(rng.uniform(0, ex), -rng.uniform(0, ey))
        )
        w = minmax(w)
        out[i] = poisson_noise(w, rng) if noise == "poisson" else gaussian_noise(w, rng, 0.005)
    return out


@pytest.fixture(scope="module")
def cells():
    """One period of the convolution HAADF image of a few crystals (small cells: seconds)."""
    from ase.lattice.cubic import Diamond, FaceCenteredCubic

    from aistem.training.crystals import amorphous_cell, build_cell
    from aistem.training.haadf import convolution_haadf

    def sim(atoms):
        s = convolution_haadf(atoms)
        return s.image, s.pixel_size

    def repeat(atoms):
        lengths = atoms.cell.lengths()
        return atoms.repeat([max(1, round(t / p)) for t, p in zip((24.0, 24.0, 12.0), lengths, strict=True)])

    d110 = [[0, 0, 1], [1, -1, 0], [1, 1, 0]]
    return {
        "FCC_Cu_110": sim(build_cell("FCC_Cu_110", size=24.0, thickness=12.0)),
        "BCC_Fe_100": sim(build_cell("BCC_Fe_100", size=24.0, thickness=12.0)),
        "Au_110": sim(repeat(FaceCenteredCubic("Au", latticeconstant=4.08, directions=d110, size=(1, 1, 1), pbc=True))),
        "Si_110": sim(repeat(Diamond("Si", latticeconstant=5.431, directions=d110, size=(1, 1, 1), pbc=True))),
        "amorphous": sim(amorphous_cell(24.0, 12.0, seed=3)),
    }


def _check(wins, name):
    return domain_check(wins, np.full(len(wins), NAMES.index(name)), NAMES, pixel_size=PIX)


def test_vacuum_with_detector_noise_blank_and_saturated_windows_have_no_lattice():
    rng = np.random.default_rng(0)
    wins = np.stack(
        [rng.poisson(lam, (WIN, WIN)).astype(np.float32) for lam in (0.05, 0.5, 5.0, 50.0)]
        + [100 + rng.normal(0, 1, (WIN, WIN)).astype(np.float32), np.full((WIN, WIN), 7.0, np.float32)]
        + [np.minimum(1.0, 0.995 + rng.normal(0, 0.01, (WIN, WIN))).astype(np.float32)]
    )
    for ci in range(len(NAMES)):
        r = domain_check(wins, np.full(len(wins), ci), NAMES, pixel_size=PIX)
        assert r.unknown.all() and (r.reason == NO_LATTICE).all()
        assert r.significance.max() < DomainSettings().lattice_significance


def test_amorphous_windows_are_unknown_for_every_class(cells):
    wins = _render(*cells["amorphous"], 12, np.random.default_rng(1))
    for ci in range(len(NAMES)):
        r = domain_check(wins, np.full(12, ci), NAMES, pixel_size=PIX)
        assert r.unknown.all(), NAMES[ci]


def test_out_of_domain_crystals(cells):
    rng = np.random.default_rng(2)
    au = _render(*cells["Au_110"], 12, rng)
    r = _check(au, "FCC_Cu_110")  # the right symmetry at the wrong lattice constant (4.08 Å vs 3.53–3.73 Å)
    assert (r.reason == OUT_OF_RANGE).mean() >= 0.9
    assert np.nanmedian(r.lattice_a) == pytest.approx(4.08, rel=0.02)
    si = _render(*cells["Si_110"], 12, rng)
    for ci in range(len(NAMES)):
        assert domain_check(si, np.full(12, ci), NAMES, pixel_size=PIX).unknown.mean() >= 0.9, NAMES[ci]
    # a good lattice of another class does not fit
    fe = _render(*cells["BCC_Fe_100"], 12, rng)
    r = _check(fe, "HCP_Ti_0001")
    assert r.unknown.all() and (r.reason != NO_LATTICE).all()


@settings(max_examples=6, deadline=None)
@given(a=st.floats(3.53, 3.73), seed=st.integers(0, 2**16))
def test_in_domain_crystal_anywhere_in_its_lattice_range_is_known(cells, a, seed):
    """fcc Cu [110] at any lattice constant of the paper's range (3.63 ± 0.1 Å), Poisson noise, any rotation."""
    wins = _render(*cells["FCC_Cu_110"], 6, np.random.default_rng(seed), scale=a / 3.63)
    r = _check(wins, "FCC_Cu_110")
    assert (r.reason == KNOWN).sum() >= 5
    assert np.nanmedian(r.lattice_a) == pytest.approx(a, rel=0.01)


@settings(max_examples=4, deadline=None)
@given(a=st.one_of(st.floats(3.15, 3.40), st.floats(3.85, 4.2)), seed=st.integers(0, 2**16))
def test_the_same_crystal_beyond_its_lattice_range_is_unknown(cells, a, seed):
    wins = _render(*cells["FCC_Cu_110"], 6, np.random.default_rng(seed), scale=a / 3.63, noise="gauss")
    r = _check(wins, "FCC_Cu_110")
    assert (r.reason == OUT_OF_RANGE).sum() >= 5


def test_training_range_comes_from_the_model_metadata(cells):
    wins = _render(*cells["Au_110"], 6, np.random.default_rng(4))
    extra = {"training_domain": {"lattice_constants": {"FCC_Cu_110": {"a": [3.5, 4.1]}}}}
    dom = TrainingDomain.from_model_info(extra, NAMES)
    assert dom.source == "model" and dom.lattice["FCC_Cu_110"]["a"] == (3.5, 4.1)
    assert dom.lattice["BCC_Fe_100"]["a"] == pytest.approx((2.77, 2.97))  # classes it leaves out: the paper's recipe
    r = domain_check(wins, np.full(6, NAMES.index("FCC_Cu_110")), NAMES, pixel_size=PIX, domain=dom)
    assert (r.reason == KNOWN).sum() >= 5
    paper = TrainingDomain.from_model_info({}, NAMES)
    assert paper.source == "paper recipe" and paper.lattice["HCP_Ti_10m10"]["c/a"] == pytest.approx((4.68 / 2.95,) * 2)


def test_map_over_an_image_in_blocks_and_bad_input():
    from aistem.core.synthetic import square_lattice

    img = square_lattice((220, 220), pixel_size=PIX)  # fcc Cu [100] columns (a/2 = 1.815 Å)
    grid = window_grid(img.shape, WIN, 12)
    cls = np.full(grid.shape, NAMES.index("FCC_Cu_100"))
    r = domain_check_map(img, grid, cls, NAMES, pixel_size=PIX, chunk=7)
    assert r.unknown.shape == grid.shape and not r.unknown.any()
    assert np.nanmedian(r.lattice_a) == pytest.approx(3.63, rel=0.01)
    r2 = domain_check_map(img, grid, np.full(grid.shape, NAMES.index("HCP_Ti_0001")), NAMES, pixel_size=PIX)
    assert (r2.reason == MISMATCH).all()
    with pytest.raises(ValueError, match="pixel size"):
        domain_check(img[None, :100, :100], [0], NAMES, pixel_size=0)
    with pytest.raises(ValueError, match="one entry per window"):
        domain_check(img[None, :100, :100], [0, 1], NAMES, pixel_size=PIX)
    with pytest.raises(ValueError, match="unknown domain setting"):
        DomainSettings.from_dict({"lattice_sig": 3})


def test_small_windows_of_a_coarse_image_do_not_fail():
    rng = np.random.default_rng(5)
    for side in (8, 16, 33):
        r = domain_check(rng.random((4, side, side)).astype(np.float32), np.zeros(4, int), NAMES, pixel_size=2.5)
        assert r.unknown.all()


def test_blocks_on_threads_give_the_check_of_each_window_alone(cells, monkeypatch):
    """domain_check splits its batch into blocks (blockwise.py, threads on NumPy): every field equals the check of
    each window on its own, for a batch mixing known, mismatched and lattice-free windows and an empty batch."""
    import aistem.core.domain as domain_module

    rng = np.random.default_rng(11)
    wins = np.concatenate([_render(*cells["FCC_Cu_110"], 5, rng), _render(*cells["amorphous"], 3, rng)])
    cls = np.array([NAMES.index("FCC_Cu_110")] * 3 + [NAMES.index("HCP_Ti_0001")] * 2 + [0] * 3)
    monkeypatch.setattr(domain_module, "DOMAIN_BLOCK", 3)  # three blocks, on threads
    batch = domain_check(wins, cls, NAMES, pixel_size=PIX)
    alone = [domain_check(wins[i : i + 1], cls[i : i + 1], NAMES, pixel_size=PIX) for i in range(len(wins))]
    for field in ("unknown", "reason", "significance", "explained", "lattice_a", "lattice_c"):
        expected = np.concatenate([getattr(a, field) for a in alone])
        np.testing.assert_array_equal(getattr(batch, field), expected, err_msg=field)
    assert set(batch.reason.tolist()) >= {KNOWN, MISMATCH, NO_LATTICE}
    empty = domain_check(np.zeros((0, WIN, WIN), np.float32), np.zeros(0, int), NAMES, pixel_size=PIX)
    assert empty.unknown.shape == (0,) and empty.lattice_a.dtype == np.float32
