"""The attention-swap figures, each drawn from the run's tables only."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from interp.runs import plots
from interp.runs.study import Tables
from interp.studies.attention_swap.config import Config

SWAP_CONDITIONS = ("swap:", "control:")
LAYER_CONDITIONS = ["layer", "bottom-up", "top-down"]


def figures(tables: Tables, config: Config) -> list[Path]:
    """Scaling curves, the swap heatmap with controls, per-layer sensitivity, alpha curves."""
    plots.use_style()
    results, out = tables["results"], config.out
    written = scaling_figure(tables["scaling"], out) + heatmap_figure(results, out)
    written += layer_figure(results, out) + alpha_figure(results, out)
    return written


def scaling_figure(scaling: pd.DataFrame, out: Path) -> list[Path]:
    """Loss and accuracy against parameters (log scale), per task and family."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        sns.lineplot(scaling, x="parameters", y=metric, hue="task", style="family", markers=True,
                     dashes=True, ax=ax)
        ax.set_xscale("log")
    ax_loss.set_ylabel("answer loss (nats/token)")
    ax_acc.set_ylabel("accuracy")
    ax_loss.get_legend().remove()
    fig.suptitle("Scaling view: does accuracy move with loss?")
    return plots.save(fig, out / "scaling")


def heatmap_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The swap and control rows of ``results``, each labelled as the heatmap shows it."""
    shown = results[results.condition.str.startswith(SWAP_CONDITIONS)].copy()
    shown["row"] = shown.apply(
        lambda r: f"{r.recipient} <- {r.donor}  [{r.condition}]" if r.condition.startswith("swap:")
        else f"{r.recipient}  [{r.condition}]", axis=1)
    return shown


def heatmap_figure(results: pd.DataFrame, out: Path) -> list[Path]:
    """Δ accuracy of every swap and control (rows) on every task (columns)."""
    grid = heatmap_rows(results).pivot_table(index="row", columns="task", values="delta_accuracy",
                                             sort=False)
    fig, ax = plt.subplots(figsize=(2.2 + 1.4 * grid.shape[1], 0.9 + 0.38 * grid.shape[0]))
    sns.heatmap(grid, annot=True, fmt="+.2f", center=0, cmap="RdBu", vmin=-1, vmax=1, ax=ax,
                cbar_kws={"label": "Δ accuracy vs own patterns"})
    ax.set_ylabel("")
    ax.set_title("Swaps and controls")
    return plots.save(fig, out / "swap_heatmap")


def layer_figure(results: pd.DataFrame, out: Path) -> list[Path]:
    """Δ accuracy of single-layer, bottom-up and top-down swaps of the focus pair."""
    layers = results[results.condition.isin(LAYER_CONDITIONS)].copy()
    if layers.empty:
        return []
    layers["layers"] = layers["layers"].astype(int)
    grid_plot = sns.relplot(layers, x="layers", y="delta_accuracy", hue="task",
                            col="condition", kind="line", marker="o", height=3.2, aspect=1.1)
    grid_plot.set_axis_labels("layer (single) / number of layers swapped", "Δ accuracy")
    for ax in grid_plot.axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    grid_plot.figure.suptitle(
        f"Per-layer sensitivity: {layers.recipient.iloc[0]} <- {layers.donor.iloc[0]}", y=1.04)
    return plots.save(grid_plot.figure, out / "layer_sensitivity")


def alpha_figure(results: pd.DataFrame, out: Path) -> list[Path]:
    """Accuracy of the focus pair as the pattern blends from own (α=0) to donor (α=1)."""
    alpha = results[results.condition == "alpha"]
    if alpha.empty:
        return []
    fig, ax = plt.subplots(figsize=(5, 3.6))
    sns.lineplot(alpha, x="alpha", y="accuracy", hue="task", marker="o", ax=ax)
    ax.set_xlabel("α  (pattern = (1-α)·own + α·donor)")
    ax.set_title(f"{alpha.recipient.iloc[0]} <- {alpha.donor.iloc[0]}")
    return plots.save(fig, out / "alpha_curves")
