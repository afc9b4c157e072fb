"""What sits beside every k-shot accuracy: the chance-normalised kept share, the target's
accuracy at the same k, and the output-label distribution (format collapse shows there).

Kept share, chance-normalised: (accuracy - chance) / (base - chance). 1 = the base's margin
over chance is all there, 0 = chance, below 0 = worse than chance (a share of raw accuracy
calls chance on a binary task "50 % kept"). Dividing needs a base clearly above chance:
``divisor_reason`` says why not where the base's margin is under ``MIN_MARGIN`` or its
Wilson interval reaches chance, and the share is NaN there with that reason beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interp.analysis.stats import Interval, seed_interval

MIN_MARGIN = 0.1  # the least base - chance a share is divided by (accuracy points)
CONSTANT = 0.9  # a label chosen on this share of a cell's prompts or more: a constant answer
CELL = ["model", "variant", "seed", "task", "shots"]
LABEL_COLUMNS = [*CELL, "label", "n", "share"]


def divisor_reason(base: float, base_lo: float, chance: float) -> str:
    """Why ``base - chance`` is too small to divide by ("" when it is not).

    >>> divisor_reason(1.0, 0.93, 0.5), divisor_reason(0.55, 0.45, 0.5)[:24]
    ('', 'the base is within 0.1 o')
    """
    if not base - chance >= MIN_MARGIN:
        return (f"the base is within {MIN_MARGIN:g} of chance ({base:.2f} vs {chance:g}): "
                "too close to divide by")
    if not base_lo > chance:
        return (f"the base's Wilson interval reaches chance ({base_lo:.2f} <= {chance:g}): "
                "too close to divide by")
    return ""


def normalised(accuracy: float, base: float, chance: float, reason: str) -> float:
    """(accuracy - chance) / (base - chance), NaN where ``reason`` says not to divide.

    >>> [normalised(a, 1.0, 0.5, "") for a in (0.5, 0.75, 0.25)]
    [0.0, 0.5, -0.5]
    """
    return np.nan if reason else (accuracy - chance) / (base - chance)


def normalised_interval(accuracies: np.ndarray, base: float, chance: float,
                        reason: str) -> Interval:
    """Per-seed accuracies as chance-normalised kept shares: mean and t-interval over seeds;
    NaN throughout with ``reason`` when the base is too close to chance.

    >>> normalised_interval(np.array([0.75, 0.75]), 1.0, 0.5, "").estimate
    0.5
    >>> normalised_interval(np.array([0.5]), 0.52, 0.5, "too close").reason
    'too close'
    """
    if reason:
        return Interval(np.nan, np.nan, np.nan, len(accuracies), reason=reason)
    return seed_interval((np.asarray(accuracies, dtype=float) - chance) / (base - chance))


def label_table(items: pd.DataFrame) -> pd.DataFrame:
    """labels.csv: per cell (model, variant, seed, task, shots), the share of prompts on which
    each label was chosen (shares of a cell sum to 1).

    >>> items = pd.DataFrame(dict(model="m", variant="v", seed=0, task="t", shots=1,
    ...                           chosen=["dax", "dax", "wug", "dax"]))
    >>> label_table(items)[["label", "n", "share"]].values.tolist()
    [['dax', 4, 0.75], ['wug', 4, 0.25]]
    """
    counts = items.groupby([*CELL, "chosen"], sort=False).size().rename("count").reset_index()
    totals = counts.groupby(CELL, sort=False)["count"].transform("sum")
    frame = counts.assign(n=totals, share=counts["count"] / totals).rename(
        columns={"chosen": "label"})
    return frame.sort_values([*CELL, "label"], kind="stable")[LABEL_COLUMNS].reset_index(drop=True)


def top_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the most chosen label and its share (ties: the first label in order).

    >>> labels = pd.DataFrame(dict(model="m", variant="v", seed=0, task="t", shots=1,
    ...                            label=["dax", "wug"], n=4, share=[0.25, 0.75]))
    >>> top_labels(labels)[["top_label", "top_label_share"]].values.tolist()
    [['wug', 0.75]]
    """
    best = labels.loc[labels.groupby(CELL, sort=False).share.idxmax()]
    return best.rename(columns={"label": "top_label", "share": "top_label_share"})[
        [*CELL, "top_label", "top_label_share"]].reset_index(drop=True)


def beside_accuracy(results: pd.DataFrame, labels: pd.DataFrame, chance: dict[str, float],
                    fixed: dict[str, bool], target: str, base_name: str) -> pd.DataFrame:
    """``results`` plus, per row: chance, the base's accuracy at the same (task, k), the
    chance-normalised kept share (``kept_normalised``, with ``kept_normalised_reason``), the
    target's accuracy at the same k (``target_accuracy``), the most chosen label and its share,
    and ``constant_answer``: a task whose prompts all offer the same labels, answered with one
    label on >= ``CONSTANT`` of them."""
    base = results[results.variant == base_name].drop_duplicates(["model", "task", "shots"])
    base = base.set_index(["model", "task", "shots"])
    frame = results.merge(top_labels(labels), on=CELL, how="left")
    keys = list(zip(frame.model, frame.task, frame.shots))
    frame["chance"] = frame.task.map(chance)
    frame["base_accuracy"] = [base.accuracy.get(k, np.nan) for k in keys]
    frame["kept_normalised_reason"] = [
        divisor_reason(b, base.accuracy_lo.get(k, np.nan), c)
        for k, b, c in zip(keys, frame.base_accuracy, frame.chance)]
    frame["kept_normalised"] = [normalised(a, b, c, r) for a, b, c, r in zip(
        frame.accuracy, frame.base_accuracy, frame.chance, frame.kept_normalised_reason)]
    target_rows = results[results.task == target].set_index(["model", "variant", "seed", "shots"])
    frame["target_accuracy"] = [target_rows.accuracy.get(k, np.nan) for k in
                                zip(frame.model, frame.variant, frame.seed, frame.shots)]
    frame["constant_answer"] = frame.task.map(fixed).fillna(False).astype(bool) & (
        frame.top_label_share >= CONSTANT)
    return frame


def constant_seeds(results: pd.DataFrame) -> pd.DataFrame:
    """Per (model, variant, task): how many seeds answer some demonstration prompt cell
    (k >= 1) with a constant label (``constant_answer_seeds``), and the largest top-label
    share over those cells (``top_label_share_max``).

    >>> rows = pd.DataFrame(dict(model="m", variant="v", task="t", seed=[0, 0, 1], shots=[0, 1, 1],
    ...                          constant_answer=[True, False, True], top_label_share=[1, .5, .95]))
    >>> constant_seeds(rows)[["constant_answer_seeds", "top_label_share_max"]].values.tolist()
    [[1.0, 0.95]]
    """
    few = results[results.shots > 0]
    per_seed = few.groupby(["model", "variant", "task", "seed"], sort=False).agg(
        constant=("constant_answer", "any"), top=("top_label_share", "max"))
    out = per_seed.groupby(["model", "variant", "task"], sort=False).agg(
        constant_answer_seeds=("constant", "sum"), top_label_share_max=("top", "max"))
    return out.reset_index().astype({"constant_answer_seeds": int})


def reason_text(value: object) -> str:
    """A reason column's value as text: "" for none (a CSV reads an empty reason as NaN).

    >>> reason_text(float("nan")), reason_text(""), reason_text("too close")
    ('', '', 'too close')
    """
    return value if isinstance(value, str) else ""
