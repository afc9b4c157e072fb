"""The attention-swap run: controls, graded donors, the alpha curve and layer sweeps with
their matched controls, at several evaluation seeds; then the deltas and the scaling view.

Deltas are against each recipient's own run through the same eager path, on the same items
and seed, so the self-swap control must leave every item exactly as it was (asserted before
any table is written), and every Δ accuracy gets a paired interval. A donor cell is also
paired with its matched control: the recipient's own patterns from the same other input, at
the same layers and alpha (``donor_vs_control``).
"""

from __future__ import annotations

import pandas as pd

from interp.identity import warn_identical
from interp.interventions import DonorStates
from interp.runs.cache import ResultCache
from interp.runs.study import Tables
from interp.studies.attention_swap.choices import other_input_neighbours
from interp.studies.attention_swap.claims import claims_table
from interp.studies.attention_swap.config import ALPHAS, FILE_TASKS, Config
from interp.studies.attention_swap.intervals import (
    ACCURACY_COLUMNS,
    DELTA_COLUMNS,
    accuracy_intervals,
    paired_deltas,
    paired_versus,
)
from interp.studies.attention_swap.replication import gap_table, replication_table, scaling_fits
from interp.studies.attention_swap.sweep import (
    CELL_KEYS,
    MATCHED_SUFFIX,
    OTHER_INPUT_SWAP,
    PAIR_KEYS,
    ModelPool,
    Sweep,
    build_tasks,
)

RESULT_COLUMNS = [*CELL_KEYS, "n", "accuracy", "accuracy_lo", "accuracy_hi", "loss",
                  "delta_accuracy", "delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p",
                  "discordant_better", "discordant_worse", "delta_loss"]
SCALING_COLUMNS = ["model", "phase", "family", "parameters", "task", "seed", "n", "accuracy",
                   "accuracy_lo", "accuracy_hi", "loss", "choice_loss", "chance", "chance_loss"]
NEIGHBOUR_COLUMNS = ["task", "seed", "sequences", "same_example", "same_tokens"]
TABLES = ["results", "items", "donor_vs_control", "replication", "other_input_neighbours",
          "scaling", "confidence_competence", "scaling_fits", "claims"]


def run(config: Config, cache: ResultCache) -> Tables:
    """results (every cell with its intervals and paired deltas), items (every cell's
    per-item outcomes), donor_vs_control (each donor cell against its matched control),
    replication (intervals over pairs and seeds), other_input_neighbours, scaling (the
    ladders' base runs), confidence_competence and scaling_fits (per seed, and over seeds)
    and claims (each of paper A's claims with its verdict)."""
    models = ModelPool(device=config.device, dtype=config.dtype)
    store: dict = {}  # every cell's items, shared by the sweeps of every seed
    shared = dict(items=store, donor_states=DonorStates(), head_maps={})  # and what cells reuse
    rows, scaling, choice, neighbours = [], [], [], []
    for k, seed in enumerate(config.eval_seeds):
        every = _seed_tasks(config, seed, first=k == 0)
        if not every:  # only file tasks, and this is not the first seed
            continue
        grid_tasks = _chosen(every, config.grid_tasks)
        sweep = Sweep(models, every, cache, batch_size=config.batch_size, seed=seed,
                      heads=config.heads, **shared)
        grid = Sweep(models, grid_tasks, cache, batch_size=config.batch_size, seed=seed,
                     heads=config.heads, **shared)
        neighbours += _neighbours(models.tokenizer(config.pairs[0][0]), grid_tasks, seed,
                                  config.batch_size)
        for phase, ladder in config.ladders.items():
            scaling.append(sweep.scaling(list(ladder), phase))
            choice += [sweep.choice_losses(m) for m in ladder]
        if grid_tasks:
            rows += _grid(grid, config)
        if k == 0 and config.sweeps:
            rows += _sweeps(grid, config)
    items = grid.cell_items()
    assert_self_swap_is_exact(items)
    cells = pd.concat(rows, ignore_index=True)
    results = with_whole_mmlu(with_deltas(items, cells), items)
    scaling = scaling_table(pd.concat(scaling, ignore_index=True), items,
                            pd.concat(choice, ignore_index=True))
    scaling = pd.concat([scaling, whole_mmlu_scaling(scaling, items)], ignore_index=True)
    warn_identical(list(models.loaded))  # after loading: hub weights are in the cache now
    versus = donor_vs_control(pooled_mmlu(items), results)
    gap = gap_table(scaling)
    fits = scaling_fits(gap)
    replication = replication_table(results, versus, scaling)
    return {"results": results, "items": items, "donor_vs_control": versus,
            "replication": replication,
            "other_input_neighbours": pd.DataFrame(neighbours, columns=NEIGHBOUR_COLUMNS),
            "scaling": scaling, "confidence_competence": gap, "scaling_fits": fits,
            "claims": claims_table(replication, fits, scaling)}


