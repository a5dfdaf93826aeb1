"""The paper's selection rule and the optional MI-AUC eligibility (pure ranking, no models)."""

from __future__ import annotations

import math

import pytest

from aistem.training.selection import Candidate, rank_candidates


def _cands() -> list[Candidate]:
    return [
        Candidate("a.keras", 0.999, median_amorphous_mi=0.40, mi_auc=0.93),
        Candidate("b.keras", 0.9995, median_amorphous_mi=0.23, mi_auc=0.98),
        Candidate("c.keras", 0.990, median_amorphous_mi=0.90, mi_auc=0.99),  # below the validation accuracy
        Candidate("d.keras", 0.998),  # not analysed: no MI, no AUC
    ]


def test_paper_rule_takes_highest_amorphous_mi_among_accurate_models() -> None:
    ranking = rank_candidates(_cands(), 0.995)
    assert [c.path for c in ranking[:3]] == ["a.keras", "b.keras", "d.keras"]
    assert [c.eligible for c in ranking] == [True, True, True, False]
    assert ranking[-1].path == "c.keras"


def test_min_mi_auc_excludes_models_that_miss_it_or_were_not_measured() -> None:
    ranking = rank_candidates(_cands(), 0.995, min_mi_auc=0.95)
    assert ranking[0].path == "b.keras" and ranking[0].eligible
    assert {c.path for c in ranking if c.eligible} == {"b.keras"}
    # the ineligible ones follow by validation accuracy
    assert [c.path for c in ranking[1:]] == ["a.keras", "d.keras", "c.keras"]


def test_no_eligible_candidate_leaves_none_on_top() -> None:
    ranking = rank_candidates(_cands(), 0.995, min_mi_auc=0.999)
    assert not any(c.eligible for c in ranking)
    assert math.isnan(Candidate("x", 0.5).mi_auc)


@pytest.mark.parametrize("bad", [95.0, -0.1])
def test_min_mi_auc_outside_zero_one_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        rank_candidates(_cands(), 0.995, min_mi_auc=bad)
