"""The ICL-circuits figures, drawn from the run's tables only: accuracy vs shots, few-shot
accuracy kept and the QK / V attribution heatmap per base model; the toy's MSE vs shots.

Every accuracy panel shows the base model (black, Wilson band over items), chance (dotted)
and the variants' t-interval bands over seeds, clipped to [0, 1]; legends sit outside.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle

from interp.analysis.stats import seed_interval
from interp.runs import plots
from interp.runs.study import Tables
from interp.studies.icl_circuits.config import Config
from interp.studies.icl_circuits.findings import excludes_zero
from interp.studies.icl_circuits.tables import BASE

BASE_COLOR = "black"
HATCH = "////"


def figures(tables: Tables, config: Config) -> list[Path]:
    """Every figure into ``config.out``: one set of model figures per base model (the model
    name as a suffix when there are several), then the toy's."""
    written: list[Path] = []
    chance = {task: config.chance(task) for task in config.tasks}
    for model_name in config.models:
        suffix = "" if len(config.models) == 1 else "-" + model_name.replace("/", "--")
        written += draw_figures(tables["results"], tables["preserved"], tables["attribution"],
                                model_name, config.out, suffix, chance=chance)
    written += draw_toy(tables.get("toy_summary", pd.DataFrame()), config.out)
    return written


def draw_figures(results: pd.DataFrame, preserved: pd.DataFrame, attribution: pd.DataFrame,
                 model: str, out: Path, suffix: str = "", *,
                 chance: dict[str, float]) -> list[Path]:
    """Accuracy vs shots, few-shot accuracy bars and the layer x {QK, V} heatmap of one model."""
    plots.use_style()
    shown = results[results.model == model]
    tasks = list(dict.fromkeys(shown.sort_values("role", ascending=False, kind="stable").task))
    colors = palette(shown.trainable)
    written = accuracy_figure(shown, tasks, model, out / f"accuracy_vs_shots{suffix}", chance,
                              colors)
    written += preserved_figure(preserved[preserved.model == model], tasks, model,
                                out / f"preserved{suffix}", chance, colors)
    cells = attribution[(attribution.model == model) & (attribution.metric == "loss")]
    if not cells.empty:
        written += attribution_figure(cells, model, out / f"attribution_heatmap{suffix}")
    return written


def palette(trainable: pd.Series) -> dict[str, tuple]:
    """One colour per trainable set (categorical: they have no order), the base in black.

    >>> palette(pd.Series(["v", "qk", "none"]))["none"]
    'black'
    """
    names = [t for t in dict.fromkeys(trainable) if t != BASE]
    colors = dict(zip(names, sns.color_palette("tab10", max(len(names), 1))))
    return {**colors, BASE: BASE_COLOR}


