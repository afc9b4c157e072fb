"""The attention-swap study's settings: the size ladder, the swap pairs, tasks and head mapping."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from interp.interventions import HEAD_MAPPINGS
from interp.sources import resolve
from interp.runs.study import StudyConfig
from interp.tasks import available_tasks, task_population

DEFAULT_LADDER = tuple(f"suite/{f}-s{i}" for f in ("pythia", "opt") for i in range(1, 6))
# (recipient, donor, what differs): one pair for each kind of donor the study asks about.
DEFAULT_PAIRS = (
    ("suite/pythia-s3", "suite/pythia-s3@step64", "checkpoint"),
    ("suite/pythia-s3@step64", "suite/pythia-s3", "checkpoint (reverse)"),
    ("suite/pythia-s5", "suite/pythia-s4", "size"),
    ("suite/pythia-s5", "suite/opt-s5", "family"),
    ("suite/opt-s5", "suite/pythia-s5", "family"),
    ("suite/pythia-s3", "suite/pythia-s3-seed1", "seed"),
)
# The three kinds (MMLU-style knowledge, arithmetic procedure, QQP-style pattern
# matching) plus knowledge_cloze: the suite memorises facts as cloze but stays at chance on
# the MC and QQP formats, so cloze is the knowledge task a swap can actually break here.
DEFAULT_TASKS = ("knowledge_mc", "knowledge_cloze", "arithmetic_add", "qqp")
CONTROLS = ("self", "other_input", "uniform", "shuffle_heads")
# Tasks read from local files, and the flag that names each file.
FILE_TASKS = {"mmlu": "mmlu", "qqp_glue": "qqp"}
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)

Pair = tuple[str, str, str]  # (recipient, donor, kind)


@dataclass(frozen=True, kw_only=True)
class Config(StudyConfig):
    """One attention-swap run. ``models`` and ``donors`` come together or not at all: every
    model is swapped with every donor; neither means the suite ladder and its default pairs.

    ``n`` distinct items per task (sampled without replacement), so it may not exceed a task's
    population (``interp.tasks.task_population``); ``--mmlu``/``--qqp`` files give their first
    ``n`` examples (all of them when the file is shorter).

    >>> Config(out=Path("/tmp/swap"), n=20).pairs[3]
    ('suite/pythia-s5', 'suite/opt-s5', 'family')
    >>> Config(out=Path("/tmp/swap"), models=("suite/pythia-s1",))
    Traceback (most recent call last):
    ...
    ValueError: give both --models and --donors to choose swap pairs, or neither
    >>> Config(out=Path("/tmp/swap"), n=1000)
    Traceback (most recent call last):
    ...
    ValueError: --n 1000 is more than task 'knowledge_mc' has distinct test items (254): use --n <= 254, or drop knowledge_mc from --tasks
    """

    out: Path = Path("figures/attention_swap")
    models: Optional[tuple[str, ...]] = None
    donors: Optional[tuple[str, ...]] = None
    tasks: tuple[str, ...] = DEFAULT_TASKS
    mmlu: Optional[Path] = None
    mmlu_shots: Optional[int] = None
    mmlu_subjects: Optional[tuple[str, ...]] = None
    qqp: Optional[Path] = None
    heads: str = "match"
    sweeps: bool = True  # the focus pair's alpha curve and single-layer / cumulative sweeps

    def validate(self) -> None:
        for name in ("models", "donors", "tasks", "mmlu_subjects"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if (self.models is None) != (self.donors is None):
            raise ValueError("give both --models and --donors to choose swap pairs, or neither")
        if self.heads not in HEAD_MAPPINGS:
            raise ValueError(f"heads must be one of {', '.join(HEAD_MAPPINGS)}, got {self.heads!r}")
        for name in (*(self.models or ()), *(self.donors or ())):
            resolve(name)  # a name that is no model fails here, before anything loads
        known = available_tasks()
        self._check_file_tasks()
        for task in self.tasks:
            if task in FILE_TASKS:
                continue
            if task not in known:
                close = difflib.get_close_matches(task, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"unknown task {task!r}.{hint} See interp.tasks.available_tasks()")
            population = task_population(task)
            if population is not None and self.n > population:
                # Items are distinct (a paired comparison needs each item once): no task can
                # give more than its population.
                raise ValueError(f"--n {self.n} is more than task {task!r} has distinct test "
                                 f"items ({population}): use --n <= {population}, or drop "
                                 f"{task} from --tasks")
        for flag in ("mmlu", "qqp"):
            path = getattr(self, flag)
            if path is not None:
                object.__setattr__(self, flag, Path(path))
            if path is not None and not Path(path).exists():
                raise ValueError(f"--{flag} {path} does not exist: give the data file or folder")
        if not self.tasks and self.mmlu is None and self.qqp is None:
            raise ValueError("no tasks: pass --tasks, --mmlu or --qqp")
        if not self.pairs:
            raise ValueError("no swap pairs: every donor is its own recipient; give a donor "
                             "that differs from the --models")
        # The other_input control takes each sequence's patterns from another example of its
        # batch; scoring never leaves a last batch of one (it joins the one before), so only
        # a single example or batches of one can leave a sequence alone.
        if self.n < 2 or self.batch_size < 2:
            raise ValueError(
                f"--n {self.n} with --batch-size {self.batch_size} leaves a batch of one sequence, "
                "and the other_input control needs another example in its batch: use --n >= 2 "
                "and --batch-size >= 2")

    def _check_file_tasks(self) -> None:
        # mmlu and qqp_glue are read from --mmlu / --qqp: named in --tasks, they need the file.
        for task, flag in FILE_TASKS.items():
            if task in self.tasks and getattr(self, flag) is None:
                raise ValueError(f"--tasks {task} reads its questions from a file: give "
                                 f"--{flag} PATH (see --help)")
        if self.mmlu is None and (self.mmlu_shots is not None or self.mmlu_subjects):
            raise ValueError("--mmlu-shots and --mmlu-subjects choose how MMLU is read: give "
                             "--mmlu DIR too")
        if self.mmlu_shots is not None and self.mmlu_shots < 0:
            raise ValueError(f"--mmlu-shots must be >= 0, got {self.mmlu_shots}")

    @property
    def ladder(self) -> tuple[str, ...]:
        """The scaling ladder: ``models``, else the suite's 10 models."""
        return self.models or DEFAULT_LADDER

    @property
    def pairs(self) -> tuple[Pair, ...]:
        """(recipient, donor, kind) for every swap: models x donors, else the default pairs."""
        if self.models is None:
            return DEFAULT_PAIRS
        return tuple((r, d, "given") for r in self.models for d in self.donors if r != d)

    @property
    def focus(self) -> tuple[str, str]:
        """The pair the alpha curve and layer sweeps look at: the first family pair, else the
        first pair."""
        recipient, donor, _ = next((p for p in self.pairs if p[2] == "family"), self.pairs[0])
        return recipient, donor
