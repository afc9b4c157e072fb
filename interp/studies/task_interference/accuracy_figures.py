"""The study's accuracy figures: ladder_heatmap, ladder_steps, ladder_trajectory, recovery.

Every accuracy panel shows chance and a Wilson 95% interval (bands clipped to [0, 1]);
accuracy colour maps diverge from chance, difference maps from 0, and a heatmap hatches the
cells whose interval includes that centre. Ordered variables (frequency, upsampling factor)
get ordered palettes; legends sit outside the axes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import CenteredNorm, Normalize
from matplotlib.patches import Patch, Rectangle

from interp.analysis.stats import accuracy_interval
from interp.runs import plots
from interp.studies.task_interference import comparisons as C
from interp.studies.task_interference.facts import chance_of
from interp.studies.task_interference.results import checkpoint_series, final_models
from interp.studies.task_interference.wording import decimals_for, sci

HATCH = dict(fill=False, hatch="//", edgecolor="0.55", lw=0)
KINDS = ("comparison", "modadd")


def wilson_bounds(accuracy: pd.Series, n: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Wilson 95% bounds of accuracies given with their item counts (k = accuracy x n).

    >>> lo, hi = wilson_bounds(pd.Series([0.5]), pd.Series([66]))
    >>> round(float(lo[0]), 2), round(float(hi[0]), 2)
    (0.38, 0.62)
    """
    bounds = []
    for acc, count in zip(accuracy, n):
        k, count = int(round(acc * count)), int(count)
        iv = accuracy_interval(np.r_[np.ones(k, bool), np.zeros(count - k, bool)])
        bounds.append((iv.lo, iv.hi))
    lo, hi = np.array(bounds).reshape(-1, 2).T
    return np.clip(lo, 0, 1), np.clip(hi, 0, 1)


def annotated_heatmap(ax: plt.Axes, values: pd.DataFrame, *, norm: Normalize, cmap: str,
                      label: str, lo: Optional[pd.DataFrame] = None,
                      hi: Optional[pd.DataFrame] = None, null: Optional[float] = None,
                      fmt: str = ".2f", bar_limits: Optional[tuple[float, float]] = None) -> None:
    """``values`` as a heatmap with each cell's value (and interval) written in it; with
    ``null``, cells whose [lo, hi] holds it are hatched; ``bar_limits`` crops the colour bar
    to the values the measure can take."""
    image = ax.imshow(values.to_numpy(dtype=float), cmap=cmap, norm=norm, aspect="auto")
    for i, row in enumerate(values.index):
        for j, col in enumerate(values.columns):
            v = values.loc[row, col]
            if pd.isna(v):
                continue
            text = f"{v:{fmt}}"
            if lo is not None:
                low, high = lo.loc[row, col], hi.loc[row, col]
                d = decimals_for(low, high) if null == 0 else 2
                text += f"\n[{low:.{d}f}, {high:.{d}f}]"
                if null is not None and low <= null <= high:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, **HATCH))
            shade = abs(norm(v) - 0.5) > 0.33 if isinstance(norm, CenteredNorm) else norm(v) > 0.6
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5,
                    color="white" if shade else "black")
    ax.set_xticks(range(len(values.columns)), [str(c) for c in values.columns])
    ax.set_yticks(range(len(values.index)), [str(r) for r in values.index])
    ax.grid(False)
    bar = plt.colorbar(image, ax=ax, label=label, fraction=0.05, pad=0.02)
    if bar_limits is not None:
        bar.ax.set_ylim(*bar_limits)


def _grid(rows: pd.DataFrame, column: str, models: list[str], freqs: list[float]) -> pd.DataFrame:
    grid = rows.pivot_table(index="model", columns="frequency", values=column).loc[models, freqs]
    grid.index = [C.label(rows, m) for m in models]
    grid.columns = [sci(f) for f in freqs]
    return grid


