"""vsfa_plugins.scoring.stats: intervals against scipy and closed formulas, published values, seeded coverage."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from vsfa_plugins.scoring import stats

Z95 = sps.norm.ppf(0.975)
GRID = [(k, n) for n in (1, 2, 3, 5, 10, 17, 50, 333) for k in sorted({0, 1, n // 3, n // 2, n - 1, n})]


def wilson_closed(k, n, z=Z95):
    """Wilson (1927) from the textbook formula, independent of scipy and of the module."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# ------------------------------------------------------------------------------------------ constants


def test_constants():
    assert stats.METHODS == ("wilson", "exact")
    assert stats.DEFAULT_METHOD == "wilson"
    assert stats.CONFIDENCE == 0.95


# ---------------------------------------------------------------------------------------- proportion_ci


@pytest.mark.parametrize("method", stats.METHODS)
@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_proportion_ci_is_scipys(method, confidence):
    for k, n in GRID:
        ci = sps.binomtest(k, n).proportion_ci(confidence_level=confidence, method=method)
        low, high = stats.proportion_ci(k, n, method, confidence)
        assert (low, high) == (float(ci.low), float(ci.high))
        assert type(low) is float and type(high) is float
        assert 0.0 <= low <= k / n <= high <= 1.0


def test_wilson_matches_its_closed_formula():
    for k, n in GRID:
        low, high = stats.proportion_ci(k, n)
        ref_low, ref_high = wilson_closed(k, n)
        assert low == pytest.approx(max(0.0, ref_low), abs=1e-12)
        assert high == pytest.approx(min(1.0, ref_high), abs=1e-12)


def test_proportion_ci_edges():
    assert stats.proportion_ci(0, 0) is None
    assert stats.proportion_ci(0, 0, "exact") is None
    low, high = stats.proportion_ci(0, 1, "exact")
    assert low == 0.0 and high == pytest.approx(0.975)  # one trial, no success: 1 - 0.025
    low, high = stats.proportion_ci(10, 10, "exact")
    assert high == 1.0 and low == pytest.approx(0.025 ** 0.1)
    assert stats.proportion_ci(0, 10)[0] == 0.0 and stats.proportion_ci(10, 10)[1] == 1.0


@pytest.mark.parametrize("args", [
    (-1, 10), (11, 10), (1, -1), (1.0, 10), (1, 10.0), (True, 10), ("1", 10), (None, 10),
    (1, 10, "wald"), (1, 10, "Wilson"), (1, 10, "wilson", 0.0), (1, 10, "wilson", 1.0), (1, 10, "wilson", 95),
])
def test_proportion_ci_rejects_bad_input(args):
    with pytest.raises(ValueError):
        stats.proportion_ci(*args)


def test_proportion_ci_accepts_numpy_ints():
    assert stats.proportion_ci(np.int64(3), np.int32(10)) == stats.proportion_ci(3, 10)


# ----------------------------------------------------------------------------------------- clustered


@pytest.mark.parametrize("method", stats.METHODS)
def test_singleton_clusters_are_the_plain_interval(method):
    for k, n in GRID:
        clusters = [(1, 1)] * k + [(0, 1)] * (n - k)
        assert stats.design_effect(clusters) == pytest.approx(1.0, abs=1e-12)
        low, high = stats.clustered_proportion_ci(clusters, method)
        ref_low, ref_high = stats.proportion_ci(k, n, method)
        assert low == pytest.approx(ref_low, abs=1e-12)
        assert high == pytest.approx(ref_high, abs=1e-12)
        assert stats.clustered_proportion_ci(clusters, method, df_adjust=True) == pytest.approx((low, high), abs=1e-12)


def test_design_effect_hand_computed():
    # p = 6/12; residuals y - p*m = .5, -1.5, 1.5, -.5 -> sum of squares 5; C = 4, N = 12
    # deff = [C/(C-1) * 5 / N^2] / [p(1-p)/(N-1)] = (4/3) * (11/12) * 5/3
    clusters = [(2, 3), (0, 3), (3, 3), (1, 3)]
    assert stats.design_effect(clusters) == pytest.approx(4 / 3 * 11 / 12 * 5 / 3, rel=1e-12)
    n_eff = 12 / (4 / 3 * 11 / 12 * 5 / 3)
    assert stats.clustered_proportion_ci(clusters) == pytest.approx(wilson_closed(0.5 * n_eff, n_eff), abs=1e-12)
    low, high = stats.clustered_proportion_ci(clusters, "exact")
    assert low == pytest.approx(sps.beta.ppf(0.025, 0.5 * n_eff, 0.5 * n_eff + 1), abs=1e-12)
    assert high == pytest.approx(sps.beta.ppf(0.975, 0.5 * n_eff + 1, 0.5 * n_eff), abs=1e-12)


