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



def interval_text(estimate: float, lo: float, hi: float) -> str:
    """``+0.12 [0.05, 0.19]``; ``inf`` or a bare estimate when there is no interval.

    >>> interval_text(0.123, 0.05, 0.19), interval_text(float("inf"), float("nan"), float("nan"))
    ('+0.12 [0.05, 0.19]', 'inf (no interval)')
    """
    if not np.isfinite(estimate):
        return f"{estimate:g} (no interval)"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{estimate:+.2f} (no interval)"
    return f"{estimate:+.2f} [{lo:.2f}, {hi:.2f}]"


def findings(tables: Tables, config: Config) -> str:
    """The findings block: how to read it, paper A's claims with verdicts, the graded donors
    against base and against their matched controls, then one bullet per further question."""
    results, scaling = tables["results"], tables["scaling"]
    n = sorted(results.n.unique())
    seeds = sorted(int(s) for s in scaling.seed.unique())
    head = (f"n = {', '.join(str(int(k)) for k in n)} distinct items per task and seed "
            f"(evaluation seeds {', '.join(map(str, seeds))}), the same items in every cell of a "
            "seed. Brackets are 95% intervals: Wilson for an accuracy; Tango's paired interval "
            "for a Δ accuracy between two cells on the same items (exact McNemar p in "
            "results.csv); a t-interval over pairs or over seeds where a row says so "
            "(replication.csv, scaling_fits.csv). A Δ is called a difference only when its "
            "interval excludes 0 (n.d.: no detectable difference), and a donor effect only when "
            "the donor differs from its matched control (the recipient's own patterns from the "
            "same other input, same layers and alpha). Chance accuracy: "
            f"{chance_text(scaling)}.")
    parts = [head, "**Paper A's claims** (verdicts from claims.csv: supported / contradicted "
             "when the interval lies on one side, not shown when it holds the dividing value, "
             "cannot test when there is no interval or nothing to act on):",
             _claims_table(tables["claims"]),
             "**Graded donors** on the cells whose recipient solves the task (base Wilson lower "
             "bound above chance), every layer: mean Δ accuracy over pairs [t-interval over "
             "pairs] (pairs; item-level intervals below 0 of cells):",
             _graded_table(tables["replication"])]
    bullets = [b for b in (
        _where_bullet(results, scaling), _self_bullet(tables), _neighbour_bullet(tables),
        _seed_bullet(tables["replication"]), _sweep_bullet(tables, "alpha"),
        _sweep_bullet(tables, "layer"), _scaling_bullet(scaling, tables["scaling_fits"]))
        if b]
    return "\n\n".join([*parts, "\n".join(f"- {b}" for b in bullets)]) + "\n"


def _claims_table(claims: pd.DataFrame) -> str:
    if claims.empty:
        return "(no claim is testable on these tasks)"
    lines = ["| claim | task | subject | test | estimate [95%] (interval) | verdict |",
             "|---|---|---|---|---|---|"]
    for r in claims.itertuples():
        lines.append(f"| {r.claim} | {r.task} | {r.subject} | {r.test} | "
                     f"{interval_text(r.estimate, r.lo, r.hi)} ({r.interval}) | {r.verdict} |")
    return "\n".join(lines)


def _graded_table(replication: pd.DataFrame) -> str:
    rows = replication[replication.over == "pairs"]
    if rows.empty:
        return "(no recipient solves a task: nothing for a donor to break)"
    tasks = list(rows.task.unique())
    lines = ["| patterns | Δ vs | " + " | ".join(tasks) + " |", "|---|---|" + "---|" * len(tasks)]
    for measure, label in (("delta_vs_base", "own, same input"),
                           ("delta_vs_control", "matched control")):
        chosen = rows[rows.measure == measure]
        for condition, group in chosen.groupby("condition", sort=False):
            by_task = group.set_index("task")
            texts = []
            for task in tasks:
                if task not in by_task.index:
                    texts.append("")
                    continue
                r = by_task.loc[task]
                texts.append(f"{interval_text(r['mean'], r.lo, r.hi)} ({int(r.k)}; "
                             f"{int(r.cells_below)} of {int(r.cells)})")
            lines.append(f"| {CONDITION_LABELS.get(condition, condition)} | {label} | "
                         + " | ".join(texts) + " |")
    return "\n".join(lines)


CONDITION_LABELS = {**CONTROL_LABELS, **{
    f"swap:{k}": f"donor: {k}" for k in ("phase-1 checkpoint", "seed", "size", "family", "given")},
    **{f"swap-other-input:{k}": f"donor from another input: {k}"
       for k in ("phase-1 checkpoint", "seed", "size", "family", "given")}}


def _solved(results: pd.DataFrame, scaling: pd.DataFrame) -> pd.DataFrame:
    """Base rows above chance (Wilson lower bound above it): what a swap can break."""
    base = results[results.condition == "base"]
    return base[base.accuracy_lo > base.task.map(chance_levels(scaling))]


