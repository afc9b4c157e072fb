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
from interp.interventions import DonorStates, PatternSwap, calibration_tokens
from interp.interventions.head_maps import HeadMap
from interp.params import parameter_count
from interp.runs.cache import ResultCache
from interp.runs.models import ModelPool as Pool
from interp.scoring import evaluate_items, item_id, summarize
from interp.studies.attention_swap.choices import choice_loss_items
from interp.studies.attention_swap.config import CONTROLS, FILE_TASKS
from interp.tasks import get_task, load_qqp_tsv, mmlu_tasks
from interp.tasks.base import Task

OTHER_INPUT_SWAP = "swap-other-input:"  # condition prefix: the donor's patterns, another input
MATCHED_SUFFIX = ":other_input"  # a sweep's matched control: own patterns, another input
CALIBRATION_PROMPTS = 32  # prompts of the task joined into the sequence head maps are fit on
# What names a cell, and the columns of the run's items table: a cell's keys, then each item's
# outcome (nothing that one of these already fixes, to keep the table small).
CELL_KEYS = ["recipient", "donor", "condition", "layers", "alpha", "task", "seed"]
# The keys on which a cell meets its reference (the recipient's base, or a matched control).
PAIR_KEYS = ["recipient", "task", "seed"]
CHOICE_LOSS_COLUMNS = ["model", "task", "seed", "item", "choice_loss"]
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
    """The study's models by name, at most ``capacity`` loaded at once (a recipient and a
    donor): another frees the least recently used (``interp.runs.models.ModelPool``), so a
    sweep over many checkpoints holds two, not all. What a cell's key or a table needs of a
    model (family, parameter count, layers, tokenizer) is remembered from its first load, so
    a rerun whose cells are cached loads nothing for it twice."""

    device: Optional[str] = None
    dtype: Optional[str] = None
    capacity: int = 2
    facts: dict[str, dict] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pool = Pool(self._load, capacity=self.capacity)

    def _load(self, name: str):
        model = interp.load_model(name, device=self.device, dtype=self.dtype)
        self.facts.setdefault(name, dict(family=family_of(model), parameters=parameter_count(model),
                                         n_layers=model.cfg.n_layers, tokenizer=model.tokenizer))
        return model

    def __call__(self, name: str):
        if name not in self.seen:
            self.seen.append(name)
        return self.pool.get(name)

    def _fact(self, name: str, fact: str):
        if name not in self.facts:
            self(name)
        return self.facts[name][fact]

    @property
    def loaded(self) -> list[str]:
        """Every name asked for so far, in order (for the identical-weights check)."""
        return list(self.seen)

    def family(self, name: str) -> str:
        """The model family of ``name`` (``interp.arch.family_of``)."""
        return self._fact(name, "family")

    def parameters(self, name: str) -> int:
        """The parameter count of ``name``."""
        return self._fact(name, "parameters")

    def n_layers(self, name: str) -> int:
        """The layer count of ``name``."""
        return self._fact(name, "n_layers")

    def tokenizer(self, name: str):
        """The tokenizer of ``name``."""
        return self._fact(name, "tokenizer")


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
    # Shared by every cell (and by sweeps given the same objects): each donor forward runs
    # once per batch, and each (recipient, donor, task)'s head maps are fitted once.
    donor_states: DonorStates = field(default_factory=DonorStates)
    head_maps: dict[tuple, dict[int, HeadMap]] = field(default_factory=dict)
    # What each distinct swap scored, by its settings: sweep points that are the same swap
    # under another name (the bottom-up and top-down sweeps' last point, alpha 1 and the
    # all-layer swap or its matched control) are scored once.
    scored: dict[tuple, pd.DataFrame] = field(default_factory=dict)

    def _engine(self, task: Task, recipient: str, donor: str, condition: str, **swap) -> PatternSwap:
        if condition == "base":
            return PatternSwap.base(self.models(recipient))
        donor_model = None if donor == recipient else self.models(donor)
        engine = PatternSwap(self.models(recipient), donor_model, heads=self.heads, seed=self.seed,
                             donor_states=self.donor_states, **swap)
        if self.heads == "match" and engine.uses_donor:
            # One head map per (recipient, donor, task), not one per batch: results must not
            # depend on how evaluate batches the examples. A layer's map depends on that
            # layer's patterns only, so maps fitted on every layer serve every cell.
            key = (recipient, donor, task_digest(task))
            if key not in self.head_maps:
                every = PatternSwap(self.models(recipient), donor_model, heads="match")
                self.head_maps[key] = every.match_heads_on(self._calibration(engine, task))
            engine.use_head_maps(self.head_maps[key])
        return engine

    @staticmethod
    def _calibration(engine: PatternSwap, task: Task):
        n_ctx = engine.recipient_model.config.max_position_embeddings
        return calibration_tokens(
            engine.tokenizer, [e.prompt for e in task.examples[:CALIBRATION_PROMPTS]],
            min(n_ctx, 512)).to(next(engine.recipient_model.parameters()).device)

    def _cell(self, task: Task, *, recipient: str, donor: str, condition: str, layers="all",
              alpha: float = 1.0, control: Optional[str] = None, swap_layers=None) -> pd.DataFrame:
        key = dict(recipient=self.cache.model_key(recipient), donor=self.cache.model_key(donor),
                   condition=condition, layers=str(layers), alpha=alpha, heads=self.heads,
                   task=task.name, n=len(task), items=task_digest(task), seed=self.seed,
                   control=control)
        labels = dict(recipient=recipient, donor=donor, condition=condition, layers=str(layers),
                      alpha=float(alpha), task=task.name, seed=self.seed)

        def compute() -> dict[str, pd.DataFrame]:
            same = self._setting(task, recipient, donor, condition, swap_layers, alpha, control)
            if same not in self.scored:
                engine = self._engine(task, recipient, donor, condition, layers=swap_layers,
                                      alpha=alpha, control=control)
                self.scored[same] = evaluate_items(engine, [task], condition="", name=recipient,
                                                   batch_size=self.batch_size)
            scored = self.scored[same].assign(condition=condition)
            rows = summarize(scored).rename(columns={"model": "recipient"})
            items = scored.rename(columns={"model": "recipient"}).assign(**labels)
            return {"rows": rows.assign(**labels), "items": items[ITEM_TABLE_COLUMNS]}

        cell = self.cache.get(key, compute)
        self.items.setdefault(tuple(labels.values()), cell["items"])
        return cell["rows"]

    def _setting(self, task: Task, recipient: str, donor: str, condition: str, swap_layers,
                 alpha: float, control: Optional[str]) -> tuple:
        """What a cell's engine computes, whatever the cell is called."""
        if condition == "base":
            return (recipient, task_digest(task), "base")
        layers = (tuple(range(self.models.n_layers(recipient))) if swap_layers is None
                  else tuple(sorted(set(swap_layers))))
        return (recipient, donor, task_digest(task), layers, float(alpha), control)

    def _each_task(self, **cell) -> pd.DataFrame:
        return pd.concat([self._cell(t, **cell) for t in self.tasks], ignore_index=True)

    def cell_items(self) -> pd.DataFrame:
        """Every computed cell's per-item outcomes (columns ``ITEM_TABLE_COLUMNS``)."""
        return pd.concat(list(self.items.values()), ignore_index=True)[ITEM_TABLE_COLUMNS]

    def base(self, recipient: str) -> pd.DataFrame:
        """The recipient on its own patterns, through the swap engine's eager path."""
        return self._each_task(recipient=recipient, donor=recipient, condition="base", alpha=0.0,
                               layers="none")

    def scaling(self, ladder: list[str], phase: str = "final") -> pd.DataFrame:
        """Base accuracy and loss of every model in the ladder, with its ``phase`` label,
        size, family, chance accuracy and the chance-level loss (``chance_loss``)."""
        frames = [self.base(name).assign(phase=phase, family=self.models.family(name),
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

    def swap(self, recipient: str, donor: str, kind: str, *, other_input: bool = False) -> pd.DataFrame:
        """The recipient on the donor's patterns in every layer; condition ``swap:<kind>``.
        With ``other_input``, the donor's patterns for another example of the batch
        (condition ``swap-other-input:<kind>``): matched to the recipient's own patterns
        from that same other example (``control:other_input``), only the donor differs."""
        if other_input:
            return self._each_task(recipient=recipient, donor=donor,
                                   condition=f"{OTHER_INPUT_SWAP}{kind}", control="other_input")
        return self._each_task(recipient=recipient, donor=donor, condition=f"swap:{kind}")

    def alpha_curve(self, recipient: str, donor: str, alphas: list[float], *,
                    matched: bool = False) -> pd.DataFrame:
        """Blends ``(1-alpha)*own + alpha*donor`` in every layer, one cell per alpha. With
        ``matched``, the matched control instead: the recipient's own patterns from another
        example blended in at the same alpha (condition ``alpha:other_input``)."""
        cell = self._matched(recipient, donor, "alpha", matched)
        return pd.concat([self._each_task(**cell, alpha=a) for a in alphas], ignore_index=True)

    def layer_sweeps(self, recipient: str, donor: str, *, matched: bool = False) -> pd.DataFrame:
        """Single-layer swaps, and cumulative swaps from the bottom and from the top; with
        ``matched``, the same layers on the recipient's own patterns from another example
        (conditions ``layer:other_input``, ...)."""
        n_layers = self.models.n_layers(recipient)
        frames = []
        for layer in range(n_layers):
            frames.append(self._each_task(**self._matched(recipient, donor, "layer", matched),
                                          layers=layer, swap_layers=[layer]))
        for k in range(1, n_layers + 1):
            bottom, top = list(range(k)), list(range(n_layers - k, n_layers))
            frames.append(self._each_task(**self._matched(recipient, donor, "bottom-up", matched),
                                          layers=k, swap_layers=bottom))
            frames.append(self._each_task(**self._matched(recipient, donor, "top-down", matched),
                                          layers=k, swap_layers=top))
        return pd.concat(frames, ignore_index=True)

    @staticmethod
    def _matched(recipient: str, donor: str, sweep: str, matched: bool) -> dict:
        if not matched:
            return dict(recipient=recipient, donor=donor, condition=sweep)
        return dict(recipient=recipient, donor=recipient, condition=f"{sweep}{MATCHED_SUFFIX}",
                    control="other_input")

    def choice_losses(self, model: str) -> pd.DataFrame:
        """Per item of every choice task: the answer's loss with the probability renormalised
        over the choices only (``choice_loss``), on the model's own patterns."""
        frames = []
        for task in self.tasks:
            if task.scoring != "choice":
                continue
            key = dict(kind="choice_loss", model=self.cache.model_key(model), task=task.name,
                       n=len(task), items=task_digest(task))
            cell = self.cache.get(key, lambda: choice_loss_items(self.models(model), task))
            frames.append(cell.assign(model=model, task=task.name, seed=self.seed))
        if not frames:
            return pd.DataFrame(columns=CHOICE_LOSS_COLUMNS)
        return pd.concat(frames, ignore_index=True)[CHOICE_LOSS_COLUMNS]


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