def ladder_heatmap(ladder: pd.DataFrame, out: Path) -> list[Path]:
    """Accuracy (centred on chance, hatched where the interval holds it) and loss per size x
    frequency, one column of panels per rare kind."""
    final = final_models(ladder)
    kinds = [k for k in KINDS if k in set(final.kind)]
    if final.empty or not kinds:
        return []
    models = C.ordered_models(final)
    fig, axes = plt.subplots(2, len(kinds), figsize=(6.4 * len(kinds), 2.6 + 1.5 * len(models)),
                             squeeze=False)
    for col, kind in enumerate(kinds):
        rows = final[final.kind == kind]
        freqs = sorted(rows.frequency.unique(), reverse=True)
        chance = chance_of(rows.task.iloc[0])
        annotated_heatmap(axes[0, col], _grid(rows, "accuracy", models, freqs),
                          lo=_grid(rows, "accuracy_lo", models, freqs),
                          hi=_grid(rows, "accuracy_hi", models, freqs), null=chance,
                          norm=CenteredNorm(vcenter=chance, halfrange=max(chance, 1 - chance)),
                          cmap="RdBu_r", bar_limits=(0, 1),
                          label=f"accuracy (white: chance {chance:.2f})")
        axes[0, col].set_title(f"{kind}: accuracy [Wilson 95%]")
        loss = _grid(rows, "loss", models, freqs)
        annotated_heatmap(axes[1, col], loss, norm=Normalize(0, float(np.nanmax(loss.to_numpy()))),
                          cmap="magma_r", label="answer loss (nats)", fmt=".1f")
        axes[1, col].set_title(f"{kind}: answer-token loss")
        for ax in axes[:, col]:
            ax.set_xlabel("training frequency (fraction of sequences)")
    fig.suptitle("Rare-task ladder: frequency x size (every held-out instance)")
    fig.tight_layout()
    fig.legend(handles=[Patch(label="95% interval includes chance", **{**HATCH, "lw": 0.5})],
               loc="upper center", bbox_to_anchor=(0.5, 0.0), frameon=False)
    return plots.save(fig, out / "ladder_heatmap")


def ladder_steps_figure(ladder: pd.DataFrame, items: pd.DataFrame, out: Path) -> list[Path]:
    """Paired accuracy differences of each size step, per copy and pooled, centred on 0."""
    final = final_models(ladder)
    steps = C.size_steps(final, items)
    if steps.empty:
        return []
    kinds = [k for k in KINDS if k in set(steps.kind)]
    freq_of = final.drop_duplicates("task").set_index("task").frequency
    fig, axes = plt.subplots(1, len(kinds), figsize=(7.2 * len(kinds), 1.6 + 0.8 * steps.condition.nunique()),
                             squeeze=False)
    bound = max(0.1, float(steps[["delta_accuracy_lo", "delta_accuracy_hi"]].abs().max().max()))
    for ax, kind in zip(axes[0], kinds):
        rows = steps[steps.kind == kind]
        rows = rows.assign(column=[sci(freq_of[t]) if t in freq_of.index else "all" for t in rows.task],
                           order=[-freq_of.get(t, -1.0) for t in rows.task])
        columns = list(rows.sort_values("order").column.unique())
        conditions = list(dict.fromkeys(rows.condition))

        def pick(col: str, rows=rows, conditions=conditions, columns=columns) -> pd.DataFrame:
            return rows.pivot(index="condition", columns="column", values=col).loc[conditions, columns]

        annotated_heatmap(ax, pick("delta_accuracy"), lo=pick("delta_accuracy_lo"),
                          hi=pick("delta_accuracy_hi"), null=0.0, fmt="+.2f", cmap="RdBu_r",
                          norm=CenteredNorm(vcenter=0, halfrange=bound),
                          label="Δ accuracy (larger - smaller)")
        ax.set_title(f"{kind}: size steps, paired on the same items [Tango 95%]")
        ax.set_xlabel("copy (training frequency); all = copies pooled")
    fig.tight_layout()
    fig.legend(handles=[Patch(label="95% interval includes 0 (no detectable difference)",
                              **{**HATCH, "lw": 0.5})],
               loc="upper center", bbox_to_anchor=(0.5, 0.0), frameon=False)
    return plots.save(fig, out / "ladder_steps")


