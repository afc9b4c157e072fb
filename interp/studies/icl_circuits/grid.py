"""The learning-rate x steps grid (grid.csv): does a trainable set keep ICL because of what it
is, or because it moved less? Each grid variant is trained (zero-shot loss only) at every
(lr, steps) point and scored on the target and the first held-out task; a row gives its
0-shot target accuracy (how far it fitted the task) beside its few-shot accuracy and
chance-normalised kept share, and its paired difference from the first grid variant on the
same few-shot items (so variants are compared where they fit the target equally well).
"""

from __future__ import annotations

import pandas as pd

from interp.analysis.stats import accuracy_interval, paired_difference
from interp.studies.icl_circuits.measures import divisor_reason, normalised

GRID_COLUMNS = ["model", "variant", "lr", "steps", "seed", "task", "target_zero_shot",
                "zero_shot_accuracy", "zero_shot_n", "n", "few_shot_accuracy", "few_shot_lo", "few_shot_hi",
                "kept_normalised", "kept_normalised_lo", "kept_normalised_hi",
                "kept_normalised_reason", "versus", "delta_versus", "delta_versus_lo",
                "delta_versus_hi"]
POINT = ["model", "lr", "steps", "seed", "task"]


def grid_table(scored: pd.DataFrame, base: pd.DataFrame, chance: dict[str, float],
               target: str) -> pd.DataFrame:
    """grid.csv from the grid's per-item rows (``scored``: model, variant, lr, steps, seed,
    task, shots, item, correct) and the base's (same tasks): one row per (model, variant, lr,
    steps, seed, task), with the 0-shot accuracy on ``target`` at the same point beside it
    (``target_zero_shot``: how far the variant fitted the task); the Wilson interval of
    few-shot accuracy maps to kept-share bounds with the base held fixed.

    >>> scored = pd.DataFrame(dict(model="m", variant=["qk"] * 3 + ["v"] * 3, lr=1e-3, steps=5,
    ...     seed=0, task="t", shots=[0, 1, 1] * 2, item=list("abcabc"),
    ...     correct=[1, 0, 1, 1, 1, 1]))
    >>> base = pd.DataFrame(dict(model="m", task="t", shots=1, item=list("abcdefghij"),
    ...                          correct=1))  # 10 of 10: clearly above chance
    >>> table = grid_table(scored, base, {"t": 0.5}, target="t")
    >>> table[["variant", "kept_normalised", "delta_versus"]].values.tolist()
    [['qk', 0.0, nan], ['v', 1.0, 0.5]]
    """
    few = scored[scored.shots > 0]
    few = few.assign(pair=few.shots.astype(str) + ":" + few.item.astype(str))
    rows = []
    for key, group in scored.groupby(["model", "variant", "lr", "steps", "seed", "task"],
                                     sort=False):
        model, variant, lr, steps, seed, task = key
        zero = group[group.shots == 0].correct
        mine = few[(few.model == model) & (few.variant == variant) & (few.lr == lr)
                   & (few.steps == steps) & (few.seed == seed) & (few.task == task)]
        base_few = base[(base.model == model) & (base.task == task) & (base.shots > 0)]
        acc = accuracy_interval(mine.correct.to_numpy(dtype=bool))
        reference = accuracy_interval(base_few.correct.to_numpy(dtype=bool))
        reason = divisor_reason(reference.estimate, reference.lo, chance[task])
        rows.append(dict(model=model, variant=variant, lr=lr, steps=int(steps), seed=int(seed),
                         task=task, zero_shot_accuracy=float(zero.mean()), zero_shot_n=len(zero),
                         n=acc.n, few_shot_accuracy=acc.estimate, few_shot_lo=acc.lo,
                         few_shot_hi=acc.hi, kept_normalised_reason=reason,
                         **{f"kept_normalised{end}": normalised(value, reference.estimate,
                                                                chance[task], reason)
                            for end, value in (("", acc.estimate), ("_lo", acc.lo),
                                               ("_hi", acc.hi))}))
    frame = pd.DataFrame(rows)
    point = ["model", "variant", "lr", "steps", "seed"]
    fitted = frame[frame.task == target].set_index(point).zero_shot_accuracy
    frame["target_zero_shot"] = [fitted.get(key, float("nan"))
                                 for key in zip(*(frame[c] for c in point))]
    return add_versus(frame, few)[GRID_COLUMNS]


def add_versus(frame: pd.DataFrame, few: pd.DataFrame) -> pd.DataFrame:
    """Each row's paired few-shot difference from the first grid variant at the same point
    (Tango on the same items; NaN on that variant's own rows)."""
    first = frame.variant.iloc[0]
    deltas = []
    for row in frame.itertuples():
        if row.variant == first:
            deltas.append((first, float("nan"), float("nan"), float("nan")))
            continue
        at = few[(few.model == row.model) & (few.lr == row.lr) & (few.steps == row.steps)
                 & (few.seed == row.seed) & (few.task == row.task)]
        mine = at[at.variant == row.variant].set_index("pair").correct
        theirs = at[at.variant == first].set_index("pair").correct.reindex(mine.index)
        diff = paired_difference(mine.to_numpy(dtype=bool), theirs.to_numpy(dtype=bool))
        deltas.append((first, diff.estimate, diff.lo, diff.hi))
    columns = ["versus", "delta_versus", "delta_versus_lo", "delta_versus_hi"]
    return frame.assign(**dict(zip(columns, map(list, zip(*deltas)))))
