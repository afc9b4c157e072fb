"""Intervals and tests for per-item outcomes: the one statistics module every study uses.

Choices, so that every number in a study can be checked against a textbook:

* One condition's accuracy: Wilson score interval (Wilson 1927; Newcombe 1998, Stat Med 17:857),
  or Clopper-Pearson ("exact"), both straight from ``scipy.stats.binomtest(...).proportion_ci``.
* Two conditions on the SAME items: Tango's score interval for the difference of paired
  proportions (Tango 1998, Stat Med 17:891), which stays asymmetric and non-degenerate at
  delta = +-1 and when no item changes; plus the exact McNemar test (binomial on the b + c
  discordant pairs).
* Seeds: mean with a Student-t interval on n - 1 degrees of freedom; one seed gives NaN bounds
  and an explicit ``reason`` instead of a fake zero-width interval.
* Inputs are boolean per-item outcomes (``True``/``False`` or 0/1); anything else is refused with a
  one-line ``ValueError``. Pairing in :func:`paired_frame` is by item id, never by position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, stats

__all__ = [
    "Interval",
    "PairedDifference",
    "accuracy_interval",
    "binomial_vs_chance",
    "describe_difference",
    "describe_vs_chance",
    "mcnemar_exact_p",
    "paired_difference",
    "paired_frame",
    "seed_interval",
    "tango_interval",
]

ONE_SEED = "one seed: no between-seed interval"
FRAME_COLUMNS = (
    "delta_accuracy", "delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p", "n",
    "discordant_better", "discordant_worse",
)


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval; NaN bounds come with a ``reason``.

    >>> round(Interval(0.5, 0.4, 0.6, n=100).width, 2)
    0.2
    """

    estimate: float
    lo: float
    hi: float
    n: int
    confidence: float = 0.95
    reason: str | None = None

    @property
    def width(self) -> float:
        return self.hi - self.lo


@dataclass(frozen=True)
class PairedDifference:
    """Treated minus base accuracy on the same items: Tango interval, exact McNemar p, counts.

    ``b`` = items treated got right and base got wrong; ``c`` = the reverse.

    >>> PairedDifference(-0.5, -0.6, -0.4, mcnemar_p=1e-9, n=100, b=0, c=50).excludes_zero
    True
    """

    estimate: float
    lo: float
    hi: float
    mcnemar_p: float
    n: int
    b: int
    c: int
    confidence: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0


def _as_bool(values: ArrayLike, name: str) -> np.ndarray:
    """One-dimensional boolean array from bools or 0/1 numbers; refuse anything else."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of per-item outcomes, got shape {arr.shape}; "
            "flatten it or select one column"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one scored item")
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind in "iuf":
        ok = np.isin(arr, (0, 1))
    else:
        ok = np.array([isinstance(v, (bool, int, float)) and v in (0, 1) for v in arr.tolist()])
    if ok.all():
        return arr.astype(bool)
    raise ValueError(
        f"{name} must hold boolean outcomes (True/False or 0/1), found {arr[~ok][0]!r}; "
        "score each item as correct or not (and drop missing items) before calling"
    )


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(
            f"confidence must lie strictly between 0 and 1, got {confidence!r}; e.g. 0.95"
        )
    return float(confidence)


def accuracy_interval(
    correct: ArrayLike, *, confidence: float = 0.95, method: str = "wilson"
) -> Interval:
    """Accuracy with a Wilson score (default) or Clopper-Pearson ("exact") interval.

    >>> iv = accuracy_interval([True] * 81 + [False] * 182)  # Newcombe 1998, 81/263
    >>> round(iv.estimate, 4), round(iv.lo, 4), round(iv.hi, 4), iv.n
    (0.308, 0.2553, 0.3662, 263)
    """
    if method not in ("wilson", "exact"):
        raise ValueError(f"method must be 'wilson' or 'exact', got {method!r}")
    arr = _as_bool(correct, "correct")
    k, n = int(arr.sum()), int(arr.size)
    confidence = _check_confidence(confidence)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method=method)
    return Interval(k / n, float(ci.low), float(ci.high), n, confidence)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of b successes in b + c at 1/2.

    >>> round(mcnemar_exact_p(1, 9), 5), mcnemar_exact_p(0, 0)
    (0.02148, 1.0)
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    return 1.0 if b + c == 0 else float(stats.binomtest(int(b), int(b + c), 0.5).pvalue)


def _tango_score(delta: float, b: int, c: int, n: int) -> float:
    """Tango's (1998) score statistic for H0: p_b - p_c = delta, decreasing in delta.

    The restricted MLE of the ``c`` cell probability is the positive root of
    2n q^2 + W q - c delta (1 - delta) = 0 with W = -b - c + (2n - b + c) delta
    (Tango 1998; as written in Tango's 1999 letter, Stat Med 18:3511, and in Fagerland, Lydersen
    & Laake 2014, Stat Med 33:2850; it is the score equation of the trinomial likelihood with
    P(b) = q + delta). The null variance of b - c is n (2q + delta (1 - delta)).
    """
    w = -b - c + (2 * n - b + c) * delta
    q = (math.sqrt(max(w * w + 8 * n * c * delta * (1 - delta), 0.0)) - w) / (4 * n)
    var = n * (2 * q + delta * (1 - delta))
    num = b - c - n * delta
    if num == 0:
        return 0.0
    # var is 0 only at delta = +-1 (or delta = 0 with b = c = 0): the statistic diverges there.
    return num / math.sqrt(var) if var > 0 else math.copysign(1e12, num)


def tango_interval(b: int, c: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Tango's score interval for (b - c) / n, by inverting the score test with ``brentq``.

    Counts: b, c discordant pairs among n items (Fagerland et al. 2014 example: b=1, c=7, n=21).

    >>> lo, hi = tango_interval(1, 7, 21)
    >>> round(lo, 3), round(hi, 3)
    (-0.517, -0.026)
    """
    if not (0 <= b and 0 <= c and b + c <= n and n > 0):
        raise ValueError(f"need 0 <= b, c and b + c <= n > 0, got b={b}, c={c}, n={n}")
    z = float(stats.norm.ppf(0.5 + _check_confidence(confidence) / 2))
    est = (b - c) / n

    def f(delta: float, target: float) -> float:
        return _tango_score(delta, b, c, n) - target

    lo = -1.0 if f(-1.0, z) <= 0 else optimize.brentq(f, -1.0, est, args=(z,), xtol=1e-12)
    hi = 1.0 if f(1.0, -z) >= 0 else optimize.brentq(f, est, 1.0, args=(-z,), xtol=1e-12)
    return float(lo), float(hi)


