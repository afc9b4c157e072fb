"""The attention-swap figures, each drawn from the run's tables only.

Every accuracy panel shows its Wilson 95% interval, the chance level (dashed grey) and, where
there is one, the recipient's base accuracy (solid grey); bands are clipped to [0, 1]. The Δ
heatmap's diverging map is centred on 0 and hatches the cells whose paired interval holds 0.
Ordered variables (size, α, layer, number of layers) sit on the x axis; legends sit outside
the axes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from interp.runs import plots
from interp.runs.study import Tables
from interp.studies.attention_swap.config import Config

SWAP_CONDITIONS = ("swap:", "swap-other-input:", "control:")
PHASE_STYLES = {"final": "-", "phase-1": "--"}
CONTROL_COLOR = "C1"  # the matched control's line on the sweep figures
LAYER_CONDITIONS = ["layer", "bottom-up", "top-down"]
LAYER_TITLES = {"layer": "one layer swapped (x = layer)",
                "bottom-up": "bottom k layers swapped (x = k)",
                "top-down": "top k layers swapped (x = k)"}
REFERENCE = dict(color="0.45", lw=1.0, zorder=1)  # base and chance lines


def figures(tables: Tables, config: Config) -> list[Path]:
    """Scaling curves, the swap heatmap with controls, per-layer sensitivity, alpha curves."""
    plots.use_style()
    results, scaling, out = tables["results"], tables["scaling"], config.out
    # The figures show the first evaluation seed; replication.csv has the others.
    results = results[results.seed == results.seed.min()]
    scaling = scaling[scaling.seed == scaling.seed.min()]
    chance = scaling.groupby("task", sort=False).chance.first()
    written = scaling_figure(scaling, out) + heatmap_figure(results, out)
    if config.sweeps:  # the focus pair's alpha curve and layer sweeps were run
        written += layer_figure(results, chance, out) + alpha_figure(results, chance, out)
    return written


def reference_lines(ax, *, chance: float, base: float | None = None) -> None:
    """Chance (dashed) and, when given, the base accuracy (solid) on an accuracy panel."""
    ax.axhline(chance, ls="--", **REFERENCE)
    if base is not None:
        ax.axhline(base, ls="-", alpha=0.6, **REFERENCE)
    ax.set_ylim(-0.03, 1.03)


def accuracy_band(ax, rows: pd.DataFrame, x: str, **style) -> None:
    """Accuracy against ``x`` with its Wilson interval as a band clipped to [0, 1]."""
    rows = rows.sort_values(x)
    ax.plot(rows[x], rows.accuracy, marker="o", ms=3.5, **style)
    ax.fill_between(rows[x], rows.accuracy_lo.clip(0, 1), rows.accuracy_hi.clip(0, 1),
                    alpha=0.2, color=style.get("color"), lw=0)


def reference_legend(fig, handles: list, *, base: bool) -> None:
    """One legend for the figure, outside the axes on the right."""
    extra = [Line2D([], [], ls="--", **REFERENCE, label="chance")]
    if base:
        extra.append(Line2D([], [], ls="-", alpha=0.6, **REFERENCE, label="base accuracy"))
    fig.legend(handles=handles + extra, loc="center left", bbox_to_anchor=(1.0, 0.5),
               frameon=False)


def scaling_figure(scaling: pd.DataFrame, out: Path) -> list[Path]:
    """Loss (top), choice-restricted loss (middle) and accuracy with Wilson bars (bottom)
    against parameters, per task; one colour per family, one line style per phase."""
    tasks = list(scaling.task.unique())
    fig, axes = plt.subplots(3, len(tasks), figsize=(3.1 * len(tasks), 7.8), sharex=True,
                             squeeze=False)
    families = sorted(scaling.family.unique())
    colors = {f: plots.FAMILY_COLORS.get(f, f"C{i}") for i, f in enumerate(families)}
    phases = [p for p in PHASE_STYLES if p in set(scaling.phase)]
    for j, task in enumerate(tasks):
        rows = scaling[scaling.task == task]
        ax_loss, ax_choice, ax_acc = axes[0, j], axes[1, j], axes[2, j]
        for family in families:
            for phase in phases:
                fam = rows[(rows.family == family) & (rows.phase == phase)].sort_values("parameters")
                style = dict(marker="o", ms=3.5, color=colors[family], ls=PHASE_STYLES[phase])
                ax_loss.plot(fam.parameters, fam.loss, **style)
                if fam.choice_loss.notna().any():
                    ax_choice.plot(fam.parameters, fam.choice_loss, **style)
                ax_acc.errorbar(fam.parameters, fam.accuracy, capsize=2, **style,
                                yerr=[fam.accuracy - fam.accuracy_lo, fam.accuracy_hi - fam.accuracy])
        level = rows.chance_loss.iloc[0]
        if np.isfinite(level):
            ax_loss.axhline(level, ls="--", **REFERENCE)
            ax_choice.axhline(level, ls="--", **REFERENCE)
        else:
            ax_choice.text(0.5, 0.5, "exact match:\nno choices", ha="center", va="center",
                           transform=ax_choice.transAxes, color="0.45")
        reference_lines(ax_acc, chance=float(rows.chance.iloc[0]))
        ax_loss.set_title(task)
        ax_acc.set_xscale("log")
        ax_acc.set_xlabel("parameters")
    axes[0, 0].set_ylabel("answer loss (nats/token)")
    axes[1, 0].set_ylabel("loss over the choices only")
    axes[2, 0].set_ylabel("accuracy (Wilson 95%)")
    handles = [Line2D([], [], color=colors[f], marker="o", label=f) for f in families]
    handles += [Line2D([], [], color="0.3", ls=PHASE_STYLES[p], label=p) for p in phases]
    reference_legend(fig, handles, base=False)
    fig.suptitle("Scaling view: accuracy against loss (dashed grey: chance; on loss, a uniform "
                 "guess over the choices)", y=1.01)
    fig.tight_layout()
    return plots.save(fig, out / "scaling")


def heatmap_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The swap and control rows of ``results``, each labelled as the heatmap shows it."""
    shown = results[results.condition.str.startswith(SWAP_CONDITIONS)].copy()
    shown["row"] = shown.apply(
        lambda r: f"{r.recipient} <- {r.donor}  [{r.condition}]"
        if r.condition.startswith(("swap:", "swap-other-input:"))
        else f"{r.recipient}  [{r.condition}]", axis=1)
    shown["holds_zero"] = (shown.delta_accuracy_lo <= 0) & (shown.delta_accuracy_hi >= 0)
    return shown


