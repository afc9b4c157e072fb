"""The ICL-circuits run: fine-tune each variant, score it item by item at every shot count,
patch QK / V against the base model, score ICL heads, and run the linear-attention toy ->
tidy tables (every evaluation's per-item outcomes in table "items")."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm
from transformers.utils import logging as hf_logging

from interp.analysis.patching import DIRECTIONS, SITES, icl_head_scores, patched
from interp.attention import plain_model
from interp.interventions import PatternSwap
from interp.runs.cache import ResultCache
from interp.runs.study import Tables
from interp.scoring import evaluate_items, score_task, summarize
from interp.studies.icl_circuits.config import Config
from interp.studies.icl_circuits.grid import GRID_COLUMNS, grid_table
from interp.studies.icl_circuits.measures import beside_accuracy, constant_seeds, label_table
from interp.studies.icl_circuits.tables import (BASE, NO_PATCH, attribution_rows,
                                                attribution_summary, comparisons_table,
                                                paired_table, preserved_table, toy_summary,
                                                with_intervals)
from interp.studies.icl_circuits.toy import run_toy as toy_rows
from interp.tasks import get_task, task_population
from interp.tasks.base import Task
from interp.training.finetune import FineTuneConfig, Variant, cell_key, fine_tuned, saved_meta

RESULT_COLUMNS = ["model", "variant", "trainable", "few_shot", "seed", "task", "role", "shots",
                  "n", "accuracy", "accuracy_lo", "accuracy_hi", "delta_accuracy",
                  "delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p", "loss", "chance",
                  "base_accuracy", "kept_normalised", "kept_normalised_reason",
                  "target_accuracy", "top_label", "top_label_share", "constant_answer"]
# One row per scored item; "patch" is "none" for a plain evaluation, else the attribution
# cell ("restore qk L1": the tuned model run with the base's layer-1 pattern) or one of its
# unpatched ends ("base", "tuned") through the same engine.
ITEM_COLUMNS = ["model", "variant", "seed", "task", "shots", "patch", "item", "chosen",
                "correct", "loss"]
PATCH_COLUMNS = ["model", "variant", "seed", "direction", "site", "layer", "task", "n", "metric",
                 "accuracy", "loss", "gap", "gap_lo", "gap_hi", "moved", "moved_lo",
                 "moved_hi", "fraction", "fraction_reason"]
HEAD_COLUMNS = ["model", "model_state", "seed", "task", "layer", "head", "n", "label_attention",
                "answer_attention"]
FINETUNE_COLUMNS = ["model", "variant", "seed", "lr", "steps", "weights", "first_loss",
                    "last_loss"]
EvalTasks = dict[tuple[str, int], Task]  # (task name, shots) -> task


def run(config: Config, cache: ResultCache) -> Tables:
    """Every table of the study: results (master: accuracy, loss and intervals per model,
    variant, seed, task and shots), items, preserved, paired, comparisons, attribution,
    icl_heads, toy, toy_summary and finetunes (which weights were trained or loaded this run,
    with their first and last loss)."""
    hf_logging.disable_progress_bar()  # dozens of loads and saves: one study bar is enough
    tasks = eval_tasks(config)
    frames, items, logs, attribution, heads, grids = [], [], [], [], [], []
    for model_name in config.models:
        rows, scored, log = evaluate_variants(model_name, tasks, config, cache)
        patches, patch_items, scores = attribute(model_name, config, cache)
        grid, grid_log = grid_rows(model_name, scored, config, cache)
        frames.append(rows)
        items += [scored, patch_items]
        logs += [log, grid_log]
        attribution.append(patches)
        heads.append(scores)
        grids.append(grid)
    items = pd.concat(items, ignore_index=True)[ITEM_COLUMNS]
    plain = items[items.patch == NO_PATCH]
    chance = {task: config.chance(task) for task in config.tasks}
    fixed = {task: config.fixed_choices(task) for task in config.tasks}
    labels = label_table(plain)
    results = beside_accuracy(with_intervals(pd.concat(frames, ignore_index=True), plain),
                              labels, chance, fixed, config.target_task, BASE)[RESULT_COLUMNS]
    paired = paired_table(items, [v.name for v in config.variant_list])
    preserved = preserved_table(items, paired, chance).merge(
        constant_seeds(results), on=["model", "variant", "task"], how="left")
    attribution = pd.concat(attribution, ignore_index=True)
    tables = dict(results=results, items=items, labels=labels, preserved=preserved,
                  paired=paired, comparisons=comparisons_table(items, paired, chance),
                  attribution=attribution, attribution_seeds=attribution_summary(attribution),
                  icl_heads=pd.concat(heads, ignore_index=True),
                  grid=pd.concat(grids, ignore_index=True))
    toy = run_toy(config, cache)
    if not toy.empty:
        tables.update(toy=toy, toy_summary=toy_summary(toy))
    tables["finetunes"] = pd.concat(logs, ignore_index=True).reindex(columns=FINETUNE_COLUMNS)
    return tables


def task_size(name: str, n: int, shots: int, split: str = "test") -> int:
    """``n``, or every distinct item where the task has fewer (a 0-shot fixed-mapping prompt is
    just "word ->": a handful exist, and they are scored exhaustively).

    >>> task_size("icl_fixed", 48, 0), task_size("icl_fixed", 48, 2)
    (10, 48)
    """
    population = task_population(name, split=split, shots=shots)
    return n if population is None else min(n, population)


def eval_tasks(config: Config) -> EvalTasks:
    """The test items of every (task, shots): ``config.n`` of each, or all where fewer exist."""
    return {(name, k): get_task(name, n=task_size(name, config.n, k), seed=config.seed,
                                split="test", shots=k)
            for name in config.tasks for k in config.shots}


def weights_path(cache: ResultCache, model_name: str, variant: Variant, seed: int,
                 finetune: FineTuneConfig) -> Path:
    """The folder of one fine-tuned copy: the cache's artifacts of its own key."""
    return cache.artifacts(dict(part="weights", **cache.model_key(model_name),
                                **cell_key(variant, seed, finetune)))


