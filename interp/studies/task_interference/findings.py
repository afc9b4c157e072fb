"""FINDINGS.md of the task-interference study (the README's generated block): every number a
reader sees, written from the run's tables as re-read from disk.

Rules (issue 19): accuracies carry Wilson intervals; a comparison with chance names the chance
level (``describe_vs_chance``); a difference is called one only when its paired interval
excludes 0 (``describe_difference``; losses: a t-interval over items), otherwise "no
detectable difference". Gradient cosines and Fisher overlaps are one number per rare task and
model: they are reported with their spread over rare tasks, and no trend is read into them.
"""

from __future__ import annotations

import pandas as pd

from interp.analysis.stats import accuracy_interval, describe_vs_chance
from interp.runs.files import markdown_table
from interp.studies.task_interference import comparisons as C
from interp.studies.task_interference.config import Config
from interp.studies.task_interference.controls import control_findings
from interp.studies.task_interference.facts import chance_of
from interp.studies.task_interference.paper import paper_findings
from interp.studies.task_interference.results import final_models
from interp.studies.task_interference.seeds import phase1_findings, seed_findings
from interp.studies.task_interference.training_findings import (
    forget_findings,
    gradient_findings,
    recovery_findings,
)
from interp.studies.task_interference.wording import (
    bracket,
    chance_label,
    describe_loss,
    say_difference,
    sci,
)

KIND_NAMES = {"comparison": "Comparison", "modadd": "Modular addition"}
ALPHA = 0.05  # the level at which "above chance" is called