def seed_band(rows: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per ``x``: mean of ``y`` over seeds with its t-interval (NaN with one seed).

    >>> rows = pd.DataFrame(dict(shots=[1, 1, 1], accuracy=[0.1, 0.2, 0.3]))
    >>> seed_band(rows, "shots", "accuracy").round(2).values.tolist()
    [[1.0, 0.2, -0.05, 0.45]]
    """
    bands = [dict(zip((x, "mean", "lo", "hi"), (key, iv.estimate, iv.lo, iv.hi)))
             for key, group in rows.groupby(x, sort=True)
             for iv in [seed_interval(group[y].to_numpy())]]
    return pd.DataFrame(bands)


def base_and_chance(ax: plt.Axes, base: pd.DataFrame, chance: float) -> None:
    """The base model's accuracy (black, Wilson band) and chance (dotted) on one panel."""
    ax.plot(base.shots, base.accuracy, color=BASE_COLOR, marker="o", lw=1.8, label="none (base)",
            zorder=5)
    ax.fill_between(base.shots, base.accuracy_lo.clip(0, 1), base.accuracy_hi.clip(0, 1),
                    color=BASE_COLOR, alpha=0.12, lw=0)
    ax.axhline(chance, color="gray", lw=1, ls=":", label=f"chance ({chance:g})")


def accuracy_figure(shown: pd.DataFrame, tasks: list[str], model: str, stem: Path,
                    chance: dict[str, float], colors: dict[str, tuple]) -> list[Path]:
    """Rows: zero-shot loss, + few-shot loss; columns: tasks; accuracy vs shots per
    trainable set (mean and t-band over seeds) beside the base and chance."""
    trainables = [t for t in dict.fromkeys(shown.trainable) if t != BASE]
    fig, axes = plt.subplots(2, len(tasks), figsize=(3.8 * len(tasks) + 1.6, 6.6), sharey=True,
                             sharex=True, squeeze=False)
    shots = sorted(shown.shots.unique())
    for row, few_shot in enumerate((False, True)):
        for ax, task in zip(axes[row], tasks):
            part = shown[shown.task == task]
            base = part[(part.variant == BASE) & (part.seed == part.seed.min())]
            base_and_chance(ax, base.sort_values("shots"), chance[task])
            for trainable in trainables:
                rows = part[(part.trainable == trainable) & (part.few_shot == few_shot)]
                if rows.empty:  # a set trained without the few-shot loss only
                    continue
                band = seed_band(rows, "shots", "accuracy")
                ax.plot(band.shots, band["mean"], color=colors[trainable], marker="o", ms=3,
                        ls="--" if few_shot else "-", label=trainable)
                ax.fill_between(band.shots, band.lo.clip(0, 1), band.hi.clip(0, 1),
                                color=colors[trainable], alpha=0.15, lw=0)
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xticks(shots, [str(k) for k in shots])
            ax.set_ylim(-0.03, 1.03)
            ax.set_title(f"{task} ({part.role.iloc[0]})" if row == 0 else "", fontsize=10)
        axes[row][0].set_ylabel(("zero-shot loss" if not few_shot else "+ few-shot loss")
                                + "\naccuracy")
    for ax in axes[-1]:
        ax.set_xlabel("demonstrations (shots)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
               title="trainable")
    fig.suptitle(f"{model}: accuracy vs demonstrations after fine-tuning "
                 "(bands: 95% t over seeds; base: Wilson)")
    fig.tight_layout()
    return plots.save(fig, stem)


def preserved_figure(preserved: pd.DataFrame, tasks: list[str], model: str, stem: Path,
                     chance: dict[str, float], colors: dict[str, tuple]) -> list[Path]:
    """Per task: few-shot accuracy per variant (bars, t-interval over seeds), the base's
    (black line, Wilson band) and chance (dotted)."""
    bars = preserved[preserved.variant != BASE]
    names = list(dict.fromkeys(bars.variant))
    fig, axes = plt.subplots(1, len(tasks), figsize=(0.45 * len(names) * len(tasks) + 2.5, 3.8),
                             sharey=True, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        part = bars[bars.task == task].set_index("variant").reindex(names)
        scale = part.base_few_shot / 100  # kept % -> accuracy
        lo = (part.preserved_lo * scale).clip(0, 1)
        hi = (part.preserved_hi * scale).clip(0, 1)
        err = np.vstack([part.few_shot_accuracy - lo, hi - part.few_shot_accuracy])
        err = np.nan_to_num(err).clip(min=0)  # a zero-width interval may round below 0
        x = np.arange(len(names))
        trainable = [n.removesuffix("+fs") for n in names]
        ax.bar(x, part.few_shot_accuracy, color=[colors[t] for t in trainable],
               hatch=[HATCH if n.endswith("+fs") else "" for n in names], edgecolor="white",
               yerr=err, capsize=2)
        base = preserved[(preserved.task == task) & (preserved.variant == BASE)].iloc[0]
        ax.axhline(base.base_few_shot, color=BASE_COLOR, lw=1.4, label="none (base)")
        ax.axhspan(base.base_few_shot_lo, base.base_few_shot_hi, color=BASE_COLOR, alpha=0.12,
                   lw=0)
        ax.axhline(chance[task], color="gray", lw=1, ls=":", label=f"chance ({chance[task]:g})")
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(task, fontsize=10)
    axes[0][0].set_ylabel("few-shot accuracy (k >= 1)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(f"{model}: few-shot accuracy kept after fine-tuning "
                 "(95% t over seeds; hatched bars: + few-shot loss)")
    fig.tight_layout()
    return plots.save(fig, stem)


def unsettled(part: pd.DataFrame) -> pd.DataFrame:
    """Layer x site grid: True where the loss moved, or the gap, has an interval holding 0."""
    flags = part.assign(flag=[not (excludes_zero(r.moved_lo, r.moved_hi)
                                   and excludes_zero(r.gap_lo, r.gap_hi))
                              for r in part.itertuples()])
    return flags.pivot_table(index="layer", columns="site", values="flag", aggfunc="max")


def attribution_figure(cells: pd.DataFrame, model: str, stem: Path) -> list[Path]:
    """Layer x {QK, V} heatmaps of the loss-gap fraction (mean over seeds), one panel per
    (variant, direction), on the first attribution task; hatched where in some seed the
    interval includes 0."""
    task = cells.task.iloc[0]
    cells = cells[cells.task == task]
    combos = list(dict.fromkeys(zip(cells.variant, cells.direction)))
    fig, axes = plt.subplots(1, len(combos), figsize=(2.4 * len(combos) + 1.5, 3.6),
                             squeeze=False, sharey=True)
    for ax, (variant, direction) in zip(axes[0], combos):
        part = cells[(cells.variant == variant) & (cells.direction == direction)]
        grid = part.pivot_table(index="layer", columns="site", values="fraction")
        sns.heatmap(grid.rename(columns={"qk": "QK", "v": "V"}), annot=True, fmt=".2f",
                    center=0, cmap="RdBu_r", vmin=-1, vmax=1, cbar=ax is axes[0][-1], ax=ax,
                    cbar_kws=dict(label="fraction of the loss gap"))
        flags = unsettled(part).reindex(index=grid.index, columns=grid.columns)
        for i, layer in enumerate(grid.index):
            for j, site in enumerate(grid.columns):
                if bool(flags.loc[layer, site]):
                    ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch=HATCH,
                                           edgecolor="gray", lw=0))
        gaps = part.groupby("seed").gap.first() if "seed" in part else part.gap.iloc[:1]
        ax.set_title(f"{variant}: {direction}\nmean gap {gaps.mean():+.2f} nats "
                     f"({len(gaps)} seed{'s' if len(gaps) > 1 else ''})", fontsize=8)
        ax.set_xlabel("")
        ax.set_ylabel("layer" if ax is axes[0][0] else "")
    fig.suptitle(f"{model}, {task}: fraction of the base-vs-tuned loss gap per patch, mean "
                 "over seeds whose gap can be divided by (hatched: in some seed the 95% "
                 "interval of the gap or the move includes 0)", y=1.1)
    return plots.save(fig, stem)


