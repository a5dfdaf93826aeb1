"""Coarse-to-fine evaluation of the window grid against the dense grid, on synthetic scenes with known boundaries.

The scenes are label images (pixels → grain); a window's "network answer" is computed from the pixels it covers:
the majority grain's class and rotation, MI rising with the share of other grains in the window (a mixed window is
uncertain), unknown where most of the window is amorphous. This stands in for the network, whose answers also
change only where the window's content changes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aistem.core.refine import COARSE, FILLED, REFINED, coarse_levels, coarse_to_fine

W, S = 40, 5  # window and stride [px]
PERIOD = np.array([90.0, 180.0, 60.0])  # per class [°]
AMORPHOUS = -1


def window_model(labels: np.ndarray, grains: dict[int, tuple[int, float]]):
    """``evaluate(rows, cols)`` for a label image; grains: id → (class, rotation [°])."""
    calls: list[int] = []

    def evaluate(rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(len(rows))
        n = len(rows)
        out = {
            "classes": np.zeros(n, np.uint8),
            "interface": np.zeros(n, bool),
            "unknown": np.zeros(n, bool),
            "mutual_information": np.zeros(n, np.float32),
            "lattice_rotation": np.zeros(n, np.float32),
        }
        for k, (r, c) in enumerate(zip(rows, cols, strict=True)):
            win = labels[r * S : r * S + W, c * S : c * S + W]
            ids, counts = np.unique(win, return_counts=True)
            major = ids[np.argmax(counts)]
            p = counts.max() / win.size
            mi = 0.02 + 2.0 * p * (1 - p)
            if major == AMORPHOUS:
                out["unknown"][k] = True
                out["lattice_rotation"][k] = np.nan
                continue
            cls, rot = grains[int(major)]
            out["classes"][k] = cls
            out["mutual_information"][k] = mi
            out["interface"][k] = mi > 0.1
            out["lattice_rotation"][k] = np.nan if mi > 0.1 else rot
        return out

    return evaluate, calls


def grid_of(labels: np.ndarray) -> tuple[int, int]:
    return ((labels.shape[0] - W) // S + 1, (labels.shape[1] - W) // S + 1)


def dense(labels, grains):
    ev, _ = window_model(labels, grains)
    gr, gc = grid_of(labels)
    rr, cc = np.mgrid[0:gr, 0:gc]
    out = ev(rr.ravel(), cc.ravel())
    return {k: v.reshape(gr, gc) for k, v in out.items()}


def agreement(a, b, name):
    return float((a[name] == b[name]).mean())


def check_against_dense(labels, grains, k=4):
    ev, calls = window_model(labels, grains)
    ref = coarse_to_fine(grid_of(labels), ev, k=k, period=PERIOD)
    want = dense(labels, grains)
    for name in ("classes", "interface", "unknown"):
        assert agreement(ref.maps, want, name) >= 0.995, name
    computed = ~ref.filled
    np.testing.assert_allclose(ref.maps["mutual_information"][computed], want["mutual_information"][computed])
    assert sum(calls) == int(computed.sum())  # no window evaluated twice
    return ref, want


def test_coarse_levels_bracket_every_window():
    assert coarse_levels(10, 4).tolist() == [0, 4, 8, 9]
    assert coarse_levels(9, 4).tolist() == [0, 4, 8]
    assert coarse_levels(1, 4).tolist() == [0]
    with pytest.raises(ValueError):
        coarse_levels(5, 0)


def test_a_grain_without_boundary_evaluates_one_in_k_squared_plus_the_border():
    labels = np.zeros((400, 360), np.int16)
    ev, _calls = window_model(labels, {0: (1, 10.0)})
    gr, gc = grid_of(labels)
    for k in (2, 4, 6):
        ref = coarse_to_fine((gr, gc), ev, k=k, period=PERIOD)
        n_coarse = len(coarse_levels(gr, k)) * len(coarse_levels(gc, k))
        assert int((~ref.filled).sum()) == n_coarse <= gr * gc / k**2 + 2 * (gr + gc) / k + 4  # the grid / k² + border
        assert (ref.level[~ref.filled] == COARSE).all() and (ref.level[ref.filled] == FILLED).all()
        assert (ref.maps["classes"] == 1).all() and not ref.maps["interface"].any()
        np.testing.assert_allclose(ref.maps["lattice_rotation"], 10.0, atol=1e-4)


def test_straight_boundary_between_classes():
    labels = np.zeros((400, 400), np.int16)
    labels[:, 170:] = 1
    ref, _want = check_against_dense(labels, {0: (0, 5.0), 1: (2, -20.0)})
    assert ref.maps["interface"].any() and (ref.level == REFINED).any()
    assert ref.evaluated_fraction < 0.5


def test_curved_boundary_and_an_amorphous_patch():
    rr, cc = np.mgrid[0:420, 0:420]
    labels = np.zeros((420, 420), np.int16)
    labels[(rr - 210) ** 2 + (cc - 210) ** 2 < 120**2] = 1
    labels[(rr - 60) ** 2 + (cc - 340) ** 2 < 45**2] = AMORPHOUS
    ref, want = check_against_dense(labels, {0: (0, 5.0), 1: (1, 40.0)})
    assert ref.maps["unknown"].any()
    assert (ref.maps["unknown"] == want["unknown"]).all()


def test_a_same_class_boundary_is_found_by_its_rotation():
    labels = np.zeros((300, 400), np.int16)
    labels[:, 200:] = 1
    grains = {0: (0, 5.0), 1: (0, 35.0)}  # same class, turned by 30°
    ref, _want = check_against_dense(labels, grains)
    assert set(np.round(np.unique(ref.maps["lattice_rotation"][~np.isnan(ref.maps["lattice_rotation"])]), 3)) <= {5.0, 35.0}


@pytest.mark.parametrize("k", [2, 3, 4])
def test_an_inclusion_one_stride_wide_between_coarse_windows_of_one_class_is_never_skipped(k):
    """A strip of another grain, S px wide, placed between two coarse window rows: found at every offset."""
    for offset in range(0, k * S, S):
        labels = np.zeros((360, 300), np.int16)
        r = 100 + offset
        labels[r : r + S, :] = 1
        ref, want = check_against_dense(labels, {0: (0, 5.0), 1: (0, 50.0)}, k=k)
        assert want["interface"].any()
        assert (ref.maps["interface"] == want["interface"]).all(), offset


def test_the_coarse_level_is_reported_first_as_the_preview():
    labels = np.zeros((300, 300), np.int16)
    labels[:, 150:] = 1
    ev, _ = window_model(labels, {0: (0, 5.0), 1: (2, 5.0)})
    seen = []
    ref = coarse_to_fine(grid_of(labels), ev, k=4, period=PERIOD, on_level=lambda lvl, part: seen.append((lvl, part)))
    assert [lvl for lvl, _ in seen] == [0]
    part = seen[0][1]
    assert (part.level[~part.filled] == COARSE).all() and part.filled.sum() > ref.filled.sum()


@settings(max_examples=25, deadline=None)
@given(
    centre=st.tuples(st.integers(60, 300), st.integers(60, 300)),
    radius=st.integers(8, 120),
    k=st.integers(2, 5),
)
def test_a_round_grain_anywhere_matches_the_dense_grid(centre, radius, k):
    rr, cc = np.mgrid[0:360, 0:360]
    labels = ((rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 < radius**2).astype(np.int16)
    check_against_dense(labels, {0: (0, 5.0), 1: (2, 25.0)}, k=k)


def test_evaluate_must_return_the_decision_maps():
    with pytest.raises(ValueError, match="unknown"):
        coarse_to_fine((4, 4), lambda r, c: {"classes": np.zeros(len(r)), "interface": np.zeros(len(r), bool),
                                            "mutual_information": np.zeros(len(r))})  # fmt: skip


def test_a_check_of_filled_windows_finds_isolated_flags_the_corners_miss():
    """An isolated unknown window inside a cell with four agreeing corners: the cheap check finds it, its cell is
    evaluated, and the unknown map equals the dense one."""
    labels = np.zeros((300, 300), np.int16)
    ev, _ = window_model(labels, {0: (1, 10.0)})
    gr, gc = grid_of(labels)
    odd = {(6, 5), (13, 22)}  # not on a coarse row or column of k = 4

    def evaluate(rows, cols):
        out = ev(rows, cols)
        for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
            if (int(r), int(c)) in odd:
                out["unknown"][i] = True
        return out

    seen: list[tuple[int, int]] = []

    def check(rows, cols, classes):
        seen.extend(zip(rows.tolist(), cols.tolist(), strict=True))
        return np.array([(int(r), int(c)) in odd for r, c in zip(rows, cols, strict=True)])

    missed = coarse_to_fine((gr, gc), evaluate, k=4, period=PERIOD)
    assert not missed.maps["unknown"].any()  # without the check: filled over
    found = coarse_to_fine((gr, gc), evaluate, k=4, period=PERIOD, check=check)
    assert {tuple(map(int, x)) for x in np.argwhere(found.maps["unknown"])} == odd
    assert found.evaluated_fraction < 0.5
    assert len(seen) == len(set(seen))  # each filled window checked once: its values are its corners' only
    assert found.filled.sum() < len(seen) < gr * gc