def evaluate_variants(model_name: str, tasks: EvalTasks, config: Config, cache: ResultCache,
                      *, finetune: FineTuneConfig | None = None,
                      variants: list[Variant] | None = None, seeds: int | None = None,
                      ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every (variant, seed) on every (task, shots): summary rows, per-item rows, and one row
    per fine-tuned copy saying whether its weights were trained, loaded or not needed. The
    training setting, variants and seed count default to the config's main ones."""
    finetune = finetune or config.finetune
    variants = config.variant_list if variants is None else variants
    seeds = config.seeds if seeds is None else seeds
    frames, items, log = [], [], []
    jobs = [(v, s) for v in variants for s in (range(1) if v.trainable == BASE else range(seeds))]
    for variant, seed in tqdm(jobs, desc=f"{model_name} variants", mininterval=5):
        key = dict(**cache.model_key(model_name), variant=variant.name, seed=seed,
                   config=finetune.key(), n=config.n, eval_seed=config.seed,
                   tasks=sorted(f"{t}@{k}" for t, k in tasks))
        path = weights_path(cache, model_name, variant, seed, finetune)
        loaded = {}

        def compute():
            model, reused = fine_tuned(model_name, variant, finetune, seed=seed,
                                       path=path, device=config.device, force=config.force)
            loaded["weights"] = "loaded" if reused else "trained"
            return score_variant(model, model_name, variant, tasks, config.batch_size)

        cell = cache.get(key, compute)
        if variant.components:
            meta = saved_meta(path) or {}
            log.append(dict(model=model_name, variant=variant.name, seed=seed, lr=finetune.lr,
                            steps=finetune.steps, weights=loaded.get("weights", "not needed"),
                            first_loss=meta.get("first_loss"), last_loss=meta.get("last_loss")))
        ids = dict(model=model_name, variant=variant.name, seed=seed)
        frames.append(cell["rows"].assign(variant=variant.name, trainable=variant.trainable,
                                          few_shot=variant.few_shot, seed=seed))
        items.append(cell["items"].assign(**ids, patch=NO_PATCH))
    table = pd.concat(frames, ignore_index=True)
    table["role"] = table.task.map(config.role)
    # "none" never trains: its one run is every seed's base.
    base = table[table.trainable == BASE]
    copies = [base.assign(seed=s) for s in range(1, seeds)]
    return (pd.concat([table, *copies], ignore_index=True),
            pd.concat(items, ignore_index=True), pd.DataFrame(log))


def score_variant(model, model_name: str, variant: Variant, tasks: EvalTasks,
                  batch_size: int) -> dict[str, pd.DataFrame]:
    """One cell: summary rows (model, task, shots, n, accuracy, loss) and per-item rows
    (task, shots, item, chosen, correct, loss) of ``model`` on every (task, shots)."""
    scored = [evaluate_items(model, [task], condition=variant.name, name=model_name,
                             batch_size=batch_size, progress=False).assign(shots=k)
              for (_, k), task in tasks.items()]
    items = pd.concat(scored, ignore_index=True)
    rows = pd.concat([summarize(part).assign(shots=k) for (_, k), part in
                      zip(tasks, scored)], ignore_index=True)
    return dict(rows=rows[["model", "task", "shots", "n", "accuracy", "loss"]],
                items=items[["task", "shots", "item", "chosen", "correct", "loss"]])


def attribute(model_name: str, config: Config, cache: ResultCache
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Patch QK / V per layer between the base and each attribution variant, every seed,
    both directions, on the attribution tasks at ``attribution_shots``: the attribution rows
    (one set per seed), their per-item outcomes, and ICL-head scores."""
    k = config.attribution_shots
    tasks = [get_task(name, n=task_size(name, config.n, k), seed=config.seed, split="test",
                      shots=k) for name in config.attribution_tasks]
    finetune = config.finetune
    base_model, _ = fine_tuned(model_name, Variant(BASE), finetune, seed=0, path=None,
                               device=config.device)
    sweeps, items, heads = [], [], []
    jobs = [(Variant.parse(v), seed) for v in config.attribution for seed in range(config.seeds)]
    for variant, seed in jobs:
        key = dict(part="attribution", **cache.model_key(model_name), variant=variant.name,
                   seed=seed, config=finetune.key(), n=config.n, eval_seed=config.seed, shots=k,
                   tasks=list(config.attribution_tasks))

        def compute(variant=variant, seed=seed):
            tuned, _ = fine_tuned(model_name, variant, finetune, seed=seed, device=config.device,
                                  path=weights_path(cache, model_name, variant, seed, finetune))
            # ICL heads of the first seed only: a description, not a measure over seeds.
            head_rows = [icl_head_scores(tuned, t).assign(model_state=variant.name)
                         for t in tasks] if seed == 0 else [pd.DataFrame(columns=HEAD_COLUMNS)]
            return dict(items=patch_items(base_model, tuned, tasks, config.batch_size),
                        heads=pd.concat(head_rows, ignore_index=True))

        cell = cache.get(key, compute)
        ids = dict(model=model_name, variant=variant.name, seed=seed)
        sweeps.append(attribution_rows(cell["items"]).assign(**ids))
        items.append(cell["items"].assign(**ids, shots=k, patch=patch_labels(cell["items"])))
        heads.append(cell["heads"].assign(seed=seed))
    base_heads = pd.concat([icl_head_scores(base_model, t) for t in tasks])
    heads = pd.concat([base_heads.assign(model_state="base", seed=0), *heads], ignore_index=True)
    heads = heads.assign(model=model_name)[HEAD_COLUMNS].astype({"layer": int, "head": int,
                                                                 "n": int})
    if not sweeps:
        return pd.DataFrame(columns=PATCH_COLUMNS), pd.DataFrame(columns=ITEM_COLUMNS), heads
    sweeps = pd.concat(sweeps, ignore_index=True)[PATCH_COLUMNS]
    return sweeps.astype({"layer": int, "n": int}), pd.concat(items, ignore_index=True), heads


def patch_labels(cell: pd.DataFrame) -> pd.Series:
    """The items table's ``patch`` of each attribution row: "base" / "tuned" for the
    unpatched ends, else "<direction> <site> L<layer>".

    >>> cell = pd.DataFrame(dict(direction=["base", "restore"], site=["none", "qk"], layer=[-1, 2]))
    >>> patch_labels(cell).tolist()
    ['base', 'restore qk L2']
    """
    patched_row = ~cell.direction.isin(["base", "tuned"])
    label = cell.direction + " " + cell.site + " L" + cell.layer.astype(int).astype(str)
    return label.where(patched_row, cell.direction)


def patch_items(base: object, tuned: object, tasks: list[Task], batch_size: int) -> pd.DataFrame:
    """Per-item outcomes of every patch cell (direction, site, layer) on every task, and of
    the two unpatched ends ("base", "tuned"; site "none", layer -1) through the same engine,
    so that a patch that changes nothing matches its end exactly."""
    layers = range(plain_model(base).config.num_hidden_layers)
    frames = []
    for task in tasks:
        runs = [(end, "none", -1, PatternSwap.base(model))
                for end, model in (("base", base), ("tuned", tuned))]
        for direction in DIRECTIONS:
            recipient, donor = (tuned, base) if direction == "restore" else (base, tuned)
            runs += [(direction, site, layer, patched(recipient, donor, site, layer))
                     for site in SITES for layer in layers]
        for direction, site, layer, engine in runs:
            score = score_task(engine, task, batch_size=batch_size, progress=False)
            frames.append(pd.DataFrame(dict(
                direction=direction, site=site, layer=layer, task=task.name,
                item=list(score.items), chosen=list(score.chosen), correct=score.correct,
                loss=score.loss)))
    return pd.concat(frames, ignore_index=True)


def grid_rows(model_name: str, items: pd.DataFrame, config: Config, cache: ResultCache
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The lr x steps grid of one model (``grid``): its rows and its fine-tuning log."""
    if not config.grid_variants:
        return pd.DataFrame(columns=GRID_COLUMNS), pd.DataFrame(columns=FINETUNE_COLUMNS)
    names = (config.target_task, config.heldout_tasks[0])
    tasks = {(name, k): task for (name, k), task in eval_tasks(config).items() if name in names}
    variants = [Variant.parse(v) for v in config.grid_variants]
    frames, logs = [], []
    main = {v.name for v in config.variant_list}
    for finetune in config.grid:
        if (finetune == config.finetune and config.grid_seeds <= config.seeds
                and all(v.name in main for v in variants)):
            # The main run's own cells: the same weights, already scored on these tasks.
            scored = items[items.variant.isin([v.name for v in variants])
                           & items.task.isin(names) & (items.seed < config.grid_seeds)]
            frames.append(scored.assign(lr=finetune.lr, steps=finetune.steps))
            continue
        _, scored, log = evaluate_variants(model_name, tasks, config, cache, finetune=finetune,
                                           variants=variants, seeds=config.grid_seeds)
        frames.append(scored.assign(lr=finetune.lr, steps=finetune.steps))
        logs.append(log)
    base = items[(items.variant == BASE) & items.task.isin(names)]
    chance = {name: config.chance(name) for name in names}
    logs = pd.concat(logs) if logs else pd.DataFrame(columns=FINETUNE_COLUMNS)
    return grid_table(pd.concat(frames, ignore_index=True), base, chance,
                      config.target_task), logs


def run_toy(config: Config, cache: ResultCache) -> pd.DataFrame:
    """The linear-attention toy's rows (empty when ``toy_seeds`` is 0), one cached cell."""
    if config.toy_seeds < 1:
        return pd.DataFrame()
    toy = config.toy
    key = dict(part="toy", config=str(toy), seeds=config.toy_seeds)
    return cache.get(key, lambda: toy_rows(toy, seeds=config.toy_seeds))
