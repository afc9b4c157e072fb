"""The attention-swap findings (FINDINGS.md, the README's generated block), from the tables.

Every number a reader sees is read from results, items, scaling or confidence_competence as
the run wrote them. A Δ is called a difference only when its paired interval excludes 0;
a comparison with chance names the chance level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interp.analysis.stats import PairedDifference, describe_difference
from interp.runs.study import Tables
from interp.studies.attention_swap.config import Config

PAPER_A = "paper A (arXiv 2510.21866)"
CONTROL_LABELS = {"control:other_input": "own, from another input",
                  "control:uniform": "uniform causal",
                  "control:shuffle_heads": "own, heads shuffled"}


def difference(row) -> PairedDifference:
    """A results row's Δ accuracy as the statistics module's paired difference.

    >>> difference(pd.Series(dict(delta_accuracy=-0.5, delta_accuracy_lo=-0.6, mcnemar_p=1e-9,
    ...     delta_accuracy_hi=-0.4, n=100, discordant_better=0, discordant_worse=50))).excludes_zero
    True
    """
    return PairedDifference(float(row.delta_accuracy), float(row.delta_accuracy_lo),
                            float(row.delta_accuracy_hi), mcnemar_p=float(row.mcnemar_p),
                            n=int(row.n), b=int(row.discordant_better),
                            c=int(row.discordant_worse))


def delta_text(row, *, short: bool = False) -> str:
    """``-0.99 [-1.00, -0.95]`` when the interval excludes 0, else "no detectable difference"
    (``n.d. (...)`` when ``short``, for a table cell).

    >>> row = pd.Series(dict(delta_accuracy=0.02, delta_accuracy_lo=-0.05, delta_accuracy_hi=0.09,
    ...                      mcnemar_p=0.6, n=100, discordant_better=6, discordant_worse=4))
    >>> delta_text(row), delta_text(row, short=True)
    ('no detectable difference (Δ = +0.02 [-0.05, 0.09], n = 100)', 'n.d. (+0.02 [-0.05, 0.09])')
    """
    d = difference(row)
    if d.excludes_zero:
        return f"{d.estimate:+.2f} [{d.lo:.2f}, {d.hi:.2f}]"
    if short:
        return f"n.d. ({d.estimate:+.2f} [{d.lo:.2f}, {d.hi:.2f}])"
    return describe_difference(d)


def accuracy_text(row) -> str:
    """An accuracy with its Wilson interval.

    >>> accuracy_text(pd.Series(dict(accuracy=0.75, accuracy_lo=0.656, accuracy_hi=0.827)))
    '0.75 [0.66, 0.83]'
    """
    return f"{row.accuracy:.2f} [{row.accuracy_lo:.2f}, {row.accuracy_hi:.2f}]"


def short_name(model: str) -> str:
    """Model names as the findings print them.

    >>> short_name("suite/pythia-s5"), short_name("EleutherAI/pythia-70m")
    ('pythia-s5', 'EleutherAI/pythia-70m')
    """
    return model.removeprefix("suite/")


def chance_levels(scaling: pd.DataFrame) -> dict[str, float]:
    """Task -> chance accuracy (0 for exact match), as the scaling table holds it.

    >>> chance_levels(pd.DataFrame(dict(task=["qqp", "qqp", "add"], chance=[0.5, 0.5, 0.0])))
    {'qqp': 0.5, 'add': 0.0}
    """
    return scaling.groupby("task", sort=False).chance.first().to_dict()


def chance_text(scaling: pd.DataFrame) -> str:
    """One clause naming every task's chance level.

    >>> chance_text(pd.DataFrame(dict(task=["qqp", "add"], chance=[0.5, 0.0])))
    'qqp 0.50; add 0 (exact match: a guess is ~never right)'
    """
    levels = chance_levels(scaling)
    choice = [f"{task} {level:.2f}" for task, level in levels.items() if level > 0]
    exact = [task for task, level in levels.items() if level == 0]
    parts = choice + ([f"{' and '.join(exact)} 0 (exact match: a guess is ~never right)"]
                      if exact else [])
    return "; ".join(parts)


def _solved(results: pd.DataFrame, scaling: pd.DataFrame) -> pd.DataFrame:
    """The base rows whose accuracy is above chance (Wilson lower bound above it): the
    (recipient, task) pairs a swap can break."""
    base = results[results.condition == "base"]
    chance = base.task.map(chance_levels(scaling))
    return base[base.accuracy_lo > chance]


def findings(tables: Tables, config: Config) -> str:
    """The findings block: how to read it, the Δ table, then one bullet per question."""
    results, scaling = tables["results"], tables["scaling"]
    n = sorted(results.n.unique())
    head = (f"n = {', '.join(str(int(k)) for k in n)} distinct items per task (seed "
            f"{config.seed}), the same items in every cell. Brackets are 95% intervals: Wilson "
            "for an accuracy; for a Δ accuracy, Tango's paired interval against the recipient "
            "on its own patterns, on the same items (exact McNemar p in results.csv). A Δ is "
            "called a difference only when its interval excludes 0 (n.d.: no detectable "
            f"difference). Chance accuracy: {chance_text(scaling)}.")
    bullets = [b for b in (
        _where_bullet(results, scaling), _collapse_bullet(results, scaling),
        _donor_bullet(tables, scaling), _reverse_bullet(results), _self_bullet(tables),
        _alpha_bullet(results, scaling), _layer_bullet(results, scaling),
        _scaling_exact_bullet(scaling, tables["confidence_competence"]),
        _scaling_choice_bullet(scaling, tables["confidence_competence"])) if b]
    return "\n\n".join([head, _delta_table(results), "\n".join(f"- {b}" for b in bullets)]) + "\n"


def _delta_table(results: pd.DataFrame) -> str:
    """Markdown: per recipient its base accuracy, then Δ of every control and swap, per task."""
    tasks = list(results.task.unique())
    lines = ["| recipient | patterns | " + " | ".join(tasks) + " |",
             "|---|---|" + "---|" * len(tasks)]
    # The self-swap is left to its bullet: it is exactly zero on every item.
    shown = results[results.condition.str.startswith(("base", "control:", "swap:"))
                    & (results.condition != "control:self")]
    for recipient, group in shown.groupby("recipient", sort=False):
        for (donor, condition), cell in group.groupby(["donor", "condition"], sort=False):
            by_task = cell.set_index("task")
            if condition == "base":
                label, texts = "own (base accuracy)", [accuracy_text(by_task.loc[t]) for t in tasks]
            else:
                label = (f"{short_name(donor)}'s: {condition.removeprefix('swap:')}"
                         if condition.startswith("swap:")
                         else CONTROL_LABELS.get(condition, condition))
                texts = [delta_text(by_task.loc[t], short=True) for t in tasks]
            lines.append(f"| {short_name(recipient)} | {label} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def _where_bullet(results: pd.DataFrame, scaling: pd.DataFrame) -> str:
    """Which tasks a swap can break at all: the recipients above chance, and the tasks no
    ladder model is above chance on."""
    above = _solved(results, scaling)
    chance = chance_levels(scaling)
    parts = []
    for task, group in above.groupby("task", sort=False):
        models = ", ".join(f"{short_name(r.recipient)} {r.accuracy:.2f}"
                           for r in group.itertuples())
        parts.append(f"{task} ({models})")
    text = "**Where a swap can show anything.** Recipients above chance: " + (
        "; ".join(parts) if parts else "none") + "."
    ladder_above = scaling[scaling.accuracy_lo > scaling.task.map(chance)]
    none = [t for t in chance if t not in set(ladder_above.task)]
    if none:
        ranges = " or ".join(
            f"{task} (base accuracies {rows.accuracy.min():.2f}-{rows.accuracy.max():.2f}, "
            f"chance {chance[task]:.2f})"
            for task, rows in ((t, scaling[scaling.task == t]) for t in none))
        text += (f" No ladder model is above chance on {ranges}: there is nothing for a swap "
                 "to break there.")
    return text


def _collapse_bullet(results: pd.DataFrame, scaling: pd.DataFrame) -> str:
    """Paper A's claim: do another model's patterns destroy accuracy on the solved tasks, or
    degrade it gracefully? Per task: how many swaps lose accuracy, how many to chance."""
    cells = _on_solved(results, scaling)
    swaps = cells[cells.condition.str.startswith("swap:")]
    if swaps.empty:
        return ""
    parts = [_drops(group, task, chance_levels(scaling)[task])
             for task, group in swaps.groupby("task", sort=False)]
    dropped = int((swaps.delta_accuracy_hi < 0).sum())
    level = swaps.task.map(chance_levels(scaling))
    at_chance = int(((swaps.delta_accuracy_hi < 0) & (swaps.accuracy_lo <= level + 1e-12)).sum())
    if dropped == len(swaps):
        verdict = (f"agrees with {PAPER_A}, which reports complete accuracy loss rather than "
                   f"graceful degradation: every swap loses accuracy, to chance in {at_chance} "
                   f"of {len(swaps)} cells")
    else:
        verdict = (f"{'only partly agrees with' if dropped else 'does not reproduce'} "
                   f"{PAPER_A}'s report of complete accuracy loss rather than graceful "
                   f"degradation: {dropped} of {len(swaps)} swaps lose accuracy")
    structureless = cells[cells.condition.isin(["control:uniform", "control:shuffle_heads"])]
    level = structureless.task.map(chance_levels(scaling))
    lost = structureless.delta_accuracy_hi < 0
    return (f"**Another model's patterns break what the recipient solves.** Swaps on a task "
            f"the recipient is above chance on: {'; '.join(parts)}. On this point our run "
            f"{verdict}. Patterns without the model's structure do as much: uniform and "
            f"head-shuffled own patterns lose accuracy in {int(lost.sum())} of "
            f"{len(structureless)} such cells, "
            f"{int((lost & (structureless.accuracy_lo <= level + 1e-12)).sum())} of them to "
            "chance.")


def _drops(cells: pd.DataFrame, task: str, chance: float) -> str:
    """``arithmetic_add: 5 of 5 lose accuracy (Δ -0.98 to -0.33), 5 of 5 to chance ...``."""
    drop = cells[cells.delta_accuracy_hi < 0]
    at_chance = drop[drop.accuracy_lo <= chance + 1e-12]
    text = f"on {task} {len(drop)} of {len(cells)} lose accuracy"
    if drop.empty:
        return text
    text += f" (Δ {drop.delta_accuracy.min():+.2f} to {drop.delta_accuracy.max():+.2f})"
    above = drop[drop.accuracy_lo > chance + 1e-12]
    if len(at_chance) == len(drop):
        return text + f", all to chance (accuracy interval reaching {chance:.2f})"
    text += (f", {len(at_chance) or 'none'} to chance ({chance:.2f}); "
             f"{'all' if at_chance.empty else 'the others'} keep "
             f"{above.accuracy.min():.2f} to {above.accuracy.max():.2f}, above chance")
    return text


def _on_solved(results: pd.DataFrame, scaling: pd.DataFrame) -> pd.DataFrame:
    keys = _solved(results, scaling)[["recipient", "task"]]
    return results.merge(keys, on=["recipient", "task"])


def _donor_bullet(tables: Tables, scaling: pd.DataFrame) -> str:
    """Does the donor's identity matter beyond wrong patterns? Each swap against the
    recipient's own patterns from another input (table swap_vs_other_input), solved tasks."""
    keys = _solved(tables["results"], scaling)[["recipient", "task"]]
    versus = tables["swap_vs_other_input"].merge(keys, on=["recipient", "task"])
    if versus.empty:
        return ""
    parts = []
    for task, group in versus.groupby("task", sort=False):
        worse = int((group.delta_accuracy_hi < 0).sum())
        each = "; ".join(f"{short_name(r.recipient)} <- {short_name(r.donor)} "
                         f"{delta_text(r, short=True)}" for r in group.itertuples())
        parts.append(f"on {task} {worse} of {len(group)} swaps are worse ({each})")
    return ("**Wrong patterns or the wrong model?** Each swap against the recipient's own "
            "patterns taken from another input (paired on the same items): "
            + "; ".join(parts) + ".")


