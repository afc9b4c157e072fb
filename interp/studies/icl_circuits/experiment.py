"""The ICL-circuits run: fine-tune each variant, score it at every shot count, patch QK / V
against the base model, score ICL heads, and run the linear-attention toy -> tidy tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm
from transformers.utils import logging as hf_logging

from interp.analysis.patching import gap_fraction, icl_head_scores, patch_sweep
from interp.runs.cache import ResultCache
from interp.runs.study import Tables
from interp.scoring import evaluate
from interp.studies.icl_circuits.config import Config
from interp.studies.icl_circuits.toy import run_toy as toy_rows
from interp.tasks import get_task
from interp.tasks.base import Task
from interp.training.finetune import Variant, cell_key, fine_tuned, saved_meta

RESULT_COLUMNS = ["model", "variant", "trainable", "few_shot", "seed", "task", "role", "shots",
                  "n", "accuracy", "loss"]
PATCH_COLUMNS = ["model", "variant", "direction", "site", "layer", "task", "n", "metric",
                 "accuracy", "loss", "gap", "fraction"]
HEAD_COLUMNS = ["model", "model_state", "task", "layer", "head", "n", "label_attention",
                "answer_attention"]
FINETUNE_COLUMNS = ["model", "variant", "seed", "weights", "first_loss", "last_loss"]
EvalTasks = dict[tuple[str, int], Task]  # (task name, shots) -> task


def run(config: Config, cache: ResultCache) -> Tables:
    """Every table of the study: results (master: accuracy and loss per model, variant,
    seed, task and shots), preserved, attribution, icl_heads, finetunes (which weights were
    trained or loaded this run, with their first and last loss) and toy."""
    hf_logging.disable_progress_bar()  # dozens of loads and saves: one study bar is enough
    eval_tasks = {(name, k): get_task(name, n=config.n, seed=config.seed, split="test", shots=k)
                  for name in config.tasks for k in config.shots}
    frames, logs, attribution, heads = [], [], [], []
    for model_name in config.models:
        rows, log = evaluate_variants(model_name, eval_tasks, config, cache)
        frames.append(rows)
        logs.append(log)
        patches, scores = attribute(model_name, config, cache)
        attribution.append(patches)
        heads.append(scores)
    results = pd.concat(frames, ignore_index=True)[RESULT_COLUMNS]
    tables = dict(results=results, preserved=preserved_table(results),
                  attribution=pd.concat(attribution, ignore_index=True),
                  icl_heads=pd.concat(heads, ignore_index=True))
    toy = run_toy(config, cache)
    if not toy.empty:
        tables["toy"] = toy
    tables["finetunes"] = pd.concat(logs, ignore_index=True).reindex(columns=FINETUNE_COLUMNS)
    return tables


def weights_path(cache: ResultCache, model_name: str, variant: Variant, seed: int,
                 config: Config) -> Path:
    """The folder of one fine-tuned copy: the cache's artifacts of its own key."""
    return cache.artifacts(dict(part="weights", **cache.model_key(model_name),
                                **cell_key(variant, seed, config.finetune)))


