"""The study's figures, each drawn from the run's tables only (PNG and PDF into config.out).

ladder_heatmap, ladder_trajectory (experiment 1); gradient_cosines_groups,
gradient_cosines_size, token_split, fisher_overlap (2); update_forget, forgetting_summary (3);
recovery (4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from interp.runs import plots
from interp.studies.task_interference.config import Config
from interp.studies.task_interference.results import checkpoint_series, final_models


def figures(tables: dict[str, pd.DataFrame], config: Config) -> list[Path]:
    """Every figure the run has data for, into ``config.out``; returns the files written
    (PNG and PDF)."""
    out, focus = config.out, config.focus_task
    plots.use_style()
    written: list[Path] = []
    if "ladder" in tables:
        written += _ladder_figures(tables["ladder"], out)
    if "cosines" in tables:
        written += _cosine_figures(tables["cosines"], out)
    if "token_split" in tables:
        written += _split_figure(tables["token_split"], out)
    if "fisher" in tables:
        written += _fisher_figure(tables["fisher"], out)
    if "forget" in tables:
        written += _forget_figures(tables["forget"], tables.get("injections"), out, focus)
    if "recovery" in tables:
        written += _recovery_figure(tables["recovery"], tables.get("ladder"), out, focus)
    return written


def _by_size(table: pd.DataFrame) -> list[str]:
    return list(table.sort_values("parameters").model.unique())


def _ladder_figures(ladder: pd.DataFrame, out: Path) -> list[Path]:
    written = []
    final = final_models(ladder)
    kinds = [k for k in ("comparison", "modadd") if k in set(final.kind)]
    if final.empty or not kinds:
        return written
    final = final.assign(model=final.model.str.replace("suite/", "", regex=False))
    height = 2.4 + 1.1 * final.model.nunique()
    fig, axes = plt.subplots(2, len(kinds), figsize=(5.6 * len(kinds), height), squeeze=False)
    for col, kind in enumerate(kinds):
        rows = final[final.kind == kind]
        for row, (metric, cmap) in enumerate((("accuracy", "viridis"), ("loss", "magma_r"))):
            grid = rows.pivot_table(index="model", columns="frequency", values=metric)
            grid = grid.loc[_by_size(rows), sorted(grid.columns, reverse=True)]
            grid.columns = [f"{f:.0e}" for f in grid.columns]
            sns.heatmap(grid, annot=True, fmt=".2f", cmap=cmap, ax=axes[row, col],
                        cbar_kws={"label": metric})
            axes[row, col].set_title(f"{kind}: {metric}")
            axes[row, col].set_xlabel("training frequency (fraction of sequences)")
            axes[row, col].set_ylabel("")
    fig.suptitle("Rare-task ladder: frequency x size (held-out instances)")
    fig.tight_layout()
    written += plots.save(fig, out / "ladder_heatmap")

    series = checkpoint_series(ladder)
    if not series.empty:
        series = series[series.kind.isin(kinds)].copy()
        series["frequency"] = [f"{f:.0e}" for f in series.frequency]
        grid_plot = sns.relplot(series, x="step", y="accuracy", hue="frequency", col="kind",
                                kind="line", marker="o", height=3.2, aspect=1.2,
                                facet_kws=dict(sharey=False))
        for ax in grid_plot.axes.flat:
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(left=0)
        grid_plot.set_axis_labels("training step", "held-out accuracy")
        grid_plot.figure.suptitle(f"Rare tasks over training: {series.base.iloc[0]}", y=1.04)
        written += plots.save(grid_plot.figure, out / "ladder_trajectory")
    return written


def _group_kind(group: str) -> str:
    return group.split(".")[-1]


def _cosine_figures(cosines: pd.DataFrame, out: Path) -> list[Path]:
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
    return fig


def _split_figure(split: pd.DataFrame, out: Path) -> list[Path]:
    fig = _size_and_training(split[split.group == "all"], hue="part",
                             ylabel="cosine to the rare-task direction g_r",
                             hue_order=["batch", "task_tokens", "other_tokens"])
    if fig is None:
        return []
    fig.suptitle("A mixed batch's gradient g = g_task + g_other, each against g_r")
    return plots.save(fig, out / "token_split")


def _fisher_figure(fisher: pd.DataFrame, out: Path) -> list[Path]:
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
    return plots.save(fig, out / "fisher_overlap")


def _forget_figures(forget: pd.DataFrame, injections: Optional[pd.DataFrame], out: Path,
                    focus: str) -> list[Path]:
    written = []
    models = _by_size(forget)
    variants = sorted(forget.variant.unique())
    fig, axes = plt.subplots(len(models), len(variants), sharex=True, sharey="row",
                             figsize=(3.2 * len(variants), 2.4 * len(models)), squeeze=False)
    for r, model in enumerate(models):
        for c, variant in enumerate(variants):
            ax = axes[r, c]
            rows = forget[(forget.model == model) & (forget.variant == variant)].dropna(
                subset=["rare_loss"])
            ax.plot(rows.step, rows.rare_loss, lw=1.2)
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
    fig.suptitle("Update and forget: rare-task loss after every step (red ticks: injections)")
    written += plots.save(fig, out / "update_forget")

    if injections is not None and not injections.empty:
        shown = injections.sort_values(["parameters", "variant"]).assign(
            model=lambda t: t.model.str.replace("suite/", "", regex=False),
            variant=lambda t: [f"{v} every {v}" for v in t.variant])
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
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
                          ax=ax, order=list(dict.fromkeys(shown.model)))
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_title(title)
            ax.set_xlabel("")
        fig.tight_layout()
        written += plots.save(fig, out / "forgetting_summary")
    return written


def _recovery_figure(recovery: pd.DataFrame, ladder: Optional[pd.DataFrame], out: Path,
                     focus: str) -> list[Path]:
    rows = recovery.dropna(subset=["rare_accuracy"]).copy()
    rows["upsampling"] = [f"x{v:g}" for v in rows.variant]
    models = _by_size(rows)
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 3.8), sharey=True,
                             squeeze=False)
    reference = None
    if ladder is not None:
        final = final_models(ladder)
        final = final[final.task == focus]
        if not final.empty:
            reference = final.sort_values("parameters").iloc[-1]
    for ax, model in zip(axes[0], models):
        sns.lineplot(rows[rows.model == model], x="step", y="rare_accuracy", hue="upsampling",
                     marker="o", ms=3, ax=ax, palette="viridis")
        if reference is not None:
            ax.axhline(reference.accuracy, color="black", ls="--", lw=1,
                       label=f"{reference.model.split('/')[-1]} at x1 (no extra training)")
        ax.set_title(model)
        ax.set_xlabel("continued-training step")
        ax.set_ylabel(f"{focus} held-out accuracy")
        ax.legend(fontsize=7)
    fig.suptitle("Recovery: upsampling the rare task in small models vs scaling up")
    return plots.save(fig, out / "recovery")
