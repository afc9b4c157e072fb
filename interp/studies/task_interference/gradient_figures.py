"""The study's gradient and training-loss figures: gradient_cosines_groups,
gradient_cosines_size, token_split, fisher_overlap (experiment 2); update_forget,
forgetting_summary (3). None shows an accuracy; cosine maps diverge from 0, the gap gets an
ordered palette, and legends sit outside the axes. Bands are ±1 sd (spreads over rare tasks,
batches or injections: no interval is claimed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from interp.runs import plots
from interp.studies.task_interference.results import checkpoint_series, final_models


def _by_size(table: pd.DataFrame) -> list[str]:
    return list(table.sort_values("parameters").model.unique())


def legend_outside(fig: plt.Figure, axes, title: Optional[str] = None) -> None:
    """One legend for the figure, right of its axes (off the data); the axes' own removed."""
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if handles:
        fig.legend(handles, labels, title=title, loc="center left", bbox_to_anchor=(1.0, 0.5),
                   frameon=False)


def _group_kind(group: str) -> str:
    return group.split(".")[-1]


def cosine_figures(cosines: pd.DataFrame, out: Path) -> list[Path]:
    written = []
    final = final_models(cosines).copy()
    final["kind"] = final.group.map(_group_kind)
    order = [k for k in ("embed", "attn_qkv", "attn_out", "mlp_in", "mlp_out", "all")
             if k in set(final.kind)]
    refs = [r for r in ("frequent", "mixture") if r in set(final.reference)]
    height = 1.8 + 0.6 * final.model.nunique()
    fig, axes = plt.subplots(1, len(refs), figsize=(6.8 * len(refs), height), squeeze=False)
    for ax, ref in zip(axes[0], refs):
        rows = final[final.reference == ref]
        grid = rows.pivot_table(index="model", columns="kind", values="cosine", aggfunc="mean")
        grid = grid.loc[_by_size(rows), order]
        grid.index = [m.replace("suite/", "") for m in grid.index]
        sns.heatmap(grid, annot=True, fmt="+.3f", center=0, cmap="RdBu_r", ax=ax,
                    annot_kws={"fontsize": 8},
                    cbar_kws={"label": "cosine (mean over rare tasks and layers)"})
        ax.set_title(f"rare-task gradient vs {ref} gradient")
        ax.set_xlabel("parameter group")
        ax.set_ylabel("")
    fig.tight_layout()
    written += plots.save(fig, out / "gradient_cosines_groups")

    fig = _size_and_training(cosines[cosines.group == "all"], hue="reference",
                             ylabel="cos(rare-task gradient, reference)")
    if fig is not None:
        written += plots.save(fig, out / "gradient_cosines_size")
    return written


def _size_and_training(every: pd.DataFrame, *, hue: str, ylabel: str,
                       hue_order: Optional[list[str]] = None) -> Optional[plt.Figure]:
    """Cosines against size (final models) and over training (checkpoints), one panel each
    where the data vary; None when neither does."""
    panels = [("parameters", final_models(every)), ("step", checkpoint_series(every))]
    panels = [(x, rows) for x, rows in panels if not rows.empty and rows[x].nunique() > 1]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 3.8), squeeze=False)
    for ax, (x, rows) in zip(axes[0], panels):
        sns.lineplot(rows, x=x, y="cosine", hue=hue, marker="o", errorbar="sd", ax=ax,
                     hue_order=hue_order)
        if x == "parameters":
            ax.set_xscale("log")
        else:
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(left=0)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylabel(ylabel)
        ax.set_title("against size" if x == "parameters" else f"over training ({rows.base.iloc[0]})")
    fig.tight_layout()
    legend_outside(fig, list(axes[0]), title=hue)
    return fig


def split_figure(split: pd.DataFrame, out: Path) -> list[Path]:
    fig = _size_and_training(split[split.group == "all"], hue="part",
                             ylabel="cosine to the rare-task direction g_r",
                             hue_order=["batch", "task_tokens", "other_tokens"])
    if fig is None:
        return []
    fig.suptitle("A mixed batch's gradient g = g_task + g_other, each against g_r")
    return plots.save(fig, out / "token_split")