def _reverse_bullet(results: pd.DataFrame) -> str:
    """The reverse checkpoint swap: does a trained model's pattern teach an early checkpoint?"""
    reverse = results[results.condition == "swap:checkpoint (reverse)"]
    if reverse.empty:
        return ""
    r0 = reverse.iloc[0]
    each = "; ".join(f"{r.task} {delta_text(r, short=True)}" for r in reverse.itertuples())
    moved = ((reverse.delta_accuracy_lo > 0) | (reverse.delta_accuracy_hi < 0)).any()
    title = ("The trained model's patterns in its early checkpoint" if moved
             else "Patterns alone do not carry the skill")
    return (f"**{title}.** {short_name(r0.recipient)} on {short_name(r0.donor)}'s patterns: "
            f"{each}.")


def _self_bullet(tables: Tables) -> str:
    """The self-swap: exactly zero on every item, and the resolution that leaves."""
    results, items = tables["results"], tables["items"]
    selfswap = results[results.condition == "control:self"]
    if selfswap.empty:
        return ""
    n_items = int((items.condition == "control:self").sum())
    widest = selfswap.loc[(selfswap.delta_accuracy_hi - selfswap.delta_accuracy_lo).idxmax()]
    return (f"**The self-swap changes nothing**: all {n_items} items of its {len(selfswap)} "
            "cells keep their answer, correctness and loss (asserted). Its paired interval "
            f"with no item changed, [{widest.delta_accuracy_lo:.3f}, "
            f"{widest.delta_accuracy_hi:.3f}] at n = {int(widest.n)}, is the finest Δ this "
            "run can resolve.")


