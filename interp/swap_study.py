"""The attention-swap study's experiment plan: which cells to compute, and their figures.

``studies/attention_swap.py`` is its CLI. Every cell (recipient, donor, condition, layers,
alpha, task) is computed once through ``interp.swap.PatternSwap`` and cached by
``interp.results.ResultCache``; deltas are against the recipient's own run through the same
eager path, so the self-swap control must give exactly zero change (asserted).
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

import interp
from interp.arch import family_of
from interp.scoring import evaluate
from interp.params import parameter_count
from interp.runs.cache import ResultCache
from interp.analysis.scaling import chance_accuracy
from interp.tasks import get_task, load_mmlu_csv, load_qqp_tsv
from interp.tasks.base import Task

CALIBRATION_PROMPTS = 32  # prompts of the task joined into the sequence head maps are fit on
RESULT_COLUMNS = ["recipient", "donor", "condition", "layers", "alpha", "task", "n", "accuracy",
                  "loss", "delta_accuracy", "delta_accuracy_ci95", "delta_loss"]


def build_tasks(names: list[str], *, n: int, seed: int, mmlu: Optional[Path] = None,
                qqp: Optional[Path] = None) -> list[Task]:
    """Tasks by name, plus MMLU / GLUE QQP from local files when given.

    >>> [t.name for t in build_tasks(["arithmetic_add"], n=5, seed=0)]
    ['arithmetic_add']
    """
    tasks = [get_task(name, n=n, seed=seed) for name in names]
    if mmlu is not None:
        full = load_mmlu_csv(mmlu)
        tasks.append(Task(full.name, full.kind, full.scoring, full.examples[:n]))
    if qqp is not None:
        full = load_qqp_tsv(qqp)
        tasks.append(Task(full.name, full.kind, full.scoring, full.examples[:n]))
    if not tasks:
        raise ValueError("no tasks: pass --tasks, --mmlu or --qqp")
    return tasks


@dataclass
class ModelPool:
    """Loads each named model once (self-test included) and remembers it."""

    device: Optional[str] = None
    dtype: Optional[str] = None
    loaded: dict[str, Any] = field(default_factory=dict)

    def __call__(self, name: str):
        if name not in self.loaded:
            self.loaded[name] = interp.load_model(name, device=self.device, dtype=self.dtype)
        return self.loaded[name]

    def family(self, name: str) -> str:
        return family_of(self(name))

    def parameters(self, name: str) -> int:
        return parameter_count(self(name))


@dataclass
class Sweep:
    """Computes (or reuses) result cells; each method returns tidy rows."""

    models: ModelPool
    tasks: list[Task]
    cache: ResultCache
    batch_size: int = 16
    seed: int = 0
    heads: str = "match"

    def _cell(self, task: Task, *, recipient: str, donor: str, condition: str, layers="all",
              alpha: float = 1.0, control: Optional[str] = None, swap_layers=None) -> pd.DataFrame:
        from interp.interventions.pattern_swap import PatternSwap, calibration_tokens

        key = dict(study="attention_swap", v=3, recipient=recipient, donor=donor, condition=condition,
                   weights=[interp.fingerprint(recipient), interp.fingerprint(donor)],
                   layers=str(layers), alpha=alpha, heads=self.heads, task=task.name,
                   n=len(task), seed=self.seed, control=control)

        def compute() -> pd.DataFrame:
            if condition == "base":
                engine = PatternSwap.base(self.models(recipient))
            else:
                engine = PatternSwap(
                    self.models(recipient), None if donor == recipient else self.models(donor),
                    layers=swap_layers, alpha=alpha, heads=self.heads, control=control,
                    seed=self.seed,
                )
                # One head map per (recipient, donor, task), not one per batch: results must
                # not depend on how evaluate batches the examples.
                n_ctx = engine.recipient_model.config.max_position_embeddings
                engine.match_heads_on(calibration_tokens(
                    engine.tokenizer, [e.prompt for e in task.examples[:CALIBRATION_PROMPTS]],
                    min(n_ctx, 512)).to(next(engine.recipient_model.parameters()).device))
            rows = evaluate(engine, [task], condition=condition, name=recipient,
                            batch_size=self.batch_size)
            return rows.assign(donor=donor, layers=str(layers), alpha=alpha)

        return self.cache.get(key, compute)

    def _each_task(self, **cell) -> pd.DataFrame:
        return pd.concat([self._cell(t, **cell) for t in self.tasks], ignore_index=True)

    def base(self, recipient: str) -> pd.DataFrame:
        """The recipient on its own patterns, through the swap engine's eager path."""
        return self._each_task(recipient=recipient, donor=recipient, condition="base", alpha=0.0,
                               layers="none")

    def scaling(self, ladder: list[str]) -> pd.DataFrame:
        """Base accuracy and loss of every model in the ladder, with size and family."""
        frames = []
        for name in ladder:
            rows = self.base(name)
            rows = rows.assign(family=self.models.family(name),
                               parameters=self.models.parameters(name))
            frames.append(rows)
        table = pd.concat(frames, ignore_index=True)
        chance = {t.name: chance_accuracy(t) for t in self.tasks}
        return table.assign(chance=table.task.map(chance))

    def controls(self, recipient: str) -> pd.DataFrame:
        """Self-swap (same input), another input's patterns, uniform, head-shuffled."""
        frames = [self.base(recipient)]
        for control in ("self", "other_input", "uniform", "shuffle_heads"):
            frames.append(self._each_task(
                recipient=recipient, donor=recipient, condition=f"control:{control}",
                control=None if control == "self" else control))
        return pd.concat(frames, ignore_index=True)

    def swap(self, recipient: str, donor: str, kind: str) -> pd.DataFrame:
        return self._each_task(recipient=recipient, donor=donor, condition=f"swap:{kind}")

    def alpha_curve(self, recipient: str, donor: str, alphas: list[float]) -> pd.DataFrame:
        return pd.concat([self._each_task(recipient=recipient, donor=donor, condition="alpha",
                                          alpha=a) for a in alphas], ignore_index=True)

    def layer_sweeps(self, recipient: str, donor: str) -> pd.DataFrame:
        """Single-layer swaps, and cumulative swaps from the bottom and from the top."""
        n_layers = self.models(recipient).cfg.n_layers
        frames = []
        for layer in range(n_layers):
            frames.append(self._each_task(recipient=recipient, donor=donor, condition="layer",
                                          layers=layer, swap_layers=[layer]))
        for k in range(1, n_layers + 1):
            bottom, top = list(range(k)), list(range(n_layers - k, n_layers))
            frames.append(self._each_task(recipient=recipient, donor=donor, condition="bottom-up",
                                          layers=k, swap_layers=bottom))
            frames.append(self._each_task(recipient=recipient, donor=donor, condition="top-down",
                                          layers=k, swap_layers=top))
        return pd.concat(frames, ignore_index=True)