def heatmap_figure(results: pd.DataFrame, out: Path) -> list[Path]:
    """Δ accuracy of every swap and control (rows) on every task (columns); hatched where
    the paired interval includes 0."""
    shown = heatmap_rows(results)
    grid = shown.pivot_table(index="row", columns="task", values="delta_accuracy", sort=False)
    holds = shown.pivot_table(index="row", columns="task", values="holds_zero", sort=False,
                              aggfunc="first").reindex_like(grid)
    fig, ax = plt.subplots(figsize=(2.2 + 1.4 * grid.shape[1], 1.2 + 0.38 * grid.shape[0]))
    sns.heatmap(grid, annot=True, fmt="+.2f", center=0, cmap="RdBu", vmin=-1, vmax=1, ax=ax,
                cbar_kws={"label": "Δ accuracy vs own patterns (same items)"})
    for i, j in zip(*np.nonzero(holds.fillna(False).to_numpy(dtype=bool))):
        ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch="///", edgecolor="0.55", lw=0))
    ax.set_ylabel("")
    ax.set_xlabel("")
    ax.set_title("Swaps and controls: Δ accuracy (0 = no change)")
    ax.legend(handles=[Patch(facecolor="white", edgecolor="0.55", hatch="///",
                             label="hatched: paired 95% interval includes 0")],
              loc="upper center", bbox_to_anchor=(0.5, -0.045), frameon=False)
    return plots.save(fig, out / "swap_heatmap")


