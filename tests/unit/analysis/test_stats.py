"""interp.analysis.stats against textbook numbers, closed forms by hand, and exact coverage.

Sources of the hard-coded numbers:
* Wilson / Clopper-Pearson 81/263: Newcombe (1998) Stat Med 17:857, worked example (score method
  0.2553-0.3662); re-derived here from the closed-form Wilson formula and from beta quantiles.
* Tango intervals: the published examples that the R package ratesci checks in
  tests/testthat/test3.R (Tango 1998; Agresti & Min 2005, Stat Med 24:729; Fagerland, Lydersen &
  Laake 2014, Stat Med 33:2850, Bentur et al. airway data), to the 3 decimals published.
* t quantile 4.303 (df = 2, two-sided 95%): any printed t-table.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats as sps

from interp.analysis import stats as S


def pairs(a: int, b: int, c: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-item (treated, base) outcomes of a paired 2x2 table.

    a: both right, b: treated only, c: base only, d: both wrong.
    """
    treated = [True] * a + [True] * b + [False] * c + [False] * d
    base = [True] * a + [False] * b + [True] * c + [False] * d
    return np.array(treated), np.array(base)


# ----------------------------------------------------------------- single accuracy


def test_wilson_matches_newcombe_81_of_263_and_the_closed_form():
    iv = S.accuracy_interval(np.array([True] * 81 + [False] * 182))
    assert (round(iv.lo, 4), round(iv.hi, 4)) == (0.2553, 0.3662)
    z, n, p = 1.959963984540054, 263, 81 / 263  # z: 97.5% normal quantile
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert iv.lo == pytest.approx(centre - half, abs=1e-12)
    assert iv.hi == pytest.approx(centre + half, abs=1e-12)
    assert iv.n == 263 and iv.estimate == pytest.approx(p) and iv.reason is None


def test_exact_interval_is_clopper_pearson():
    iv = S.accuracy_interval([1] * 81 + [0] * 182, method="exact")
    assert iv.lo == pytest.approx(sps.beta.ppf(0.025, 81, 183), abs=1e-9)
    assert iv.hi == pytest.approx(sps.beta.ppf(0.975, 82, 182), abs=1e-9)
    assert (round(iv.lo, 4), round(iv.hi, 4)) == (0.2527, 0.3676)


def test_wilson_at_zero_and_full_accuracy_is_not_degenerate():
    none_right = S.accuracy_interval([False] * 100)
    all_right = S.accuracy_interval([True] * 100)
    assert none_right.lo == pytest.approx(0.0, abs=1e-12) and 0.03 < none_right.hi < 0.04
    assert all_right.hi == pytest.approx(1.0) and 0.96 < all_right.lo < 0.97


# ----------------------------------------------------------------- McNemar


def test_exact_mcnemar_against_the_binomial_sum_by_hand():
    # b=1, c=9: twice P(X <= 1) for X ~ Binomial(10, 1/2)
    by_hand = 2 * sum(math.comb(10, k) for k in range(2)) / 2**10
    assert by_hand == pytest.approx(0.021484375)
    d = S.paired_difference(*pairs(30, 1, 9, 60))
    assert (d.b, d.c, d.n) == (1, 9, 100)
    assert d.mcnemar_p == pytest.approx(by_hand, rel=1e-12)
    assert S.mcnemar_exact_p(9, 1) == pytest.approx(by_hand, rel=1e-12)
    assert S.mcnemar_exact_p(0, 0) == 1.0
    assert S.mcnemar_exact_p(5, 5) == 1.0


# ----------------------------------------------------------------- Tango


@pytest.mark.parametrize(
    "table, confidence, published",
    [
        ((4, 9, 3, 16), 0.95, (-0.027, 0.390)),  # Tango 1998 example
        ((43, 0, 1, 0), 0.90, (-0.096, 0.037)),  # Tango 1998 example, 90%
        ((53, 16, 8, 9), 0.95, (-0.020, 0.207)),  # Agresti & Min 2005
        ((1, 1, 7, 12), 0.95, (-0.517, -0.026)),  # Fagerland et al. 2014, Bentur et al. 2009 data
    ],
)
def test_tango_matches_published_examples(table, confidence, published):
    d = S.paired_difference(*pairs(*table), confidence=confidence)
    assert (round(d.lo, 3), round(d.hi, 3)) == published
    _, b, c, _ = table
    assert d.estimate == pytest.approx((b - c) / sum(table))