def _seed_tasks(config: Config, seed: int, *, first: bool) -> list:
    """The tasks at one evaluation seed: file tasks (whose items no seed changes) only at
    the first."""
    names = [t for t in config.tasks if first or t not in FILE_TASKS]
    if not first and not names:
        return []
    return build_tasks(names, n=config.n, seed=seed, mmlu=config.mmlu if first else None,
                       qqp=config.qqp if first else None, mmlu_shots=config.mmlu_shots,
                       mmlu_subjects=config.mmlu_subjects)


def _chosen(tasks: list, names: tuple[str, ...]) -> list:
    """The tasks named in ``names`` (``mmlu`` names every ``mmlu/<subject>``)."""
    return [t for t in tasks if t.name in names
            or (t.name.startswith("mmlu/") and "mmlu" in names)]


def _neighbours(tokenizer, tasks: list, seed: int, batch_size: int) -> list[dict]:
    """Where the other-input control borrows from, per task; refused when a sequence would
    borrow from its own example (the same question with another choice)."""
    out = []
    for task in tasks:
        counts = other_input_neighbours(tokenizer, task, batch_size)
        if counts["same_example"]:
            raise ValueError(
                f"task {task.name!r}: the other-input control would give {counts['same_example']} "
                f"of {counts['sequences']} sequences patterns from their own example (one "
                "sequence per choice): use single-token choices, or drop it from --tasks")
        out.append(dict(task=task.name, seed=seed, **counts))
    return out


def _grid(sweep: Sweep, config: Config) -> list[pd.DataFrame]:
    """One seed's controls, swaps and donors from another input."""
    pairs = config.pairs
    rows = [sweep.controls(r) for r in dict.fromkeys(r for r, _, _ in pairs)]
    rows += [sweep.swap(r, d, kind) for r, d, kind in pairs]
    rows += [sweep.swap(r, d, kind, other_input=True) for r, d, kind in pairs]
    return rows


def _sweeps(sweep: Sweep, config: Config) -> list[pd.DataFrame]:
    """The focus pair's alpha curve and layer sweeps, each beside its matched control (and
    the recipient's base, which every Δ is taken against)."""
    recipient, donor = config.focus
    rows = [sweep.base(recipient)]
    for matched in (False, True):
        rows.append(sweep.alpha_curve(recipient, donor, list(ALPHAS), matched=matched))
        rows.append(sweep.layer_sweeps(recipient, donor, matched=matched))
    return rows


def pooled_mmlu(items: pd.DataFrame, *, only: bool = False) -> pd.DataFrame:
    """``items`` plus a copy of every MMLU subject's items labelled task ``mmlu`` (the whole);
    with ``only``, just that copy. Never saved: the items table keeps each item once."""
    whole = items[items.task.str.startswith("mmlu/")].assign(task="mmlu")
    return whole if only else pd.concat([items, whole], ignore_index=True)


