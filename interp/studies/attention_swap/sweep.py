"""The attention-swap cells: one (recipient, donor, condition, layers, alpha, task) result each.

Every cell is computed once through ``interp.interventions.PatternSwap`` and cached by the
run's ``ResultCache`` as two tables: ``rows`` (its accuracy and loss) and ``items`` (each
example's id, chosen answer, correctness and loss), so any two cells on the same task pair up
item by item. The recipient's base runs through the same eager path, so the self-swap control
can be held to exactly zero change on every item.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

import interp
from interp.analysis.scaling import chance_accuracy
from interp.arch import family_of
from interp.interventions import PatternSwap, calibration_tokens
from interp.params import parameter_count
from interp.runs.cache import ResultCache
from interp.scoring import evaluate_items, item_id, summarize
from interp.studies.attention_swap.config import CONTROLS, FILE_TASKS
from interp.tasks import get_task, load_qqp_tsv, mmlu_tasks
from interp.tasks.base import Task

CALIBRATION_PROMPTS = 32  # prompts of the task joined into the sequence head maps are fit on
# What names a cell, and the columns of the run's items table: a cell's keys, then each item's
# outcome (nothing that one of these already fixes, to keep the table small).
CELL_KEYS = ["recipient", "donor", "condition", "layers", "alpha", "task"]
ITEM_TABLE_COLUMNS = [*CELL_KEYS, "item", "chosen", "correct", "loss"]


def build_tasks(names: list[str], *, n: int, seed: int, mmlu: Optional[Path] = None,
                qqp: Optional[Path] = None, mmlu_shots: Optional[int] = None,
                mmlu_subjects: Optional[tuple[str, ...]] = None) -> list[Task]:
    """Tasks by name, plus MMLU (one task per subject, ``mmlu/<subject>``, the standard
    k-shot protocol of ``interp.tasks.mmlu_tasks``) and GLUE QQP (``qqp_glue``) from local
    files when given: each file task takes its first ``n`` questions (per MMLU subject).

    >>> [t.name for t in build_tasks(["arithmetic_add"], n=5, seed=0)]
    ['arithmetic_add']
    """
    tasks = [get_task(name, n=n, seed=seed) for name in names if name not in FILE_TASKS]
    if mmlu is not None:
        for task in mmlu_tasks(mmlu, shots=mmlu_shots, subjects=mmlu_subjects).values():
            tasks.append(Task(task.name, task.kind, task.scoring, task.examples[:n]))
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
        """The model family of ``name`` (``interp.arch.family_of``)."""
        return family_of(self(name))

    def parameters(self, name: str) -> int:
        """The parameter count of ``name``."""
        return parameter_count(self(name))


@dataclass
class Sweep:
    """Computes (or reuses) result cells; each method returns tidy rows, and ``cell_items``
    gives the per-item outcomes of every cell computed so far.

    >>> import tempfile
    >>> cache = ResultCache(tempfile.mkdtemp(), study="attention_swap")
    >>> sweep = Sweep(ModelPool(), build_tasks(["qqp"], n=4, seed=0), cache)
    >>> sweep.controls("suite/pythia-s1").condition.unique().tolist()
    ['base', 'control:self', 'control:other_input', 'control:uniform', 'control:shuffle_heads']
    >>> items = sweep.cell_items()
    >>> len(items), list(items.columns) == ITEM_TABLE_COLUMNS
    (20, True)
    """

    models: ModelPool
    tasks: list[Task]
    cache: ResultCache
    batch_size: int = 16
    seed: int = 0
    heads: str = "match"
    # cell keys (CELL_KEYS values) -> that cell's items, in the order cells were first asked for
    items: dict[tuple, pd.DataFrame] = field(default_factory=dict)

    def _engine(self, task: Task, recipient: str, donor: str, condition: str, **swap) -> PatternSwap:
        if condition == "base":
            return PatternSwap.base(self.models(recipient))
        engine = PatternSwap(self.models(recipient),
                             None if donor == recipient else self.models(donor),
                             heads=self.heads, seed=self.seed, **swap)
        # One head map per (recipient, donor, task), not one per batch: results must not
        # depend on how evaluate batches the examples.
        n_ctx = engine.recipient_model.config.max_position_embeddings
        engine.match_heads_on(calibration_tokens(
            engine.tokenizer, [e.prompt for e in task.examples[:CALIBRATION_PROMPTS]],
            min(n_ctx, 512)).to(next(engine.recipient_model.parameters()).device))
        return engine

    def _cell(self, task: Task, *, recipient: str, donor: str, condition: str, layers="all",
              alpha: float = 1.0, control: Optional[str] = None, swap_layers=None) -> pd.DataFrame:
        key = dict(recipient=self.cache.model_key(recipient), donor=self.cache.model_key(donor),
                   condition=condition, layers=str(layers), alpha=alpha, heads=self.heads,
                   task=task.name, n=len(task), items=task_digest(task), seed=self.seed,
                   control=control)
        labels = dict(recipient=recipient, donor=donor, condition=condition, layers=str(layers),
                      alpha=float(alpha), task=task.name)

        def compute() -> dict[str, pd.DataFrame]:
            engine = self._engine(task, recipient, donor, condition, layers=swap_layers,
                                  alpha=alpha, control=control)
            scored = evaluate_items(engine, [task], condition=condition, name=recipient,
                                    batch_size=self.batch_size)
            rows = summarize(scored).rename(columns={"model": "recipient"})
            items = scored.rename(columns={"model": "recipient"}).assign(**labels)
            return {"rows": rows.assign(**labels), "items": items[ITEM_TABLE_COLUMNS]}

        cell = self.cache.get(key, compute)
        self.items.setdefault(tuple(labels.values()), cell["items"])
        return cell["rows"]

    def _each_task(self, **cell) -> pd.DataFrame:
        return pd.concat([self._cell(t, **cell) for t in self.tasks], ignore_index=True)

    def cell_items(self) -> pd.DataFrame:
        """Every computed cell's per-item outcomes (columns ``ITEM_TABLE_COLUMNS``)."""
        return pd.concat(list(self.items.values()), ignore_index=True)[ITEM_TABLE_COLUMNS]

    def base(self, recipient: str) -> pd.DataFrame:
        """The recipient on its own patterns, through the swap engine's eager path."""
        return self._each_task(recipient=recipient, donor=recipient, condition="base", alpha=0.0,
                               layers="none")

    def scaling(self, ladder: list[str]) -> pd.DataFrame:
        """Base accuracy and loss of every model in the ladder, with size, family, chance
        accuracy and the chance-level loss (``chance_loss``)."""
        frames = [self.base(name).assign(family=self.models.family(name),
                                         parameters=self.models.parameters(name))
                  for name in ladder]
        table = pd.concat(frames, ignore_index=True).rename(columns={"recipient": "model"})
        chance = {t.name: chance_accuracy(t) for t in self.tasks}
        uniform = {t.name: chance_loss(t) for t in self.tasks}
        return table.assign(chance=table.task.map(chance), chance_loss=table.task.map(uniform))

    def controls(self, recipient: str) -> pd.DataFrame:
        """Self-swap (same input), another input's patterns, uniform, head-shuffled."""
        frames = [self.base(recipient)]
        for control in CONTROLS:
            frames.append(self._each_task(
                recipient=recipient, donor=recipient, condition=f"control:{control}",
                control=None if control == "self" else control))
        return pd.concat(frames, ignore_index=True)

    def swap(self, recipient: str, donor: str, kind: str) -> pd.DataFrame:
        """The recipient on the donor's patterns in every layer; condition ``swap:<kind>``."""
        return self._each_task(recipient=recipient, donor=donor, condition=f"swap:{kind}")

    def alpha_curve(self, recipient: str, donor: str, alphas: list[float]) -> pd.DataFrame:
        """Blends ``(1-alpha)*own + alpha*donor`` in every layer, one cell per alpha."""
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


def task_digest(task: Task) -> str:
    """A short digest of the task's item ids, in order: a cell's key changes with its items.

    >>> one = build_tasks(["qqp"], n=4, seed=0)[0]
    >>> task_digest(one) == task_digest(build_tasks(["qqp"], n=4, seed=0)[0])
    True
    >>> task_digest(one) == task_digest(build_tasks(["qqp"], n=4, seed=1)[0])
    False
    """
    ids = "".join(item_id(e) for e in task.examples)
    return hashlib.blake2b(ids.encode(), digest_size=8).hexdigest()


def chance_loss(task: Task) -> float:
    """The answer loss of a uniform guess over a choice task's options, ln(#choices) (nats per
    token, for single-token choices); NaN for an exact-match task, where no such guess exists.

    >>> round(chance_loss(build_tasks(["knowledge_mc"], n=4, seed=0)[0]), 4)  # ln 4
    1.3863
    """
    if task.scoring == "exact":
        return float("nan")
    return float(np.mean([np.log(len(e.choices)) for e in task.examples]))
