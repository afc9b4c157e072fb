"""The attention-swap run: controls, swaps, the alpha curve and layer sweeps, then the deltas.

Deltas are against each recipient's own run through the same eager path, so the self-swap
control must give exactly zero change (asserted before any table is written).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interp.analysis.scaling import confidence_competence
from interp.runs.cache import ResultCache
from interp.runs.study import Tables
from interp.studies.attention_swap.config import ALPHAS, Config
from interp.studies.attention_swap.sweep import ModelPool, Sweep, build_tasks

RESULT_COLUMNS = ["recipient", "donor", "condition", "layers", "alpha", "task", "n", "accuracy",
                  "loss", "delta_accuracy", "delta_accuracy_ci95", "delta_loss"]


def run(config: Config, cache: ResultCache) -> Tables:
    """results (every cell with its deltas), scaling (the ladder's base runs) and
    confidence_competence (the gap per family and task)."""
    tasks = build_tasks(list(config.tasks), n=config.n, seed=config.seed, mmlu=config.mmlu,
                        qqp=config.qqp)
    models = ModelPool(device=config.device, dtype=config.dtype)
    sweep = Sweep(models, tasks, cache, batch_size=config.batch_size, seed=config.seed,
                  heads=config.heads)
    pairs = config.pairs
    scaling = sweep.scaling(list(config.ladder))
    rows = [sweep.controls(r) for r in dict.fromkeys(r for r, _, _ in pairs)]
    rows += [sweep.swap(r, d, kind) for r, d, kind in pairs]
    recipient, donor = config.focus
    rows.append(sweep.alpha_curve(recipient, donor, list(ALPHAS)))
    rows.append(sweep.layer_sweeps(recipient, donor))
    results = with_deltas(pd.concat(rows, ignore_index=True), sweep)
    assert_self_swap_is_exact(results)
    return {"results": results, "scaling": scaling,
            "confidence_competence": confidence_competence(scaling)}


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
    """The self-swap on the same input must change nothing, to the last bit.

    >>> assert_self_swap_is_exact(pd.DataFrame(dict(condition=["control:self"],
    ...                                             delta_accuracy=[0.0], delta_loss=[1e-7])))
    Traceback (most recent call last):
    ...
    AssertionError: self-swap changed a result by 1e-07: the swap path is not exact
    """
    selfswap = results[results.condition == "control:self"]
    if selfswap.empty:
        return
    worst = selfswap[["delta_accuracy", "delta_loss"]].abs().to_numpy().max()
    if worst != 0.0:
        raise AssertionError(f"self-swap changed a result by {worst}: the swap path is not exact")
