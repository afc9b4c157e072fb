"""Shards: one study's cells spread over N workers, then one assemble pass.

How it works, in five lines:
1. A study splits its Config into units (``Study.units``): sub-configs whose cells, taken
   together, are every cell of the full run (cell keys name only what a cell computes).
2. ``assign`` deals the units to N shards by cost, largest first, each to the lightest shard:
   the same units and costs always give the same assignment, on every machine.
3. ``run_shard`` runs the study on its own units only: their cells land in the shared cache
   (atomic writes, one lock per cell: racing workers compute a cell once and never corrupt it).
4. A shard writes no tables and draws no figures; the assemble pass (the same command
   without ``--shard``) finds every cell cached, computes none, and writes everything.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Sequence

from interp.runs.cache import ResultCache
from interp.runs.files import write_atomic
from interp.runs.study import Study, threads_for


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (both from 1, as ``--shard 2/4`` writes them).

    >>> Shard.parse("2/4")
    Shard(index=2, count=4)
    >>> Shard.parse("0/4")
    Traceback (most recent call last):
    ...
    ValueError: --shard 0/4: K counts from 1 to N (e.g. --shard 1/4 ... --shard 4/4)
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
        if not match:
            raise ValueError(f"--shard {text!r}: give K/N, shard K of N, e.g. --shard 1/4")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 1 <= index <= count:
            raise ValueError(f"--shard {text}: K counts from 1 to N (e.g. --shard 1/{max(count, 1)} ... "
                             f"--shard {max(count, 1)}/{max(count, 1)})")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class Unit:
    """Part of a study run: a label, the sub-config that computes its cells, a relative cost."""

    label: str
    config: Any
    cost: float = 1.0


def units_of(study: Study, config: Any) -> list[Unit]:
    """The study's units for ``config``; a study that does not split is one unit."""
    if study.units is None:
        return [Unit("all", config, 1.0)]
    units = list(study.units(config))
    labels = [u.label for u in units]
    if len(set(labels)) != len(labels):
        raise RuntimeError(f"study {study.name} split into units with repeated labels: {labels}")
    return units


def assign(costs: Sequence[float], count: int) -> list[list[int]]:
    """Unit indices per shard: largest cost first, each to the least loaded shard (ties: the
    lower unit index first, the lower shard first). Deterministic, roughly balanced.

    >>> assign([5, 1, 1, 3, 2], 2)
    [[0, 1], [3, 4, 2]]
    >>> assign([1, 1], 3)
    [[0], [1], []]
    """
    if count < 1:
        raise ValueError(f"shard count must be >= 1, got {count}")
    bins: list[list[int]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for i in sorted(range(len(costs)), key=lambda i: (-float(costs[i]), i)):
        lightest = min(range(count), key=lambda b: (loads[b], b))
        bins[lightest].append(i)
        loads[lightest] += float(costs[i])
    return bins


def shard_units(study: Study, config: Any, shard: Shard) -> list[Unit]:
    """The units ``shard`` computes for ``config``.

    >>> from interp.runs.study import Study, StudyConfig
    >>> from pathlib import Path
    >>> demo = Study("demo", StudyConfig, run=None, figures=None, report=None,
    ...              units=lambda c: [Unit(f"u{i}", c, cost) for i, cost in enumerate([3, 1, 2])])
    >>> [u.label for u in shard_units(demo, StudyConfig(out=Path("/tmp/d")), Shard(2, 2))]
    ['u2', 'u1']
    """
    units = units_of(study, config)
    return [units[i] for i in assign([u.cost for u in units], shard.count)[shard.index - 1]]


def run_shard(study: Study, config: Any, shard: Shard, *, quiet: bool = False) -> dict:
    """Compute the cells of ``shard``'s units into ``config.out/cells``; write only a shard
    record (``shards/shard-K-of-N.json``), no tables and no figures. Returns that record."""
    started = time.time()
    cache = ResultCache(config.out / "cells", study=study.name, version=study.cache_version,
                        force=config.force)
    mine = shard_units(study, config, shard)
    with threads_for(config):
        for unit in mine:
            study.run(unit.config, cache)
    record = dict(study=study.name, shard=str(shard), units=[u.label for u in mine],
                  computed=cache.computed, reused=cache.reused,
                  compute_seconds=round(cache.compute_seconds, 1), seconds=round(time.time() - started, 1))
    write_atomic(config.out / "shards" / f"shard-{shard.index}-of-{shard.count}.json",
                 json.dumps(record, indent=1))
    if not quiet:
        print(f"shard {shard}: {len(mine)} of {len(units_of(study, config))} units "
              f"({', '.join(record['units']) or 'none'}); {cache.computed} cells computed, "
              f"{cache.reused} reused ({record['seconds']:.0f}s). Assemble with the same command "
              f"without --shard -> {config.out}")
    return record
