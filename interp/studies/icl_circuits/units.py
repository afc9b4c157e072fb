"""The ICL-circuits run split into shards' units: one per base model.

Every cell of a base model (its fine-tunes, their scores, the attribution patches, the ICL
heads and the learning-rate x steps grid) is keyed by that model and its own settings, so
``Config(models=(m,))`` computes exactly model ``m``'s cells of the full run. The
linear-attention toy belongs to no model: the first unit carries it, the others set
``toy_seeds=0``.
"""

from __future__ import annotations

from dataclasses import replace

from interp.runs.shards import Unit
from interp.studies.icl_circuits.config import Config


def units(config: Config) -> list[Unit]:
    """One unit per base model, costed by its fine-tunes (the toy's on the first).

    >>> from pathlib import Path
    >>> [(u.label, u.config.models, u.config.toy_seeds) for u in units(Config(out=Path("/tmp/u")))]
    [('suite/opt-s4', ('suite/opt-s4',), 3), ('suite/pythia-s5', ('suite/pythia-s5',), 0)]
    """
    out = []
    for k, model in enumerate(config.models):
        sub = replace(config, models=(model,), toy_seeds=config.toy_seeds if k == 0 else 0)
        out.append(Unit(model, sub, _cost(sub)))
    return out


def _cost(config: Config) -> float:
    """Fine-tunes, roughly: every variant at every seed, the grid's points, and the toy's
    seeds (about one fine-tune each)."""
    tuned = len(config.variant_list) * config.seeds
    grid = len(config.grid_variants) * len(config.grid_lrs) * len(config.grid_steps) * config.grid_seeds
    return float(tuned + grid + config.toy_seeds)
