"""Experiment 1: rare-task accuracy and loss of one model across the rare-task ladder (copies
of comparison and modular addition seen at log-spaced frequencies in training)."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
from torch import nn

from interp.analysis.stats import accuracy_interval, binomial_vs_chance
from interp.scoring import evaluate_items, summarize
from interp.studies.task_interference.facts import (
    RARE_TASK,
    chance_of,
    check_tasks,
    corpus_config,
    ladder_frequency,
    model_facts,
)
from interp.tasks.base import Task

CONDITION = "as trained"  # the ladder scores each model as it was trained: no intervention
ITEM_DECIMALS = 5  # per-item losses in items.csv.gz: enough to pair, compact to store


def ladder_cell(name: str, model: nn.Module, tasks: Sequence[Task], *,
                batch_size: int = 16) -> dict[str, pd.DataFrame]:
    """One model on the rare ladder tasks: ``rows`` (per task: n, accuracy with its Wilson
    interval, chance, one-sided p against chance, loss, frequency, size and step) and
    ``items`` (per instance: item, chosen, correct, loss).

    >>> import interp
    >>> m = interp.load_hf_model("suite/pythia-s1")
    >>> t = [interp.tasks.get_task("rare_comparison_0", n=8)]
    >>> cell = ladder_cell("suite/pythia-s1", m, t)
    >>> list(cell["rows"].columns)[:6], len(cell["items"])
    (['model', 'base', 'family', 'size', 'parameters', 'step'], 8)
    >>> bool((cell["rows"].accuracy_lo <= cell["rows"].accuracy).all())
    True
    """
    check_tasks(tasks, "rare tasks")
    config = corpus_config(name)
    items = evaluate_items(model, list(tasks), name=name, condition=CONDITION,
                           batch_size=batch_size, progress=False)
    rows = summarize(items)
    intervals = [accuracy_interval(g.correct.to_numpy()) for _, g in items.groupby("task", sort=False)]
    chances = [chance_of(t) for t in rows.task]
    kinds = [RARE_TASK.fullmatch(t) for t in rows.task]
    rows = rows.assign(
        accuracy_lo=[iv.lo for iv in intervals], accuracy_hi=[iv.hi for iv in intervals],
        chance=chances,
        p_vs_chance=[binomial_vs_chance(g.correct.to_numpy(), c)
                     for (_, g), c in zip(items.groupby("task", sort=False), chances)],
        kind=[m.group(1) if m else "" for m in kinds],
        copy=[int(m.group(2)) if m else -1 for m in kinds],
        frequency=[ladder_frequency(t, config) for t in rows.task],
    )
    facts = model_facts(name, model)
    rows = pd.DataFrame([{**facts, **r} for r in rows.drop(columns="model").to_dict("records")])
    return dict(rows=rows, items=items.assign(loss=items.loss.round(ITEM_DECIMALS)))