@pytest.mark.parametrize("method", stats.METHODS)
def test_perfectly_correlated_clusters_are_as_wide_as_the_cluster_count(method):
    # 10 questions x 3 identical images: 30 rows, 10 independent answers
    clusters = [(3, 3)] * 4 + [(0, 3)] * 6
    low, high = stats.clustered_proportion_ci(clusters, method)
    ten_low, ten_high = stats.proportion_ci(4, 10, method)
    thirty_low, thirty_high = stats.proportion_ci(12, 30, method)
    assert high - low >= ten_high - ten_low  # never narrower than n = 10
    assert high - low <= 1.1 * (ten_high - ten_low)  # and about that width (n_eff = 9 * 30/29 = 9.31)
    assert high - low > 1.5 * (thirty_high - thirty_low)
    assert stats.design_effect(clusters) == pytest.approx(3 * 10 / 9 * 29 / 30, rel=1e-12)
    # with many clusters the small-sample factors vanish: 200 clusters of 3 identical rows ~ n = 200
    many = [(3, 3)] * 80 + [(0, 3)] * 120
    low, high = stats.clustered_proportion_ci(many, method)
    ref_low, ref_high = stats.proportion_ci(80, 200, method)
    assert high - low == pytest.approx(ref_high - ref_low, rel=0.01)


def test_clustered_never_narrower_and_edges():
    independent_looking = [(1, 3)] * 4 + [(0, 3)] * 6  # less spread than binomial: deff < 1, truncated to 1
    assert stats.design_effect(independent_looking) == 1.0
    assert stats.clustered_proportion_ci(independent_looking) == pytest.approx(stats.proportion_ci(4, 30), abs=1e-12)
    assert stats.clustered_proportion_ci([]) is None
    assert stats.clustered_proportion_ci([(0, 0), (0, 0)]) is None
    assert stats.design_effect([]) == 1.0
    # p = 0 or 1: variance 0, deff := 1
    assert stats.design_effect([(0, 3)] * 5) == 1.0
    assert stats.clustered_proportion_ci([(3, 3)] * 5, "exact") == pytest.approx(stats.proportion_ci(15, 15, "exact"))
    assert stats.clustered_proportion_ci([(0, 3)] * 5) == pytest.approx(stats.proportion_ci(0, 15), abs=1e-12)
    # a single cluster: deff := 1 (documented)
    assert stats.design_effect([(2, 5)]) == 1.0
    assert stats.clustered_proportion_ci([(2, 5)]) == pytest.approx(stats.proportion_ci(2, 5), abs=1e-12)
    # empty clusters are ignored
    assert stats.design_effect([(2, 3), (0, 0), (0, 3), (3, 3), (1, 3)]) == stats.design_effect(
        [(2, 3), (0, 3), (3, 3), (1, 3)])


def test_df_adjustment_widens_with_few_clusters():
    clusters = [(3, 3)] * 4 + [(0, 3)] * 6
    low, high = stats.clustered_proportion_ci(clusters)
    adj_low, adj_high = stats.clustered_proportion_ci(clusters, df_adjust=True)
    assert adj_low < low and adj_high > high
    n_eff = 30 / stats.design_effect(clusters) * (sps.t.ppf(0.975, 29) / sps.t.ppf(0.975, 9)) ** 2
    assert (adj_low, adj_high) == pytest.approx(wilson_closed(0.4 * n_eff, n_eff), abs=1e-12)


@pytest.mark.parametrize("clusters", [[(4, 3)], [(-1, 3)], [(1, -3)], [(1.0, 3)], [(1, 2, 3)], [1], ["ab"]])
def test_clustered_rejects_bad_input(clusters):
    with pytest.raises(ValueError):
        stats.clustered_proportion_ci(clusters)
    with pytest.raises(ValueError):
        stats.design_effect(clusters)


def test_clustered_rejects_bad_method():
    with pytest.raises(ValueError):
        stats.clustered_proportion_ci([(1, 2)], "wald")


# -------------------------------------------------------------------------------------------- McNemar


