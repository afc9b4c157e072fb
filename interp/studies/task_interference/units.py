"""The task-interference run split into shards' units: one per experiment.

Each experiment's cells (the ladder's scores, the gradients, the forget runs and their
controls, the recovery runs) are keyed by that experiment and its own settings, so
``Config(experiments=(e,))`` computes exactly experiment ``e``'s cells of the full run.
"""

from __future__ import annotations

from dataclasses import replace

from interp.runs.shards import Unit
from interp.studies.task_interference.config import Config
from interp.studies.task_interference.experiment import scored_models


def units(config: Config) -> list[Unit]:
    """One unit per experiment asked for, costed by its cells (a training run ~ 4 scorings).

    >>> from pathlib import Path
    >>> [u.label for u in units(Config(out=Path("/tmp/u")))]
    ['ladder', 'gradients', 'forget', 'recovery']
    """
    plan = config.plan()
    scored = len(scored_models(plan))
    cost = {"ladder": scored, "gradients": 2 * scored,
            "forget": 4 * len(plan["train_models"]) * (len(config.gaps) + len(config.controls)),
            "recovery": 4 * (len(plan["recovery_models"]) * len(config.factors) + 1)}
    return [Unit(e, replace(config, experiments=(e,)), float(cost[e])) for e in config.experiments]
