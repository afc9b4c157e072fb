"""Experiment 1: rare-task accuracy and loss of one model across the rare-task ladder (copies
of comparison and modular addition seen at log-spaced frequencies in training)."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
from torch import nn

from interp.scoring import evaluate
from interp.studies.task_interference.facts import (
    RARE_TASK,
    check_tasks,
    corpus_config,
    ladder_frequency,
    model_facts,
)
from interp.tasks.base import Task


def ladder_rows(name: str, model: nn.Module, tasks: Sequence[Task], *,
                batch_size: int = 16) -> pd.DataFrame:
    """Accuracy and loss of one model on rare ladder tasks, with frequency, size and step.

    >>> import interp
    >>> m = interp.load_hf_model("suite/pythia-s1")
    >>> t = [interp.tasks.get_task("rare_comparison_0", n=8)]
    >>> list(ladder_rows("suite/pythia-s1", m, t).columns)[:6]
    ['model', 'base', 'family', 'size', 'parameters', 'step']
    """
    check_tasks(tasks, "rare tasks")
    config = corpus_config(name)
    rows = evaluate(model, list(tasks), name=name, batch_size=batch_size, progress=False)
    facts = model_facts(name, model)
    kinds = [RARE_TASK.fullmatch(t) for t in rows.task]
    rows = rows.assign(
        kind=[m.group(1) if m else "" for m in kinds],
        copy=[int(m.group(2)) if m else -1 for m in kinds],
        frequency=[ladder_frequency(t, config) for t in rows.task],
    )
    return pd.DataFrame([{**facts, **r} for r in rows.drop(columns="model").to_dict("records")])