def test_mcnemar_exact():
    assert stats.mcnemar_exact(2, 10) == pytest.approx(2 * sps.binom.cdf(2, 12, 0.5), rel=1e-12)
    assert stats.mcnemar_exact(2, 10) == pytest.approx(0.0386, abs=1e-4)
    assert stats.mcnemar_exact(10, 2) == stats.mcnemar_exact(2, 10)
    assert stats.mcnemar_exact(0, 0) == 1.0
    assert stats.mcnemar_exact(5, 5) == 1.0
    assert stats.mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert type(stats.mcnemar_exact(3, 4)) is float
    for bad in [(-1, 2), (1.5, 2), (1, None)]:
        with pytest.raises(ValueError):
            stats.mcnemar_exact(*bad)


# ---------------------------------------------------------------------------------------- paired CI

# Newcombe (1998) Table II, method 10 (his orientation: difference = (first-margin) - (second-margin), i.e.
# (b - c)/n in our table), as also reproduced in the test suite of the R package propint (M. Papenberg).
# Our delta is p_B - p_A = (c - b)/n, so his (e, f, g, h) is our (a, c, b, d).
NEWCOMBE_1998_TABLE_II = [
    ((36, 12, 2, 0), (0.0569, 0.3404)),
    ((18, 12, 2, 18), (0.0562, 0.3290)),
    ((53, 0, 0, 1), (-0.0729, 0.0729)),
    ((0, 30, 0, 0), (0.8395, 1.0)),
]


@pytest.mark.parametrize("table,published", NEWCOMBE_1998_TABLE_II)
def test_paired_difference_ci_reproduces_newcombe_1998(table, published):
    e, f, g, h = table
    low, high = stats.paired_difference_ci(e, g, f, h)  # a=e, b=g (A yes, B no), c=f (A no, B yes), d=h
    assert low == pytest.approx(published[0], abs=1e-4)
    assert high == pytest.approx(published[1], abs=1e-4)
    # swapping A and B mirrors the interval
    mirrored = stats.paired_difference_ci(e, f, g, h)
    assert mirrored == pytest.approx((-high, -low), abs=1e-12)


def test_paired_difference_ci_formula_and_edges():
    a, b, c, d = 10, 5, 15, 20
    n = a + b + c + d
    p_a, p_b = (a + b) / n, (a + c) / n
    l1, u1 = stats.proportion_ci(a + b, n)
    l2, u2 = stats.proportion_ci(a + c, n)
    phi = (a * d - b * c - n / 2) / math.sqrt((a + b) * (c + d) * (a + c) * (b + d))  # ad > bc: corrected
    lower = p_b - p_a - math.sqrt((p_b - l2) ** 2 - 2 * phi * (p_b - l2) * (u1 - p_a) + (u1 - p_a) ** 2)
    upper = p_b - p_a + math.sqrt((u2 - p_b) ** 2 - 2 * phi * (u2 - p_b) * (p_a - l1) + (p_a - l1) ** 2)
    assert stats.paired_difference_ci(a, b, c, d) == pytest.approx((lower, upper), abs=1e-12)
    # negative ad - bc: plain phi
    a, b, c, d = 2, 10, 15, 3
    n = a + b + c + d
    p_a, p_b = (a + b) / n, (a + c) / n
    l1, u1 = stats.proportion_ci(a + b, n)
    l2, u2 = stats.proportion_ci(a + c, n)
    phi = (a * d - b * c) / math.sqrt((a + b) * (c + d) * (a + c) * (b + d))
    lower = p_b - p_a - math.sqrt((p_b - l2) ** 2 - 2 * phi * (p_b - l2) * (u1 - p_a) + (u1 - p_a) ** 2)
    assert stats.paired_difference_ci(a, b, c, d)[0] == pytest.approx(lower, abs=1e-12)
    assert stats.paired_difference_ci(0, 0, 0, 0) is None
    low, high = stats.paired_difference_ci(0, 0, 0, 7)  # nothing happens: an interval around 0
    assert low < 0 < high
    for bad in [(-1, 0, 0, 1), (1, 2, 3, 4.0), (1, 2, 3, 4, 1.5)]:
        with pytest.raises(ValueError):
            stats.paired_difference_ci(*bad)


def test_paired_difference_ci_coverage_seeded():
    rng = np.random.default_rng(20241204)
    probs = np.array([0.30, 0.10, 0.25, 0.35])  # p_A = .40, p_B = .55, positively correlated
    true = (probs[0] + probs[2]) - (probs[0] + probs[1])
    tables = rng.multinomial(50, probs, size=1500)
    hits = 0
    for a, b, c, d in tables:
        low, high = stats.paired_difference_ci(int(a), int(b), int(c), int(d))
        hits += low <= true <= high
    assert hits / len(tables) >= 0.93


# --------------------------------------------------------------------------------------------- Holm


