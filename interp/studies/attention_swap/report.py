"""What the attention-swap tables say: the printed summary, CAPTIONS.md and the run record.

Every number in a caption is read from the tables the run wrote.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interp.runs.study import Report, Tables
from interp.studies.attention_swap.config import Config
from interp.studies.attention_swap.figures import LAYER_CONDITIONS, SWAP_CONDITIONS


def report(tables: Tables, config: Config) -> Report:
    """The summary, the captions and the findings results.json records."""
    gap = tables["confidence_competence"]
    record = dict(ladder=list(config.ladder),
                  pairs=[dict(recipient=r, donor=d, kind=k) for r, d, k in config.pairs],
                  confidence_competence=gap.to_dict("records"))
    return Report(summary=summary(tables["results"], gap), captions=captions(tables, config),
                  record=record)


def summary(results: pd.DataFrame, gap: pd.DataFrame) -> str:
    """A short text table: mean Δaccuracy per condition, and the gap per family and task."""
    by = results[results.condition.str.startswith(SWAP_CONDITIONS)]
    cell = by.assign(shown=[f"{d:+.2f}±{c:.2f}" for d, c in
                            zip(by.delta_accuracy, by.delta_accuracy_ci95)])
    table = cell.pivot_table(index=["recipient", "donor", "condition"], columns="task",
                             values="shown", aggfunc="first", sort=False)
    lines = ["Δ accuracy against each recipient's own patterns (± 95% interval):",
             table.to_string()]
    if not gap.empty:
        lines += ["", "confidence-competence gap (loss gain / accuracy gain per decade):",
                  gap[["family", "task", "loss_gain", "accuracy_gain", "gap"]].round(3).to_string(index=False)]
    return "\n".join(lines)


def captions(tables: Tables, config: Config) -> str:
    """CAPTIONS.md: one paragraph per figure and per table, numbers from the tables."""
    results, scaling, gap = tables["results"], tables["scaling"], tables["confidence_competence"]
    parts = ["# Attention swap: captions",
             f"Generated from the tables of this run ({config.n} examples per task, seed "
             f"{config.seed}, head mapping `{config.heads}`). Δ is against each recipient's own "
             "patterns through the same eager path; ± is a 95% interval (normal approximation, "
             "conservative for these paired runs).",
             scaling_caption(scaling), heatmap_caption(results), layer_caption(results),
             alpha_caption(results), tables_caption(results, scaling, gap)]
    return "\n\n".join(p for p in parts if p) + "\n"


def scaling_caption(scaling: pd.DataFrame) -> str:
    """scaling.png: the ladder, its size range and the best base accuracy per task."""
    best = scaling.loc[scaling.groupby("task", sort=False).accuracy.idxmax()]
    tops = "; ".join(f"{r.task} {r.accuracy:.2f} ({r.model})" for r in best.itertuples())
    return (f"## scaling.png / .pdf\nAnswer loss (left) and accuracy (right) of the "
            f"{scaling.model.nunique()} ladder models ({', '.join(sorted(scaling.family.unique()))}) "
            f"on their own patterns against parameters ({scaling.parameters.min():,} to "
            f"{scaling.parameters.max():,}, log scale), one line per task and family. Best "
            f"accuracy per task: {tops}.")


def heatmap_caption(results: pd.DataFrame) -> str:
    """swap_heatmap.png: how many swaps and controls, the largest drop, the self-swap check."""
    shown = results[results.condition.str.startswith(SWAP_CONDITIONS)]
    swaps = shown[shown.condition.str.startswith("swap:")]
    selfswap = shown[shown.condition == "control:self"]
    text = (f"## swap_heatmap.png / .pdf\nΔ accuracy of {len(swaps.groupby(['recipient', 'donor', 'condition']))} "
            f"swaps (recipient <- donor, every layer) and "
            f"{len(shown.condition.unique()) - len(swaps.condition.unique())} controls per "
            f"recipient, on {shown.task.nunique()} tasks ({', '.join(shown.task.unique())}).")
    if not swaps.empty:
        worst = swaps.loc[swaps.delta_accuracy.idxmin()]
        text += (f" Largest swap drop: {worst.delta_accuracy:+.2f} ± {worst.delta_accuracy_ci95:.2f} "
                 f"({worst.recipient} <- {worst.donor}, {worst.condition}, {worst.task}); mean "
                 f"swap Δ {swaps.delta_accuracy.mean():+.2f}.")
    if not selfswap.empty:
        change = selfswap[["delta_accuracy", "delta_loss"]].abs().to_numpy().max()
        text += f" Self-swap on the same input: largest |Δ| {change:g} (held to exactly 0)."
    uniform = shown[shown.condition == "control:uniform"]
    if not uniform.empty:
        text += f" Uniform causal attention: mean Δ {uniform.delta_accuracy.mean():+.2f}."
    return text


def layer_caption(results: pd.DataFrame) -> str:
    """layer_sensitivity.png: the focus pair and its most damaging single layer."""
    layers = results[results.condition.isin(LAYER_CONDITIONS)]
    if layers.empty:
        return ""
    single = layers[layers.condition == "layer"]
    worst = single.loc[single.delta_accuracy.idxmin()]
    return (f"## layer_sensitivity.png / .pdf\nΔ accuracy of {layers.recipient.iloc[0]} on "
            f"{layers.donor.iloc[0]}'s patterns in one layer at a time (left), in the bottom k "
            f"layers (middle) and in the top k layers (right), {single.layers.nunique()} layers. "
            f"Most damaging single layer: {worst.layers} on {worst.task} "
            f"({worst.delta_accuracy:+.2f} ± {worst.delta_accuracy_ci95:.2f}).")


def alpha_caption(results: pd.DataFrame) -> str:
    """alpha_curves.png: accuracy at the ends of the blend, per task."""
    alpha = results[results.condition == "alpha"]
    if alpha.empty:
        return ""
    ends = alpha[alpha.alpha.isin([alpha.alpha.min(), alpha.alpha.max()])]
    pivot = ends.pivot_table(index="task", columns="alpha", values="accuracy", sort=False)
    moves = "; ".join(f"{task} {row.iloc[0]:.2f} -> {row.iloc[-1]:.2f}" for task, row in pivot.iterrows())
    return (f"## alpha_curves.png / .pdf\nAccuracy of {alpha.recipient.iloc[0]} as its patterns "
            f"blend into {alpha.donor.iloc[0]}'s, pattern = (1-α)·own + α·donor in every layer, "
            f"α in {', '.join(f'{a:g}' for a in sorted(alpha.alpha.unique()))}. From α="
            f"{alpha.alpha.min():g} to α={alpha.alpha.max():g}: {moves}.")


def tables_caption(results: pd.DataFrame, scaling: pd.DataFrame, gap: pd.DataFrame) -> str:
    """The three CSV tables: what a row is, and the gap's headline."""
    text = (f"## results.csv\nThe master table: {len(results)} rows, one per (recipient, donor, "
            f"condition, layers, alpha, task), with accuracy, answer loss, their Δ against the "
            f"recipient's base and the 95% half-width; conditions: "
            f"{', '.join(results.condition.unique())}.\n\n"
            f"## scaling.csv\nBase runs of the ladder: {len(scaling)} rows (model x task) with "
            "family, parameter count and chance accuracy.\n\n"
            "## confidence_competence.csv\nPer family and task: least-squares slopes of loss "
            "and accuracy against log10 parameters, the relative loss gain and the accuracy "
            "gain (share of headroom above chance) per decade, and gap = loss gain / accuracy "
            "gain (inf where accuracy does not rise).")
    if not gap.empty:
        finite = gap[np.isfinite(gap.gap)]
        text += (f" {len(gap)} (family, task) fits; {len(gap) - len(finite)} with no accuracy "
                 "gain (gap inf)")
        if not finite.empty:
            top = finite.loc[finite.gap.idxmax()]
            text += f"; largest finite gap {top.gap:.2f} ({top.family}, {top.task})"
        text += "."
    return text
