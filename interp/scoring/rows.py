"""Tidy rows from scored tasks: per example (``evaluate_items``) and per task (``evaluate``).

The per-example rows are what a paired comparison needs: two conditions scored on the same
items line up by ``item`` (``item_id`` of the example), so a difference between them can get a
paired interval (``interp.analysis.stats``).
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Union

import pandas as pd

from interp.scoring.engine import HookSpec, model_name, score_task
from interp.tasks import get_task
from interp.tasks.base import Task

COLUMNS = ["model", "task", "condition", "n", "accuracy", "loss"]
# One row per scored example: what a paired comparison of two conditions needs.
ITEM_COLUMNS = ["model", "task", "condition", "item", "chosen", "correct", "loss"]


def _as_tasks(tasks: Union[Task, str, Iterable[Union[Task, str]]]) -> list[Task]:

    if isinstance(tasks, (Task, str)):
        tasks = [tasks]
    resolved = [get_task(t) if isinstance(t, str) else t for t in tasks]
    if not resolved:
        raise ValueError("no tasks to evaluate: pass at least one Task or task name")
    return resolved


def hooks_label(fwd_hooks: HookSpec) -> str:
    """The condition ``evaluate`` writes for hooked rows when none is given.

    >>> hooks_label([("blocks.0.attn.hook_pattern", None), ("blocks.1.attn.hook_pattern", None)])
    'hooks: blocks.0.attn.hook_pattern, blocks.1.attn.hook_pattern'
    >>> def donor_patterns(tokens): ...
    >>> hooks_label(donor_patterns)
    'hooks: donor_patterns'
    >>> hooks_label(())
    'base'
    """
    if callable(fwd_hooks):
        return f"hooks: {_callable_name(fwd_hooks)}"
    if not fwd_hooks:
        return "base"
    names = [point if isinstance(point, str) else _callable_name(point) for point, _ in fwd_hooks]
    return "hooks: " + ", ".join(names)


def _callable_name(fn: Any) -> str:
    fn = getattr(fn, "func", fn)  # functools.partial
    return getattr(fn, "__name__", None) or type(fn).__name__


def evaluate_items(
    model: Any,
    tasks: Union[Task, str, Iterable[Union[Task, str]]],
    *,
    fwd_hooks: HookSpec = (),
    condition: Optional[str] = None,
    batch_size: int = 16,
    name: Optional[str] = None,
    progress: Optional[bool] = None,
) -> pd.DataFrame:
    """Per-example rows (model, task, condition, item, chosen, correct, loss): what
    ``evaluate`` summarises, kept so that two conditions can be compared item by item.

    Takes the same arguments as ``evaluate``; ``item`` is ``item_id`` of the example.

    >>> import interp
    >>> model = interp.load_model("suite/pythia-s1")
    >>> items = evaluate_items(model, interp.get_task("knowledge_mc", n=4))
    >>> list(items.columns) == ITEM_COLUMNS, len(items), items.item.is_unique
    (True, 4, True)
    >>> set(items.chosen) <= {" A", " B", " C", " D"}
    True
    """
    label = name or model_name(model)
    if condition is None:
        condition = hooks_label(fwd_hooks)
    frames = []
    for task in _as_tasks(tasks):
        score = score_task(
            model, task, fwd_hooks=fwd_hooks, batch_size=batch_size, progress=progress
        )
        frames.append(pd.DataFrame(dict(
            model=label, task=task.name, condition=condition, item=list(score.items),
            chosen=list(score.chosen), correct=score.correct, loss=score.loss)))
    return pd.concat(frames, ignore_index=True)[ITEM_COLUMNS]


def summarize(items: pd.DataFrame) -> pd.DataFrame:
    """The tidy ``evaluate`` rows (model, task, condition, n, accuracy, loss) of per-item rows.

    >>> items = pd.DataFrame(dict(model="m", task="t", condition="base", item=["a", "b"],
    ...                           chosen=" A", correct=[True, False], loss=[0.5, 1.5]))
    >>> row = summarize(items).iloc[0]
    >>> int(row.n), float(row.accuracy), float(row.loss)
    (2, 0.5, 1.0)
    """
    groups = items.groupby(["model", "task", "condition"], sort=False)
    rows = groups.agg(n=("item", "size"), accuracy=("correct", "mean"), loss=("loss", "mean"))
    rows = rows.reset_index()
    rows["accuracy"] = rows.accuracy.astype(float)
    return rows[COLUMNS]


def evaluate(
    model: Any,
    tasks: Union[Task, str, Iterable[Union[Task, str]]],
    *,
    fwd_hooks: HookSpec = (),
    condition: Optional[str] = None,
    batch_size: int = 16,
    name: Optional[str] = None,
    progress: Optional[bool] = None,
) -> pd.DataFrame:
    """Tidy rows (model, task, condition, n, accuracy, loss), one per task.

    ``fwd_hooks`` is a TransformerLens hook list, or a function of each batch's tokens that
    returns one (for hooks that depend on the input, such as a donor's patterns).

    ``condition`` labels the rows; an explicit one always wins. Left unset, it is ``"base"``
    without hooks, and names the hooks with them, so hooked rows are never mistaken for base
    ones: ``"hooks: blocks.0.attn.hook_pattern, blocks.1.attn.hook_pattern"`` for a hook list,
    ``"hooks: <function name>"`` for a function of the batch (see ``hooks_label``).

    Raises ``NonFiniteScoreError`` (naming the model, task and example) when a logit read for
    scoring, or the loss, is NaN or infinite.

    >>> import interp, hooks
    >>> model = interp.load_model("suite/pythia-s1")
    >>> tasks = [interp.get_task("arithmetic_add", n=4), interp.get_task("knowledge_mc", n=4)]
    >>> rows = interp.evaluate(model, tasks,
    ...                        fwd_hooks=[("blocks.0.attn.hook_pattern", hooks.uniform_pattern())],
    ...                        condition="uniform-L0")
    >>> rows[["model", "task", "condition", "n"]]  # doctest: +NORMALIZE_WHITESPACE
                 model            task   condition  n
    0  suite/pythia-s1  arithmetic_add  uniform-L0  4
    1  suite/pythia-s1    knowledge_mc  uniform-L0  4
    >>> list(rows.columns) == COLUMNS
    True
    """
    return summarize(evaluate_items(model, tasks, fwd_hooks=fwd_hooks, condition=condition,
                                    batch_size=batch_size, name=name, progress=progress))