def evaluate_variants(model_name: str, eval_tasks: EvalTasks, config: Config,
                      cache: ResultCache) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy and loss of every (variant, seed) on every (task, shots): tidy rows; and one
    row per fine-tuned copy saying whether its weights were trained, loaded or not needed."""
    frames, log = [], []
    finetune = config.finetune
    jobs = [(v, s) for v in config.variant_list
            for s in (range(1) if v.trainable == "none" else range(config.seeds))]
    for variant, seed in tqdm(jobs, desc=f"{model_name} variants", mininterval=5):
        key = dict(**cache.model_key(model_name), variant=variant.name, seed=seed,
                   config=finetune.key(), n=config.n, eval_seed=config.seed,
                   tasks=sorted(f"{t}@{k}" for t, k in eval_tasks))
        path = weights_path(cache, model_name, variant, seed, config)
        loaded = {}

        def compute():
            model, reused = fine_tuned(model_name, variant, finetune, seed=seed, path=path,
                                       device=config.device, force=config.force)
            loaded["weights"] = "loaded" if reused else "trained"
            rows = [evaluate(model, [task], condition=variant.name, name=model_name,
                             batch_size=config.batch_size, progress=False)
                    .assign(task=name, shots=k) for (name, k), task in eval_tasks.items()]
            return pd.concat(rows, ignore_index=True)

        rows = cache.get(key, compute)
        if variant.components:
            meta = saved_meta(path) or {}
            log.append(dict(model=model_name, variant=variant.name, seed=seed,
                            weights=loaded.get("weights", "not needed"),
                            first_loss=meta.get("first_loss"), last_loss=meta.get("last_loss")))
        role = rows.task.map(lambda t: "target" if t == config.target_task else "heldout")
        frames.append(rows.assign(variant=variant.name, trainable=variant.trainable,
                                  few_shot=variant.few_shot, seed=seed, role=role))
    table = pd.concat(frames, ignore_index=True)
    # "none" never trains: its one run is every seed's base.
    base = table[table.trainable == "none"]
    copies = [base.assign(seed=s) for s in range(1, config.seeds)]
    return pd.concat([table, *copies], ignore_index=True), pd.DataFrame(log)


def preserved_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per (model, variant, task): % of the base model's few-shot accuracy (mean over k >= 1)
    kept after fine-tuning, mean and 95% t-interval over seeds; and zero-shot accuracy."""
    few = results[results.shots > 0].groupby(["model", "variant", "seed", "task"]).accuracy.mean()
    zero = results[results.shots == 0].set_index(["model", "variant", "seed", "task"]).accuracy
    base = few.xs("none", level="variant").groupby(["model", "task"]).mean()
    frame = few.rename("few_shot_accuracy").reset_index()
    frame["zero_shot_accuracy"] = zero.reindex(
        pd.MultiIndex.from_frame(frame[["model", "variant", "seed", "task"]])).to_numpy()
    frame["base_few_shot"] = [base.loc[(m, t)] for m, t in zip(frame.model, frame.task)]
    frame["preserved"] = 100 * frame.few_shot_accuracy / frame.base_few_shot
    rows = []
    for (model, variant, task), group in frame.groupby(["model", "variant", "task"], sort=False):
        values = group.preserved.to_numpy()
        half = (stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
                if len(values) > 1 else np.nan)
        rows.append(dict(model=model, variant=variant, task=task, seeds=len(values),
                         preserved=values.mean(), ci_low=values.mean() - half,
                         ci_high=values.mean() + half,
                         few_shot_accuracy=group.few_shot_accuracy.mean(),
                         base_few_shot=group.base_few_shot.iloc[0],
                         zero_shot_accuracy=group.zero_shot_accuracy.mean()))
    return pd.DataFrame(rows)


def attribute(model_name: str, config: Config,
              cache: ResultCache) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patch QK / V per layer between the base and each attribution variant (seed 0), both
    directions, on the held-out tasks at ``attribution_shots``; and ICL-head scores."""
    tasks = [get_task(name, n=config.n, seed=config.seed, split="test",
                      shots=config.attribution_shots) for name in config.heldout_tasks]
    finetune = config.finetune
    base_model, _ = fine_tuned(model_name, Variant("none"), finetune, seed=0, path=None,
                               device=config.device)
    sweeps, heads = [], []
    for variant in [Variant.parse(v) for v in config.attribution]:
        key = dict(part="attribution", **cache.model_key(model_name), variant=variant.name,
                   config=finetune.key(), n=config.n, eval_seed=config.seed,
                   shots=config.attribution_shots, tasks=list(config.heldout_tasks))

        def compute(variant=variant):
            tuned, _ = fine_tuned(model_name, variant, finetune, seed=0, device=config.device,
                                  path=weights_path(cache, model_name, variant, 0, config))
            sweep = patch_sweep(base_model, tuned, tasks, batch_size=config.batch_size)
            scored = [gap_fraction(sweep, metric) for metric in ("loss", "accuracy")]
            head_rows = [icl_head_scores(tuned, t).assign(model_state=variant.name) for t in tasks]
            return dict(patch=pd.concat(scored, ignore_index=True),
                        heads=pd.concat(head_rows, ignore_index=True))

        cell = cache.get(key, compute)
        sweeps.append(cell["patch"].assign(model=model_name, variant=variant.name))
        heads.append(cell["heads"])
    base_heads = pd.concat([icl_head_scores(base_model, t) for t in tasks])
    heads = pd.concat([base_heads.assign(model_state="base"), *heads], ignore_index=True)
    heads = heads.assign(model=model_name)[HEAD_COLUMNS]
    heads = heads.astype({"layer": int, "head": int, "n": int})
    sweeps = pd.concat(sweeps, ignore_index=True)[PATCH_COLUMNS]
    return sweeps.astype({"layer": int, "n": int}), heads


def run_toy(config: Config, cache: ResultCache) -> pd.DataFrame:
    """The linear-attention toy's rows (empty when ``toy_seeds`` is 0), one cached cell."""
    if config.toy_seeds < 1:
        return pd.DataFrame()
    toy = config.toy
    key = dict(part="toy", config=str(toy), seeds=config.toy_seeds)
    return cache.get(key, lambda: toy_rows(toy, seeds=config.toy_seeds))
