"""The ICL-circuits tables built from per-item outcomes: intervals beside every number.

Two kinds of interval, never mixed (``interp.analysis.stats``):
- between items: Wilson for one accuracy; Tango + exact McNemar for two variants scored on the
  same items (paired by item id; the "none" base, run once, pairs with every seed);
- between seeds: a t-interval on n - 1 degrees of freedom over the fine-tuning seeds (seeds of
  two variants pair by index: seed s of each trains on the same draws).

"Few-shot" pools the items of every k >= 1: one accuracy over those items, so a k with few
distinct prompts (scored exhaustively) weighs as many items as it has.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interp.analysis.stats import (Interval, accuracy_interval, paired_difference,
                                   paired_frame, seed_interval)

BASE = "none"  # the variant that trains nothing: the base model
NO_PATCH = "none"  # the items table's patch of a plain (unpatched) evaluation
CELL = ["model", "variant", "seed", "task", "shots"]
PAIRED_COLUMNS = ["model", "task", "treated", "base", "seed", "n", "delta_accuracy",
                  "delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p", "discordant_better",
                  "discordant_worse"]
COMPARISON_COLUMNS = ["model", "task", "treated", "base", "seeds", "n", "delta_preserved",
                      "delta_preserved_lo", "delta_preserved_hi", "seeds_below", "seeds_above"]
# Variant pairs compared in comparisons.csv (treated, base): what paper B's claims are about.
COMPARISONS = (("v", "qk"), ("v", "all"), ("v", "o"), ("qk+fs", "qk"), ("v+fs", "v"),
               ("qk+fs", "v+fs"), ("all+fs", "all"))


def with_intervals(results: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """``results`` plus each cell's Wilson interval (accuracy_lo, accuracy_hi) and its paired
    difference from the base on the same items (delta_accuracy[_lo, _hi], mcnemar_p; NaN on
    the base's own rows).

    >>> items = pd.DataFrame(dict(model="m", variant=["none"] * 4 + ["v"] * 4, seed=0, task="t",
    ...                           shots=0, item=list("abcd") * 2, correct=[1, 1, 1, 1, 0, 0, 1, 1]))
    >>> results = pd.DataFrame(dict(model="m", variant=["none", "v"], seed=0, task="t", shots=0,
    ...                             accuracy=[1.0, 0.5]))
    >>> with_intervals(results, items).delta_accuracy.tolist()
    [nan, -0.5]
    """
    wilson = pd.DataFrame([dict(zip(CELL, key), accuracy_lo=iv.lo, accuracy_hi=iv.hi)
                           for key, group in items.groupby(CELL, sort=False)
                           for iv in [accuracy_interval(group.correct.to_numpy())]])
    # The base runs once; results copies it to every seed, and so does its interval.
    own = wilson[wilson.variant != BASE]
    base = wilson[wilson.variant == BASE].drop(columns="seed")
    base = results[results.variant == BASE][CELL].merge(base, on=[c for c in CELL if c != "seed"])
    frame = results.merge(pd.concat([own, base]), on=CELL, how="left")
    treated = [v for v in dict.fromkeys(items.variant) if v != BASE]
    deltas = [versus(items, v, BASE, ["model", "seed", "task", "shots"]).assign(variant=v)
              for v in treated]
    columns = ["delta_accuracy", "delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p"]
    if not deltas:
        return frame.assign(**{c: np.nan for c in columns})
    delta = pd.concat(deltas, ignore_index=True)[CELL + columns]
    return frame.merge(delta, on=CELL, how="left")


def versus(items: pd.DataFrame, treated: str, base: str, by: list[str]) -> pd.DataFrame:
    """Paired rows (``paired_frame``) of variant ``treated`` against ``base`` per group ``by``,
    items paired by (shots, item); a base scored under one seed serves every seed.

    >>> items = pd.DataFrame(dict(model="m", variant=["none"] * 2 + ["v"] * 4,
    ...                           seed=[0, 0, 0, 0, 1, 1], shots=1, item=list("ababab"),
    ...                           correct=[1, 1, 0, 1, 0, 0]))
    >>> versus(items, "v", "none", ["model", "seed"]).delta_accuracy.tolist()
    [-0.5, -1.0]
    """
    pair = items.shots.astype(str) + ":" + items.item.astype(str)
    frame = items.assign(pair=pair)
    mine, theirs = frame[frame.variant == treated], frame[frame.variant == base]
    if "seed" in by and theirs.seed.nunique() == 1:
        theirs = pd.concat([theirs.assign(seed=s) for s in mine.seed.unique()])
    return paired_frame(pd.concat([mine, theirs]), by=by, treated=treated, base=base,
                        condition_col="variant", item_col="pair")


def few_shot_items(items: pd.DataFrame) -> pd.DataFrame:
    """The plain (unpatched) evaluation items with k >= 1 demonstrations."""
    return items[(items.patch == NO_PATCH) & (items.shots > 0)]


def paired_table(items: pd.DataFrame, variant_names: list[str]) -> pd.DataFrame:
    """paired.csv: per (model, task, treated, base, seed), the paired few-shot accuracy
    difference (Tango interval, exact McNemar p): each variant against the base, then the
    ``COMPARISONS`` pairs present."""
    few = few_shot_items(items)
    pairs = [(v, BASE) for v in variant_names if v != BASE]
    pairs += [(a, b) for a, b in COMPARISONS if a in variant_names and b in variant_names]
    frames = [versus(few, a, b, ["model", "task", "seed"]).assign(treated=a, base=b)
              for a, b in pairs]
    if not frames:
        return pd.DataFrame(columns=PAIRED_COLUMNS)
    return pd.concat(frames, ignore_index=True)[PAIRED_COLUMNS]


def few_shot_by_seed(items: pd.DataFrame) -> pd.DataFrame:
    """Per (model, variant, seed, task): items (n) and accuracy pooled over k >= 1."""
    grouped = few_shot_items(items).groupby(["model", "variant", "seed", "task"], sort=False)
    frame = grouped.correct.agg(n="size", accuracy="mean").reset_index()
    return frame.astype({"accuracy": float})


def seed_counts(paired: pd.DataFrame, treated: str, base: str, model: str,
                task: str) -> tuple[int, int]:
    """(below, above): seeds whose paired item-level interval lies below / above 0."""
    rows = paired[(paired.treated == treated) & (paired.base == base) & (paired.model == model)
                  & (paired.task == task)]
    return int((rows.delta_accuracy_hi < 0).sum()), int((rows.delta_accuracy_lo > 0).sum())


def share_interval(accuracies: np.ndarray, base: float) -> Interval:
    """Per-seed accuracies as % of the base's: mean and t-interval over seeds; NaN throughout
    when the base scores 0 (no share of nothing).

    >>> share_interval(np.array([0.5]), 0.0).reason
    'the base scores 0: no share to keep'
    """
    if base == 0:
        return Interval(np.nan, np.nan, np.nan, len(accuracies),
                        reason="the base scores 0: no share to keep")
    return seed_interval(100 * accuracies / base)


def preserved_table(items: pd.DataFrame, paired: pd.DataFrame) -> pd.DataFrame:
    """preserved.csv: per (model, variant, task), the % of the base's few-shot accuracy kept:
    mean and t-interval over seeds; the base's own accuracy with its Wilson interval; how many
    seeds differ from the base on the same items (paired intervals below / above 0); and
    zero-shot accuracy (mean over seeds, its n items per seed)."""
    few = few_shot_by_seed(items)
    plain = items[items.patch == NO_PATCH]
    zero = (plain[plain.shots == 0].groupby(["model", "variant", "task", "seed"], sort=False)
            .correct.agg(zero_shot_accuracy="mean", zero_shot_n="size")
            .groupby(["model", "variant", "task"], sort=False)
            .agg(zero_shot_accuracy=("zero_shot_accuracy", "mean"),
                 zero_shot_n=("zero_shot_n", "first")))
    base_items = few_shot_items(items)
    base_items = base_items[base_items.variant == BASE]
    rows = []
    for (model, variant, task), group in few.groupby(["model", "variant", "task"], sort=False):
        mine = base_items[(base_items.model == model) & (base_items.task == task)].correct
        base = accuracy_interval(mine.to_numpy())
        kept = share_interval(group.accuracy.to_numpy(), base.estimate)
        below, above = seed_counts(paired, variant, BASE, model, task)
        rows.append(dict(model=model, variant=variant, task=task, seeds=kept.n,
                         n=int(group.n.iloc[0]), preserved=kept.estimate,
                         preserved_lo=kept.lo, preserved_hi=kept.hi,
                         few_shot_accuracy=group.accuracy.mean(), base_few_shot=base.estimate,
                         base_few_shot_lo=base.lo, base_few_shot_hi=base.hi,
                         seeds_below_base=below, seeds_above_base=above))
    frame = pd.DataFrame(rows).merge(zero.reset_index(), on=["model", "variant", "task"],
                                     how="left")
    return frame.astype({"zero_shot_accuracy": float})


def comparisons_table(items: pd.DataFrame, paired: pd.DataFrame) -> pd.DataFrame:
    """comparisons.csv: per (model, task) and ``COMPARISONS`` pair, the difference of kept
    share (treated - base, % of the base model's few-shot accuracy): mean and t-interval over
    seeds paired by index; beside it how many seeds' paired item-level intervals lie below /
    above 0 (paired.csv)."""
    few = few_shot_by_seed(items)
    base = few[few.variant == BASE].set_index(["model", "task"]).accuracy
    rows = []
    names = set(few.variant)
    for treated, other in [(a, b) for a, b in COMPARISONS if a in names and b in names]:
        for (model, task), group in few.groupby(["model", "task"], sort=False):
            one = group[group.variant == treated].set_index("seed").accuracy
            two = group[group.variant == other].set_index("seed").accuracy
            seeds = one.index.intersection(two.index)
            diff = share_interval((one[seeds] - two[seeds]).to_numpy(), base[(model, task)])
            below, above = seed_counts(paired, treated, other, model, task)
            rows.append(dict(model=model, task=task, treated=treated, base=other,
                             seeds=diff.n, n=int(group.n.iloc[0]),
                             delta_preserved=diff.estimate, delta_preserved_lo=diff.lo,
                             delta_preserved_hi=diff.hi, seeds_below=below, seeds_above=above))
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def attribution_rows(cell: pd.DataFrame) -> pd.DataFrame:
    """Per patched (direction, site, layer, task) and metric (loss, accuracy): the patched
    accuracy and loss, the base-vs-tuned ``gap`` and what the patch ``moved`` (restore:
    patched - tuned; break: base - patched), each with its between-item interval on the same
    items (loss: t over per-item differences; accuracy: Tango), and ``fraction`` = moved / gap
    (NaN where the gap is under 1e-6: nothing to attribute)."""
    ends = {end: cell[cell.direction == end].set_index(["task", "item"])
            for end in ("base", "tuned")}
    rows = []
    patches = cell[~cell.direction.isin(["base", "tuned"])]
    for (direction, site, layer, task), group in patches.groupby(
            ["direction", "site", "layer", "task"], sort=False):
        patched = group.set_index(["task", "item"])
        base = ends["base"].reindex(patched.index)
        tuned = ends["tuned"].reindex(patched.index)
        if base.correct.isna().any() or tuned.correct.isna().any():
            raise ValueError(f"patch {direction} {site} L{layer} on {task}: its items differ "
                             "from the unpatched ends'; score all of them on the same task")
        head = dict(direction=direction, site=site, layer=int(layer), task=task, n=len(group),
                    accuracy=float(patched.correct.mean()), loss=float(patched.loss.mean()))
        for metric, gap, moved in _gap_and_moved(direction, base, tuned, patched):
            fraction = moved.estimate / gap.estimate if abs(gap.estimate) > 1e-6 else np.nan
            rows.append(dict(head, metric=metric, gap=gap.estimate, gap_lo=gap.lo,
                             gap_hi=gap.hi, moved=moved.estimate, moved_lo=moved.lo,
                             moved_hi=moved.hi, fraction=fraction))
    return pd.DataFrame(rows)


def _gap_and_moved(direction: str, base: pd.DataFrame, tuned: pd.DataFrame,
                   patched: pd.DataFrame) -> list[tuple[str, object, object]]:
    """(metric, gap interval, moved interval) for the loss and the accuracy of one patch."""
    first, second = (patched, tuned) if direction == "restore" else (base, patched)
    # A one-sample t-interval over the items' paired loss differences (the formula
    # seed_interval implements, n - 1 df): the stats module's interval for a mean.
    loss_gap = seed_interval((base.loss - tuned.loss).to_numpy())
    loss_moved = seed_interval((first.loss - second.loss).to_numpy())
    as_bool = {name: frame.correct.astype(bool).to_numpy()
               for name, frame in (("base", base), ("tuned", tuned), ("first", first),
                                   ("second", second))}
    acc_gap = paired_difference(as_bool["base"], as_bool["tuned"])
    acc_moved = paired_difference(as_bool["first"], as_bool["second"])
    return [("loss", loss_gap, loss_moved), ("accuracy", acc_gap, acc_moved)]


def toy_summary(toy: pd.DataFrame) -> pd.DataFrame:
    """toy_summary.csv: per (variant, task, shots), the toy's test MSE: mean and t-interval
    over fine-tuning seeds.

    >>> toy = pd.DataFrame(dict(seed=[0, 1], variant="v", task="theta0", shots=0, mse=[1.0, 3.0]))
    >>> toy_summary(toy)[["mse", "seeds"]].values.tolist()
    [[2.0, 2.0]]
    """
    rows = []
    for (variant, task, shots), group in toy.groupby(["variant", "task", "shots"], sort=False):
        iv = seed_interval(group.mse.to_numpy())
        rows.append(dict(variant=variant, task=task, shots=int(shots), seeds=iv.n,
                         mse=iv.estimate, mse_lo=iv.lo, mse_hi=iv.hi))
    return pd.DataFrame(rows)