def _alpha_bullet(results: pd.DataFrame, scaling: pd.DataFrame) -> str:
    """The blend from own to donor patterns, on the solved tasks of the focus pair."""
    alpha = _on_solved(results, scaling)
    alpha = alpha[(alpha.condition == "alpha") & (alpha.alpha > 0)]
    if alpha.empty:
        return ""
    a0 = alpha.iloc[0]
    parts = []
    for task, group in alpha.groupby("task", sort=False):
        each = ", ".join(f"α {r.alpha:g}: {delta_text(r, short=True)}"
                         for r in group.sort_values("alpha").itertuples())
        parts.append(f"{task} {each}")
    return (f"**Blending** {short_name(a0.recipient)}'s patterns into "
            f"{short_name(a0.donor)}'s, (1-α)·own + α·donor in every layer: "
            + "; ".join(parts) + ".")


def _layer_bullet(results: pd.DataFrame, scaling: pd.DataFrame) -> str:
    """Single-layer swaps of the focus pair on its solved tasks."""
    single = _on_solved(results, scaling)
    single = single[single.condition == "layer"]
    if single.empty:
        return ""
    s0 = single.iloc[0]
    parts = []
    for task, group in single.groupby("task", sort=False):
        order = group.assign(layer=group.layers.astype(int)).sort_values("layer")
        parts.append(f"{task} " + ", ".join(f"layer {r.layer}: {delta_text(r, short=True)}"
                                            for r in order.itertuples()))
    return (f"**One layer at a time** ({short_name(s0.recipient)} <- {short_name(s0.donor)}): "
            + "; ".join(parts) + ".")


