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
from interp.studies.icl_circuits.measures import divisor_reason, normalised_interval

BASE = "none"  # the variant that trains nothing: the base model
NO_PATCH = "none"  # the items table's patch of a plain (unpatched) evaluation
CELL = ["model", "variant", "seed", "task", "shots"]
PAIRED_COLUMNS = ["model", "task", "treated", "base", "seed", "n", "delta_accuracy",
                  "delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p", "discordant_better",
                  "discordant_worse"]
COMPARISON_COLUMNS = ["model", "task", "treated", "base", "seeds", "n", "delta_preserved",
                      "delta_preserved_lo", "delta_preserved_hi", "delta_normalised",
                      "delta_normalised_lo", "delta_normalised_hi", "delta_normalised_reason",
                      "seeds_below", "seeds_above"]
# Variant pairs compared in comparisons.csv (treated, base): what paper B's claims are about.
COMPARISONS = (("v", "qk"), ("v", "q"), ("v", "k"), ("v", "all"), ("v", "o"), ("qk+fs", "qk"),
               ("v+fs", "v"), ("qk+fs", "v+fs"), ("all+fs", "all"), ("q+fs", "q"),
               ("k+fs", "k"))


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


def preserved_table(items: pd.DataFrame, paired: pd.DataFrame,
                    chance: dict[str, float]) -> pd.DataFrame:
    """preserved.csv: per (model, variant, task), the % of the base's few-shot accuracy kept
    and the chance-normalised kept share (``measures``): mean and t-interval over seeds (the
    normalised one NaN with its reason where the base is too close to chance); the base's own
    accuracy with its Wilson interval; how many seeds differ from the base on the same items
    (paired intervals below / above 0); and zero-shot accuracy (mean over seeds, its n items
    per seed)."""
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
        reason = divisor_reason(base.estimate, base.lo, chance[task])
        scaled = normalised_interval(group.accuracy.to_numpy(), base.estimate, chance[task],
                                     reason)
        below, above = seed_counts(paired, variant, BASE, model, task)
        rows.append(dict(model=model, variant=variant, task=task, seeds=kept.n,
                         n=int(group.n.iloc[0]), preserved=kept.estimate,
                         preserved_lo=kept.lo, preserved_hi=kept.hi,
                         kept_normalised=scaled.estimate, kept_normalised_lo=scaled.lo,
                         kept_normalised_hi=scaled.hi, kept_normalised_reason=reason,
                         few_shot_accuracy=group.accuracy.mean(), base_few_shot=base.estimate,
                         base_few_shot_lo=base.lo, base_few_shot_hi=base.hi,
                         seeds_below_base=below, seeds_above_base=above))
    frame = pd.DataFrame(rows).merge(zero.reset_index(), on=["model", "variant", "task"],
                                     how="left")
    return frame.astype({"zero_shot_accuracy": float})


