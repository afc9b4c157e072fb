"""The four experiments as cached cells, and the master table that gathers their main numbers.

``run(config, cache)`` returns ``ladder``, ``cosines``, ``token_split``, ``fisher``, ``forget``,
``injections`` and ``recovery`` (those of the experiments asked for), ``items`` (the per-instance
outcomes of every accuracy the study reports) and ``results``.

Instance counts: a rare copy has about 60 distinct test instances (``task_population``), so
every count asked for (``n``, ``grad_n``, ``eval_n``) is capped at the population and a copy
is then scored exhaustively (``facts.sample_task``); the tables report the real n. The rare
gradient direction g_r takes min(grad_n, population) instances, which for the default
``grad_n`` of 64 is nearly all of them, as the paper's g_r over all of a task's instances.
"""

from __future__ import annotations

import shutil
from typing import Callable, Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from interp.loading import load_hf_model
from interp.runs.cache import ResultCache
from interp.studies.task_interference.config import Config
from interp.studies.task_interference.continued import (
    ContinuedTraining,
    continue_training,
    injection_effects,
    matched_frequency_plan,
    upsampled_plan,
)
from interp.studies.task_interference.facts import (
    continued_lr,
    corpus_config,
    ladder_frequency,
    model_facts,
    sample_task,
    with_lineage,
)
from interp.studies.task_interference.controls import (
    CONTROL_COLUMNS,
    control_effects,
    matched_time_steps,
)
from interp.studies.task_interference.gradients import gradient_interference
from interp.studies.task_interference.ladder import ladder_cell
from interp.studies.task_interference.mixture import mixture_sequences
from interp.studies.task_interference.results import ITEMS_COLUMNS, results_table
from interp.studies.task_interference.seeds import seed_table
from interp.tasks.base import Task

Plan = Callable[[str], dict[int, int]]  # model name -> {step: blocks injected}


def run(config: Config, cache: ResultCache) -> dict[str, pd.DataFrame]:
    """Every table of the experiments in ``config.experiments``, and ``results``."""
    plan = config.plan()
    tables: dict[str, pd.DataFrame] = {}
    items: list[pd.DataFrame] = []
    if "ladder" in config.experiments:
        tables["ladder"], ladder_items = run_ladder(config, cache, plan)
        items.append(ladder_items.assign(experiment="ladder", step=pd.NA))
    if "gradients" in config.experiments:
        tables.update(run_gradients(config, cache, plan))
    trainer = Trainer(config, cache)
    if "forget" in config.experiments:
        forget = run_forget(config, trainer, plan["train_models"])
        forget_items = forget.pop("items").assign(experiment="forget")
        items.append(forget_items)
        tables.update(forget)
        tables.update(forget_comparisons(config, forget_items, forget["forget"]))
    if "recovery" in config.experiments:
        tables["recovery"], recovery_items = run_recovery(config, trainer, plan["recovery_models"])
        items.append(recovery_items.assign(experiment="recovery"))
    items = items or [pd.DataFrame(columns=ITEMS_COLUMNS)]  # gradients alone score no items
    tables["items"] = pd.concat(items, ignore_index=True)[ITEMS_COLUMNS].astype({"step": "Int64"})
    if "ladder" in tables:
        tables["seeds"] = seed_table(tables["ladder"])
    tables["results"] = results_table(tables, focus=config.focus_task)
    return tables


