"""Paper A's claims (arXiv 2510.21866), each with our test, its interval and a verdict, read
from the replication and scaling-fit tables (table ``claims``).

Verdicts: ``supported`` or ``contradicted`` when the interval lies on one side; ``not shown``
when it holds the value that separates the two (0, or chance); ``cannot test`` when the run
has no interval for it (one unit) or nothing for the test to act on (a control already at
chance, an accuracy that does not move). A donor effect is one only when the donor differs
from its matched control by an interval that excludes 0.

A claim of no change ("stays flat", "loses accuracy completely") is never supported by an
interval that merely holds the null value: absence of evidence is not evidence. It is
supported only when the whole interval lies within a stated margin of it (``MARGINS``: an
equivalence test at the same 95%), contradicted when the interval excludes the null value,
and not shown when the interval is too wide to tell.
"""

from __future__ import annotations

import math

import pandas as pd

from interp.studies.attention_swap.sweep import OTHER_INPUT_SWAP

CLAIM_COLUMNS = ["claim", "task", "subject", "test", "estimate", "lo", "hi", "interval",
                 "verdict"]
KNOWLEDGE_MC = ("knowledge_mc", "mmlu")
CLAIMS = {
    "flat": "knowledge (MMLU-math) accuracy stays flat with size",
    "loss": "knowledge cross-entropy loss falls with size",
    "confidence": "the falling knowledge loss is confidence in an answer",
    "arithmetic": "arithmetic improves in accuracy and loss with size",
    "gap": "the confidence-competence gap (slope ratio) is large on knowledge",
    "collapse": "swapping patterns between models loses accuracy completely",
    "donor": "the loss is the other model's patterns, not any wrong pattern",
}


# Equivalence margins for claims of no change, in the units of their test (stated in the test).
MARGINS = {"flat": 0.05, "collapse": 0.10, "confidence": 0.05}


def within(lo: float, hi: float, *, at: float, margin: float) -> str:
    """``supported`` when [lo, hi] lies within ``margin`` of ``at``; ``contradicted`` when it
    excludes ``at``; else ``not shown``; ``cannot test`` without an interval.

    >>> within(-0.02, 0.03, at=0, margin=0.05), within(-0.18, 0.63, at=0, margin=0.1)
    ('supported', 'not shown')
    >>> within(0.03, 0.8, at=0, margin=0.1)
    'contradicted'
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "cannot test"
    if lo > at or hi < at:
        return "contradicted"
    return "supported" if at - margin < lo and hi < at + margin else "not shown"


def side(lo: float, hi: float, *, at: float = 0.0, above: str, below: str) -> str:
    """``above`` when [lo, hi] lies above ``at``, ``below`` when below, else ``not shown``;
    ``cannot test`` without an interval.

    >>> side(0.1, 0.3, above="supported", below="contradicted")
    'supported'
    >>> side(-0.1, 0.3, above="supported", below="contradicted"), side(math.nan, 1, above="", below="")
    ('not shown', 'cannot test')
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "cannot test"
    return above if lo > at else below if hi < at else "not shown"


def _row(claim: str, task: str, subject: str, test: str, fit, interval: str, verdict: str) -> dict:
    return dict(claim=CLAIMS[claim], task=task, subject=subject, test=test,
                estimate=float(fit["mean"]), lo=float(fit["lo"]), hi=float(fit["hi"]),
                interval=interval, verdict=verdict)


