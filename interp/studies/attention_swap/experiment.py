"""The attention-swap run: controls, swaps, the alpha curve and layer sweeps, then the deltas.

Deltas are against each recipient's own run through the same eager path, on the same items,
so the self-swap control must leave every item exactly as it was (asserted before any table
is written), and every Δ accuracy gets a paired interval.
"""

from __future__ import annotations

import pandas as pd

from interp.analysis.scaling import confidence_competence
from interp.runs.cache import ResultCache
from interp.identity import warn_identical
from interp.runs.study import Tables
from interp.studies.attention_swap.config import ALPHAS, Config
from interp.studies.attention_swap.intervals import (
    ACCURACY_COLUMNS,
    DELTA_COLUMNS,
    accuracy_intervals,
    paired_deltas,
)
from interp.studies.attention_swap.sweep import CELL_KEYS, ModelPool, Sweep, build_tasks

RESULT_COLUMNS = [*CELL_KEYS, "n", "accuracy", "accuracy_lo", "accuracy_hi", "loss",
                  "delta_accuracy", "delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p",
                  "discordant_better", "discordant_worse", "delta_loss"]
GAP_COLUMNS = ["family", "task", "sizes", "loss_slope", "accuracy_slope", "loss_gain",
               "accuracy_gain", "gap"]
SCALING_COLUMNS = ["model", "family", "parameters", "task", "n", "accuracy", "accuracy_lo",
                   "accuracy_hi", "loss", "chance", "chance_loss"]


def run(config: Config, cache: ResultCache) -> Tables:
    """results (every cell with its intervals and paired deltas), items (every cell's
    per-item outcomes), scaling (the ladder's base runs) and confidence_competence."""
    tasks = build_tasks(list(config.tasks), n=config.n, seed=config.seed, mmlu=config.mmlu,
                        qqp=config.qqp, mmlu_shots=config.mmlu_shots,
                        mmlu_subjects=config.mmlu_subjects)
    models = ModelPool(device=config.device, dtype=config.dtype)
    sweep = Sweep(models, tasks, cache, batch_size=config.batch_size, seed=config.seed,
                  heads=config.heads)
    pairs = config.pairs
    scaling = scaling_table(sweep.scaling(list(config.ladder)), sweep.cell_items())
    rows = [sweep.controls(r) for r in dict.fromkeys(r for r, _, _ in pairs)]
    rows += [sweep.swap(r, d, kind) for r, d, kind in pairs]
    if config.sweeps:
        recipient, donor = config.focus
        rows.append(sweep.alpha_curve(recipient, donor, list(ALPHAS)))
        rows.append(sweep.layer_sweeps(recipient, donor))
    results = with_deltas(pd.concat(rows, ignore_index=True), sweep)
    items = sweep.cell_items()
    assert_self_swap_is_exact(items)
    results = with_whole_mmlu(results, items)
    scaling = pd.concat([scaling, whole_mmlu_scaling(scaling, items)], ignore_index=True)
    warn_identical(list(models.loaded))  # after loading: hub weights are in the cache now
    # A ladder of one size fits nothing; the table keeps its columns so it reads back.
    gap = confidence_competence(scaling).reindex(columns=GAP_COLUMNS)
    return {"results": results, "items": items,
            "swap_vs_other_input": swap_versus_input(results, pooled_mmlu(items)), "scaling": scaling,
            "confidence_competence": gap}


def pooled_mmlu(items: pd.DataFrame, *, only: bool = False) -> pd.DataFrame:
    """``items`` plus a copy of every MMLU subject's items labelled task ``mmlu`` (the whole);
    with ``only``, just that copy. Never saved: the items table keeps each item once."""
    whole = items[items.task.str.startswith("mmlu/")].assign(task="mmlu")
    return whole if only else pd.concat([items, whole], ignore_index=True)