def findings(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """The findings markdown of whichever experiments the tables hold.

    >>> findings({}, Config(models=("suite/pythia-s1",), experiments=("ladder",)))
    ''
    """
    parts = []
    if "ladder" in tables and "items" in tables:
        parts.append(ladder_findings(tables))
        if "seeds" in tables:
            parts.append(seed_findings(tables))
        parts.append(phase1_findings(tables))
    if "cosines" in tables:
        parts.append(gradient_findings(tables, config))
    if "forget" in tables and "items" in tables:
        parts.append(forget_findings(tables, config))
        parts.append(control_findings(tables, config.control_gap_of(),
                                      lambda m: C.label(tables["forget"], m)))
    if "recovery" in tables and "items" in tables:
        parts.append(recovery_findings(tables, config))
    if parts:
        parts.append(paper_findings(tables, config))
    return "\n\n".join(p for p in parts if p)


def ladder_items(items: pd.DataFrame, ladder: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The ladder's per-item rows of ``kind``'s copies in the final models."""
    tasks = set(ladder[ladder.kind == kind].task)
    rows = items[(items.experiment == "ladder") & items.task.isin(tasks)]
    return rows[rows.model.isin(set(ladder.model))]


def ladder_findings(tables: dict[str, pd.DataFrame]) -> str:
    """Accuracy per size and frequency, size steps, and accuracy against chance."""
    ladder = final_models(tables["ladder"])
    models = C.ordered_models(ladder)
    steps = C.size_steps(ladder, tables["items"])
    counts = ladder.groupby("kind").n.agg(["min", "max"])
    sizes = ", ".join(f"{r['min']}" + (f"-{r['max']}" if r["max"] != r["min"] else "")
                      + f" per {k} copy" for k, r in counts.iterrows())
    out = [f"**Frequency x size ladder.** Held-out accuracy on every test instance of each rare "
           f"copy (n = {sizes}), with Wilson 95% intervals; columns are the copies' training "
           "frequencies (phase-1 corpus rates), rows the model sizes; `all` pools a kind's copies "
           "(their mean). Size steps are paired on the same items (Tango interval, exact "
           "McNemar p)."]
    for kind in [k for k in ("comparison", "modadd") if k in set(ladder.kind)]:
        rows = ladder[ladder.kind == kind]
        out.append(f"{KIND_NAMES[kind]} ({chance_label(rows.task.iloc[0])}):\n\n"
                   + accuracy_grid(rows, ladder_items(tables["items"], ladder, kind), models))
        out.append(chance_sentence(rows, ladder_items(tables["items"], ladder, kind), models))
        kind_steps = steps[steps.kind == kind]
        if not kind_steps.empty:
            out.append(mean_step_sentence(kind_steps, kind))
            out.append(f"{KIND_NAMES[kind]}, size steps per copy (bold: the interval excludes "
                       "0):\n\n" + step_grid(kind_steps, rows) + "\n\n"
                       + copy_step_sentence(kind_steps))
    out.append(rarest_loss_sentence(ladder, tables["items"], models))
    return "\n\n".join(p for p in out if p)


def accuracy_grid(rows: pd.DataFrame, items: pd.DataFrame, models: list[str]) -> str:
    """Markdown: accuracy [Wilson] per size (rows) and copy frequency (columns), and pooled."""
    freqs = sorted(rows.frequency.unique(), reverse=True)
    grid = []
    for model in models:
        cells = {}
        for freq in freqs:
            r = rows[(rows.model == model) & (rows.frequency == freq)].iloc[0]
            cells[sci(freq)] = bracket(r.accuracy, r.accuracy_lo, r.accuracy_hi)
        pooled = accuracy_interval(items[items.model == model].correct.to_numpy())
        cells["all"] = bracket(pooled.estimate, pooled.lo, pooled.hi, ".3f")
        grid.append(pd.Series(cells, name=C.label(rows, model)))
    table = pd.DataFrame(grid)
    table.index.name = "size"
    return markdown_table(table)


def chance_sentence(rows: pd.DataFrame, items: pd.DataFrame, models: list[str]) -> str:
    """Which cells are above chance, and the rarest copy's cells against chance in full."""
    above = rows[rows.p_vs_chance < ALPHA]
    total = len(rows)
    freqs = sorted(rows.frequency.unique(), reverse=True)
    by_freq = "; ".join(
        f"{sci(f)}: " + (", ".join(C.label(rows, m) for m in models
                                   if m in set(above[above.frequency == f].model)) or "none")
        for f in freqs)
    text = (f"Above chance (one-sided exact binomial, p < {ALPHA:g}): {len(above)} of {total} "
            f"cells, by frequency {by_freq}. With {total} cells tested at {ALPHA:g}, about "
            f"{total * ALPHA:.1f} would pass by chance alone.")
    rarest = freqs[-1]
    task = rows[rows.frequency == rarest].task.iloc[0]
    detail = "; ".join(
        f"{C.label(rows, m)} "
        + describe_vs_chance(items[(items.model == m) & (items.task == task)].correct.to_numpy(),
                             chance_of(task))
        for m in models)
    if rows.kind.iloc[0] != "modadd":
        return text + f" At the rarest copy ({sci(rarest)}): {detail}."
    # Modular addition: the cells a reader would call learned, each against chance in full.
    cells = above if not above.empty else rows.loc[[rows.accuracy.idxmax()]]
    described = "; ".join(
        f"{C.label(rows, r.model)} at {sci(r.frequency)} "
        + describe_vs_chance(items[(items.model == r.model) & (items.task == r.task)]
                             .correct.to_numpy(), chance_of(r.task))
        for r in cells.itertuples())
    return text + (" Those cells: " if not above.empty else " The best cell: ") + described + "."


def mean_step_sentence(steps: pd.DataFrame, kind: str) -> str:
    """The pooled (mean over copies) size steps, each called a rise or fall only when its
    interval excludes 0."""
    pooled = steps[steps.task == C.pooled_name(kind)]
    listed = "; ".join(f"{r.condition} {say_difference(r)}"
                       for r in pooled.itertuples())
    consecutive = pooled.iloc[:-1] if len(pooled) > 2 else pooled
    ups = [r.condition + (" (borderline)" if r.mcnemar_p >= 0.05 else "")
           for r in consecutive.itertuples() if r.delta_accuracy_lo > 0]
    downs = [r.condition for r in consecutive.itertuples() if r.delta_accuracy_hi < 0]
    flat = [r.condition for r in consecutive.itertuples()
            if r.delta_accuracy_lo <= 0 <= r.delta_accuracy_hi]
    if len(ups) == len(consecutive):
        verdict = "the mean rises at every size step"
    else:
        verdict = ("the mean rises at " + (", ".join(ups) or "no size step")
                   + (f", falls at {', '.join(downs)}" if downs else "")
                   + (f"; no detectable difference at {', '.join(flat)}" if flat else ""))
    return f"{KIND_NAMES[kind]}, mean over the copies, size steps: {listed}. So {verdict}."


def step_grid(steps: pd.DataFrame, rows: pd.DataFrame) -> str:
    """Markdown: per-copy size-step differences [Tango], bold where the interval excludes 0."""
    freq_of = rows.drop_duplicates("task").set_index("task").frequency
    grid = {}
    for condition, group in steps.groupby("condition", sort=False):
        cells = {}
        for r in group.itertuples():
            text = bracket(r.delta_accuracy, r.delta_accuracy_lo, r.delta_accuracy_hi, signed=True)
            if r.delta_accuracy_lo > 0 or r.delta_accuracy_hi < 0:
                text = f"**{text}**"
            cells[sci(freq_of[r.task]) if r.task in freq_of.index else "all"] = text
        grid[condition] = cells
    table = pd.DataFrame(grid).T
    table.index.name = "step"
    return markdown_table(table)


def copy_step_sentence(steps: pd.DataFrame) -> str:
    """How many per-copy consecutive size steps have an interval that excludes 0."""
    conditions = list(dict.fromkeys(steps.condition))
    consecutive = conditions[:-1] if len(conditions) > 2 else conditions
    per_copy = steps[steps.condition.isin(consecutive) & ~steps.task.str.endswith("(all copies)")]
    up = int((per_copy.delta_accuracy_lo > 0).sum())
    down = int((per_copy.delta_accuracy_hi < 0).sum())
    return (f"Of the {len(per_copy)} per-copy steps between neighbouring sizes, {up} rise and "
            f"{down} fall with an interval that excludes 0; the other {len(per_copy) - up - down} "
            "show no detectable difference.")


def rarest_loss_sentence(ladder: pd.DataFrame, items: pd.DataFrame, models: list[str]) -> str:
    """The rarest comparison copy's answer loss per size, and smallest vs largest, paired."""
    comp = ladder[ladder.kind == "comparison"]
    if comp.empty or len(models) < 2:
        return ""
    task = comp.loc[comp.frequency.idxmin(), "task"]
    rows = comp[comp.task == task].set_index("model").loc[models]
    losses = ", ".join(f"{C.label(ladder, m)} {rows.loc[m, 'loss']:.1f}" for m in models)
    first, last = models[0], models[-1]
    diff = C.loss_difference(C.item_losses(items, experiment="ladder", model=last, task=task),
                             C.item_losses(items, experiment="ladder", model=first, task=task))
    return (f"The rarest comparison copy's answer loss (nats): {losses}; "
            f"{C.label(ladder, last)} vs {C.label(ladder, first)} {describe_loss(diff)}.")


#END
