"""Statistics for safety metrics: intervals, paired tests, multiplicity and judge-error correction.

The project's one statistics module (plain Python + scipy; imports neither LLaMA-Factory nor lmms-eval).
Every rate a report prints (ASR, refusal, over-refusal, ...) is a binomial proportion; this module gives

- :func:`proportion_ci` — Wilson score (default) or Clopper–Pearson interval, via ``scipy.stats.binomtest``;
- :func:`clustered_proportion_ci` / :func:`design_effect` — the same when rows share a source (MM-SafetyBench's
  SD / SD_TYPO / TYPO images of one question, VLGuard's safe and unsafe instruction on one image), by the
  effective-sample-size method of Korn & Graubard (1998);
- :func:`mcnemar_exact` / :func:`paired_difference_ci` — two models (or two checkpoints) on the same prompts:
  exact McNemar p-value and Newcombe's (1998) hybrid score interval for the difference of paired proportions;
- :func:`holm` — Holm–Bonferroni step-down adjusted p-values for a family of comparisons;
- :func:`smallest_detectable_difference` — the resolution of the exact McNemar test at a given n and discordance;
- :func:`rogan_gladen` — a rate corrected for an imperfect judge (Rogan & Gladen 1978), with the interval of
  Lang & Reiczigel (2014) that also carries the uncertainty of the judge's sensitivity and specificity;
- :func:`mean_of_rates_ci` — the unweighted mean of several rates (a paper table's average over benchmarks)
  with its MOVER interval (Zou & Donner 2008);
- :func:`interval_fields` — ``{"<name>_ci95": [low, high]}`` for JSON writers.

All functions return plain Python floats (never numpy scalars), so results serialise with :mod:`json` as is.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence

from scipy import stats

__all__ = [
    "CONFIDENCE", "DEFAULT_METHOD", "METHODS",
    "clustered_proportion_ci", "design_effect", "holm", "interval_fields", "mcnemar_exact", "mean_of_rates_ci",
    "paired_difference_ci", "proportion_ci", "rogan_gladen", "smallest_detectable_difference",
]

#: interval methods for a single proportion: Wilson score (no continuity correction) and Clopper–Pearson
METHODS = ("wilson", "exact")
DEFAULT_METHOD = "wilson"
#: the confidence level every report uses unless told otherwise
CONFIDENCE = 0.95


# --------------------------------------------------------------------------------------------- validation


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        # ValueError, not TypeError: callers catch one exception class for every bad count
        raise ValueError(f"{name} must be an int, got {value!r} ({type(value).__name__})")  # noqa: TRY004
    return int(value)


def _check_count(name: str, value, n_name: str, n: int) -> int:
    value = _check_int(name, value)
    if not 0 <= value <= n:
        raise ValueError(f"{name} must satisfy 0 <= {name} <= {n_name} ({n}), got {value}")
    return value


def _check_n(name: str, value) -> int:
    value = _check_int(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _check_level(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def _check_method(method) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown interval method {method!r}: use one of {', '.join(METHODS)}")
    return method


@functools.lru_cache(maxsize=64)
def _z(confidence: float) -> float:
    """The two-sided standard-normal critical value, e.g. 1.959963984540054 at 0.95."""
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


# ------------------------------------------------------------------------------------------ one proportion


def proportion_ci(successes: int, n: int, method: str = DEFAULT_METHOD,
                  confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Confidence interval for the binomial proportion ``successes / n``; None when ``n == 0``.

    ``method="wilson"``: Wilson (1927) score interval without continuity correction (the default; good coverage
    and never outside [0, 1], Newcombe 1998 "Two-sided confidence intervals for the single proportion", method 3;
    Brown, Cai & DasGupta 2001). ``method="exact"``: Clopper & Pearson (1934), coverage >= nominal everywhere,
    so conservative. Both computed by ``scipy.stats.binomtest(k, n).proportion_ci``.

    Raises ValueError for non-int counts, ``successes`` outside ``[0, n]``, an unknown method, or a confidence
    level outside (0, 1).
    """
    n = _check_n("n", n)
    successes = _check_count("successes", successes, "n", n)
    method = _check_method(method)
    confidence = _check_level("confidence", confidence)
    if n == 0:
        return None
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method=method)
    return float(ci.low), float(ci.high)