def comparisons_table(items: pd.DataFrame, paired: pd.DataFrame,
                      chance: dict[str, float]) -> pd.DataFrame:
    """comparisons.csv: per (model, task) and ``COMPARISONS`` pair, the difference of kept
    share (treated - base) as % of the base model's few-shot accuracy and chance-normalised
    (``delta_normalised``: the accuracy difference over base - chance, NaN with its reason
    where that is too small): mean and t-interval over seeds paired by index; beside it how
    many seeds' paired item-level intervals lie below / above 0 (paired.csv)."""
    few = few_shot_by_seed(items)
    base = few[few.variant == BASE].set_index(["model", "task"]).accuracy
    base_items = few_shot_items(items)
    base_items = base_items[base_items.variant == BASE]
    rows = []
    names = set(few.variant)
    for treated, other in [(a, b) for a, b in COMPARISONS if a in names and b in names]:
        for (model, task), group in few.groupby(["model", "task"], sort=False):
            one = group[group.variant == treated].set_index("seed").accuracy
            two = group[group.variant == other].set_index("seed").accuracy
            seeds = one.index.intersection(two.index)
            diff = share_interval((one[seeds] - two[seeds]).to_numpy(), base[(model, task)])
            mine = base_items[(base_items.model == model) & (base_items.task == task)]
            wilson = accuracy_interval(mine.correct.to_numpy())
            reason = divisor_reason(wilson.estimate, wilson.lo, chance[task])
            # A difference of two shares: chance cancels, so shift by it to reuse the helper.
            scaled = normalised_interval((one[seeds] - two[seeds]).to_numpy() + chance[task],
                                         wilson.estimate, chance[task], reason)
            below, above = seed_counts(paired, treated, other, model, task)
            rows.append(dict(model=model, task=task, treated=treated, base=other,
                             seeds=diff.n, n=int(group.n.iloc[0]),
                             delta_preserved=diff.estimate, delta_preserved_lo=diff.lo,
                             delta_preserved_hi=diff.hi, delta_normalised=scaled.estimate,
                             delta_normalised_lo=scaled.lo, delta_normalised_hi=scaled.hi,
                             delta_normalised_reason=reason, seeds_below=below,
                             seeds_above=above))
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def attribution_rows(cell: pd.DataFrame) -> pd.DataFrame:
    """Per patched (direction, site, layer, task) and metric (loss, accuracy): the patched
    accuracy and loss, the base-vs-tuned ``gap`` and what the patch ``moved`` (restore:
    patched - tuned; break: base - patched), each with its between-item interval on the same
    items (loss: t over per-item differences; accuracy: Tango), and ``fraction`` = moved / gap,
    NaN where the gap is too small to divide by (its interval includes 0, or it is under
    1e-6), with ``fraction_reason`` saying so."""
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
            reason = gap_reason(gap)
            fraction = np.nan if reason else moved.estimate / gap.estimate
            rows.append(dict(head, metric=metric, gap=gap.estimate, gap_lo=gap.lo,
                             gap_hi=gap.hi, moved=moved.estimate, moved_lo=moved.lo,
                             moved_hi=moved.hi, fraction=fraction, fraction_reason=reason))
    return pd.DataFrame(rows)


ATTRIBUTION_KEY = ["model", "variant", "direction", "site", "layer", "task", "metric"]


def attribution_summary(attribution: pd.DataFrame) -> pd.DataFrame:
    """attribution_seeds.csv: per patch cell and metric, over the fine-tuning seeds: how many
    seeds were patched and how many had a gap to divide by, the mean gap, and the fraction's
    mean and t-interval over those seeds (NaN, with the reason, where none had).

    >>> rows = pd.DataFrame(dict(model="m", variant="v", direction="restore", site="v", layer=0,
    ...                          task="t", metric="loss", seed=[0, 1, 2], gap=[1.0, 1.0, 0.0],
    ...                          fraction=[0.5, 0.7, np.nan]))
    >>> attribution_summary(rows)[["seeds", "seeds_divisible", "fraction"]].to_dict("records")
    [{'seeds': 3, 'seeds_divisible': 2, 'fraction': 0.6}]
    """
    rows = []
    for key, group in attribution.groupby(ATTRIBUTION_KEY, sort=False):
        usable = group.fraction.dropna().to_numpy()
        iv = seed_interval(usable) if len(usable) else Interval(np.nan, np.nan, np.nan, 0)
        rows.append(dict(zip(ATTRIBUTION_KEY, key), seeds=int(len(group)),
                         seeds_divisible=int(len(usable)),
                         gap=float(group.gap.mean()), fraction=iv.estimate, fraction_lo=iv.lo,
                         fraction_hi=iv.hi,
                         reason="" if len(usable) else
                         "no seed's gap is large enough to divide by"))
    return pd.DataFrame(rows)


def gap_reason(gap: Interval) -> str:
    """Why a base-vs-tuned gap is too small to divide by ("" when it is not).

    >>> gap_reason(Interval(0.5, 0.2, 0.8, 10)), gap_reason(Interval(0.1, -0.1, 0.3, 10))[:16]
    ('', 'gap too small to')
    """
    if not abs(gap.estimate) > 1e-6:
        return "gap too small to divide by: none"
    if not (gap.lo > 0 or gap.hi < 0):
        return "gap too small to divide by: its interval includes 0"
    return ""


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
