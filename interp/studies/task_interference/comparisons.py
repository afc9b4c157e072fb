"""Paired comparisons of the study, all on the same items (``interp.analysis.stats``): size
steps of the ladder, recovery after upsampling against before and against scale, and loss
differences between training variants.

Accuracy differences get Tango's score interval and the exact McNemar p (``paired_frame``).
Loss differences get a t-interval of the per-item differences (``seed_interval`` applied to
items: the mean of paired differences with n - 1 df). Every interval is between items of one
trained model: each model and training variant is one run, so no interval here covers
training randomness.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interp.analysis.stats import Interval, paired_frame, seed_interval
from interp.studies.task_interference.facts import rare_copy

STEP_COLUMNS = ["kind", "task", "smaller", "larger", "condition", "delta_accuracy",
                "delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p", "n",
                "discordant_better", "discordant_worse"]


def pooled_name(kind: str) -> str:
    """The task label of a kind's copies pooled together.

    >>> pooled_name("comparison")
    'comparison (all copies)'
    """
    return f"{kind} (all copies)"


def label(rows: pd.DataFrame, model: str) -> str:
    """The suite size of ``model`` (``s3``) in ``rows``, else its name without ``suite/``."""
    size = rows.loc[rows.model == model, "size"].iloc[0]
    return size if isinstance(size, str) and size else model.replace("suite/", "")


def ordered_models(rows: pd.DataFrame) -> list[str]:
    """The final seed-0 models (no ``@step`` checkpoints, no sibling seeds) of ``rows``,
    smallest first.

    >>> ordered_models(pd.DataFrame({"model": ["b", "a", "a@step1"], "parameters": [2, 1, 1]}))
    ['a', 'b']
    """
    final = rows[~rows.model.str.contains("@")]
    if "seed" in final:
        final = final[final.seed.fillna(0) == 0]
    return list(final.sort_values("parameters", kind="stable").model.unique())


def size_steps(ladder: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Each size step of the ladder (s_k -> s_k+1), and the smallest against the largest
    model when there are more than two, per copy and per kind with the copies pooled (the
    mean over copies, as every copy of a kind has the same items per model): larger minus
    smaller accuracy on the same items.

    >>> items = pd.DataFrame({"experiment": "ladder", "model": ["a"] * 4 + ["b"] * 4,
    ...     "task": "rare_comparison_0", "item": list("wxyz") * 2,
    ...     "correct": [0, 0, 1, 1, 1, 1, 1, 1]})
    >>> ladder = pd.DataFrame({"model": ["a", "b"], "size": ["s1", "s2"], "parameters": [1, 2]})
    >>> size_steps(ladder, items)[["task", "condition", "delta_accuracy", "n"]].values.tolist()
    [['rare_comparison_0', 's2 vs s1', 0.5, 4], ['comparison (all copies)', 's2 vs s1', 0.5, 4]]
    """
    models = ordered_models(ladder)
    scored = items[items.experiment == "ladder"]
    scored = scored.assign(kind=[rare_copy(t)[0] for t in scored.task])
    pairs = list(zip(models, models[1:])) + ([(models[0], models[-1])] if len(models) > 2 else [])
    parts = []
    for smaller, larger in pairs:
        pair = scored[scored.model.isin([smaller, larger])]
        condition = f"{label(ladder, larger)} vs {label(ladder, smaller)}"
        per_copy = paired_frame(pair, by=["kind", "task"], treated=larger, base=smaller,
                                condition_col="model")
        pooled = paired_frame(pair, by="kind", treated=larger, base=smaller, condition_col="model")
        pooled = pooled.assign(task=[pooled_name(k) for k in pooled.kind])
        for frame in (per_copy, pooled):
            parts.append(frame.assign(smaller=smaller, larger=larger, condition=condition))
    if not parts:
        return pd.DataFrame(columns=STEP_COLUMNS)
    return pd.concat(parts, ignore_index=True)[STEP_COLUMNS]


def reference_model(ladder: pd.DataFrame, focus: str) -> str | None:
    """The largest final model of the ladder that scored ``focus`` (recovery's yardstick)."""
    rows = ladder[(ladder.task == focus) & ladder.model.isin(ordered_models(ladder))]
    return None if rows.empty else rows.sort_values("parameters").model.iloc[-1]