def forget_comparisons(config: Config, items: pd.DataFrame,
                       trace: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The controls at matched time since an injection (``controls``) and the gaps at matched
    time since their last injection (``matched_time``), with each model's size."""
    facts = trace.drop_duplicates("model").set_index("model")[["size", "parameters"]]
    kw = dict(steps=config.train_steps, start=config.burn_in)
    out = {"controls": control_effects(items, gap=config.control_gap_of(), **kw)
           if config.controls else pd.DataFrame(columns=CONTROL_COLUMNS),
           "matched_time": matched_time_steps(items, gaps=config.gaps, **kw)}
    return {k: t.join(facts, on="model") for k, t in out.items()}


def progress(items: Sequence, label: str):
    """A tqdm bar over ``items`` (the study's long loops).

    >>> list(progress([1, 2], "x"))
    [1, 2]
    """
    return tqdm(list(items), desc=label, mininterval=5, disable=len(items) < 2)


def _load(config: Config, name: str):
    return load_hf_model(name, device=config.device, dtype=config.dtype)


def run_ladder(config: Config, cache: ResultCache, plan: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Experiment 1: one cell per model and checkpoint, every rare task on min(n, population)
    instances (all of a copy's test instances by default). Returns (rows, items)."""
    tasks = [sample_task(t, config.n, seed=config.seed) for t in plan["rare"]]

    def cell(name):
        return lambda: ladder_cell(name, _load(config, name), tasks, batch_size=config.batch_size)

    cells = [cache.get(dict(exp="ladder", **cache.model_key(name), tasks=plan["rare"],
                            n=[len(t) for t in tasks], seed=config.seed,
                            batch_size=config.batch_size), cell(name))
             for name in progress(scored_models(plan), "ladder")]
    return (with_lineage(pd.concat([c["rows"] for c in cells], ignore_index=True)),
            pd.concat([c["items"] for c in cells], ignore_index=True))


def scored_models(plan: dict, checkpoints: bool = True) -> list[str]:
    """The ladder's (and the gradients') models: the final models (sibling seeds included),
    the checkpoints (unless ``checkpoints`` is False) and the phase-1 models, each once.

    >>> plan = dict(models=["a", "b"], checkpoints=["a@step1"], phase1=["a@step1", "b@step2"])
    >>> scored_models(plan), scored_models(dict(plan, checkpoints=["a@step0"]), False)
    (['a', 'b', 'a@step1', 'b@step2'], ['a', 'b', 'a@step1', 'b@step2'])
    """
    series = plan["checkpoints"] if checkpoints else []
    return list(dict.fromkeys(plan["models"] + series + plan.get("phase1", [])))


def run_gradients(config: Config, cache: ResultCache, plan: dict) -> dict[str, pd.DataFrame]:
    """Experiment 2: one cell (three tables) per model and checkpoint."""
    frequent = [sample_task(t, config.grad_n, seed=config.seed) for t in plan["frequent"]]
    rare = [sample_task(t, config.grad_n, seed=config.seed) for t in plan["gradient_tasks"]]

    def cell(name):
        def compute():
            model = _load(config, name)
            mixture = mixture_sequences(name, model.tokenizer, 2 * config.train_batch,
                                        seed=config.seed + 101, exclude=plan["rare"])
            return gradient_interference(
                name, model, frequent, rare, mixture=mixture, fisher_n=config.fisher_n,
                top_fraction=config.top_fraction, groups=config.groups, seed=config.seed)
        return compute

    cells = [cache.get(dict(exp="gradients", **cache.model_key(name), frequent=plan["frequent"],
                            rare=plan["gradient_tasks"], grad_n=config.grad_n,
                            fisher_n=config.fisher_n, top_fraction=config.top_fraction,
                            groups=config.groups, batch=config.train_batch, seed=config.seed,
                            noise_floor="split-half"),
                       cell(name))
             for name in progress(scored_models(plan, config.checkpoint_gradients), "gradients")]
    return {table: with_lineage(pd.concat([c[table] for c in cells], ignore_index=True))
            for table in ("cosines", "token_split", "fisher", "noise_floor")}


class Trainer:
    """Continued-training cells: one mixture corpus per mixture, tokenizer and length, and
    the resumable state of each cell in its ``cache.artifacts(key)`` folder."""

    def __init__(self, config: Config, cache: ResultCache) -> None:
        self.config, self.cache = config, cache
        self.corpora: dict[str, torch.Tensor] = {}

    def corpus(self, name: str, model, steps: int) -> torch.Tensor:
        """The mixture (focus copy excluded) for ``steps`` batches, built once per kind."""
        key = repr((corpus_config(name), sorted(model.tokenizer.get_vocab().items()), steps))
        if key not in self.corpora:
            self.corpora[key] = mixture_sequences(
                name, model.tokenizer, steps * self.config.train_batch,
                seed=self.config.seed + 1, exclude=[self.config.focus_task])
        return self.corpora[key]

    def cell(self, name: str, exp: str, variant, plan_of: Plan, steps: int, eval_every: int,
             focus: Task, *, control: str = "none",
             item_steps: Sequence[int] = ()) -> dict[str, pd.DataFrame]:
        """The trace (``rows``) and outcomes (``items``: at the ends and ``item_steps``) of
        ``name`` trained ``steps`` steps with ``plan_of(name)``'s injections, under
        ``control`` (``continue_training``)."""
        c = self.config
        lr = continued_lr(name, c.lr, c.lr_scale)
        training = ContinuedTraining(steps=steps, batch_size=c.train_batch, lr=lr,
                                     warmup=c.burn_in, eval_every=eval_every, seed=c.seed)
        key = dict(exp=exp, **self.cache.model_key(name), variant=variant, focus=c.focus_task,
                   config=repr(training), eval_n=len(focus))
        if control != "none":
            key["control"] = control
        if item_steps:
            key["item_steps"] = sorted(int(s) for s in item_steps)
        state_dir = self.cache.artifacts(key)

        def compute():
            model = _load(c, name)
            trace = continue_training(model, self.corpus(name, model, steps), plan_of(name),
                                      c.focus_task, focus, training, state_dir=state_dir,
                                      trace_injections=exp == "forget",
                                      label=f"{name} {exp} {variant}", control=control,
                                      item_steps=item_steps)
            facts = model_facts(name, model)
            rows = trace["rows"].assign(
                **{k: facts[k] for k in ("model", "family", "size", "parameters")},
                variant=variant, lr=lr)
            return dict(rows=rows, items=trace["items"].assign(model=name, variant=variant))

        cell = self.cache.get(key, compute)
        shutil.rmtree(state_dir, ignore_errors=True)  # the cached cell supersedes the state
        return cell


def run_forget(config: Config, trainer: Trainer, models: list[str]) -> dict[str, pd.DataFrame]:
    """Experiment 3: matched-frequency injections (n blocks every n steps), traced every step:
    tables ``forget``, ``injections`` and the end-point ``items``."""
    traces, effects, items = [], [], []
    focus = sample_task(config.focus_task, config.eval_n, seed=config.seed)
    jobs = [(m, g, "none") for m in models for g in config.gaps]
    jobs += [(m, config.control_gap_of(), c) for m in models for c in config.controls]
    for name, gap, control in progress(jobs, "update and forget"):
        injections = matched_frequency_plan(config.train_steps, gap, start=config.burn_in)
        around = sorted({s + d for s in injections for d in (0, 1)})  # before and after each
        cell = trainer.cell(name, "forget", gap if control == "none" else f"{gap} {control}",
                            lambda _n, p=injections: p, config.train_steps, 1, focus,
                            control=control, item_steps=around)
        trace = cell["rows"].assign(variant=gap, control=control)
        traces.append(trace)
        items.append(_labelled(cell["items"], config.focus_task, forget_condition(gap, control)))
        effect = injection_effects(trace, injections)
        effects.append(effect.assign(model=name, size=trace["size"].iloc[0],
                                     parameters=trace.parameters.iloc[0], variant=gap,
                                     control=control))
    return dict(forget=pd.concat(traces, ignore_index=True),
                injections=pd.concat(effects, ignore_index=True),
                items=pd.concat(items, ignore_index=True))


def forget_condition(gap: int, control: str) -> str:
    """The items' condition of a forget run: ``gap 16``, or ``gap 16 freeze`` for a control.

    >>> forget_condition(16, "none"), forget_condition(16, "rare_only")
    ('gap 16', 'gap 16 rare_only')
    """
    return f"gap {gap:g}" + ("" if control == "none" else f" {control}")


def _labelled(items: pd.DataFrame, task: str, condition: str) -> pd.DataFrame:
    """A training cell's end-point items with the study's identifying columns."""
    return items.drop(columns="variant").assign(task=task, condition=condition)


def run_recovery(config: Config, trainer: Trainer,
                 models: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Experiment 4: the focus task upsampled by each factor in small models. Returns the
    traces and the end-point items."""
    def upsampled(factor) -> Plan:
        def plan_of(name):
            frequency = ladder_frequency(config.focus_task, corpus_config(name))
            return upsampled_plan(config.recovery_steps, config.train_batch, frequency,
                                  factor, seed=config.seed)
        return plan_of

    # Accuracy is the recovery measure: score it on the ladder's instances (the same items, so
    # the end of recovery pairs with the ladder's largest model).
    focus = sample_task(config.focus_task, config.n, seed=config.seed)
    jobs = [(m, f) for m in models for f in config.factors]
    # The yardstick gets the same continued training, at its original frequency (x1).
    jobs += [(m, 1.0) for m in config.plan()["reference"] if (m, 1.0) not in jobs]
    cells = [(factor, trainer.cell(name, "recovery", factor, upsampled(factor),
                                   config.recovery_steps, 10, focus))
             for name, factor in progress(jobs, "recovery")]
    return (pd.concat([c["rows"] for _, c in cells], ignore_index=True),
            pd.concat([_labelled(c["items"], config.focus_task, f"x{f:g}") for f, c in cells],
                      ignore_index=True))