def ladder_trajectory(ladder: pd.DataFrame, out: Path) -> list[Path]:
    """Each copy's accuracy over one model's checkpoints, with Wilson bands and chance."""
    series = checkpoint_series(ladder)
    kinds = [k for k in KINDS if k in set(series.kind)] if not series.empty else []
    if not kinds:
        return []
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.2 * len(kinds), 3.6), squeeze=False)
    freqs = sorted(series.frequency.unique(), reverse=True)
    palette = dict(zip(freqs, sns.color_palette("rocket", len(freqs))))  # dark = frequent
    for ax, kind in zip(axes[0], kinds):
        rows = series[series.kind == kind]
        for freq, group in rows.groupby("frequency"):
            group = group.sort_values("step")
            lo, hi = wilson_bounds(group.accuracy, group.n)
            ax.fill_between(group.step, lo, hi, color=palette[freq], alpha=0.15, lw=0)
            ax.plot(group.step, group.accuracy, marker="o", ms=3, color=palette[freq],
                    label=sci(freq))
        ax.axhline(chance_of(rows.task.iloc[0]), color="grey", ls="--", lw=1, label="chance")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=0)
        ax.set_ylim(0, 1)
        ax.set_title(kind)
        ax.set_xlabel("training step")
        ax.set_ylabel("held-out accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, title="training frequency", loc="center left",
               bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle(f"Rare tasks over training: {series.base.iloc[0]} (bands: Wilson 95%)")
    fig.tight_layout()
    return plots.save(fig, out / "ladder_trajectory")


def recovery_figure(recovery: pd.DataFrame, ladder: Optional[pd.DataFrame], out: Path,
                    focus: str) -> list[Path]:
    """Accuracy over continued training per upsampling factor, against the base, chance and
    the largest ladder model at the original frequency."""
    rows = recovery.dropna(subset=["rare_accuracy"])
    models = list(rows.sort_values("parameters").model.unique())
    factors = sorted(rows.variant.unique())
    palette = dict(zip(factors, sns.color_palette("viridis", len(factors))))
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 3.8), sharey=True,
                             squeeze=False)
    reference = None
    if ladder is not None and C.reference_model(ladder, focus) is not None:
        name = C.reference_model(ladder, focus)
        reference = final_models(ladder).query("task == @focus and model == @name").iloc[0]
    for ax, model in zip(axes[0], models):
        mine = rows[rows.model == model]
        for factor in factors:
            group = mine[mine.variant == factor].sort_values("step")
            lo, hi = wilson_bounds(group.rare_accuracy, group.rare_n)
            ax.fill_between(group.step, lo, hi, color=palette[factor], alpha=0.15, lw=0)
            ax.plot(group.step, group.rare_accuracy, marker="o", ms=3, color=palette[factor],
                    label=f"x{factor:g}")
        start = mine[mine.step == 0].rare_accuracy.iloc[0]
        ax.axhline(start, color="black", ls=":", lw=1, label="base (before training)")
        ax.axhline(chance_of(focus), color="grey", ls="--", lw=1, label="chance")
        if reference is not None:
            ax.axhspan(reference.accuracy_lo, reference.accuracy_hi, color="0.6", alpha=0.2, lw=0)
            ax.axhline(reference.accuracy, color="black", ls="--", lw=1,
                       label=f"{reference.model.split('/')[-1]} at x1 (no extra training)")
        ax.set_ylim(0, 1)
        ax.set_title(model.split("/")[-1])
        ax.set_xlabel("continued-training step")
        ax.set_ylabel(f"{focus} held-out accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, title="upsampling", loc="center left", bbox_to_anchor=(1.0, 0.5),
               frameon=False)
    fig.suptitle("Recovery: upsampling the rare task in small models vs scaling up "
                 "(bands: Wilson 95%)")
    fig.tight_layout()
    return plots.save(fig, out / "recovery")