def scaling_claims(fits: pd.DataFrame) -> list[dict]:
    """The scaling claims, per (phase, family): knowledge MC flat, its loss falling, the fall
    inside the choices, arithmetic rising, and the paper's slope ratio."""
    rows = []
    for (phase, family, task), group in fits.groupby(["phase", "family", "task"], sort=False):
        fit = group.set_index("measure")
        subject, over = f"{phase} {family}", f"t over {int(fit.seeds.iloc[0])} seeds"
        acc = fit.loc["accuracy_slope"]
        if task in KNOWLEDGE_MC:
            rows.append(_row("flat", task, subject,
                             f"accuracy slope per decade (flat: within ±{MARGINS['flat']})", acc, over,
                             within(acc.lo, acc.hi, at=0.0, margin=MARGINS["flat"])))
            loss = fit.loc["loss_slope"]
            falls = side(loss.lo, loss.hi, above="contradicted", below="supported")
            rows.append(_row("loss", task, subject, "loss slope per decade", loss, over, falls))
            if "choice_loss_slope" in fit.index:
                choice = fit.loc["choice_loss_slope"]
                verdict = side(choice.lo, choice.hi, above="contradicted", below="supported")
                flat = within(choice.lo, choice.hi, at=0.0, margin=MARGINS["confidence"])
                if verdict == "not shown" and falls == "supported" and flat == "supported":
                    verdict = "contradicted"  # the loss falls, but not among the choices
                rows.append(_row("confidence", task, subject,
                                 "choice-restricted loss slope per decade (no fall: within "
                                 f"±{MARGINS['confidence']})", choice, over, verdict))
            ratio = fit.loc["paper_gap"]
            moves = side(acc.lo, acc.hi, above="yes", below="no")
            verdict = "cannot test" if moves != "yes" or not math.isfinite(ratio["mean"]) else (
                "not shown")  # a finite ratio needs a reference task to be called large
            rows.append(_row("gap", task, subject, "-dL/dA (paper's slope ratio)", ratio, over,
                             verdict))
        elif task == "arithmetic_add":
            rows.append(_row("arithmetic", task, subject, "accuracy slope per decade", acc, over,
                             side(acc.lo, acc.hi, above="supported", below="contradicted")))
            loss = fit.loc["loss_slope"]
            rows.append(_row("arithmetic", task, subject, "loss slope per decade", loss, over,
                             side(loss.lo, loss.hi, above="contradicted", below="supported")))
    return rows


def swap_claims(replication: pd.DataFrame, chance: dict) -> list[dict]:
    """Per donor kind and solved task: the share of the recipient's above-chance accuracy the
    swap keeps (collapse: an interval reaching 0), and the donor against its matched control, for the donor's patterns from the same input and
    from another input."""
    over_pairs = replication[replication.over == "pairs"]
    rows = []
    control = over_pairs[(over_pairs.condition == "control:other_input")
                         & (over_pairs.measure == "accuracy")].set_index("task")
    for r in over_pairs.itertuples():
        level = chance.get(r.task, 0.0)
        interval = f"t over {r.k} pairs"
        if r.condition.startswith("swap:") and r.measure == "kept":
            verdict = within(r.lo, r.hi, at=0.0, margin=MARGINS["collapse"])
            rows.append(_row("collapse", r.task, r.condition.removeprefix("swap:"),
                             f"share of above-chance accuracy kept (complete: below {MARGINS['collapse']})",
                             r._asdict(), interval, verdict))
        if r.condition.startswith(("swap:", OTHER_INPUT_SWAP)) and r.measure == "delta_vs_control":
            verdict = side(r.lo, r.hi, above="contradicted", below="supported")
            floor = control.loc[r.task] if r.task in control.index else None
            if floor is not None and not floor.lo > level + 1e-12:
                verdict = "cannot test"  # the control is at chance already
            source = "same input" if r.condition.startswith("swap:") else "another input"
            rows.append(_row("donor", r.task, r.condition.split(":", 1)[1],
                             f"Δ donor - own patterns, both from {source}", r._asdict(),
                             interval, verdict))
    return rows


def claims_table(replication: pd.DataFrame, fits: pd.DataFrame,
                 scaling: pd.DataFrame) -> pd.DataFrame:
    """Every claim row (``CLAIM_COLUMNS``), scaling claims first."""
    chance = scaling.groupby("task").chance.first().to_dict()
    rows = scaling_claims(fits) + swap_claims(replication, chance)
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)
