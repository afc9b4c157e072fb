"""The attention-swap run split into shards' units: one per evaluation seed.

A seed's cells are keyed by that seed (its items, head shuffles and controls), so the run of
``Config(seeds=(s,))`` computes exactly seed ``s``'s cells of the full run. The first seed
also carries what only it runs: the file tasks (MMLU, QQP: no seed changes their items) and
the focus pair's sweeps; the other seeds' units leave those out, as the full run does.
"""

from __future__ import annotations

from dataclasses import replace

from interp.runs.shards import Unit
from interp.studies.attention_swap.config import ALPHAS, FILE_TASKS, Config

SWEEP_CELLS = 2 * (len(ALPHAS) + 2 * 4)  # alpha curve + two layer sweeps (~4 layers), matched


def units(config: Config) -> list[Unit]:
    """One unit per evaluation seed, costed by its cells.

    >>> from pathlib import Path
    >>> [(u.label, u.config.seeds, u.config.sweeps) for u in units(Config(out=Path("/tmp/u")))]
    [('seed 0', (0,), True), ('seed 1', (1,), False), ('seed 2', (2,), False)]
    """
    seeds = config.eval_seeds
    if len(seeds) == 1:
        return [Unit(f"seed {seeds[0]}", config, _cost(config))]
    later = _without_file_tasks(config)
    if later is None:  # every later seed would score nothing the first does not
        return [Unit(f"seeds {' '.join(map(str, seeds))}", config, _cost(config))]
    out = [Unit(f"seed {seeds[0]}", replace(config, seeds=seeds[:1]), 0.0)]
    out += [Unit(f"seed {s}", replace(later, seeds=(s,)), 0.0) for s in seeds[1:]]
    return [replace(u, cost=_cost(u.config)) for u in out]


def _without_file_tasks(config: Config) -> Config | None:
    tasks = tuple(t for t in config.tasks if t not in FILE_TASKS)
    swap = None if config.swap_tasks is None else tuple(t for t in config.swap_tasks if t in tasks)
    if not tasks or swap == ():
        return None
    return replace(config, tasks=tasks, swap_tasks=swap, mmlu=None, qqp=None, mmlu_shots=None,
                   mmlu_subjects=None, sweeps=False)


def _cost(config: Config) -> float:
    """Cells, roughly: every task on each ladder model, and each grid task's controls (4 per
    recipient), swaps and donors from another input (2 per pair), plus the sweeps."""
    seeds = len(config.eval_seeds)
    ladder = sum(len(models) for models in config.ladders.values())
    grid = len(config.grid_tasks) * (4 * len({r for r, _, _ in config.pairs}) + 2 * len(config.pairs))
    sweeps = SWEEP_CELLS * len(config.grid_tasks) if config.sweeps else 0
    return float(seeds * (len(config.tasks) * ladder + grid) + sweeps)