def paired_difference(
    treated: ArrayLike, base: ArrayLike, *, confidence: float = 0.95
) -> PairedDifference:
    """Paired accuracy difference treated - base on the same items (aligned by position).

    >>> treated = [True] * 10 + [False] * 2 + [True] * 50 + [False] * 38
    >>> base = [False] * 10 + [True] * 2 + [True] * 50 + [False] * 38
    >>> d = paired_difference(treated, base)
    >>> round(d.estimate, 2), round(d.lo, 3), round(d.hi, 3), d.b, d.c, round(d.mcnemar_p, 4)
    (0.08, 0.014, 0.158, 10, 2, 0.0386)
    """
    t, s = _as_bool(treated, "treated"), _as_bool(base, "base")
    if t.size != s.size:
        raise ValueError(
            f"treated has {t.size} items but base has {s.size}; score both conditions on the "
            "same items, aligned item by item (paired_frame aligns by item id)"
        )
    b, c, n = int((t & ~s).sum()), int((~t & s).sum()), int(t.size)
    lo, hi = tango_interval(b, c, n, confidence=confidence)
    return PairedDifference((b - c) / n, lo, hi, mcnemar_exact_p(b, c), n, b, c, confidence)


def _aligned(
    group: pd.DataFrame, label: object, cond: str, arms: tuple, item_col: str, correct_col: str
) -> tuple[np.ndarray, np.ndarray]:
    """The treated and base outcomes of one group, aligned by item id, or a ValueError."""
    sides = []
    for arm in arms:
        sub = group[group[cond] == arm]
        dup = sub[item_col][sub[item_col].duplicated()].unique().tolist()
        if dup:
            raise ValueError(
                f"group {label}: condition {arm!r} scores item ids {dup[:5]} more than once; "
                "keep one row per item"
            )
        sides.append(sub.set_index(item_col)[correct_col])
    t, s = sides
    only_t, only_s = t.index.difference(s.index).tolist(), s.index.difference(t.index).tolist()
    if only_t or only_s or t.empty:
        raise ValueError(
            f"group {label}: conditions {arms[0]!r} and {arms[1]!r} were scored on different "
            f"items ({len(t)} vs {len(s)} rows; only in {arms[0]!r}: {only_t[:5]}, "
            f"only in {arms[1]!r}: {only_s[:5]}); score both on the same item ids"
        )
    return t.to_numpy(), s.reindex(t.index).to_numpy()


