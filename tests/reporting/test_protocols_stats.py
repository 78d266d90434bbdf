"""Statistics (docs/design.md §3.8) on hand-checked examples."""

import math

import pandas as pd
import pytest
from scipy import stats as sps

from benchmark.reporting.stats import (
    average_ranks,
    friedman_nemenyi,
    groups_not_different,
    mean_std_ci,
    nemenyi_cd,
    nemenyi_q,
)


def test_nemenyi_critical_values_match_demsar_table():
    # Demšar (2006), Table 5(a), α = 0.05
    for k, q in {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 10: 3.164}.items():
        assert nemenyi_q(k) == pytest.approx(q, abs=1e-3)
    assert nemenyi_cd(3, 4) == pytest.approx(2.3437 * math.sqrt(3 * 4 / (6 * 4)), abs=1e-3)


def test_friedman_hand_checked():
    # 4 datasets × 3 methods (higher is better); ranks per dataset:
    # d1: A1 B2 C3, d2: A1 C2 B3, d3: A1 B2 C3, d4: B1 A2 C3 → mean ranks A 1.25, B 2.0, C 2.75
    scores = pd.DataFrame(
        {"A": [0.9, 0.8, 0.7, 0.5], "B": [0.8, 0.6, 0.6, 0.6], "C": [0.7, 0.7, 0.5, 0.4]},
        index=["d1", "d2", "d3", "d4"],
    )
    fr = friedman_nemenyi(scores)
    assert fr.avg_ranks.to_dict() == {"A": 1.25, "B": 2.0, "C": 2.75}
    # χ²_F = 12·4/(3·4) · (1.25² + 2² + 2.75² − 3·4²/4) = 4 · 1.125 = 4.5
    assert fr.statistic == pytest.approx(4.5)
    assert fr.p_value == pytest.approx(math.exp(-4.5 / 2))  # χ² with 2 df: sf(x) = e^(−x/2)
    assert fr.statistic == pytest.approx(sps.friedmanchisquare(*[scores[c] for c in scores]).statistic)
    assert fr.iman_davenport_f == pytest.approx(3 * 4.5 / (4 * 2 - 4.5))
    assert fr.cd == pytest.approx(nemenyi_q(3) * math.sqrt(0.5))
    # A and C differ by 1.5 < CD 1.657: all three in one group
    assert groups_not_different(fr.avg_ranks, fr.cd) == [["A", "B", "C"]]


def test_friedman_with_ties_matches_scipy():
    scores = pd.DataFrame(
        {"A": [1, 2, 3, 1, 5], "B": [1, 3, 2, 2, 4], "C": [0, 1, 3, 0, 1], "D": [2, 2, 2, 2, 2]}
    )
    fr = friedman_nemenyi(scores)
    assert fr.statistic == pytest.approx(sps.friedmanchisquare(*[scores[c] for c in scores]).statistic)


def test_not_reported_below_three_by_three():
    two_ds = pd.DataFrame({"A": [1, 2], "B": [2, 1], "C": [3, 3]})
    two_methods = pd.DataFrame({"A": [1, 2, 3], "B": [2, 1, 0]})
    assert friedman_nemenyi(two_ds) is None and friedman_nemenyi(two_methods) is None


def test_average_ranks_ties_and_direction():
    s = pd.DataFrame({"A": [0.9, 0.5], "B": [0.9, 0.7], "C": [0.1, 0.7]})
    # row 1: A,B tie for 1st (1.5 each), C 3rd; row 2: B,C tie (1.5), A 3rd
    assert average_ranks(s).to_dict() == {"B": 1.5, "A": 2.25, "C": 2.25}
    # lower is better — row 1: C 1st, A,B 2.5; row 2: A 1st, B,C 2.5
    assert average_ranks(s, higher_is_better=False).to_dict() == {"A": 1.75, "C": 1.75, "B": 2.5}


def test_mean_std_ci():
    mean, std, n, lo, hi = mean_std_ci([1.0, 2.0, 3.0])
    assert (mean, std, n) == (2.0, 1.0, 3)
    half = sps.t.ppf(0.975, 2) / math.sqrt(3)  # 4.303 / √3
    assert (lo, hi) == (pytest.approx(2 - half), pytest.approx(2 + half))
