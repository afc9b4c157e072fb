"""What the attention-swap tables say: the printed summary, CAPTIONS.md, FINDINGS.md and the
run record.

Every number in a caption or finding is read from the tables the run wrote.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interp.runs.study import Report, Tables
from interp.studies.attention_swap.config import Config
from interp.studies.attention_swap.figures import LAYER_CONDITIONS, SWAP_CONDITIONS
from interp.studies.attention_swap.findings import (
    accuracy_text,
    chance_text,
    delta_text,
    findings,
)


def report(tables: Tables, config: Config) -> Report:
    """The summary, the captions, the findings and what results.json records."""
    gap = tables["confidence_competence"]
    record = dict(ladder=list(config.ladder),
                  pairs=[dict(recipient=r, donor=d, kind=k) for r, d, k in config.pairs],
                  confidence_competence=gap.to_dict("records"))
    return Report(summary=summary(tables["results"], gap), captions=captions(tables, config),
                  record=record, findings=findings(tables, config))


def summary(results: pd.DataFrame, gap: pd.DataFrame) -> str:
    """A short text table: Δ accuracy of every swap and control, and the gap per family
    and task."""
    by = results[results.condition.str.startswith(SWAP_CONDITIONS)]
    cell = by.assign(shown=[delta_text(row, short=True) for row in by.itertuples()])
    table = cell.pivot_table(index=["recipient", "donor", "condition", "seed"], columns="task",
                             values="shown", aggfunc="first", sort=False)
    lines = ["Δ accuracy against each recipient's own patterns on the same items [paired 95% "
             "interval; n.d. = no detectable difference]:", table.to_string()]
    if not gap.empty:
        lines += ["", "confidence-competence gap (loss gain / accuracy gain per decade) and "
                  "paper A's slope ratio -dL/dA:",
                  gap[["phase", "family", "task", "seed", "loss_gain", "accuracy_gain", "gap",
                       "paper_gap"]].round(3).to_string(index=False)]
    return "\n".join(lines)


def captions(tables: Tables, config: Config) -> str:
    """CAPTIONS.md: one paragraph per figure and per table, numbers from the tables."""
    results, scaling, gap = tables["results"], tables["scaling"], tables["confidence_competence"]
    parts = ["# Attention swap: captions",
             f"Generated from the tables of this run ({n_text(results)} distinct items per task "
             f"and seed, evaluation seeds {', '.join(map(str, config.eval_seeds))}, head mapping "
             f"`{config.heads}`; figures show the first seed). Δ is against each recipient's "
             "own patterns through the same eager path, on the same items. Intervals are 95%: "
             "Wilson for an accuracy, Tango's paired score interval for a Δ accuracy (with the "
             f"exact McNemar p in results.csv). Chance accuracy: {chance_text(scaling)}.",
             scaling_caption(scaling), heatmap_caption(results), layer_caption(results),
             alpha_caption(results), tables_caption(results, scaling, gap)]
    return "\n\n".join(p for p in parts if p) + "\n"


def n_text(results: pd.DataFrame) -> str:
    """The item count(s) of the run's cells, e.g. ``100``."""
    return ", ".join(str(int(k)) for k in sorted(results.n.unique()))


def scaling_caption(scaling: pd.DataFrame) -> str:
    """scaling.png: the ladders, their size range, chance levels and the best base accuracy."""
    scaling = scaling[scaling.seed == scaling.seed.min()]  # the figure's seed
    best = scaling.loc[scaling.groupby("task", sort=False).accuracy.idxmax()]
    tops = "; ".join(f"{r.task} {accuracy_text(r)} ({r.model})" for r in best.itertuples())
    levels = scaling.groupby("task", sort=False).chance_loss.first().dropna()
    uniform = ", ".join(f"{task} {level:.2f}" for task, level in levels.items())
    return (f"## scaling.png / .pdf\nAt seed {scaling.seed.min()}: answer loss (top row), the "
            "answer loss over the choices only (middle row; exact-match tasks have no choices) "
            f"and accuracy (bottom row) of the {scaling.model.nunique()} ladder models "
            f"({', '.join(sorted(scaling.family.unique()))}; phases "
            f"{', '.join(sorted(scaling.phase.unique()))}: solid the shipped models, dashed "
            "the same models before their ICL phase) on their own patterns against parameters "
            f"({scaling.parameters.min():,} to {scaling.parameters.max():,}, log scale), one "
            "column per task, one colour per family. Accuracy bars are Wilson 95% intervals; the dashed grey line is chance "
            f"accuracy ({chance_text(scaling)}) and, on the loss panels, the loss of a uniform "
            f"guess over the choices (ln #choices: {uniform or 'none'}; exact-match tasks have "
            f"none). Best accuracy per task: {tops}.")