def test_holm_hand_computed():
    # sorted: .005*4 = .02, .01*3 = .03, .03*2 = .06, .04*1 = .04 -> monotone .06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.2, 0.9]) == pytest.approx([1.0, 0.6, 1.0])  # capped at 1, monotone
    assert stats.holm([0.02]) == [0.02]
    assert stats.holm([]) == []
    assert stats.holm([0.01, 0.01]) == [0.02, 0.02]
    assert all(type(p) is float for p in stats.holm([0.1, 0.2]))
    for bad in [[0.1, 1.5], [-0.1], [float("nan")], ["0.1"], [None]]:
        with pytest.raises(ValueError):
            stats.holm(bad)


def test_holm_against_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(50):
        p = list(rng.uniform(0, 0.2, size=int(rng.integers(1, 9))))
        order = sorted(range(len(p)), key=p.__getitem__)
        m = len(p)
        expected = [0.0] * m
        for i, idx in enumerate(order):
            expected[idx] = max(min(1.0, (m - j) * p[order[j]]) for j in range(i + 1))
        assert stats.holm(p) == pytest.approx(expected, abs=1e-15)


# --------------------------------------------------------------------------- smallest detectable difference


def test_smallest_detectable_difference_known_values():
    # 12 discordant: m=8 -> (2, 10), p = .0386 < .05; m=6 -> (3, 9), p = .146
    assert stats.smallest_detectable_difference(100, 12) == pytest.approx(0.08)
    assert stats.mcnemar_exact(3, 9) > 0.05 > stats.mcnemar_exact(2, 10)
    assert stats.smallest_detectable_difference(50, 6) == pytest.approx(6 / 50)  # (0, 6): p = .03125
    assert stats.smallest_detectable_difference(50, 5) is None  # (0, 5): p = .0625
    assert stats.smallest_detectable_difference(50, 0) is None
    assert stats.smallest_detectable_difference(0, 0) is None
    assert stats.smallest_detectable_difference(100, 12, alpha=0.01) == pytest.approx(0.10)  # (1, 11): p=.0063


