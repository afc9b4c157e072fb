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

from interp.runs.study import run_study


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


COMMON = ("n", "device", "dtype", "batch_size", "seed", "out", "force", "threads")


def common_settings(args: argparse.Namespace) -> dict:
    """The shared flags as ``StudyConfig`` keyword arguments.

    >>> common_settings(argparse.Namespace(n=5, device=None, dtype=None, batch_size=4, seed=0,
    ...                                    out="x", force=False, threads=None))["n"]
    5
    """
    return {k: getattr(args, k) for k in COMMON}


def study_main(study, parser: argparse.ArgumentParser, argv, make_config) -> int:
    """Parse ``argv``, build the study's Config with ``make_config(args)``, run it; bad input
    becomes one ``error:`` line and exit status 2."""
    args = parser.parse_args(argv)
    with fail_cleanly():
        run_study(study, make_config(args))
    return 0


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