def _where_bullet(results: pd.DataFrame, scaling: pd.DataFrame) -> str:
    """Which recipients are above chance at the first seed, and the tasks no model is."""
    first = results.seed.min()
    above = _solved(results[results.seed == first], scaling)
    parts = [f"{task} ({', '.join(f'{short_name(r.recipient)} {r.accuracy:.2f}' for r in g.itertuples())})"
             for task, g in above.groupby("task", sort=False)]
    text = (f"**Where a swap can show anything** (seed {first}). Recipients above chance: "
            + ("; ".join(parts) if parts else "none") + ".")
    chance = chance_levels(scaling)
    ladder_above = scaling[scaling.accuracy_lo > scaling.task.map(chance)]
    none = [t for t in chance if t not in set(ladder_above.task)]
    if none:
        text += " No ladder model (either phase, any seed) is above chance on " + " or ".join(
            f"{t} (base accuracies {scaling[scaling.task == t].accuracy.min():.2f}-"
            f"{scaling[scaling.task == t].accuracy.max():.2f}, chance {chance[t]:.2f})"
            for t in none) + ": there is nothing for a swap to break there."
    return text


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


def _neighbour_bullet(tables: Tables) -> str:
    """Where the other-input patterns come from (other_input_neighbours.csv)."""
    table = tables["other_input_neighbours"]
    if table.empty:
        return ""
    return (f"**Another input is another example**: one forward per question, so of "
            f"{int(table.sequences.sum())} sequences over {table.task.nunique()} tasks and "
            f"{table.seed.nunique()} seeds, {int(table.same_example.sum())} borrow patterns "
            f"from their own example and {int(table.same_tokens.sum())} from a sequence with "
            "the same tokens (other_input_neighbours.csv).")


def _seed_bullet(replication: pd.DataFrame) -> str:
    """The donors against their matched control, over seeds instead of pairs."""
    rows = replication[(replication.over == "seeds") & (replication.measure == "delta_vs_control")
                       & (replication.k > 1)]
    if rows.empty:
        return ""
    each = "; ".join(f"{CONDITION_LABELS.get(r.condition, r.condition)} on {r.task} "
                     f"{interval_text(r.mean, r.lo, r.hi)}" for r in rows.itertuples())
    return (f"**Over seeds** (mean over pairs per seed, t-interval over {int(rows.k.max())} "
            f"seeds), donor minus matched control: {each}.")


def _sweep_bullet(tables: Tables, sweep: str) -> str:
    """The focus pair's alpha curve or single-layer swaps on its solved tasks: Δ against
    base, and against the matched control at the same alpha or layer."""
    results, versus = tables["results"], tables["donor_vs_control"]
    solved = _solved(results, tables["scaling"])[["recipient", "task", "seed"]]
    cells = results[results.condition == sweep].merge(solved, on=["recipient", "task", "seed"])
    cells = cells[~((cells.condition == "alpha") & (cells.alpha == 0))]
    if cells.empty:
        return ""
    keyed = versus.set_index(["condition", "layers", "alpha", "task"])
    r0, parts = cells.iloc[0], []
    for task, group in cells.groupby("task", sort=False):
        each = []
        order = group.sort_values("alpha" if sweep == "alpha" else "layers")
        for r in order.itertuples():
            where = f"α {r.alpha:g}" if sweep == "alpha" else f"layer {r.layers}"
            control = keyed.loc[(sweep, r.layers, r.alpha, task)]
            each.append(f"{where}: {delta_text(r, short=True)} vs base, "
                        f"{delta_text(control, short=True)} vs control")
        parts.append(f"{task} " + ", ".join(each))
    title = ("**Blending**, (1-α)·own + α·donor in every layer" if sweep == "alpha"
             else "**One layer at a time**")
    return (f"{title} ({short_name(r0.recipient)} <- {short_name(r0.donor)}, seed {r0.seed}; "
            "control: own patterns from another input at the same α or layer): "
            + "; ".join(parts) + ".")


def _scaling_bullet(scaling: pd.DataFrame, fits: pd.DataFrame) -> str:
    """Per phase, family and task: accuracy and loss of the smallest -> largest model at the
    first seed, and the slopes over seeds."""
    first = scaling[scaling.seed == scaling.seed.min()]
    parts = []
    for (phase, family, task), rows in first.groupby(["phase", "family", "task"], sort=False):
        small, large = rows.loc[rows.parameters.idxmin()], rows.loc[rows.parameters.idxmax()]
        fit = fits[(fits.phase == phase) & (fits.family == family) & (fits.task == task)]
        text = (f"{phase} {family} {task} {accuracy_text(small)} -> {accuracy_text(large)} "
                f"(loss {small.loss:.2f} -> {large.loss:.2f}")
        if np.isfinite(small.choice_loss):
            text += f"; over the choices {small.choice_loss:.2f} -> {large.choice_loss:.2f}"
        for measure, label in (("loss_slope", "loss slope"), ("gap", "our gap"),
                               ("paper_gap", "paper's ratio -dL/dA")):
            chosen = fit[fit.measure == measure]
            if not chosen.empty:
                f = chosen.iloc[0]
                text += f"; {label} {interval_text(f['mean'], f.lo, f.hi)}"
        parts.append(text + ")")
    return ("**Scaling, smallest -> largest model** (accuracy at the first seed; slopes per "
            "decade of parameters, t over seeds; phase-1 = before the ICL phase): "
            + "; ".join(parts) + ".")