def with_deltas(results: pd.DataFrame, sweep: Sweep) -> pd.DataFrame:
    """Add delta_accuracy / delta_loss against each recipient's base, per task."""
    table = results.rename(columns={"model": "recipient"})
    base = pd.concat([sweep.base(r) for r in table.recipient.unique()])
    base = base.rename(columns={"model": "recipient"}).set_index(["recipient", "task"])
    base = base[["accuracy", "loss"]]
    table = table.drop_duplicates(
        subset=["recipient", "donor", "condition", "layers", "alpha", "task"])
    joined = table.join(base, on=["recipient", "task"], rsuffix="_base")
    joined["delta_accuracy"] = joined.accuracy - joined.accuracy_base
    joined["delta_accuracy_ci95"] = delta_ci95(joined.accuracy, joined.accuracy_base, joined.n)
    joined["delta_loss"] = joined.loss - joined.loss_base
    return joined[RESULT_COLUMNS].reset_index(drop=True)


def delta_ci95(accuracy, accuracy_base, n):
    """Half-width of a 95% interval on a difference of two accuracies over ``n`` examples each.

    Normal approximation that treats the two runs as independent samples. Both runs score the
    same examples, and the two conditions are positively correlated, so the interval is
    conservative (wider than a paired one).

    >>> round(float(delta_ci95(0.5, 0.5, 100)), 3)
    0.139
    """
    accuracy, accuracy_base, n = (np.asarray(x, dtype=float) for x in (accuracy, accuracy_base, n))
    return 1.96 * np.sqrt((accuracy * (1 - accuracy) + accuracy_base * (1 - accuracy_base)) / n)