def _wilson_real(k: float, n: float, confidence: float) -> tuple[float, float]:
    """Wilson score interval from its closed formula, valid at non-integer (effective) ``k`` and ``n``.

    centre = (p + z²/2n) / (1 + z²/n), half-width = z / (1 + z²/n) · sqrt(p(1-p)/n + z²/4n²)  (Wilson 1927).
    """
    z = _z(confidence)
    p = k / n
    z2n = z * z / n
    denom = 1.0 + z2n
    centre = (p + z2n / 2.0) / denom
    half = z / denom * math.sqrt(max(p * (1.0 - p) / n + z2n / (4.0 * n), 0.0))
    return max(0.0, centre - half), min(1.0, centre + half)


def _clopper_pearson_real(k: float, n: float, confidence: float) -> tuple[float, float]:
    """Clopper–Pearson interval at non-integer ``k`` and ``n`` through the beta quantiles.

    lower = Beta⁻¹(α/2; k, n−k+1) (0 when k = 0), upper = Beta⁻¹(1−α/2; k+1, n−k) (1 when k = n) — the identity
    between binomial tails and the beta distribution that defines the exact interval (Clopper & Pearson 1934).
    """
    alpha = 1.0 - confidence
    low = 0.0 if k <= 0.0 else float(stats.beta.ppf(alpha / 2.0, k, n - k + 1.0))
    high = 1.0 if k >= n else float(stats.beta.ppf(1.0 - alpha / 2.0, k + 1.0, n - k))
    return low, high


# --------------------------------------------------------------------------------------- clustered rows


def _check_clusters(clusters) -> list[tuple[int, int]]:
    checked = []
    for i, row in enumerate(clusters):
        try:
            successes, n = row
        except (TypeError, ValueError):
            raise ValueError(f"clusters[{i}] must be a (successes, n) pair, got {row!r}") from None
        n = _check_n(f"clusters[{i}] n", n)
        successes = _check_count(f"clusters[{i}] successes", successes, "its n", n)
        if n:  # an empty cluster carries no information and is no cluster of the design
            checked.append((successes, n))
    return checked


def _design(clusters: list[tuple[int, int]]) -> tuple[int, int, int, float]:
    """(C, N, S, deff) for validated non-empty clusters."""
    n_clusters = len(clusters)
    total = sum(n for _, n in clusters)
    successes = sum(s for s, _ in clusters)
    if total == 0:
        return 0, 0, 0, 1.0
    p = successes / total
    if n_clusters < 2 or p <= 0.0 or p >= 1.0:
        return n_clusters, total, successes, 1.0
    # Cluster-robust (linearisation / "sandwich") variance of the ratio estimator p = Σy_i / Σm_i, with the
    # with-replacement small-sample factor C/(C-1):  V = C/(C-1) · Σ (y_i - p m_i)² / N².
    resid2 = sum((s - p * n) ** 2 for s, n in clusters)
    v_cluster = n_clusters / (n_clusters - 1) * resid2 / total ** 2
    # The simple-random-sample variance of the same estimator with the matching factor: N rows as N singleton
    # clusters give N/(N-1) · Σ(y_i - p)² / N² = p(1-p)/(N-1). With the same factor in both, all-singleton
    # clusters give deff = 1 exactly (so the clustered interval is the plain one), as Kish's design effect and
    # Stata's DEFF do.
    v_srs = p * (1.0 - p) / (total - 1)
    return n_clusters, total, successes, max(1.0, v_cluster / v_srs)