def with_whole_mmlu(results: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """``results`` plus, for every cell scored on MMLU subjects (``mmlu/<subject>``), one
    row for the whole (task ``mmlu``): its subjects' items pooled, with the same intervals.

    >>> keys = dict(recipient="m", donor="m", layers="none", alpha=0.0, chosen=" A", loss=1.0)
    >>> items = pd.DataFrame([dict(keys, condition="base", task=f"mmlu/{s}", item=s, correct=c)
    ...                       for s, c in (("algebra", True), ("virology", False))])
    >>> whole = with_whole_mmlu(pd.DataFrame(columns=RESULT_COLUMNS), items)
    >>> whole[["task", "n", "accuracy"]].values.tolist()
    [['mmlu', 2, 0.5]]
    """
    pooled = pooled_mmlu(items, only=True)
    if pooled.empty:
        return results
    rows = pooled.groupby(CELL_KEYS, sort=False).agg(
        accuracy=("correct", "mean"), loss=("loss", "mean")).reset_index()
    rows = rows.merge(accuracy_intervals(pooled), on=CELL_KEYS)
    rows = rows.merge(paired_deltas(pooled).drop(columns=["n"]), on=CELL_KEYS, how="left")
    base_loss = rows[rows.condition == "base"].set_index("recipient").loss
    rows["delta_loss"] = rows.loss - rows.recipient.map(base_loss)
    rows["accuracy"] = rows.accuracy.astype(float)
    return pd.concat([results, rows[RESULT_COLUMNS]], ignore_index=True)


def whole_mmlu_scaling(scaling: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """The ladder's base rows for the whole of MMLU (task ``mmlu``): subjects pooled."""
    subjects = scaling[scaling.task.str.startswith("mmlu/")]
    if subjects.empty:
        return pd.DataFrame(columns=SCALING_COLUMNS)
    pooled = items[(items.condition == "base") & items.task.str.startswith("mmlu/")]
    pooled = pooled.assign(task="mmlu").rename(columns={"recipient": "model"})
    rows = pooled.groupby(["model", "task"], sort=False).agg(
        n=("item", "size"), accuracy=("correct", "mean"), loss=("loss", "mean")).reset_index()
    first = subjects.groupby("model", sort=False)[["family", "parameters", "chance",
                                                   "chance_loss"]].first()
    rows = rows.join(first, on="model")
    return scaling_table(rows.assign(accuracy=rows.accuracy.astype(float)),
                         pooled.rename(columns={"model": "recipient"}))


def swap_versus_input(results: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Each swap against the recipient's own patterns taken from another input, paired on the
    same items: does the donor's identity cost more than wrong patterns do? Rows in the order
    of ``results``; Δ = swap - other_input."""
    compared = items[items.condition.str.startswith("swap:")
                     | (items.condition == "control:other_input")]
    columns = [*CELL_KEYS, "n", *DELTA_COLUMNS]
    if not compared.condition.str.startswith("swap:").any():
        return pd.DataFrame(columns=columns)
    versus = paired_deltas(compared, reference="control:other_input")
    swaps = results[results.condition.str.startswith("swap:")][CELL_KEYS]
    return swaps.merge(versus, on=CELL_KEYS, how="left")[columns]


def scaling_table(scaling: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """The ladder's base rows with the Wilson interval of each accuracy."""
    intervals = accuracy_intervals(items[items.condition == "base"])
    intervals = intervals.rename(columns={"recipient": "model"})
    intervals = intervals[["model", "task", *ACCURACY_COLUMNS]]
    return scaling.merge(intervals, on=["model", "task"], how="left")[SCALING_COLUMNS]


def with_deltas(results: pd.DataFrame, sweep: Sweep) -> pd.DataFrame:
    """Add Wilson intervals, and Δ accuracy (paired Tango interval, McNemar p) and Δ loss
    against each recipient's base on the same items, to the rows of ``sweep``'s cells."""
    table = results.rename(columns={"model": "recipient"})
    base = pd.concat([sweep.base(r) for r in table.recipient.unique()])
    base = base.rename(columns={"model": "recipient"}).set_index(["recipient", "task"])
    table = table.drop_duplicates(subset=CELL_KEYS).reset_index(drop=True)
    every = sweep.cell_items()
    bases = every[(every.condition == "base") & every.recipient.isin(table.recipient)]
    items = pd.concat([every.merge(table[CELL_KEYS], on=CELL_KEYS), bases]).drop_duplicates(
        subset=[*CELL_KEYS, "item"])
    joined = table.join(base[["loss"]], on=["recipient", "task"], rsuffix="_base")
    joined["delta_loss"] = joined.loss - joined.loss_base
    joined = joined.drop(columns=["n"]).merge(accuracy_intervals(items), on=CELL_KEYS, how="left")
    deltas = paired_deltas(items).drop(columns=["n"])
    joined = joined.merge(deltas, on=CELL_KEYS, how="left")
    if joined[[*ACCURACY_COLUMNS, *DELTA_COLUMNS]].isna().any().any():
        raise AssertionError("a cell has no per-item outcomes: its intervals cannot be computed")
    return joined[RESULT_COLUMNS]


def assert_self_swap_is_exact(table: pd.DataFrame) -> None:
    """The self-swap on the same input must change nothing, to the last bit: per item when
    given the items table (same chosen answer, correctness and loss as the base), per cell
    when given result rows (zero Δ accuracy and Δ loss).

    >>> item = dict(recipient="m", task="t", item="a", chosen=" 1", correct=True)
    >>> assert_self_swap_is_exact(pd.DataFrame([dict(item, condition="base", loss=0.5),
    ...                                         dict(item, condition="control:self", loss=0.5)]))
    >>> assert_self_swap_is_exact(pd.DataFrame([dict(item, condition="base", loss=0.5),
    ...                                         dict(item, condition="control:self", loss=0.6)]))
    Traceback (most recent call last):
    ...
    AssertionError: self-swap changed 1 of 1 items (largest loss change 0.1): the swap path is not exact
    """
    selfswap = table[table.condition == "control:self"]
    if selfswap.empty:
        return
    if "item" not in table.columns:
        worst = selfswap[["delta_accuracy", "delta_loss"]].abs().to_numpy().max()
        if worst != 0.0:
            raise AssertionError(f"self-swap changed a result by {worst}: the swap path is not exact")
        return
    base = table[table.condition == "base"]
    joined = selfswap.merge(base, on=["recipient", "task", "item"], suffixes=("", "_base"))
    if len(joined) != len(selfswap):
        raise AssertionError(f"self-swap scored {len(selfswap)} items but only {len(joined)} "
                             "pair with its base: the two runs saw different items")
    changed = ((joined.chosen != joined.chosen_base) | (joined.correct != joined.correct_base)
               | (joined.loss != joined.loss_base))
    if changed.any():
        worst = float((joined.loss - joined.loss_base).abs().max())
        raise AssertionError(f"self-swap changed {int(changed.sum())} of {len(joined)} items "
                             f"(largest loss change {worst:.3g}): the swap path is not exact")