@pytest.mark.parametrize("b, c, n", [(10, 2, 100), (1, 7, 21), (0, 3, 40), (25, 0, 60)])
def test_score_statistic_at_the_bounds_is_the_normal_quantile(b, c, n):
    lo, hi = S.tango_interval(b, c, n)
    z = sps.norm.ppf(0.975)
    assert S._tango_score(lo, b, c, n) == pytest.approx(z, abs=1e-7)
    assert S._tango_score(hi, b, c, n) == pytest.approx(-z, abs=1e-7)


@pytest.mark.parametrize("b, c, n, delta", [(10, 2, 100, 0.02), (1, 7, 21, -0.4), (3, 0, 40, -0.1)])
def test_closed_form_restricted_mle_maximises_the_restricted_likelihood(b, c, n, delta):
    """The closed-form root agrees with numerically maximising the trinomial likelihood under H0."""
    m = n - b - c

    def neg_loglik(q):  # q = P(cell c); cell b = q + delta; the rest 1 - 2q - delta
        return -(b * math.log(q + delta) + c * math.log(q) + m * math.log(1 - 2 * q - delta))

    q_lo, q_hi = max(0.0, -delta) + 1e-12, (1 - delta) / 2 - 1e-12
    q_num = optimize.minimize_scalar(
        neg_loglik, bounds=(q_lo, q_hi), method="bounded", options={"xatol": 1e-12}
    ).x
    var_num = n * (2 * q_num + delta * (1 - delta))
    expected = (b - c - n * delta) / math.sqrt(var_num)
    assert S._tango_score(delta, b, c, n) == pytest.approx(expected, rel=1e-5)


def test_exact_coverage_on_a_small_grid():
    """Exact (enumerated, not simulated) coverage of the 95% interval, n = 30, on a 4 x 4 grid."""
    n = 30
    tables = [(b, c) for b in range(n + 1) for c in range(n + 1 - b)]
    bounds = {bc: S.tango_interval(*bc, n) for bc in tables}
    coverages = []
    for p_b in (0.05, 0.1, 0.2, 0.3):
        for p_c in (0.05, 0.1, 0.2, 0.3):
            cover = 0.0
            for (b, c), (lo, hi) in bounds.items():
                if lo <= p_b - p_c <= hi:
                    ways = math.comb(n, b) * math.comb(n - b, c)
                    cover += ways * p_b**b * p_c**c * (1 - p_b - p_c) ** (n - b - c)
            coverages.append(cover)
    assert 0.94 < np.mean(coverages) < 0.965
    assert min(coverages) > 0.93


def test_all_agree_is_narrow_contains_zero_and_matches_the_closed_form():
    d = S.paired_difference(*pairs(60, 0, 0, 40))
    z2 = sps.norm.ppf(0.975) ** 2
    # with b = c = 0, Tango's statistic equals z exactly at |delta| = z^2 / (n + z^2)
    bound = z2 / (100 + z2)
    assert d.estimate == 0 and (d.b, d.c) == (0, 0)
    assert d.lo == pytest.approx(-bound, abs=1e-9) and d.hi == pytest.approx(bound, abs=1e-9)
    assert 0.03 < d.hi < 0.045 and d.lo < 0 < d.hi
    assert not d.excludes_zero and d.mcnemar_p == 1.0


def test_delta_minus_one_is_not_degenerate_and_excludes_zero():
    d = S.paired_difference(np.zeros(100, bool), np.ones(100, bool))
    assert d.estimate == -1.0 and (d.b, d.c, d.n) == (0, 100, 100)
    assert d.lo == -1.0 and -0.95 < d.hi < -0.9
    assert d.excludes_zero
    assert d.mcnemar_p == pytest.approx(2 * 0.5**100)
    up = S.paired_difference(np.ones(100, bool), np.zeros(100, bool))
    assert (up.lo, up.hi) == pytest.approx((-d.hi, 1.0))