def recovery_effects(items: pd.DataFrame, reference: str | None) -> pd.DataFrame:
    """Per recovery model and upsampling factor: accuracy at the end of training against the
    start ("end vs start"), against ``reference`` as trained ("end vs <reference>") and,
    where the reference had the same continued training at x1, against its end ("end vs
    <reference> x1"), on the same items; ``reference`` None skips the last two.

    >>> items = pd.DataFrame({"experiment": "recovery", "model": "a", "task": "t",
    ...     "condition": "x4", "step": [0, 0, 9, 9], "item": list("xyxy"), "correct": [0, 1, 1, 1]})
    >>> recovery_effects(items, None)[["comparison", "delta_accuracy", "n"]].values.tolist()
    [['end vs start', 0.5, 2]]
    """
    rec = items[items.experiment == "recovery"]
    if rec.empty:
        return pd.DataFrame()
    end = rec.groupby(["model", "condition"]).step.transform("max")
    arms = pd.concat([rec[rec.step == 0].assign(arm="start"), rec[rec.step == end].assign(arm="end")])
    parts = [paired_frame(arms, by=["model", "condition"], treated="end", base="start",
                          condition_col="arm").assign(comparison="end vs start")]
    if reference is not None:
        ref = items[(items.experiment == "ladder") & (items.model == reference)
                    & items.task.isin(rec.task.unique())]
        ends = arms[arms.arm == "end"]
        for (model, condition), group in ends.groupby(["model", "condition"], sort=False):
            both = pd.concat([group, ref.assign(arm="reference", model=model, condition=condition)])
            parts.append(paired_frame(both, by=["model", "condition"], treated="end",
                                      base="reference", condition_col="arm")
                         .assign(comparison=f"end vs {reference.replace('suite/', '')}"))
        trained = ends[(ends.model == reference) & (ends.condition == "x1")]
        for (model, condition), group in ends.groupby(["model", "condition"], sort=False):
            if trained.empty or model == reference:
                continue
            both = pd.concat([group, trained.assign(arm="reference", model=model,
                                                    condition=condition)])
            parts.append(paired_frame(both, by=["model", "condition"], treated="end",
                                      base="reference", condition_col="arm")
                         .assign(comparison=trained_reference_label(reference)))
    return pd.concat(parts, ignore_index=True)


def trained_reference_label(reference: str) -> str:
    """The comparison name against the yardstick after the same continued training.

    >>> trained_reference_label("suite/pythia-s5")
    'end vs pythia-s5 x1'
    """
    return f"end vs {reference.replace('suite/', '')} x1"


def paired_loss(treated: np.ndarray, base: np.ndarray) -> Interval:
    """Mean per-item loss difference treated - base with a t-interval (n - 1 df) over items.

    >>> iv = paired_loss(np.array([2.0, 3.0, 4.0]), np.array([1.0, 1.0, 1.0]))
    >>> round(iv.estimate, 1), round(iv.lo, 2), round(iv.hi, 2), iv.n
    (2.0, -0.48, 4.48, 3)
    """
    treated, base = np.asarray(treated, dtype=float), np.asarray(base, dtype=float)
    if treated.shape != base.shape:
        raise ValueError(f"treated has {treated.size} items but base has {base.size}; pair the "
                         "losses of the same items")
    return seed_interval(treated - base)


def item_losses(items: pd.DataFrame, **where) -> pd.Series:
    """Per-item losses of the rows matching ``where`` (column=value), indexed by item id."""
    rows = items
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return rows.set_index("item").loss


def loss_difference(treated: pd.Series, base: pd.Series) -> Interval:
    """``paired_loss`` of two ``item_losses`` series, aligned by item id (the same ids or an
    error)."""
    if set(treated.index) != set(base.index) or treated.empty:
        raise ValueError(f"loss comparison on different items ({len(treated)} vs {len(base)}); "
                         "score both on the same item ids")
    return paired_loss(treated.to_numpy(), base.reindex(treated.index).to_numpy())


def gap_steps(items: pd.DataFrame) -> pd.DataFrame:
    """Per forget model: final focus loss of each gap minus the next smaller injected gap's,
    on the same items (a larger gap ending higher is positive).

    >>> items = pd.DataFrame({"experiment": "forget", "model": "a", "condition":
    ...     ["gap 1"] * 2 + ["gap 4"] * 2, "step": 8, "item": list("xyxy"), "loss": [1, 2, 3, 3]})
    >>> gap_steps(items)[["condition", "delta_loss", "n"]].values.tolist()
    [['gap 4 vs gap 1', 1.5, 2]]
    """
    forget = items[(items.experiment == "forget")
                   & items.condition.str.fullmatch(r"gap \d+")]  # not the controls
    forget = forget[forget.step == forget.groupby(["model", "condition"]).step.transform("max")]
    rows = []
    for model, group in forget.groupby("model", sort=False):
        gaps = sorted({int(c.split()[-1]) for c in group.condition} - {0})
        for smaller, larger in zip(gaps, gaps[1:]):
            iv = loss_difference(item_losses(group, condition=f"gap {larger}"),
                                 item_losses(group, condition=f"gap {smaller}"))
            rows.append(dict(model=model, condition=f"gap {larger} vs gap {smaller}",
                             delta_loss=iv.estimate, delta_loss_lo=iv.lo, delta_loss_hi=iv.hi,
                             n=iv.n))
    return pd.DataFrame(rows, columns=["model", "condition", "delta_loss", "delta_loss_lo",
                                       "delta_loss_hi", "n"])
