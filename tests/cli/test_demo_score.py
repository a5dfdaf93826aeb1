"""Scoring the demo's final maps against ground truth, on a hand-made scene (pure arrays)."""

from __future__ import annotations

import numpy as np

from aistem.cli.demo_score import FinalMaps, same_class_rotation, score_maps, shares

NAMES = ["A_x_100", "B_y_110", "C_z_0001"]
W, S = 10, 5


def _scene():
    """60×60 px: grain 0 (class A) left, grain 1 (class B) right of col 30, a boundary band at cols 29–30,
    an amorphous square (id 2) bottom-left."""
    labels = np.zeros((1, 60, 60), np.int16)
    grains = np.zeros((1, 60, 60), np.int8)
    labels[0, :, 30:] = 1
    grains[0, :, 30:] = 1
    labels[0, :, 29:31] = 11
    labels[0, 45:, :15] = 10
    grains[0, 45:, :15] = 2
    return labels, grains, ["A_x_100", "B_y_110", "amorphous"]


def _maps(classes, interface, unknown=None, rotation=None):
    unknown = np.zeros_like(interface) if unknown is None else unknown
    return FinalMaps(0, classes, interface, unknown, rotation, (0, 0), W, S)


def test_a_perfect_map_scores_100_percent_and_a_wrong_one_less():
    labels, grains, gcls = _scene()
    g = (60 - W) // S + 1  # 11 × 11 windows
    centres = np.arange(g) * S + (W - 1) // 2
    classes = np.where(centres[None, :] < 30, 0, 1).repeat(g, 0).astype(np.uint8)
    footprint_mixed = (np.arange(g) * S < 30)[None, :] & (np.arange(g) * S + W > 30)[None, :]
    amorph = (centres[:, None] >= 45) & (centres[None, :] < 15)
    interface = footprint_mixed.repeat(g, 0) | amorph
    s = score_maps([_maps(classes, interface)], labels, grains, gcls, NAMES)
    assert s.n["bulk"] > 0 and s.n["class_boundary"] > 0 and s.n["amorphous"] > 0
    assert s.right == s.n and s.agreement == 1.0
    wrong = classes.copy()
    wrong[:, 0] = 2  # one column of bulk windows in the wrong class
    s2 = score_maps([_maps(wrong, interface)], labels, grains, gcls, NAMES)
    assert s.n["bulk"] - 9 <= s2.right["bulk"] < s.n["bulk"] and s2.agreement < 1.0
    # unknown counts as flagged on the boundary and the amorphous patch
    s3 = score_maps([_maps(classes, np.zeros_like(interface), unknown=interface)], labels, grains, gcls, NAMES)
    assert s3.right["class_boundary"] == s3.n["class_boundary"] and s3.right["amorphous"] == s3.n["amorphous"]


def test_shares_count_classes_over_known_bulk_windows_only():
    classes = np.array([[0, 0, 1, 1]], np.uint8)
    interface = np.array([[False, True, False, False]])
    unknown = np.array([[False, False, False, True]])
    out = shares([_maps(classes, interface, unknown)], NAMES)
    assert out["class_fractions"] == {"A_x_100": 0.5, "B_y_110": 0.5}
    assert out["interface_fraction"] == 0.25 and out["unknown_fraction"] == 0.25 and out["windows"] == 4


def test_same_class_rotation_wraps_into_the_period():
    from aistem.cli.demo_score import Score

    s = Score(rotations={2: [28.0, 29.0, 29.5], 3: [-25.0, -26.0]})
    out = same_class_rotation(s, ["A", "B", "C_z_0001", "C_z_0001"], [0, 0, 29.0, -25.0], {"C_z_0001": 60.0})
    assert out == [{"class": "C_z_0001", "grains": [2, 3], "true_deg": 6.0, "measured_deg": 5.5}]
