"""A study small enough to read in full, split into units: what the shard tests run.

Each cell sleeps a little so that workers started together really overlap, and appends its
key to ``computed.log`` (O_APPEND: one whole line per write) so a test can count how often
every cell was computed, across processes.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, replace

import pandas as pd

from interp.runs.shards import Unit
from interp.runs.study import Report, Study, StudyConfig


@dataclass(frozen=True, kw_only=True)
class DemoConfig(StudyConfig):
    items: tuple[str, ...] = ("a", "bb", "ccc", "dddd", "eeeee")
    pause: float = 0.2


def _value(item: str, seed: int) -> float:
    return int(hashlib.sha1(f"{item}/{seed}".encode()).hexdigest()[:8], 16) / 16**8


def _cell(config: DemoConfig, item: str) -> pd.DataFrame:
    time.sleep(config.pause)
    fd = os.open(config.out / "computed.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{item}\n".encode())
    finally:
        os.close(fd)
    return pd.DataFrame({"item": [item], "value": [_value(item, config.seed)], "n": [config.n]})


def demo_run(config: DemoConfig, cache) -> dict[str, pd.DataFrame]:
    config.out.mkdir(parents=True, exist_ok=True)
    rows = [cache.get({"item": item, "seed": config.seed, "n": config.n}, lambda i=item: _cell(config, i))
            for item in config.items]
    return {"results": pd.concat(rows, ignore_index=True)}


def demo_units(config: DemoConfig) -> list[Unit]:
    return [Unit(item, replace(config, items=(item,)), cost=len(item)) for item in config.items]


def demo_figures(tables, config) -> list:
    (config.out / "figure.txt").write_text(f"{len(tables['results'])} rows\n")
    return [config.out / "figure.txt"]


def demo_report(tables, config) -> Report:
    return Report(summary=f"{len(tables['results'])} items", captions="# Captions\n")


STUDY = Study("sharded_demo", DemoConfig, run=demo_run, figures=demo_figures, report=demo_report,
              units=demo_units)
