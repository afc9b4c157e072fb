"""Running a study's shards on an existing engine, then its assemble pass.

``--executor submitit`` submits shard 1..N as one Slurm job array through submitit
(``AutoExecutor``: Slurm where ``sbatch`` exists, else submitit's local executor, which runs
each shard in a subprocess of this machine). ``--executor ray`` runs them as Ray tasks on
the cluster ``ray.init()`` finds (or a local one). Each job receives the Study record and
its Config (model names and paths, never a loaded model) and runs
``interp.runs.shards.run_shard``; once all are done, this process runs the assemble pass,
``run_study``, which finds the shards' cells cached. A failed shard is reported with its log
path; finished cells stay cached, so rerunning the same command resumes.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from interp.runs.shards import Shard, run_shard
from interp.runs.study import Outcome, Study, run_study

EXECUTORS = ("submitit", "ray")
EXTRAS = {"submitit": "pip install 'interp[slurm]' (submitit)", "ray": "pip install ray"}


class ShardFailed(RuntimeError):
    """One or more shards raised; the message names each with its log."""


@dataclass(frozen=True)
class Cluster:
    """Where and how the shards run (the ``--executor`` flags).

    >>> Cluster("submitit", shards=4, time="1:30:00").timeout_min
    90
    >>> Cluster("dask", shards=2)
    Traceback (most recent call last):
    ...
    ValueError: unknown --executor 'dask': use submitit or ray
    """

    executor: str
    shards: int = 2
    partition: Optional[str] = None
    gpus_per_task: int = 0
    time: str = "60"
    max_parallel: Optional[int] = None

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"unknown --executor {self.executor!r}: use {' or '.join(EXECUTORS)}")
        if self.shards < 1:
            raise ValueError(f"--shards must be >= 1, got {self.shards}")
        if self.gpus_per_task < 0:
            raise ValueError(f"--gpus-per-task must be >= 0, got {self.gpus_per_task}")
        if self.max_parallel is not None and self.max_parallel < 1:
            raise ValueError(f"--max-parallel must be >= 1, got {self.max_parallel}")
        _ = self.timeout_min  # refuse a bad --time now, not after submission

    @property
    def timeout_min(self) -> int:
        """``--time`` in whole minutes (rounded up), read as Slurm reads it: ``minutes``,
        ``minutes:seconds``, ``hours:minutes:seconds``, ``days-hours``, ``days-hours:minutes``
        or ``days-hours:minutes:seconds``.

        >>> [Cluster("submitit", time=t).timeout_min for t in ("90", "30:30", "1:30:00", "1-12")]
        [90, 31, 90, 2160]
        """
        match = re.fullmatch(r"(?:(\d+)-)?(\d+)((?::\d+){0,2})", self.time.strip())
        if not match:
            raise ValueError(f"--time {self.time!r}: give minutes (90), h:m:s (1:30:00) or d-h:m:s (1-12:00:00)")
        days = int(match[1]) if match[1] else None
        fields = [int(match[2])] + [int(f) for f in match[3].split(":")[1:]]
        if days is None:  # minutes | minutes:seconds | hours:minutes:seconds
            seconds = {1: lambda m: m * 60, 2: lambda m, s: m * 60 + s,
                       3: lambda h, m, s: h * 3600 + m * 60 + s}[len(fields)](*fields)
        else:  # days-hours | days-hours:minutes | days-hours:minutes:seconds
            seconds = days * 86400 + sum(f * unit for f, unit in zip(fields, (3600, 60, 1)))
        if seconds < 60:
            raise ValueError(f"--time {self.time!r}: the limit must be at least one minute")
        return -(-seconds // 60)


def _require(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ValueError(f"--executor {name} needs {name}, which is not installed: "
                         f"{EXTRAS[name]}") from None


def run_on_cluster(study: Study, config: Any, cluster: Cluster, *, quiet: bool = False) -> Outcome:
    """Run every shard of ``config`` on ``cluster``, then the assemble pass here."""
    shards = [Shard(k, cluster.shards) for k in range(1, cluster.shards + 1)]
    runner = _submitit if cluster.executor == "submitit" else _ray
    failures = runner(study, config, cluster, shards)
    if failures:
        raise ShardFailed(f"{len(failures)} of {len(shards)} shards failed: " + "; ".join(failures)
                          + ". Finished cells are kept: rerun the same command to resume")
    # The shards did any --force recomputing; the assemble pass only reads their cells.
    return run_study(study, dataclasses.replace(config, force=False), quiet=quiet)


def _submitit(study: Study, config: Any, cluster: Cluster, shards: list[Shard]) -> list[str]:
    submitit = _require("submitit")
    folder = Path(config.out) / "jobs"
    executor = submitit.AutoExecutor(folder=folder / "%j")
    executor.update_parameters(name=f"interp-{study.name}", timeout_min=cluster.timeout_min,
                               tasks_per_node=1, nodes=1, gpus_per_node=cluster.gpus_per_task or None,
                               slurm_partition=cluster.partition,
                               slurm_array_parallelism=cluster.max_parallel)
    if executor.cluster != "slurm":
        ignored = " (--slurm-partition applies on Slurm only)" if cluster.partition else ""
        print(f"no Slurm here (sbatch not found): the {len(shards)} shards run as local subprocesses "
              f"through submitit's {executor.cluster} executor{ignored}; logs under {folder}")
    jobs = executor.map_array(run_shard, [study] * len(shards), [config] * len(shards), shards)
    failures = []
    for shard, job in zip(shards, jobs):
        try:
            job.result()
        except Exception as error:  # a job's own exception, or submitit's report that it died
            log = getattr(job.paths, "stderr", folder)
            failures.append(f"shard {shard} ({_last_line(error)}; log {log})")
    return failures


def _ray(study: Study, config: Any, cluster: Cluster, shards: list[Shard]) -> list[str]:
    ray = _require("ray")
    if not ray.is_initialized():
        ray.init()
    options = {"num_gpus": cluster.gpus_per_task} if cluster.gpus_per_task else {}
    task = ray.remote(max_retries=0, **options)(run_shard)
    pending = {}
    failures = []
    for shard in shards:  # at most max_parallel in flight
        if cluster.max_parallel and len(pending) >= cluster.max_parallel:
            failures += _ray_wait(ray, pending)
        pending[task.remote(study, config, shard, quiet=True)] = shard
    while pending:
        failures += _ray_wait(ray, pending)
    return failures


def _ray_wait(ray: Any, pending: dict) -> list[str]:
    (ref,), _ = ray.wait(list(pending), num_returns=1)
    shard = pending.pop(ref)
    try:
        ray.get(ref)
    except Exception as error:  # ray wraps the task's exception; its log is the driver's
        return [f"shard {shard} ({_last_line(error)}; log: ray logs, or /tmp/ray/session_latest/logs)"]
    return []


def _last_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__
