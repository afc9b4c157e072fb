"""The ICL-circuits figures, drawn from the run's tables only: accuracy vs shots, preserved-%
bars and the QK / V attribution heatmap per base model; the toy's MSE vs shots."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from interp.runs import plots
from interp.runs.study import Tables
from interp.studies.icl_circuits.config import Config


def figures(tables: Tables, config: Config) -> list[Path]:
    """Every figure into ``config.out``: one set of model figures per base model (the model
    name as a suffix when there are several), then the toy's."""
    written: list[Path] = []
    for model_name in config.models:
        suffix = "" if len(config.models) == 1 else "-" + model_name.replace("/", "--")
        written += draw_figures(tables["results"], tables["preserved"], tables["attribution"],
                                model_name, config.out, suffix)
    written += draw_toy(tables.get("toy", pd.DataFrame()), config.out)
    return written


def draw_figures(results: pd.DataFrame, preserved: pd.DataFrame, attribution: pd.DataFrame,
                 model: str, out: Path, suffix: str = "") -> list[Path]:
    """Accuracy vs shots, preserved-% bars and the layer x {QK, V} heatmap of one model."""
    plots.use_style()
    shown = results[results.model == model]
    tasks = list(dict.fromkeys(shown.sort_values("role", ascending=False).task))
    written = accuracy_figure(shown, tasks, model, out / f"accuracy_vs_shots{suffix}")
    written += preserved_figure(shown, preserved, tasks, model, out / f"preserved{suffix}")
    cells = attribution[(attribution.model == model) & (attribution.metric == "loss")]
    if not cells.empty:
        written += attribution_figure(cells, model, out / f"attribution_heatmap{suffix}")
    return written


def accuracy_figure(shown: pd.DataFrame, tasks: list[str], model: str, stem: Path) -> list[Path]:
    """One panel per task: accuracy vs shots per variant (colour: what trains; dashes: +FS)."""
    order = list(dict.fromkeys(shown.trainable))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.8), sharey=True,
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        sns.lineplot(shown[shown.task == task], x="shots", y="accuracy", hue="trainable",
                     hue_order=order, style="few_shot", marker="o", errorbar=("se", 1.96),
                     palette="tab10",
                     ax=ax, legend=ax is axes[0][-1])
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(sorted(shown.shots.unique()), [str(k) for k in sorted(shown.shots.unique())])
        role = shown[shown.task == task].role.iloc[0]
        ax.set_title(f"{task} ({role})")
        ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    axes[0][-1].legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8)
    fig.suptitle(f"{model}: accuracy vs demonstrations after fine-tuning")
    return plots.save(fig, stem)


def preserved_figure(shown: pd.DataFrame, preserved: pd.DataFrame, tasks: list[str], model: str,
                     stem: Path) -> list[Path]:
    """Bars: % of base few-shot accuracy kept per variant and task, 95% t-intervals."""
    bars = preserved[(preserved.model == model) & (preserved.variant != "none")]
    variants_shown = [v for v in dict.fromkeys(shown.variant) if v in set(bars.variant)]
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(variants_shown) * max(1, len(tasks) / 2), 3.8))
    width = 0.8 / len(tasks)
    for i, task in enumerate(tasks):
        part = bars[bars.task == task].set_index("variant").reindex(variants_shown)
        x = np.arange(len(variants_shown)) + (i - (len(tasks) - 1) / 2) * width
        err = np.vstack([part.preserved - part.ci_low, part.ci_high - part.preserved])
        ax.bar(x, part.preserved, width, label=task, yerr=np.nan_to_num(err), capsize=2)
    ax.axhline(100, color="gray", lw=0.8, ls=":")
    ax.set_xticks(np.arange(len(variants_shown)), variants_shown, rotation=30)
    ax.set_ylabel("% of base few-shot accuracy")
    ax.set_title(f"{model}: few-shot accuracy preserved (95% t-interval over seeds)")
    ax.legend(fontsize=8)
    return plots.save(fig, stem)


def attribution_figure(cells: pd.DataFrame, model: str, stem: Path) -> list[Path]:
    """Layer x {QK, V} heatmaps of the loss-gap fraction, one panel per (variant, direction),
    on the first held-out task."""
    task = cells.task.iloc[0]
    cells = cells[cells.task == task]
    combos = list(dict.fromkeys(zip(cells.variant, cells.direction)))
    fig, axes = plt.subplots(1, len(combos), figsize=(1.9 * len(combos) + 1, 3.2),
                             squeeze=False, sharey=True)
    for ax, (variant, direction) in zip(axes[0], combos):
        part = cells[(cells.variant == variant) & (cells.direction == direction)]
        grid = part.pivot_table(index="layer", columns="site", values="fraction")
        grid = grid.rename(columns={"qk": "QK", "v": "V"})
        sns.heatmap(grid, annot=True, fmt=".2f", center=0, cmap="RdBu_r", vmin=-1, vmax=1,
                    cbar=ax is axes[0][-1], ax=ax)
        # A small gap makes every fraction noisy: show it beside the panel's name.
        ax.set_title(f"{variant}: {direction}\ngap {part.gap.iloc[0]:+.2f} nats", fontsize=9)
        ax.set_xlabel("")
    fig.suptitle(f"{model}, {task}: fraction of the base-vs-tuned loss gap per patch", y=1.03)
    return plots.save(fig, stem)


def draw_toy(toy: pd.DataFrame, out: Path) -> list[Path]:
    """The toy's test MSE vs shots on theta0 and -theta0, per variant (nothing if no toy)."""
    plots.use_style()
    written: list[Path] = []
    if not toy.empty:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
        for ax, task in zip(axes, ("theta0", "-theta0")):
            part = toy[toy.task == task].assign(few_shot=lambda t: t.variant.str.endswith("+fs"))
            sns.lineplot(part, x="shots", y="mse", hue=part.variant.str.replace("+fs", ""),
                         style="few_shot", errorbar=("se", 1.96), palette="tab10", ax=ax,
                         legend=ax is axes[-1])
            ax.set_yscale("log")
            ax.set_title(f"toy: test on {task}")
            ax.set_ylabel("test MSE")
        axes[-1].legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8)
        fig.suptitle("One linear-attention layer fine-tuned on theta0 (ZS vs ZS+FS)")
        written += plots.save(fig, out / "toy_mse_vs_shots")
    return written