def _ends(rows: pd.DataFrame) -> tuple:
    small, large = rows.loc[rows.parameters.idxmin()], rows.loc[rows.parameters.idxmax()]
    return small, large


def _scaling_exact_bullet(scaling: pd.DataFrame, gap: pd.DataFrame) -> str:
    """Tasks that some model solves: accuracy and loss from the smallest to the largest."""
    chance = chance_levels(scaling)
    above = scaling[scaling.accuracy_lo > scaling.task.map(chance)]
    parts = []
    for (task, family), rows in scaling[scaling.task.isin(above.task)].groupby(
            ["task", "family"], sort=False):
        small, large = _ends(rows)
        fit = gap[(gap.task == task) & (gap.family == family)]
        ratio = f", confidence-competence gap {fit.gap.iloc[0]:.2f}" if not fit.empty else ""
        parts.append(f"{task} {family} {accuracy_text(small)} -> {accuracy_text(large)} "
                     f"(loss {small.loss:.2f} -> {large.loss:.2f}{ratio})")
    if not parts:
        return ""
    return ("**Scaling, where accuracy moves**: accuracy of the smallest -> largest model "
            "on its own patterns: " + "; ".join(parts) + ".")


def _scaling_choice_bullet(scaling: pd.DataFrame, gap: pd.DataFrame) -> str:
    """Choice tasks no model is above chance on: is the falling loss confidence, or still
    ignorance (a loss at or above that of a uniform guess over the choices)?"""
    rows = scaling[scaling.chance > 0]
    stuck = [t for t, g in rows.groupby("task", sort=False) if not (g.accuracy_lo > g.chance).any()]
    if not stuck:
        return ""
    rows = rows[rows.task.isin(stuck)]
    holds = (rows.accuracy_lo <= rows.chance) & (rows.chance <= rows.accuracy_hi)
    parts = [_loss_against_chance(rows[rows.task == task], gap[gap.task == task])
             for task in stuck]
    ignorant = bool((rows.loss >= rows.chance_loss - 1e-12).all())
    verdict = (" A loss no lower than a uniform guess's is ignorance spread over the choices, "
               "not confidence in a wrong answer.")
    fits = gap[gap.task.isin(stuck) & np.isfinite(pd.to_numeric(gap.gap))]  # empty: no fit
    note = ""
    for fit in fits.itertuples():
        family = rows[(rows.task == fit.task) & (rows.family == fit.family)]
        inside = holds[family.index].all()
        note += (f" The finite confidence-competence gap {fit.gap:.3g} ({fit.family}, "
                 f"{fit.task}) rests on an accuracy slope of {fit.accuracy_slope:+.3f} per decade"
                 + (", with every one of those accuracies' intervals holding chance." if inside
                    else "."))
    return (f"**Scaling, where accuracy stays at chance** ({', '.join(stuck)}: "
            f"{int(holds.sum())} of {len(rows)} base accuracies hold chance inside their "
            "interval): " + "; ".join(parts) + "." + (verdict if ignorant else "") + note)


def _loss_against_chance(rows: pd.DataFrame, gap: pd.DataFrame) -> str:
    """One task's loss range against ln(#choices), and whether it falls with size."""
    low, high = rows.loc[rows.loss.idxmin()], rows.loc[rows.loss.idxmax()]
    level = float(rows.chance_loss.iloc[0])
    k = int(round(float(np.exp(level))))
    below = int((rows.loss < level).sum())
    where = "all at or above" if not below else f"{below} of {len(rows)} below"
    trend = ""
    if not gap.empty and (gap.loss_slope < 0).all():
        slopes = ", ".join(f"{r.family} {r.loss_slope:+.2f}" for r in gap.itertuples())
        trend = f", falling with size (slope per decade: {slopes})"
    return (f"{rows.task.iloc[0]} loss from {high.loss:.2f} ({short_name(high.model)}) to "
            f"{low.loss:.2f} ({short_name(low.model)}){trend}, {where} ln {k} = {level:.2f}, "
            f"the loss of a uniform guess over its {k} choices")