def heatmap_caption(results: pd.DataFrame) -> str:
    """swap_heatmap.png: how many swaps and controls, the largest drop, the self-swap check."""
    results = results[results.seed == results.seed.min()]
    shown = results[results.condition.str.startswith(SWAP_CONDITIONS)]
    swaps = shown[shown.condition.str.startswith(("swap:", "swap-other-input:"))]
    selfswap = shown[shown.condition == "control:self"]
    held = (shown.delta_accuracy_lo <= 0) & (shown.delta_accuracy_hi >= 0)
    text = (f"## swap_heatmap.png / .pdf\nAt seed {results.seed.min()}: Δ accuracy of "
            f"{len(swaps.groupby(['recipient', 'donor', 'condition']))} "
            f"swaps (recipient <- donor, every layer; swap-other-input: the donor's patterns "
            f"from another example) and "
            f"{shown[shown.condition.str.startswith('control:')].condition.nunique()} controls per "
            f"recipient, on {shown.task.nunique()} tasks ({', '.join(shown.task.unique())}), "
            "against the recipient's own patterns on the same items. The diverging colour map "
            "is centred on 0 (no change); a hatched cell's paired 95% interval includes 0 "
            f"(no detectable difference: {int(held.sum())} of {len(shown)} cells).")
    if not swaps.empty:
        worst = swaps.loc[swaps.delta_accuracy.idxmin()]
        text += (f" Largest swap drop: {delta_text(worst)} ({worst.recipient} <- {worst.donor}, "
                 f"{worst.condition}, {worst.task}).")
    if not selfswap.empty:
        change = selfswap[["delta_accuracy", "delta_loss"]].abs().to_numpy().max()
        text += (f" Self-swap on the same input: largest |Δ| {change:g} (held to exactly 0 on "
                 "every item).")
    return text


def layer_caption(results: pd.DataFrame) -> str:
    """layer_sensitivity.png: the focus pair and its most damaging single layer."""
    layers = results[results.condition.isin(LAYER_CONDITIONS)]
    if layers.empty:
        return ""
    single = layers[layers.condition == "layer"]
    worst = single.loc[single.delta_accuracy.idxmin()]
    control = results[results.condition == "layer:other_input"]
    return (f"## layer_sensitivity.png / .pdf\nAccuracy of {layers.recipient.iloc[0]} on "
            f"{layers.donor.iloc[0]}'s patterns in one layer at a time, in the bottom k layers "
            f"and in the top k layers ({single.layers.nunique()} layers), one panel per task, "
            "with Wilson 95% bands (clipped to [0, 1]), the matched control (orange: the "
            "recipient's own patterns from another example in the same layers), the "
            "recipient's base accuracy (solid grey) and chance (dashed grey). Most damaging "
            f"single layer: {worst.layers} on {worst.task} ({delta_text(worst)}); its control "
            f"there: {delta_text(control[(control.layers == worst.layers) & (control.task == worst.task)].iloc[0]) if not control.empty else 'not run'}.")