def assert_self_swap_is_exact(results: pd.DataFrame) -> None:
    """The self-swap on the same input must change nothing, to the last bit."""
    selfswap = results[results.condition == "control:self"]
    if selfswap.empty:
        return
    worst = selfswap[["delta_accuracy", "delta_loss"]].abs().to_numpy().max()
    if worst != 0.0:
        raise AssertionError(f"self-swap changed a result by {worst}: the swap path is not exact")


def draw_figures(results: pd.DataFrame, scaling: pd.DataFrame, out: Path) -> list[Path]:
    """Scaling curves, the swap heatmap with controls, per-layer sensitivity, alpha curves."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    from interp.runs import plots

    plots.use_style()
    written: list[Path] = []

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        sns.lineplot(scaling, x="parameters", y=metric, hue="task", style="family", markers=True,
                     dashes=True, ax=ax)
        ax.set_xscale("log")
    ax_loss.set_ylabel("answer loss (nats/token)")
    ax_acc.set_ylabel("accuracy")
    ax_loss.get_legend().remove()
    fig.suptitle("Scaling view: does accuracy move with loss?")
    written += plots.save(fig, out / "scaling")

    shown = results[results.condition.str.startswith(("swap:", "control:"))].copy()
    shown["row"] = shown.apply(
        lambda r: f"{r.recipient} <- {r.donor}  [{r.condition}]" if r.condition.startswith("swap:")
        else f"{r.recipient}  [{r.condition}]", axis=1)
    grid = shown.pivot_table(index="row", columns="task", values="delta_accuracy", sort=False)
    fig, ax = plt.subplots(figsize=(2.2 + 1.4 * grid.shape[1], 0.9 + 0.38 * grid.shape[0]))
    sns.heatmap(grid, annot=True, fmt="+.2f", center=0, cmap="RdBu", vmin=-1, vmax=1, ax=ax,
                cbar_kws={"label": "Δ accuracy vs own patterns"})
    ax.set_ylabel("")
    ax.set_title("Swaps and controls")
    written += plots.save(fig, out / "swap_heatmap")

    layers = results[results.condition.isin(["layer", "bottom-up", "top-down"])].copy()
    if not layers.empty:
        layers["layers"] = layers["layers"].astype(int)
        grid_plot = sns.relplot(layers, x="layers", y="delta_accuracy", hue="task",
                                col="condition", kind="line", marker="o", height=3.2, aspect=1.1)
        grid_plot.set_axis_labels("layer (single) / number of layers swapped", "Δ accuracy")
        for ax in grid_plot.axes.flat:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        grid_plot.figure.suptitle(f"Per-layer sensitivity: {layers.recipient.iloc[0]} <- {layers.donor.iloc[0]}", y=1.04)
        written += plots.save(grid_plot.figure, out / "layer_sensitivity")

    alpha = results[results.condition == "alpha"]
    if not alpha.empty:
        fig, ax = plt.subplots(figsize=(5, 3.6))
        sns.lineplot(alpha, x="alpha", y="accuracy", hue="task", marker="o", ax=ax)
        ax.set_xlabel("α  (pattern = (1-α)·own + α·donor)")
        ax.set_title(f"{alpha.recipient.iloc[0]} <- {alpha.donor.iloc[0]}")
        written += plots.save(fig, out / "alpha_curves")
    return written


def summary(results: pd.DataFrame, gap: pd.DataFrame) -> str:
    """A short text table: mean Δaccuracy per condition, and the gap per family and task."""
    by = results[results.condition.str.startswith(("swap:", "control:"))]
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


def run_record(args, *, pairs, ladder, gap: pd.DataFrame, seconds: float, cells: dict) -> str:
    """results.json: the run's configuration, versions and timing."""
    import torch
    import transformer_lens
    import transformers

    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    record = dict(
        study="attention_swap", config=config, ladder=ladder,
        pairs=[dict(recipient=r, donor=d, kind=k) for r, d, k in pairs],
        confidence_competence=gap.to_dict("records"), seconds=round(seconds, 1), cells=cells,
        versions=dict(python=platform.python_version(), torch=torch.__version__,
                      transformers=transformers.__version__,
                      transformer_lens=getattr(transformer_lens, "__version__", "unknown")),
    )
    return json.dumps(record, indent=2, default=str) + "\n"
