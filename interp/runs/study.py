"""The one run contract every study follows: Config in, tables, figures and a report out.

A study is a package under ``interp/studies/<name>/`` exposing a ``STUDY`` record:
- ``Config``: a frozen dataclass (``StudyConfig`` fields plus the study's own), validated on
  construction with one-line ``ValueError``s;
- ``run(config, cache) -> dict[str, DataFrame]``: the tables; ``"results"`` is the study's
  one tidy master table;
- ``figures(tables, config) -> list[Path]``: every figure, drawn from those tables only;
- ``report(tables, config) -> Report``: the summary printed, CAPTIONS.md, and what
  results.json records beside the config.

``run_study`` does the rest the same way for each: the cell cache, every table as CSV (the
per-item outcomes, table ``"items"``, as items.csv.gz), results.json (config, versions,
timing, table names), CAPTIONS.md and FINDINGS.md from the tables as written, the figures,
and the final line naming where the results went.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pandas as pd
import torch

from interp.runs.cache import ResultCache
from interp.runs.files import save_table, write_atomic
from interp.runs.findings import load_tables, table_file
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
    threads: Optional[int] = None

    def __post_init__(self) -> None:
        if str(self.out).strip() in ("", "."):
            raise ValueError("out must name a folder for the results (not empty or '.'), e.g. figures/mine")
        object.__setattr__(self, "out", Path(self.out))
        for name in ("n", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        check_device(self.device)
        self.validate()

    def validate(self) -> None:
        """The study's own checks; raise ``ValueError`` with one line naming the fix."""


def check_device(device: Optional[str]) -> None:
    """Refuse a device this torch cannot use, before any model loads (one line, the fix).

    >>> check_device("cpu")
    >>> check_device("tpu")
    Traceback (most recent call last):
    ...
    ValueError: unknown device 'tpu': use cpu, cuda or cuda:N (mps on Apple)
    """
    if device is None:
        return
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}: use cpu, cuda or cuda:N (mps on Apple)") from None
    if parsed.type == "cpu":
        if parsed.index not in (None, 0):
            raise ValueError(f"device {device!r}: torch has one cpu device; use --device cpu")
        return
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: this torch has no CUDA (CPU build or no GPU); "
                             "use --device cpu, or install a CUDA build of torch")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) "
                             "are visible; use cuda:0 ... or check CUDA_VISIBLE_DEVICES")
        return
    if parsed.type == "mps" and torch.backends.mps.is_available():
        return
    raise ValueError(f"device {device!r} is not available here: use cpu, cuda or cuda:N")


def cpu_threads(config: Any) -> int:
    """Torch CPU threads for a run: ``config.threads``, else 1.

    One thread is the default because torch's intra-op threads collapse when another
    process holds a core: on a 2-core machine a small evaluation ran 15.7x slower with one
    busy neighbour at the default thread count and was unaffected on one thread
    (benchmarks/threads.py measures it, busy core against idle, in one run).
    """
    return config.threads or 1


@dataclass(frozen=True)
class Report:
    """What a study says about its tables: the printed summary, CAPTIONS.md, what
    results.json records, and the findings (FINDINGS.md, the README's generated block)."""

    summary: str
    captions: str
    record: dict[str, Any] = field(default_factory=dict)
    findings: str = ""  # markdown: every number the README's study section shows


@dataclass(frozen=True)
class Study:
    """One study: its name, Config class and the three parts ``run_study`` calls."""

    name: str
    config: type
    run: Callable[[Any, ResultCache], Tables]
    figures: Callable[[Tables, Any], list[Path]]
    report: Callable[[Tables, Any], Report]
    cache_version: int = 1
    # Sub-configs whose cells together are every cell of a run (interp.runs.shards.Unit
    # list); None: the study runs as one unit, so only one shard has work.
    units: Optional[Callable[[Any], list]] = None


@dataclass(frozen=True)
class Outcome:
    """What ``run_study`` wrote: the tables, figure files and report."""

    tables: Tables
    figures: list[Path]
    report: Report
    out: Path


def run_study(study: Study, config: Any, *, quiet: bool = False) -> Outcome:
    """Run ``study`` on ``config`` and write everything under ``config.out``.

    ``study`` is the ``STUDY`` record of any package under ``interp/studies/`` (e.g.
    ``interp.studies.attention_swap.STUDY`` with its ``Config``), or one built on the spot:

    >>> import tempfile
    >>> demo = Study(
    ...     name="demo", config=StudyConfig,
    ...     run=lambda config, cache: {"results": pd.DataFrame({"n": [config.n]})},
    ...     figures=lambda tables, config: [],
    ...     report=lambda tables, config: Report("n is 4", "captions"))
    >>> out = Path(tempfile.mkdtemp(dir="/tmp"))
    >>> outcome = run_study(demo, StudyConfig(out=out, n=4))  # doctest: +ELLIPSIS
    n is 4
    <BLANKLINE>
    0 figures (PNG + PDF), results.csv, results.json, CAPTIONS.md -> /tmp/... (...s; 0 cells computed, 0 reused)
    >>> sorted(p.name for p in outcome.out.iterdir())
    ['CAPTIONS.md', 'results.csv', 'results.json']
    """
    started = time.time()
    with threads_for(config):
        return _run_and_write(study, config, started, quiet)


@contextmanager
def threads_for(config: Any) -> Iterator[None]:
    """Torch CPU threads set to ``cpu_threads(config)`` for one run, then put back: a library
    call must not change its caller's torch.

    >>> before = torch.get_num_threads()
    >>> with threads_for(StudyConfig(out=Path("/tmp/t"), threads=1)):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    threads_before = torch.get_num_threads()
    torch.set_num_threads(cpu_threads(config))
    try:
        yield
    finally:
        torch.set_num_threads(threads_before)


def _run_and_write(study: Study, config: Any, started: float, quiet: bool) -> Outcome:
    torch.manual_seed(config.seed)
    cache = ResultCache(config.out / "cells", study=study.name, version=study.cache_version,
                        force=config.force)
    tables = study.run(config, cache)
    if "results" not in tables:
        raise RuntimeError(f"study {study.name} returned no 'results' table (its master table)")
    for name, table in tables.items():
        save_table(table, table_file(config.out, name))
    # The report reads the tables back as written: what it says is what the committed files
    # give (tests regenerate the README's blocks from them).
    report = study.report(load_tables(config.out, list(tables)), config)
    write_atomic(config.out / "CAPTIONS.md", report.captions)
    if report.findings:
        write_atomic(config.out / "FINDINGS.md", report.findings.strip() + "\n")
    figures = study.figures(tables, config)
    seconds = time.time() - started
    cells = dict(computed=cache.computed, reused=cache.reused,
                 compute_seconds=round(cache.compute_seconds, 1))
    write_atomic(config.out / "results.json",
                 run_record(study.name, config, seconds=seconds, cells=cells, tables=list(tables),
                            **report.record))
    if not quiet:
        print(report.summary)
        pngs = sum(1 for f in figures if Path(f).suffix == ".png")
        print(f"\n{pngs} figures (PNG + PDF), {', '.join(table_file('', t).name for t in tables)}, results.json, "
              f"CAPTIONS.md -> {config.out} ({seconds:.0f}s; {cache.computed} cells computed, "
              f"{cache.reused} reused)")
    return Outcome(tables, figures, report, config.out)