def draw_toy(summary: pd.DataFrame, out: Path) -> list[Path]:
    """The toy's test MSE vs shots on theta0 and -theta0, per variant, with t-interval bands
    over seeds (nothing if no toy)."""
    plots.use_style()
    if summary.empty:
        return []
    trainable = summary.variant.str.removesuffix("+fs")
    colors = palette(trainable)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    floor = summary.mse.min() / 10  # a log axis: a band's lower edge stays positive
    for ax, task in zip(axes, ("theta0", "-theta0")):
        for variant, part in summary[summary.task == task].groupby("variant", sort=False):
            name = variant.removesuffix("+fs")
            ax.plot(part.shots, part.mse, color=colors[name], lw=1.8 if name == BASE else 1.2,
                    ls="--" if variant.endswith("+fs") else "-", label=variant)
            ax.fill_between(part.shots, part.mse_lo.clip(lower=floor), part.mse_hi,
                            color=colors[name], alpha=0.12, lw=0)
        ax.set_yscale("log")
        ax.set_xticks(range(0, int(summary.shots.max()) + 1, 5))
        ax.set_title(f"toy: test on {task}")
        ax.set_xlabel("demonstrations (shots)")
    axes[0].set_ylabel("test MSE")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle("One linear-attention layer fine-tuned on theta0 (solid: ZS, dashed: ZS+FS; "
                 "bands: 95% t over seeds)")
    fig.tight_layout()
    return plots.save(fig, out / "toy_mse_vs_shots")