def design_effect(clusters: Sequence[tuple[int, int]]) -> float:
    """Kish design effect of a proportion estimated from clustered rows, truncated below at 1.

    ``clusters`` = one ``(successes, n)`` pair per cluster (rows that share a source). deff = V_cluster / V_srs:
    V_cluster = C/(C−1) · Σ(y_i − p·m_i)² / N² is the cluster-robust variance of the ratio estimator
    p = Σy_i / Σm_i = S / N, and V_srs = p(1−p)/(N−1) the variance of the same estimator had the N rows been
    independent (the same small-sample factor, N/(N−1), applied to N singleton clusters). Truncated below at 1:
    clustering is never allowed to make an interval narrower than the unclustered one (Korn & Graubard 1998).

    1.0 when p is 0 or 1 (the variance estimate is 0 and says nothing about correlation), when there are no rows,
    and when there is a single cluster (C/(C−1) is undefined; 1.0 is the optimistic choice — one cluster carries
    no information about between-cluster variation, so read such an interval with care). Clusters with n = 0 are
    ignored. Raises ValueError on malformed pairs.
    """
    return float(_design(_check_clusters(clusters))[3])


def clustered_proportion_ci(clusters: Sequence[tuple[int, int]], method: str = DEFAULT_METHOD,
                            confidence: float = CONFIDENCE, df_adjust: bool = False) -> tuple[float, float] | None:
    """Interval for a proportion whose rows come in correlated clusters; None when there are no rows.

    Effective-sample-size method of Korn & Graubard (1998), "Confidence intervals for proportions with small
    expected number of positive counts estimated from survey data", Survey Methodology 24(2): 193–201.
    p = ΣS / ΣN, deff = :func:`design_effect` (>= 1), n_eff = N / deff, k_eff = p · n_eff, and the Wilson or
    Clopper–Pearson interval evaluated at the (generally non-integer) (k_eff, n_eff): Wilson from its closed
    formula, Clopper–Pearson from ``scipy.stats.beta.ppf`` (scipy's binomtest needs integers). With every
    cluster of size 1 this is :func:`proportion_ci` (to rounding). Ten clusters of three identical rows give
    about the interval of ten rows (n_eff = (C−1)·N/(N−1) = 9.3 with the small-sample factors).

    ``df_adjust=True`` also applies Korn & Graubard's degrees-of-freedom correction,
    n_eff · (t_{N−1} / t_{C−1})² with t the two-sided Student-t quantile, which widens the interval further when
    there are few clusters; off by default. A single cluster: deff := 1 (see :func:`design_effect`).
    """
    method = _check_method(method)
    confidence = _check_level("confidence", confidence)
    n_clusters, total, successes, deff = _design(_check_clusters(clusters))
    if total == 0:
        return None
    p = successes / total
    n_eff = total / deff
    if df_adjust and n_clusters >= 2 and total >= 2:
        q = 0.5 + confidence / 2.0
        n_eff *= (float(stats.t.ppf(q, total - 1)) / float(stats.t.ppf(q, n_clusters - 1))) ** 2
    k_eff = p * n_eff
    if successes == total:  # keep k_eff == n_eff exactly so the upper limit is 1
        k_eff = n_eff
    if method == "wilson":
        low, high = _wilson_real(k_eff, n_eff, confidence)
    else:
        low, high = _clopper_pearson_real(k_eff, n_eff, confidence)
    return float(low), float(high)