def fisher_figure(fisher: pd.DataFrame, out: Path) -> list[Path]:
    every = final_models(fisher[fisher.group == "all"])
    if every.empty:
        return []
    long = every.melt(id_vars=["parameters", "rare_task"],
                      value_vars=["jaccard", "chance_jaccard", "weighted_overlap"],
                      var_name="measure", value_name="overlap")
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    sns.lineplot(long, x="parameters", y="overlap", hue="measure", marker="o", errorbar="sd", ax=ax)
    ax.set_xscale("log")
    ax.set_title(f"Top-{every.top_fraction.iloc[0]:.0%} Fisher parameters: rare vs frequent tasks")
    legend_outside(fig, [ax], title="measure (±1 sd)")
    return plots.save(fig, out / "fisher_overlap")


def forget_figures(forget: pd.DataFrame, injections: Optional[pd.DataFrame], out: Path,
                   focus: str) -> list[Path]:
    """update_forget, and forgetting_summary when there are injections."""
    written = update_forget_figure(forget, out, focus)
    if injections is not None and not injections.empty:
        written += forgetting_summary_figure(injections, out)
    return written


def update_forget_figure(forget: pd.DataFrame, out: Path, focus: str) -> list[Path]:
    """Rare loss after every step, one panel per model (rows) and gap (columns); the controls
    (``freeze``, ``rare_only``) dashed in their gap's panel."""
    controls = forget[forget.control != "none"] if "control" in forget else forget.iloc[:0]
    forget = forget[forget.control == "none"] if "control" in forget else forget
    models = _by_size(forget)
    variants = sorted(forget.variant.unique())
    fig, axes = plt.subplots(len(models), len(variants), sharex=True, sharey="row",
                             figsize=(3.2 * len(variants), 2.4 * len(models)), squeeze=False)
    for r, model in enumerate(models):
        for c, variant in enumerate(variants):
            ax = axes[r, c]
            rows = forget[(forget.model == model) & (forget.variant == variant)].dropna(
                subset=["rare_loss"])
            ax.plot(rows.step, rows.rare_loss, lw=1.2, label="full run")
            mine = controls[(controls.model == model) & (controls.variant == variant)]
            for (name, group), style in zip(mine.groupby("control"), ("--", ":")):
                group = group.dropna(subset=["rare_loss"])
                ax.plot(group.step, group.rare_loss, style, lw=1.1, label=name)
            if len(mine) and r == 0:
                ax.legend(fontsize=7)
            injected = rows[rows.injected > 0].step - 1  # the batch index that carried blocks
            if len(injected):
                low = rows.rare_loss.min()
                ax.plot(injected, [low] * len(injected), "|", color="crimson", ms=8,
                        label="injection")
            ax.set_title(f"{model.split('/')[-1]}, " + ("no injection" if variant == 0 else
                                                        f"{variant} every {variant}"))
            if c == 0:
                ax.set_ylabel(f"{focus} loss")
            if r == len(models) - 1:
                ax.set_xlabel("continued-training step")
    fig.suptitle("Update and forget: rare-task loss after every step (red ticks: injections; "
                 "dashed/dotted: controls)")
    fig.tight_layout()
    return plots.save(fig, out / "update_forget")


def forgetting_summary_figure(injections: pd.DataFrame, out: Path) -> list[Path]:
    """Drop, share kept and half-life per injection, per model, coloured by gap (ordered);
    the gap runs only, not their controls."""
    if "control" in injections:
        injections = injections[injections.control == "none"]
    shown = injections.sort_values(["parameters", "variant"]).assign(
        model=lambda t: t.model.str.replace("suite/", "", regex=False),
        variant=lambda t: [f"{v} every {v}" for v in t.variant])
    order = list(dict.fromkeys(shown.variant))  # sorted by gap: an ordered variable
    palette = dict(zip(order, sns.color_palette("crest", len(order))))  # light = small gap
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    drawn = []
    for ax, (metric, title) in zip(axes, (
            ("drop", "rare-loss drop per injection (nats)"),
            ("kept", "share of the drop kept at the next injection"),
            ("half_life", "half-life of the gain, steps (uncensored only)"))):
        rows = shown.dropna(subset=[metric])
        if rows.empty:
            ax.set_visible(False)
            continue
        dodge = 0.3 if rows.variant.nunique() > 1 else False  # seaborn divides by levels - 1
        sns.pointplot(rows, x="model", y=metric, hue="variant", errorbar="sd", dodge=dodge,
                      ax=ax, order=list(dict.fromkeys(shown.model)), hue_order=order,
                      palette=palette)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("")
        drawn.append(ax)
    fig.tight_layout()
    legend_outside(fig, drawn, title="gap (±1 sd)")
    return plots.save(fig, out / "forgetting_summary")