def paired_frame(
    items: pd.DataFrame,
    *,
    by: str | Sequence[str],
    treated: object,
    base: object,
    condition_col: str = "condition",
    item_col: str = "item",
    correct_col: str = "correct",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per group of ``by``, the paired difference of ``treated`` vs ``base``: one tidy row each.

    Items are paired by ``item_col``; differing or duplicated item ids raise ``ValueError``.

    >>> df = pd.DataFrame({"model": "m", "condition": ["on"] * 4 + ["off"] * 4,
    ...                    "item": [0, 1, 2, 3] * 2, "correct": [1, 1, 1, 0, 0, 1, 1, 0]})
    >>> out = paired_frame(df, by="model", treated="on", base="off")
    >>> cols = ["model", "delta_accuracy", "n", "discordant_better", "discordant_worse"]
    >>> print(out[cols].to_string(index=False))
    model  delta_accuracy  n  discordant_better  discordant_worse
        m            0.25  4                  1                 0
    """
    keys = [by] if isinstance(by, str) else list(by)
    if treated == base:
        raise ValueError(f"treated and base are both {treated!r}; name two different conditions")
    needed = [*keys, condition_col, item_col, correct_col]
    missing = [col for col in needed if col not in items.columns]
    if missing:
        raise ValueError(f"items lacks columns {missing}; it has {list(items.columns)}")
    groups = items.groupby(keys, sort=True, dropna=False) if keys else [((), items)]
    rows = []
    for label, group in groups:
        label = label if isinstance(label, tuple) else (label,)
        shown = dict(zip(keys, label)) or "all"
        t, s = _aligned(group, shown, condition_col, (treated, base), item_col, correct_col)
        try:
            d = paired_difference(t, s, confidence=confidence)
        except ValueError as err:
            raise ValueError(f"group {shown}: {err}") from None
        rows.append({
            **dict(zip(keys, label)), "delta_accuracy": d.estimate, "delta_accuracy_lo": d.lo,
            "delta_accuracy_hi": d.hi, "mcnemar_p": d.mcnemar_p, "n": d.n,
            "discordant_better": d.b, "discordant_worse": d.c,
        })
    return pd.DataFrame(rows, columns=[*keys, *FRAME_COLUMNS])


def seed_interval(values: ArrayLike, *, confidence: float = 0.95) -> Interval:
    """Mean over seeds with a t-interval on n - 1 df; one seed gives NaN bounds and a ``reason``.

    >>> iv = seed_interval([1.0, 2.0, 3.0])
    >>> round(iv.lo, 3), round(iv.hi, 3)
    (-0.484, 4.484)
    >>> seed_interval([0.7]).reason
    'one seed: no between-seed interval'
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(
            f"values must be a non-empty 1-D array of finite per-seed numbers, got shape "
            f"{arr.shape} with {int((~np.isfinite(arr)).sum())} non-finite; one number per seed"
        )
    n, mean = int(arr.size), float(arr.mean())
    confidence = _check_confidence(confidence)
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, confidence, reason=ONE_SEED)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(arr.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, confidence)


def binomial_vs_chance(correct: ArrayLike, chance: float) -> float:
    """Exact one-sided p-value that accuracy exceeds ``chance`` (binomial test, 'greater').

    >>> round(binomial_vs_chance([True] * 14 + [False] * 86, 1 / 11), 3)
    0.069
    """
    if not 0 < chance < 1:
        raise ValueError(
            f"chance must lie strictly between 0 and 1, got {chance!r}; e.g. 1/11 for 11 options"
        )
    arr = _as_bool(correct, "correct")
    test = stats.binomtest(int(arr.sum()), int(arr.size), float(chance), alternative="greater")
    return float(test.pvalue)


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def describe_vs_chance(
    correct: ArrayLike, chance: float, *, alpha: float = 0.05, decimals: int = 2
) -> str:
    """One line: accuracy [Wilson 95%], chance level, one-sided exact p, verdict at ``alpha``.

    >>> describe_vs_chance([True] * 14 + [False] * 86, 1 / 11)
    '0.14 [0.09, 0.22], chance 1/11 = 0.09, p = 0.07 (not above chance)'
    """
    chance = float(chance)
    iv = accuracy_interval(correct)
    p = binomial_vs_chance(correct, chance)
    frac = Fraction(chance).limit_denominator(100)
    label = f"{chance:.{decimals}f}"
    if frac.denominator > 1 and abs(float(frac) - chance) < 1e-9:
        label = f"{frac} = {label}"
    verdict = "above chance" if p < alpha else "not above chance"
    acc = f"{iv.estimate:.{decimals}f} [{iv.lo:.{decimals}f}, {iv.hi:.{decimals}f}]"
    return f"{acc}, chance {label}, {_fmt_p(p)} ({verdict})"


def describe_difference(d: PairedDifference, *, decimals: int = 2) -> str:
    """One line for a paired difference; says "no detectable difference" when the interval holds 0.

    >>> describe_difference(PairedDifference(-0.38, -0.48, -0.28, mcnemar_p=1e-8, n=100, b=2, c=40))
    '-0.38 [-0.48, -0.28] (McNemar p < 0.001, n = 100)'
    >>> describe_difference(PairedDifference(0.02, -0.05, 0.09, mcnemar_p=0.6, n=100, b=6, c=4))
    'no detectable difference (Δ = +0.02 [-0.05, 0.09], n = 100)'
    """
    body = f"{d.estimate:+.{decimals}f} [{d.lo:.{decimals}f}, {d.hi:.{decimals}f}]"
    if d.excludes_zero:
        return f"{body} (McNemar {_fmt_p(d.mcnemar_p)}, n = {d.n})"
    return f"no detectable difference (Δ = {body}, n = {d.n})"