# --------------------------------------------------------------------------------------- paired designs


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts of a paired 2x2 table.

    ``b`` = pairs where A says yes and B no, ``c`` = A no and B yes. Under H0 (equal marginal proportions) b is
    Binomial(b + c, 1/2) given b + c (McNemar 1947; the exact conditional form, e.g. Fagerland, Lydersen & Laake
    2013, BMC Med Res Methodol 13:91): ``scipy.stats.binomtest(b, b + c, 0.5).pvalue``. 1.0 when b + c == 0.
    """
    b = _check_n("b", b)
    c = _check_n("c", c)
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(b, b + c, 0.5).pvalue)


def paired_difference_ci(a: int, b: int, c: int, d: int,
                         confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Interval for p_B − p_A, two proportions measured on the same n items; None when n == 0.

    Table ``[[a, b], [c, d]]``: a = both yes, b = A yes & B no, c = A no & B yes, d = both no; n = a+b+c+d,
    p_A = (a+b)/n, p_B = (a+c)/n, delta = p_B − p_A = (c − b)/n.

    Newcombe's hybrid score interval, method 10 of Newcombe (1998), "Improved confidence intervals for the
    difference between binomial proportions based on paired data", Statistics in Medicine 17: 2635–2650:
    with Wilson limits (l1, u1) of p_A and (l2, u2) of p_B (:func:`proportion_ci`),

        lower = delta − sqrt((p_B − l2)² − 2φ(p_B − l2)(u1 − p_A) + (u1 − p_A)²)
        upper = delta + sqrt((u2 − p_B)² − 2φ(u2 − p_B)(p_A − l1) + (p_A − l1)²)

    φ is Newcombe's continuity-corrected phi coefficient: (ad − bc) / sqrt((a+b)(c+d)(a+c)(b+d)), except that
    when ad > bc the numerator is max(ad − bc − n/2, 0); φ = 0 when any margin is 0. This is the variant that
    reproduces the paper's published method-10 limits (e.g. a=18, b=12, c=2, d=18 in his orientation:
    0.0562 to 0.3290; plain φ gives 0.0618 to 0.3239) and the one Fagerland, Lydersen & Laake (2014, Stat Med
    33: 2850–2875) and Newcombe & Altman in "Statistics with Confidence" (2000) use. Limits clipped to [−1, 1].
    """
    a, b, c, d = (_check_n(name, value) for name, value in zip("abcd", (a, b, c, d)))
    confidence = _check_level("confidence", confidence)
    n = a + b + c + d
    if n == 0:
        return None
    p_a = (a + b) / n
    p_b = (a + c) / n
    l1, u1 = proportion_ci(a + b, n, "wilson", confidence)
    l2, u2 = proportion_ci(a + c, n, "wilson", confidence)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        phi = 0.0
    else:
        numerator = a * d - b * c
        if numerator > 0:
            numerator = max(numerator - n / 2.0, 0.0)
        phi = numerator / math.sqrt(margins)
    delta = p_b - p_a
    dl2, du1 = p_b - l2, u1 - p_a
    du2, dl1 = u2 - p_b, p_a - l1
    lower = delta - math.sqrt(max(dl2 * dl2 - 2.0 * phi * dl2 * du1 + du1 * du1, 0.0))
    upper = delta + math.sqrt(max(du2 * du2 - 2.0 * phi * du2 * dl1 + dl1 * dl1, 0.0))
    return float(max(-1.0, lower)), float(min(1.0, upper))