def test_interval_is_antisymmetric_under_swapping_conditions():
    lo, hi = S.tango_interval(10, 2, 100)
    assert S.tango_interval(2, 10, 100) == pytest.approx((-hi, -lo), abs=1e-9)
    assert lo < 0.08 < hi
    assert hi - 0.08 != pytest.approx(0.08 - lo, abs=1e-3)  # asymmetric about the estimate


# ----------------------------------------------------------------- paired_frame


def long_frame(tables: dict[str, tuple[int, int, int, int]], seed: int = 0) -> pd.DataFrame:
    rows = []
    for model, table in tables.items():
        treated, base = pairs(*table)
        for i, (t, s) in enumerate(zip(treated, base)):
            for condition, correct in (("patched", t), ("clean", s)):
                rows.append({"model": model, "task": "cmp", "condition": condition,
                             "item": f"q{i}", "correct": correct})
    # shuffled, so that only pairing by item id can give the right answer
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def paired_frame_default(df: pd.DataFrame) -> pd.DataFrame:
    return S.paired_frame(
        df, by=["model", "task"], condition_col="condition", treated="patched", base="clean"
    )


def test_paired_frame_pairs_by_item_id_per_group():
    tables = {"pythia": (40, 10, 2, 48), "opt": (1, 1, 7, 12)}
    out = paired_frame_default(long_frame(tables))
    assert list(out.columns) == [
        "model", "task", "delta_accuracy", "delta_accuracy_lo", "delta_accuracy_hi",
        "mcnemar_p", "n", "discordant_better", "discordant_worse",
    ]
    for model, table in tables.items():
        row = out.set_index("model").loc[model]
        d = S.paired_difference(*pairs(*table))
        assert row["delta_accuracy"] == pytest.approx(d.estimate)
        assert (row["delta_accuracy_lo"], row["delta_accuracy_hi"]) == pytest.approx((d.lo, d.hi))
        assert (row["n"], row["discordant_better"], row["discordant_worse"]) == (d.n, d.b, d.c)
        assert row["mcnemar_p"] == pytest.approx(d.mcnemar_p)


def test_paired_frame_refuses_different_item_sets():
    df = long_frame({"pythia": (40, 10, 2, 48), "opt": (5, 1, 1, 3)})
    drop = df.index[(df["model"] == "opt") & (df["condition"] == "clean") & (df["item"] == "q3")]
    with pytest.raises(ValueError, match=r"opt.*different items.*only in 'patched': \['q3'\]"):
        paired_frame_default(df.drop(drop))
    renamed = df.copy()
    renamed.loc[drop, "item"] = "q99"
    mismatch = r"only in 'patched': \['q3'\], only in 'clean': \['q99'\]"
    with pytest.raises(ValueError, match=mismatch):
        paired_frame_default(renamed)


def test_paired_frame_refuses_duplicated_ids_and_missing_condition():
    df = long_frame({"opt": (5, 1, 1, 3)})
    dup = df[(df["condition"] == "clean") & (df["item"] == "q0")]
    with pytest.raises(ValueError, match=r"opt.*'clean'.*\['q0'\] more than once"):
        paired_frame_default(pd.concat([df, dup]))
    with pytest.raises(ValueError, match=r"opt.*different items"):
        paired_frame_default(df[df["condition"] == "patched"])


def test_paired_frame_names_group_on_bad_outcomes_and_missing_columns():
    df = long_frame({"opt": (5, 1, 1, 3)}).astype({"correct": float})
    df.loc[0, "correct"] = 0.5
    with pytest.raises(ValueError, match=r"group \{'model': 'opt'.*boolean outcomes.*0\.5"):
        paired_frame_default(df)
    with pytest.raises(ValueError, match="both 'clean'"):
        S.paired_frame(df, by="model", treated="clean", base="clean")
    with pytest.raises(ValueError, match=r"lacks columns \['condition'\]"):
        S.paired_frame(df.drop(columns="condition"), by="model", treated="patched", base="clean")


# ----------------------------------------------------------------- seeds


