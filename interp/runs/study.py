"""The one run contract every study follows: Config in, tables, figures and a report out.

A study is a package under ``interp/studies/<name>/`` exposing a ``STUDY`` record:
- ``Config``: a frozen dataclass (``StudyConfig`` fields plus the study's own), validated on
  construction with one-line ``ValueError``s;
- ``run(config, cache) -> dict[str, DataFrame]``: the tables; ``"results"`` is the study's
  one tidy master table;
- ``figures(tables, config) -> list[Path]``: every figure, drawn from those tables only;
- ``report(tables, config) -> Report``: the summary printed, CAPTIONS.md, and what
  results.json records beside the config.

``run_study`` does the rest the same way for each: the cell cache, every table as CSV,
results.json (config, versions, timing), CAPTIONS.md, the figures, and the final line
naming where the results went.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pandas as pd

from interp.runs.cache import ResultCache
from interp.runs.files import save_table, write_atomic
from interp.runs.record import run_record

Tables = dict[str, pd.DataFrame]


@dataclass(frozen=True, kw_only=True)
class StudyConfig:
    """The settings every study shares; a study's Config subclasses it with its own.

    >>> StudyConfig(out=Path("figures/x"), n=0)
    Traceback (most recent call last):
    ...
    ValueError: n must be >= 1, got 0
    """

    out: Path
    n: int = 100
    seed: int = 0
    device: Optional[str] = None
    dtype: Optional[str] = None
    batch_size: int = 16
    force: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if str(self.out) in ("", "."):
            raise ValueError("out must name a folder for the results (not empty or '.'), e.g. figures/mine")
        for name in ("n", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        self.validate()

    def validate(self) -> None:
        """The study's own checks; raise ``ValueError`` with one line naming the fix."""


@dataclass(frozen=True)
class Report:
    """What a study says about its tables: the printed summary, CAPTIONS.md, and findings
    recorded in results.json."""

    summary: str
    captions: str
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    """One study: its name, Config class and the three parts ``run_study`` calls."""

    name: str
    config: type
    run: Callable[[Any, ResultCache], Tables]
    figures: Callable[[Tables, Any], list[Path]]
    report: Callable[[Tables, Any], Report]
    cache_version: int = 1


@dataclass(frozen=True)
class Outcome:
    """What ``run_study`` wrote: the tables, figure files and report."""

    tables: Tables
    figures: list[Path]
    report: Report
    out: Path


def run_study(study: Study, config: Any, *, quiet: bool = False) -> Outcome:
    """Run ``study`` on ``config`` and write everything under ``config.out``.

    >>> from interp.studies import attention_swap  # doctest: +SKIP
    >>> run_study(attention_swap.STUDY, attention_swap.Config(n=20))  # doctest: +SKIP
    """
    import torch

    started = time.time()
    torch.manual_seed(config.seed)
    cache = ResultCache(config.out / "cells", study=study.name, version=study.cache_version,
                        force=config.force)
    tables = study.run(config, cache)
    if "results" not in tables:
        raise RuntimeError(f"study {study.name} returned no 'results' table (its master table)")
    for name, table in tables.items():
        save_table(table, config.out / f"{name}.csv")
    report = study.report(tables, config)
    write_atomic(config.out / "CAPTIONS.md", report.captions)
    figures = study.figures(tables, config)
    seconds = time.time() - started
    cells = dict(computed=cache.computed, reused=cache.reused)
    write_atomic(config.out / "results.json",
                 run_record(study.name, config, seconds=seconds, cells=cells, **report.record))
    if not quiet:
        print(report.summary)
        pngs = sum(1 for f in figures if Path(f).suffix == ".png")
        print(f"\n{pngs} figures (PNG + PDF), {', '.join(f'{t}.csv' for t in tables)}, results.json, "
              f"CAPTIONS.md -> {config.out} ({seconds:.0f}s; {cache.computed} cells computed, "
              f"{cache.reused} reused)")
    return Outcome(tables, figures, report, config.out)


def config_fields(config_class: type) -> set[str]:
    """The field names of a Config class (a CLI passes only these)."""
    return {f.name for f in dataclasses.fields(config_class)}