def smallest_detectable_difference(n_pairs: int, n_discordant: int, alpha: float = 0.05) -> float | None:
    """Smallest |p_B − p_A| = |c − b| / n_pairs the exact McNemar test calls significant at this discordance.

    With b + c fixed at the observed ``n_discordant``, search m = |c − b| over the values with the parity of
    ``n_discordant`` (0, 2, 4, ... or 1, 3, 5, ...) for the smallest whose :func:`mcnemar_exact` p-value is
    below ``alpha``; return m / n_pairs. None when ``n_pairs == 0`` or when even all discordant pairs in one
    direction are not significant (at alpha = 0.05 that is n_discordant < 6: 2 · 0.5⁵ = 0.0625).

    This is the resolution of the test at this n and this discordance — differences smaller than this cannot
    come out significant with these data — not a power calculation: it says nothing about how likely a true
    difference of that size is to be detected.
    """
    n_pairs = _check_n("n_pairs", n_pairs)
    n_discordant = _check_count("n_discordant", n_discordant, "n_pairs", n_pairs)
    alpha = _check_level("alpha", alpha)
    if n_pairs == 0:
        return None

    def p_at(j: int) -> float:  # j-th candidate m = parity + 2j; p-value non-increasing in m
        m = n_discordant % 2 + 2 * j
        return mcnemar_exact((n_discordant - m) // 2, (n_discordant + m) // 2)

    hi = n_discordant // 2  # m = n_discordant: all discordant pairs one way
    if not p_at(hi) < alpha:
        return None
    lo = 0
    while lo < hi:  # smallest j with p < alpha (bisection on the monotone p-value)
        mid = (lo + hi) // 2
        if p_at(mid) < alpha:
            hi = mid
        else:
            lo = mid + 1
    return float((n_discordant % 2 + 2 * lo) / n_pairs)


# ------------------------------------------------------------------------------------------ multiplicity


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni step-down adjusted p-values, in the input order (Holm 1979, Scand J Stat 6: 65–70).

    Sort the m p-values ascending p_(1) <= ... <= p_(m); adjusted p_(i) = max_{j<=i} min(1, (m − j + 1) p_(j)).
    Rejecting the hypotheses with adjusted p < alpha controls the family-wise error rate at alpha. The result is
    monotone in the sorted order and capped at 1. Raises ValueError for values outside [0, 1] or NaN.
    """
    values = []
    for i, p in enumerate(pvalues):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"pvalues[{i}] must be a number in [0, 1], got {p!r}")
        values.append(float(p))
    m = len(values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=values.__getitem__)):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return adjusted


# ---------------------------------------------------------------------------------- imperfect judge


def rogan_gladen(apparent_hits: int, n: int, sensitivity_hits: int, sensitivity_n: int,
                 specificity_hits: int, specificity_n: int, confidence: float = CONFIDENCE) -> dict | None:
    """A rate corrected for an imperfect judge, with an interval that carries the judge's own uncertainty.

    apparent p = apparent_hits / n (the judge's rate), Se = sensitivity_hits / sensitivity_n (the judge says
    "success" among rows humans labelled success), Sp = specificity_hits / specificity_n (the judge says
    "no success" among rows humans labelled no success). Rogan & Gladen (1978, Am J Epidemiol 107: 71–76):
    estimate = (p + Sp − 1) / (Se + Sp − 1), clipped to [0, 1].

    Interval: Lang & Reiczigel (2014), "Confidence limits for prevalence of disease adjusted for estimated
    sensitivity and specificity", Preventive Veterinary Medicine 113: 13–22 — an adjusted Wald interval with a
    shift, as in the authors' own script (CI4TruePrevalence, 2013, also in the R package ``prevalence`` adaptation
    by M. Flor): add z²/2 successes and z² trials to the apparent sample and 1 success and 2 trials to the
    sensitivity and specificity samples; with the adjusted p', Se', Sp' and π' = (p' + Sp' − 1)/(Se' + Sp' − 1),

        SE  = sqrt(p'(1−p')/n' + Se'(1−Se')/n_Se' · π'² + Sp'(1−Sp')/n_Sp' · (1−π')²) / |Se' + Sp' − 1|
        d   = 2 z² (π' Se'(1−Se')/n_Se' − (1−π') Sp'(1−Sp')/n_Sp')
        CI  = clip([π' + d − z·SE, π' + d + z·SE], 0, 1)

    Returns ``{"estimate", "ci95": [low, high], "method", "apparent", "sensitivity", "specificity"}`` (floats);
    None when n == 0. When the correction is undefined — no validation rows, or Se + Sp − 1 <= 0 (the judge is no
    better than chance) — ``estimate`` and ``ci95`` are None and ``reason`` says why; when the point estimate is
    defined but the adjusted Se' + Sp' − 1 is not positive (tiny validation sets), ``ci95`` is None with a reason.
    """
    n = _check_n("n", n)
    apparent_hits = _check_count("apparent_hits", apparent_hits, "n", n)
    sensitivity_n = _check_n("sensitivity_n", sensitivity_n)
    sensitivity_hits = _check_count("sensitivity_hits", sensitivity_hits, "sensitivity_n", sensitivity_n)
    specificity_n = _check_n("specificity_n", specificity_n)
    specificity_hits = _check_count("specificity_hits", specificity_hits, "specificity_n", specificity_n)
    confidence = _check_level("confidence", confidence)
    if n == 0:
        return None
    method = "rogan-gladen; lang-reiczigel 2014 interval"
    p = apparent_hits / n
    se = sensitivity_hits / sensitivity_n if sensitivity_n else None
    sp = specificity_hits / specificity_n if specificity_n else None
    result = {"estimate": None, "ci95": None, "method": method, "apparent": float(p),
              "sensitivity": None if se is None else float(se), "specificity": None if sp is None else float(sp)}
    if se is None or sp is None:
        missing = " and ".join(name for name, value in (("sensitivity", se), ("specificity", sp)) if value is None)
        result["reason"] = f"no human-labelled rows to estimate the judge's {missing}"
        return result
    youden = se + sp - 1.0
    if youden <= 0.0:
        result["reason"] = (f"the judge is no better than chance (sensitivity {se:.3f} + specificity {sp:.3f} - 1 "
                            f"= {youden:.3f} <= 0): its rate cannot be corrected")
        return result
    result["estimate"] = float(min(1.0, max(0.0, (p + sp - 1.0) / youden)))

    z = _z(confidence)
    n_p, n_se, n_sp = n + z * z, sensitivity_n + 2.0, specificity_n + 2.0
    p_, se_, sp_ = (apparent_hits + z * z / 2.0) / n_p, (sensitivity_hits + 1.0) / n_se, (specificity_hits + 1.0) / n_sp
    youden_ = se_ + sp_ - 1.0
    if youden_ <= 0.0:
        result["reason"] = (f"too few validation rows for an interval: the adjusted sensitivity {se_:.3f} + "
                            f"specificity {sp_:.3f} - 1 = {youden_:.3f} <= 0")
        return result
    prev_ = (p_ + sp_ - 1.0) / youden_
    var_se, var_sp = se_ * (1.0 - se_) / n_se, sp_ * (1.0 - sp_) / n_sp
    std_err = math.sqrt(p_ * (1.0 - p_) / n_p + var_se * prev_ ** 2 + var_sp * (1.0 - prev_) ** 2) / abs(youden_)
    shift = 2.0 * z * z * (prev_ * var_se - (1.0 - prev_) * var_sp)
    low = min(1.0, max(0.0, prev_ + shift - z * std_err))
    high = min(1.0, max(0.0, prev_ + shift + z * std_err))
    result["ci95"] = [float(low), float(high)]
    return result


# ------------------------------------------------------------------------------------ mean of several rates


def mean_of_rates_ci(parts: Sequence[tuple[float, Sequence[float]]]) -> tuple[float, tuple[float, float]] | None:
    """The unweighted mean of independent rates (a paper table's "average" over benchmarks) and its 95 %
    interval by MOVER — the method of variance estimates recovery of Zou & Donner (2008), "Construction of
    confidence limits about effect measures: a general approach", Statistics in Medicine 27:1693–1702 — from
    each rate's own interval ``(rate, (low, high))`` (Wilson or clustered Wilson here): for L = Σ w_i p_i with
    w_i = 1/k, low = L − sqrt(Σ w_i² (p_i − l_i)²), high = L + sqrt(Σ w_i² (u_i − p_i)²). It keeps each
    interval's asymmetry near 0 % and 100 %, where a Wald interval of the mean would not. None for no parts."""
    if not parts:
        return None
    k = len(parts)
    for rate, (low, high) in parts:
        if not 0.0 <= low <= rate <= high <= 1.0:
            raise ValueError(f"each part needs low <= rate <= high within [0, 1], got {rate!r} in [{low!r}, {high!r}]")
    mean = sum(rate for rate, _ in parts) / k
    below = math.sqrt(sum((rate - low) ** 2 for rate, (low, _) in parts)) / k
    above = math.sqrt(sum((high - rate) ** 2 for rate, (_, high) in parts)) / k
    return float(mean), (float(max(0.0, mean - below)), float(min(1.0, mean + above)))


# ------------------------------------------------------------------------------------------------ output


def interval_fields(name: str, ci) -> dict:
    """``{f"{name}_ci95": [low, high]}`` for JSON writers; ``{f"{name}_ci95": None}`` when ``ci`` is None."""
    if ci is None:
        return {f"{name}_ci95": None}
    low, high = ci
    return {f"{name}_ci95": [float(low), float(high)]}