def with_whole_mmlu(results: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """``results`` plus, for every cell scored on MMLU subjects (``mmlu/<subject>``), one
    row for the whole (task ``mmlu``): its subjects' items pooled, with the same intervals.

    >>> keys = dict(recipient="m", donor="m", layers="none", alpha=0.0, chosen=" A", loss=1.0,
    ...             seed=0)
    >>> items = pd.DataFrame([dict(keys, condition="base", task=f"mmlu/{s}", item=s, correct=c)
    ...                       for s, c in (("algebra", True), ("virology", False))])
    >>> whole = with_whole_mmlu(pd.DataFrame(columns=RESULT_COLUMNS), items)
    >>> whole[["task", "n", "accuracy"]].values.tolist()
    [['mmlu', 2, 0.5]]
    """
    pooled = pooled_mmlu(items, only=True)
    if pooled.empty:
        return results
    whole = with_deltas(pooled, pooled[CELL_KEYS].drop_duplicates())
    return pd.concat([results, whole], ignore_index=True)


def whole_mmlu_scaling(scaling: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """The ladders' base rows for the whole of MMLU (task ``mmlu``): subjects pooled."""
    subjects = scaling[scaling.task.str.startswith("mmlu/")]
    if subjects.empty:
        return pd.DataFrame(columns=SCALING_COLUMNS)
    pooled = items[(items.condition == "base") & items.task.str.startswith("mmlu/")]
    pooled = pooled.assign(task="mmlu").rename(columns={"recipient": "model"})
    rows = pooled.groupby(["model", "task", "seed"], sort=False).agg(
        n=("item", "size"), accuracy=("correct", "mean"), loss=("loss", "mean")).reset_index()
    first = subjects.groupby("model", sort=False)[["phase", "family", "parameters", "chance",
                                                   "chance_loss"]].first()
    # The choice-restricted loss of the whole: the item-weighted mean of its subjects'.
    weighted = subjects.assign(total=subjects.choice_loss * subjects.n).groupby(
        ["model", "seed"]).agg(total=("total", "sum"), n=("n", "sum"))
    rows = rows.join(first, on="model").join(
        (weighted.total / weighted.n).rename("choice_loss"), on=["model", "seed"])
    return scaling_table(rows.assign(accuracy=rows.accuracy.astype(float)),
                         pooled.rename(columns={"model": "recipient"}))


def matched_control(condition: str) -> str | None:
    """The condition of a donor cell's matched control (the recipient's own patterns from
    the same other input, same layers and alpha), or None for a cell that is no donor's.

    >>> matched_control("swap:family"), matched_control("alpha"), matched_control("base")
    ('control:other_input', 'alpha:other_input', None)
    """
    if condition.startswith(("swap:", OTHER_INPUT_SWAP)):
        return "control:other_input"
    if condition in ("alpha", "layer", "bottom-up", "top-down"):
        return f"{condition}{MATCHED_SUFFIX}"
    return None


def donor_vs_control(items: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """Each donor cell of ``results`` against its matched control (``matched_control``),
    paired on the same items and seed: Δ accuracy = donor - control. Rows in the order of
    ``results``; a sweep's control shares the cell's layers and alpha."""
    donors = results[CELL_KEYS].copy()
    donors["ref_condition"] = donors.condition.map(matched_control)
    donors = donors.dropna(subset=["ref_condition"]).reset_index(drop=True)
    refs = pd.DataFrame({f"ref_{k}": donors[k] for k in CELL_KEYS})
    refs["ref_condition"] = donors.ref_condition
    refs["ref_donor"] = donors.recipient  # the recipient's own patterns
    return paired_versus(items, pd.concat([donors[CELL_KEYS], refs], axis=1))


def scaling_table(scaling: pd.DataFrame, items: pd.DataFrame,
                  choice: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ladders' base rows with the Wilson interval of each accuracy and, where given,
    the mean choice-restricted loss (NaN for exact-match tasks)."""
    intervals = accuracy_intervals(items[items.condition == "base"])
    intervals = intervals.rename(columns={"recipient": "model"})
    intervals = intervals[["model", "task", "seed", *ACCURACY_COLUMNS]]
    table = scaling.merge(intervals, on=["model", "task", "seed"], how="left")
    if choice is not None:
        means = choice.groupby(["model", "task", "seed"]).choice_loss.mean().rename("choice_loss")
        table = table.join(means, on=["model", "task", "seed"])
    return table.reindex(columns=SCALING_COLUMNS)


def with_deltas(items: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """One row per cell of ``cells`` (its ``CELL_KEYS``): accuracy with its Wilson interval,
    loss, and Δ accuracy (paired Tango interval, McNemar p) and Δ loss against the same
    recipient's base on the same items and seed."""
    keys = cells[CELL_KEYS].drop_duplicates().reset_index(drop=True)
    chosen = items.merge(keys, on=CELL_KEYS)
    bases = items[items.condition == "base"].merge(keys[PAIR_KEYS].drop_duplicates(), on=PAIR_KEYS)
    both = pd.concat([chosen, bases]).drop_duplicates(subset=[*CELL_KEYS, "item"])
    means = chosen.groupby(CELL_KEYS, sort=False).agg(accuracy=("correct", "mean"),
                                                      loss=("loss", "mean")).reset_index()
    table = keys.merge(means, on=CELL_KEYS, how="left")
    table = table.merge(accuracy_intervals(chosen), on=CELL_KEYS, how="left")
    table = table.merge(paired_deltas(both).drop(columns=["n"]), on=CELL_KEYS, how="left")
    base_loss = bases.groupby(PAIR_KEYS).loss.mean().rename("base_loss")
    table = table.join(base_loss, on=PAIR_KEYS)
    table["delta_loss"] = table.loss - table.base_loss
    table["accuracy"] = table.accuracy.astype(float)
    if table[[*ACCURACY_COLUMNS, *DELTA_COLUMNS]].isna().any().any():
        raise AssertionError("a cell has no per-item outcomes: its intervals cannot be computed")
    return table[RESULT_COLUMNS]


def assert_self_swap_is_exact(table: pd.DataFrame) -> None:
    """The self-swap on the same input must change nothing, to the last bit: per item when
    given the items table (same chosen answer, correctness and loss as the base), per cell
    when given result rows (zero Δ accuracy and Δ loss).

    >>> item = dict(recipient="m", task="t", seed=0, item="a", chosen=" 1", correct=True)
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
    joined = selfswap.merge(base, on=[*PAIR_KEYS, "item"], suffixes=("", "_base"))
    if len(joined) != len(selfswap):
        raise AssertionError(f"self-swap scored {len(selfswap)} items but only {len(joined)} "
                             "pair with its base: the two runs saw different items")
    changed = ((joined.chosen != joined.chosen_base) | (joined.correct != joined.correct_base)
               | (joined.loss != joined.loss_base))
    if changed.any():
        worst = float((joined.loss - joined.loss_base).abs().max())
        raise AssertionError(f"self-swap changed {int(changed.sum())} of {len(joined)} items "
                             f"(largest loss change {worst:.3g}): the swap path is not exact")
