"""How the study words its numbers: frequencies, estimates with intervals, chance levels,
paired differences ("no detectable difference" unless the interval excludes 0)."""

from __future__ import annotations

from fractions import Fraction

from interp.analysis.stats import Interval, PairedDifference, describe_difference
from interp.studies.task_interference.facts import chance_of


def sci(x: float) -> str:
    """A frequency as the study writes it: ``3e-2``.

    >>> sci(0.0003)
    '3e-4'
    """
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def decimals_for(lo: float, hi: float) -> int:
    """Decimals (2 to 4) that show on which side of 0 an interval lies: more than 2 when a
    bound would round to 0.00 (a bound of 0.004 printed as 0.00 would look like an interval
    touching 0).

    >>> decimals_for(0.004, 0.09), decimals_for(0.00007, 0.09), decimals_for(-0.04, 0.31)
    (3, 4, 2)
    """
    nearest, decimals = min(abs(lo), abs(hi)), 2
    while decimals < 4 and round(nearest, decimals) == 0:
        decimals += 1
    return decimals


def bracket(estimate: float, lo: float, hi: float, fmt: str = ".2f", *,
            signed: bool = False) -> str:
    """``0.63 [0.51, 0.74]``: an estimate and its interval; ``signed`` for a difference
    (with a sign, and ``decimals_for`` its bounds).

    >>> bracket(0.631, 0.512, 0.744), bracket(0.1, -0.02, 0.2, signed=True)
    ('0.63 [0.51, 0.74]', '+0.10 [-0.02, 0.20]')
    >>> bracket(0.043, 0.003, 0.087, signed=True)
    '+0.043 [0.003, 0.087]'
    """
    if signed:
        d = decimals_for(lo, hi)
        return f"{estimate:+.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"
    return f"{estimate:{fmt}} [{lo:.2f}, {hi:.2f}]"


def as_difference(row) -> PairedDifference:
    """A ``paired_frame`` row (as a named tuple) as the ``PairedDifference`` that
    ``describe_difference`` takes.

    >>> from collections import namedtuple
    >>> Row = namedtuple("Row", "delta_accuracy delta_accuracy_lo delta_accuracy_hi mcnemar_p "
    ...                  "n discordant_better discordant_worse")
    >>> as_difference(Row(0.1, 0.02, 0.2, 0.01, 66, 8, 1)).excludes_zero
    True
    """
    return PairedDifference(row.delta_accuracy, row.delta_accuracy_lo, row.delta_accuracy_hi,
                            mcnemar_p=row.mcnemar_p, n=int(row.n), b=int(row.discordant_better),
                            c=int(row.discordant_worse))


def say_difference(row) -> str:
    """``describe_difference`` of a ``paired_frame`` row, with ``decimals_for`` its bounds.

    >>> from collections import namedtuple
    >>> Row = namedtuple("Row", "delta_accuracy delta_accuracy_lo delta_accuracy_hi mcnemar_p "
    ...                  "n discordant_better discordant_worse")
    >>> say_difference(Row(0.043, 0.003, 0.087, 0.06, 396, 20, 3))
    '+0.043 [0.003, 0.087] (McNemar p = 0.06, n = 396; borderline: the exact McNemar p is not below 0.05)'

    The Tango interval decides (issue 19's rule); where it excludes 0 but the exact McNemar
    test does not reject at 0.05, the text says so.
    """
    text = describe_difference(as_difference(row),
                               decimals=decimals_for(row.delta_accuracy_lo, row.delta_accuracy_hi))
    if as_difference(row).excludes_zero and row.mcnemar_p >= 0.05:
        text = text[:-1] + "; borderline: the exact McNemar p is not below 0.05)"
    return text


def chance_label(task: str) -> str:
    """The chance level of a rare task, named as ``describe_vs_chance`` names it.

    >>> chance_label("rare_modadd_3")
    'chance 1/11 = 0.09'
    """
    chance = chance_of(task)
    return f"chance {Fraction(chance).limit_denominator(100)} = {chance:.2f}"


def describe_loss(iv: Interval) -> str:
    """A paired loss difference in words: "no detectable difference" when its interval holds 0.

    >>> from interp.analysis.stats import Interval
    >>> describe_loss(Interval(-4.0, -4.6, -3.4, n=66))
    '-4.00 [-4.60, -3.40] nats (paired t over items, n = 66)'
    >>> describe_loss(Interval(0.1, -0.2, 0.4, n=66))
    'no detectable difference (Δ = +0.10 [-0.20, 0.40] nats, n = 66)'
    """
    d = decimals_for(iv.lo, iv.hi)
    body = f"{iv.estimate:+.{d}f} [{iv.lo:.{d}f}, {iv.hi:.{d}f}] nats"
    if iv.lo > 0 or iv.hi < 0:
        return f"{body} (paired t over items, n = {iv.n})"
    return f"no detectable difference (Δ = {body}, n = {iv.n})"