def alpha_caption(results: pd.DataFrame) -> str:
    """alpha_curves.png: accuracy at the ends of the blend, per task."""
    alpha = results[results.condition == "alpha"]
    if alpha.empty:
        return ""
    ends = alpha[alpha.alpha.isin([alpha.alpha.min(), alpha.alpha.max()])]
    moves = "; ".join(
        f"{task} {accuracy_text(rows.loc[rows.alpha.idxmin()])} -> "
        f"{accuracy_text(rows.loc[rows.alpha.idxmax()])}"
        for task, rows in ends.groupby("task", sort=False))
    return (f"## alpha_curves.png / .pdf\nAccuracy of {alpha.recipient.iloc[0]} as its patterns "
            f"blend into {alpha.donor.iloc[0]}'s, pattern = (1-α)·own + α·donor in every layer, "
            f"α in {', '.join(f'{a:g}' for a in sorted(alpha.alpha.unique()))}, one panel per "
            "task, with Wilson 95% bands (clipped to [0, 1]), the matched control (orange: own "
            "patterns from another example blended in at the same α), base accuracy (solid "
            f"grey) and chance (dashed grey). From α={alpha.alpha.min():g} to "
            f"α={alpha.alpha.max():g}: {moves}.")


def tables_caption(results: pd.DataFrame, scaling: pd.DataFrame, gap: pd.DataFrame) -> str:
    """The CSV tables: what a row is, and the gap's headline."""
    text = (f"## results.csv\nThe master table: {len(results)} rows, one per (recipient, donor, "
            "condition, layers, alpha, task), with n, accuracy and its Wilson interval "
            "(accuracy_lo, accuracy_hi), answer loss, Δ accuracy against the recipient's base "
            "on the same items with Tango's paired interval (delta_accuracy_lo, "
            "delta_accuracy_hi), the exact McNemar p and its discordant counts "
            "(discordant_better: right here and wrong at base; discordant_worse: the reverse), "
            f"and Δ loss; conditions: {', '.join(results.condition.unique())}.\n\n"
            "## items.csv.gz\nEvery cell's per-item outcomes: the cell's keys (recipient, donor, "
            "condition, layers, alpha, task), then item (a content hash of the example), the "
            "chosen answer, correct and loss; the rows every interval above is computed from."
            "\n\n## donor_vs_control.csv\nEach donor cell (swaps, the donor's patterns from "
            "another input, alpha and layer sweeps) against its matched control, the "
            "recipient's own patterns from the same other example at the same layers and alpha "
            "(column reference), paired on the same items and seed: Δ accuracy = donor - "
            "control, Tango interval, exact McNemar p, discordant counts."
            "\n\n## replication.csv\nPer condition and task, on the cells whose recipient "
            "solves the task: Δ accuracy against base (delta_vs_base), against the matched "
            "control (delta_vs_control) and the accuracy, as a mean with a t-interval over "
            "pairs (each pair's mean over seeds) and over seeds (each seed's mean over pairs); "
            "k units, cells, and how many item-level intervals lie below / above 0."
            "\n\n## other_input_neighbours.csv\nPer task and seed: sequences scored, and how "
            "many would take the other-input patterns from their own example or from a "
            "sequence with the same tokens."
            f"\n\n## scaling.csv\nBase runs of the ladders: {len(scaling)} rows (model x task x "
            "seed) with phase (final, or phase-1: before the ICL phase), family, parameter "
            "count, n, accuracy with its Wilson interval, loss, choice_loss (the answer's loss "
            "renormalised over the choices; empty for exact match), chance accuracy and "
            "chance_loss (a uniform guess over the choices)."
            "\n\n## confidence_competence.csv\nPer phase, family, task and seed: least-squares "
            "slopes of loss, choice-restricted loss and accuracy against log10 parameters, the "
            "relative loss gain and the accuracy gain (share of headroom above chance) per "
            "decade, our gap = loss gain / accuracy gain, and paper A's slope ratio paper_gap = "
            "-dL/dA (choice_paper_gap on the choice-restricted loss); inf where accuracy does "
            "not rise.\n\n## scaling_fits.csv\nEach of those measures over the seeds: mean and "
            "t-interval.\n\n## claims.csv\nPaper A's claims, each with our test, its estimate "
            "and interval, and the verdict the findings print.")
    if not gap.empty:
        finite = gap[np.isfinite(gap.gap)]
        text += (f" {len(gap)} (family, task) fits; {len(gap) - len(finite)} with no accuracy "
                 "gain (gap inf)")
        if not finite.empty:
            top = finite.loc[finite.gap.idxmax()]
            text += f"; largest finite gap {top.gap:.2f} ({top.family}, {top.task})"
        text += "."
    return text