def test_describe_vs_chance_accepts_a_fraction():
    text = S.describe_vs_chance([True] * 14 + [False] * 86, Fraction(1, 11))
    assert ", chance 1/11 = 0.09, " in text


def test_seed_interval_two_df_t():
    iv = S.seed_interval([1.0, 2.0, 3.0])
    t_975_df2 = 4.303  # t-table: two-sided 95%, 2 degrees of freedom
    half = t_975_df2 * 1.0 / math.sqrt(3)  # sample sd of [1, 2, 3] is 1
    assert iv.estimate == 2.0 and iv.n == 3
    assert iv.lo == pytest.approx(2 - half, abs=1e-3) and iv.hi == pytest.approx(2 + half, abs=1e-3)


def test_one_seed_has_nan_bounds_and_a_reason():
    iv = S.seed_interval([0.7])
    assert iv.estimate == 0.7 and iv.n == 1 and math.isnan(iv.lo) and math.isnan(iv.hi)
    assert iv.reason == "one seed: no between-seed interval"


@pytest.mark.parametrize("values", [[], [1.0, float("nan")], [[1.0, 2.0]]])
def test_seed_interval_refuses_bad_values(values):
    with pytest.raises(ValueError, match="per-seed"):
        S.seed_interval(values)


# ----------------------------------------------------------------- chance and text


def test_binomial_vs_chance_against_the_tail_sum_by_hand():
    p = Fraction(1, 11)
    by_hand = sum(math.comb(100, k) * p**k * (1 - p) ** (100 - k) for k in range(14, 101))
    got = S.binomial_vs_chance([True] * 14 + [False] * 86, 1 / 11)
    assert got == pytest.approx(float(by_hand), rel=1e-9)
    assert S.describe_vs_chance([True] * 14 + [False] * 86, 1 / 11) == (
        "0.14 [0.09, 0.22], chance 1/11 = 0.09, p = 0.07 (not above chance)"
    )
    above = S.describe_vs_chance([True] * 40 + [False] * 60, 0.25)
    assert above.endswith("chance 1/4 = 0.25, p < 0.001 (above chance)")


def test_describe_difference_both_branches():
    d = S.paired_difference(*pairs(20, 2, 40, 38))
    assert S.describe_difference(d).startswith("-0.38 [-0.") and S.describe_difference(d).endswith(
        "(McNemar p < 0.001, n = 100)"
    )
    same = S.paired_difference(*pairs(50, 6, 4, 40))
    text = S.describe_difference(same)
    assert text.startswith("no detectable difference (Δ = +0.02 [-0.")
    assert text.endswith(", n = 100)")
    assert "\u2212" not in S.describe_difference(d) + text  # ASCII minus only


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "treated, base, message",
    [
        ([True, False], [True], "treated has 2 items but base has 1"),
        ([], [], "treated is empty"),
        ([1, 2], [0, 1], "treated must hold boolean outcomes.*2"),
        ([True, None], [True, False], "treated must hold boolean outcomes.*None"),
        ([1.0, float("nan")], [1.0, 0.0], "treated must hold boolean outcomes.*nan"),
        (["yes", "no"], [True, False], "treated must hold boolean outcomes.*'yes'"),
        ([True, False], [[True], [False]], "base must be a 1-D array"),
    ],
)
def test_paired_difference_refuses_bad_input(treated, base, message):
    with pytest.raises(ValueError, match=message):
        S.paired_difference(treated, base)


def test_accepts_pandas_and_01_inputs():
    s = pd.Series([1, 0, 1, 1])
    assert S.accuracy_interval(s).estimate == 0.75
    assert S.accuracy_interval(pd.Series([True, False], dtype="boolean")).estimate == 0.5
    with pytest.raises(ValueError, match="boolean outcomes"):
        S.accuracy_interval(pd.Series([True, None], dtype="boolean"))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="method must be"):
        S.accuracy_interval([True], method="wald")
    with pytest.raises(ValueError, match="confidence must lie"):
        S.paired_difference([True], [False], confidence=95)
    with pytest.raises(ValueError, match="chance must lie"):
        S.binomial_vs_chance([True], 1.5)
    with pytest.raises(ValueError, match="b \\+ c <= n"):
        S.tango_interval(5, 6, 10)
