"""One CLI convention for every study: the same flags for the same things, one-line errors.

Each study's ``--help`` lists these; bad input exits with status 2 and one line on stderr
(``error: ...``), never a traceback. ``INTERP_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator

from interp.runs.executors import EXECUTORS, Cluster, run_on_cluster
from interp.runs.models import distinct_models, expand_models
from interp.runs.shards import Shard, run_shard
from interp.runs.study import run_study

# Flags holding model names: brace lists and checkpoint ranges are expanded in each, and a
# name whose weights equal an earlier one's in the same list is computed once (a warning says so).
MODEL_LISTS = ("models", "donors", "train_models", "recovery_models")
CLUSTER_FLAGS = ("shards", "slurm_partition", "gpus_per_task", "time", "max_parallel")


def add_common_flags(parser: argparse.ArgumentParser, *, out: str, tasks: bool = True,
                     data_files: bool = True) -> None:
    """Add the flags every study shares; ``tasks`` / ``data_files`` offer ``--tasks`` and
    ``--mmlu`` / ``--qqp`` only to studies that take them (``--help`` lists nothing ignored).

    >>> p = argparse.ArgumentParser(); add_common_flags(p, out="figures/x", data_files=False)
    >>> p.parse_args([]).batch_size, hasattr(p.parse_args([]), "mmlu")
    (16, False)
    """
    if tasks:
        parser.add_argument("--tasks", nargs="+", default=None,
                            help="task names (see interp.tasks.available_tasks()); default: the study's")
    if data_files:
        parser.add_argument("--mmlu", type=Path, default=None,
                            help="MMLU data folder (dev/ and test/ of <subject>_<split>.csv), its test folder or "
                                 "one CSV: adds task 'mmlu' (a row per subject plus the whole)")
        parser.add_argument("--qqp", type=Path, default=None,
                            help="GLUE QQP TSV (dev.tsv): adds task 'qqp_glue'")
    parser.add_argument("--n", type=int, default=100, help="examples per task (default 100)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu)")
    parser.add_argument("--dtype", default=None, help="float32 (default), bf16, float16")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward")
    parser.add_argument("--seed", type=int, default=0, help="seed for task sampling and controls")
    parser.add_argument("--out", type=Path, default=Path(out), help=f"output folder (default {out})")
    parser.add_argument("--force", action="store_true",
                        help="recompute cached result cells instead of resuming")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default 1: more threads collapse when another "
                             "process holds a core; see the README)")
    add_sweep_flags(parser)


def add_sweep_flags(parser: argparse.ArgumentParser) -> None:
    """``--shard`` and the ``--executor`` flags (README, "Beyond one machine")."""
    sweep = parser.add_argument_group("beyond one machine")
    sweep.add_argument("--shard", default=None, metavar="K/N",
                       help="compute only shard K of N of the cells (no tables or figures); the "
                            "same command without --shard then assembles the results")
    sweep.add_argument("--executor", choices=EXECUTORS, default=None,
                       help="run every shard as a job (submitit: a Slurm job array, or local "
                            "subprocesses without Slurm; ray: Ray tasks), then assemble here")
    sweep.add_argument("--shards", type=int, default=None, help="number of shards for --executor (default 2)")
    sweep.add_argument("--slurm-partition", default=None, help="Slurm partition (--executor submitit)")
    sweep.add_argument("--gpus-per-task", type=int, default=None, help="GPUs per shard job (default 0)")
    sweep.add_argument("--time", default=None,
                       help="time limit per shard job: minutes, h:m:s or d-h:m:s (default 60)")
    sweep.add_argument("--max-parallel", type=int, default=None,
                       help="most shard jobs running at once (default: all)")


COMMON = ("n", "device", "dtype", "batch_size", "seed", "out", "force", "threads")


def common_settings(args: argparse.Namespace) -> dict:
    """The shared flags as ``StudyConfig`` keyword arguments.

    >>> common_settings(argparse.Namespace(n=5, device=None, dtype=None, batch_size=4, seed=0,
    ...                                    out="x", force=False, threads=None))["n"]
    5
    """
    return {k: getattr(args, k) for k in COMMON}


def study_main(study, parser: argparse.ArgumentParser, argv, make_config) -> int:
    """Parse ``argv``, build the study's Config with ``make_config(args)`` and run it: whole,
    one shard (``--shard``) or every shard on an executor (``--executor``); bad input
    becomes one ``error:`` line and exit status 2."""
    args = parser.parse_args(argv)
    with fail_cleanly():
        expand_model_lists(args)
        shard, cluster = sweep_settings(args)
        config = make_config(args)
        if shard is not None:
            run_shard(study, config, shard)
        elif cluster is not None:
            run_on_cluster(study, config, cluster)
        else:
            run_study(study, config)
    return 0


def expand_model_lists(args: argparse.Namespace) -> None:
    """Expand braces and ranges in every model-list flag; drop names with another's weights.

    >>> args = argparse.Namespace(models=["suite/pythia-s{1,2}"], donors=None)
    >>> expand_model_lists(args); args.models
    ['suite/pythia-s1', 'suite/pythia-s2']
    """
    for dest in MODEL_LISTS:
        names = getattr(args, dest, None)
        if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
            setattr(args, dest, distinct_models(expand_models(names))[0])


def sweep_settings(args: argparse.Namespace) -> tuple[Shard | None, Cluster | None]:
    """The shard to compute, or the cluster to run every shard on (at most one of them).

    >>> sweep_settings(argparse.Namespace(shard="1/2", executor=None, shards=None,
    ...     slurm_partition=None, gpus_per_task=None, time=None, max_parallel=None))
    (Shard(index=1, count=2), None)
    """
    shard = Shard.parse(args.shard) if getattr(args, "shard", None) else None
    executor = getattr(args, "executor", None)
    given = [f"--{f.replace('_', '-')}" for f in CLUSTER_FLAGS if getattr(args, f, None) is not None]
    if shard is not None and executor:
        raise ValueError("give --shard K/N (compute one shard here) or --executor (run every shard "
                         "as a job, then assemble), not both")
    if executor is None:
        if given:
            raise ValueError(f"{', '.join(given)} set how --executor runs the shards: add "
                             "--executor submitit (or ray), or drop them")
        return shard, None
    options = {f: getattr(args, f) for f in CLUSTER_FLAGS if getattr(args, f, None) is not None}
    options["partition"] = options.pop("slurm_partition", None)
    return None, Cluster(executor, **options)


@contextlib.contextmanager
def fail_cleanly() -> Iterator[None]:
    """Turn the errors bad input raises into one line on stderr and exit status 2."""
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted: finished cells are saved; rerun the same command to resume",
              file=sys.stderr)
        raise SystemExit(130)
    except (ValueError, KeyError, LookupError, FileNotFoundError, OSError, TypeError) as error:
        if os.environ.get("INTERP_DEBUG"):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)