def test_smallest_detectable_difference_matches_a_linear_scan():
    for n_discordant in range(60):
        expected = None
        for m in range(n_discordant % 2, n_discordant + 1, 2):
            if stats.mcnemar_exact((n_discordant - m) // 2, (n_discordant + m) // 2) < 0.05:
                expected = m / 200
                break
        assert stats.smallest_detectable_difference(200, n_discordant) == expected


def test_smallest_detectable_difference_rejects_bad_input():
    for bad in [(10, 11), (-1, 0), (10, 2.0), (10, 2, 0.0), (10, 2, 1.5)]:
        with pytest.raises(ValueError):
            stats.smallest_detectable_difference(*bad)


# ------------------------------------------------------------------------------------------- Rogan-Gladen


def test_rogan_gladen_perfect_judge_estimate_is_apparent():
    result = stats.rogan_gladen(37, 100, 10_000, 10_000, 10_000, 10_000)
    assert result["estimate"] == pytest.approx(0.37, abs=1e-12)
    assert result["sensitivity"] == 1.0 and result["specificity"] == 1.0 and result["apparent"] == 0.37
    low, high = result["ci95"]
    assert low < 0.37 < high
    assert result["method"]
    # with a near-certain judge the interval is close to the Wilson interval of the apparent rate
    w_low, w_high = stats.proportion_ci(37, 100)
    assert low == pytest.approx(w_low, abs=0.01) and high == pytest.approx(w_high, abs=0.01)
    json.dumps(result)


def test_rogan_gladen_hand_computed():
    # p = 30/100, Se = 45/50, Sp = 90/100: estimate = (.3 + .9 - 1) / (.9 + .9 - 1) = .25
    result = stats.rogan_gladen(30, 100, 45, 50, 90, 100)
    assert result["estimate"] == pytest.approx(0.25, abs=1e-12)
    # Lang & Reiczigel (2014) by hand
    z = 1.959963984540054
    n_p = 100 + z ** 2
    p = (30 + z ** 2 / 2) / n_p
    se, sp = 46 / 52, 91 / 102
    prev = (p + sp - 1) / (se + sp - 1)
    std = math.sqrt(p * (1 - p) / n_p + se * (1 - se) / 52 * prev ** 2 + sp * (1 - sp) / 102 * (1 - prev) ** 2) \
        / (se + sp - 1)
    shift = 2 * z ** 2 * (prev * se * (1 - se) / 52 - (1 - prev) * sp * (1 - sp) / 102)
    assert result["ci95"] == pytest.approx([prev + shift - z * std, prev + shift + z * std], abs=1e-12)
    assert result["ci95"] == pytest.approx([0.1242655, 0.3865198], abs=1e-6)  # pinned


def test_rogan_gladen_clips_and_refuses():
    # apparent rate below the false-positive rate: estimate clipped to 0
    result = stats.rogan_gladen(2, 100, 45, 50, 90, 100)
    assert result["estimate"] == 0.0 and result["ci95"][0] == 0.0
    chance = stats.rogan_gladen(30, 100, 25, 50, 50, 100)  # Se + Sp - 1 = 0
    assert chance["estimate"] is None and chance["ci95"] is None and "chance" in chance["reason"]
    worse = stats.rogan_gladen(30, 100, 10, 50, 40, 100)
    assert worse["estimate"] is None and "reason" in worse
    no_validation = stats.rogan_gladen(30, 100, 0, 0, 90, 100)
    assert no_validation["estimate"] is None and "sensitivity" in no_validation["reason"]
    assert stats.rogan_gladen(0, 0, 45, 50, 90, 100) is None
    # observed Se + Sp - 1 > 0 but the adjusted one is not (one sensitivity row): estimate, no interval
    tiny = stats.rogan_gladen(50, 100, 1, 1, 300, 1000)
    assert tiny["estimate"] is not None and tiny["ci95"] is None and "reason" in tiny
    json.dumps(chance)


def test_rogan_gladen_rejects_bad_input():
    for bad in [(101, 100, 1, 2, 1, 2), (1, 100, 3, 2, 1, 2), (1, 100, 1, 2, 1.0, 2), (1, 100, 1, 2, 1, -2)]:
        with pytest.raises(ValueError):
            stats.rogan_gladen(*bad)
    with pytest.raises(ValueError):
        stats.rogan_gladen(1, 100, 1, 2, 1, 2, confidence=2)


def test_rogan_gladen_coverage_seeded():
    rng = np.random.default_rng(20241204)
    prevalence, se, sp = 0.3, 0.85, 0.9
    n, n_se, n_sp = 200, 80, 120
    apparent = prevalence * se + (1 - prevalence) * (1 - sp)
    reps = 2000
    k, k_se, k_sp = rng.binomial(n, apparent, reps), rng.binomial(n_se, se, reps), rng.binomial(n_sp, sp, reps)
    hits = 0
    for x, y, w in zip(k, k_se, k_sp):
        low, high = stats.rogan_gladen(int(x), n, int(y), n_se, int(w), n_sp)["ci95"]
        hits += low <= prevalence <= high
    assert hits / reps >= 0.93


# ------------------------------------------------------------------------------------------ JSON helper


def test_interval_fields():
    assert stats.interval_fields("asr", (0.1, 0.2)) == {"asr_ci95": [0.1, 0.2]}
    assert stats.interval_fields("asr", None) == {"asr_ci95": None}
    fields = stats.interval_fields("refusal", stats.proportion_ci(np.int64(3), 10))
    assert all(type(x) is float for x in fields["refusal_ci95"])
    json.dumps(fields)


def test_no_upstream_imports():
    import ast
    import pathlib

    tree = ast.parse(pathlib.Path(stats.__file__).read_text(encoding="utf-8"))
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not names & {"lmms_eval", "llamafactory", "torch", "transformers"}


def test_mean_of_rates_is_the_mover_combination_of_their_intervals():
    from scipy.stats import binomtest

    from vsfa_plugins.scoring.stats import mean_of_rates_ci

    counts = [(7, 50), (0, 40), (30, 60)]
    parts = []
    for k, n in counts:
        ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
        parts.append((k / n, (ci.low, ci.high)))
    mean, (low, high) = mean_of_rates_ci(parts)
    assert mean == pytest.approx((7 / 50 + 0 + 0.5) / 3)
    assert low == pytest.approx(mean - math.sqrt(sum((p - lo) ** 2 for p, (lo, _) in parts)) / 3)
    assert high == pytest.approx(mean + math.sqrt(sum((hi - p) ** 2 for p, (_, hi) in parts)) / 3)
    assert 0 <= low < mean < high <= 1
    one = binomtest(3, 10).proportion_ci(0.95, method="wilson")
    single, (lo1, hi1) = mean_of_rates_ci([(0.3, (one.low, one.high))])
    assert (single, lo1, hi1) == pytest.approx((0.3, one.low, one.high))  # one rate: its own interval
    assert mean_of_rates_ci([]) is None
    with pytest.raises(ValueError, match="low <= rate <= high"):
        mean_of_rates_ci([(0.5, (0.6, 0.7))])