def _base_accuracy(results: pd.DataFrame, recipient: str, task: str) -> float:
    base = results[(results.condition == "base") & (results.recipient == recipient)
                   & (results.task == task)]
    return float(base.accuracy.iloc[0])


def layer_figure(results: pd.DataFrame, chance: pd.Series, out: Path) -> list[Path]:
    """Accuracy of the focus pair with one layer, the bottom k or the top k layers swapped:
    one row per kind of sweep, one column per task."""
    layers = results[results.condition.isin(LAYER_CONDITIONS)].copy()
    if layers.empty:
        return []
    layers["x"] = layers["layers"].astype(int)
    controls = results[results.condition.isin([f"{c}:other_input" for c in LAYER_CONDITIONS])].copy()
    controls["x"] = controls["layers"].astype(int)
    recipient, donor = layers.recipient.iloc[0], layers.donor.iloc[0]
    tasks = list(layers.task.unique())
    fig, axes = plt.subplots(len(LAYER_CONDITIONS), len(tasks), squeeze=False, sharey=True,
                             figsize=(2.9 * len(tasks), 2.3 * len(LAYER_CONDITIONS)))
    for i, condition in enumerate(LAYER_CONDITIONS):
        for j, task in enumerate(tasks):
            ax = axes[i, j]
            rows = layers[(layers.condition == condition) & (layers.task == task)]
            accuracy_band(ax, rows, "x", color="C0")
            control = controls[(controls.condition == f"{condition}:other_input")
                               & (controls.task == task)]
            if not control.empty:
                accuracy_band(ax, control, "x", color=CONTROL_COLOR)
            reference_lines(ax, chance=float(chance[task]),
                            base=_base_accuracy(results, recipient, task))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(task if i == 0 else "")
        axes[i, 0].set_ylabel(f"{LAYER_TITLES[condition]}\naccuracy", fontsize=8)
    handles = [Line2D([], [], color="C0", marker="o", label="swapped (Wilson 95% band)"),
               Line2D([], [], color=CONTROL_COLOR, marker="o",
                      label="matched control: own patterns, another input")]
    reference_legend(fig, handles, base=True)
    fig.suptitle(f"Per-layer sensitivity: {recipient} <- {donor}", y=1.01)
    fig.tight_layout()
    return plots.save(fig, out / "layer_sensitivity")


def alpha_figure(results: pd.DataFrame, chance: pd.Series, out: Path) -> list[Path]:
    """Accuracy of the focus pair as the pattern blends from own (α=0) to donor (α=1)."""
    alpha = results[results.condition == "alpha"]
    if alpha.empty:
        return []
    recipient, donor = alpha.recipient.iloc[0], alpha.donor.iloc[0]
    tasks = list(alpha.task.unique())
    fig, axes = plt.subplots(1, len(tasks), figsize=(2.9 * len(tasks), 3.0), sharey=True,
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        accuracy_band(ax, alpha[alpha.task == task], "alpha", color="C0")
        control = results[(results.condition == "alpha:other_input") & (results.task == task)]
        if not control.empty:
            accuracy_band(ax, control, "alpha", color=CONTROL_COLOR)
        reference_lines(ax, chance=float(chance[task]),
                        base=_base_accuracy(results, recipient, task))
        ax.set_title(task)
        ax.set_xlabel("α  ((1-α)·own + α·donor)")
    axes[0, 0].set_ylabel("accuracy")
    handles = [Line2D([], [], color="C0", marker="o", label="blended (Wilson 95% band)"),
               Line2D([], [], color=CONTROL_COLOR, marker="o",
                      label="matched control: own patterns, another input")]
    reference_legend(fig, handles, base=True)
    fig.suptitle(f"Blending patterns: {recipient} <- {donor}", y=1.03)
    fig.tight_layout()
    return plots.save(fig, out / "alpha_curves")
