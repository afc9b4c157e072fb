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
PHASE1 = "@step2000"  # every suite model before its ICL phase (the suite card)
# (recipient, donor, what differs): several pairs for each kind of donor, graded from the
# closest (the same run before its ICL phase) to the farthest (the other family).
DEFAULT_PAIRS = (
    *((f"suite/{m}", f"suite/{m}{PHASE1}", "phase-1 checkpoint")
      for m in ("pythia-s5", "opt-s5", "pythia-s3", "opt-s3")),
    # Only s3 has a sibling seed: both directions of both families.
    ("suite/pythia-s3", "suite/pythia-s3-seed1", "seed"),
    ("suite/opt-s3", "suite/opt-s3-seed1", "seed"),
    ("suite/pythia-s3-seed1", "suite/pythia-s3", "seed"),
    ("suite/opt-s3-seed1", "suite/opt-s3", "seed"),
    ("suite/pythia-s5", "suite/pythia-s4", "size"),
    ("suite/opt-s5", "suite/opt-s4", "size"),
    ("suite/pythia-s3", "suite/pythia-s4", "size"),
    ("suite/opt-s3", "suite/opt-s4", "size"),
    ("suite/pythia-s5", "suite/opt-s5", "family"),
    ("suite/opt-s5", "suite/pythia-s5", "family"),
    ("suite/pythia-s3", "suite/opt-s3", "family"),
    ("suite/opt-s3", "suite/pythia-s3", "family"),
)
# The three kinds (MMLU-style knowledge, arithmetic procedure, QQP-style pattern
# matching) plus knowledge_cloze: the suite memorises facts as cloze but stays at chance on
# the MC and QQP formats, so cloze is the knowledge task a swap can actually break here.
DEFAULT_TASKS = ("knowledge_mc", "knowledge_cloze", "arithmetic_add", "qqp")
# The tasks the swap grid and sweeps run on: the two the suite solves (no suite model is above
# chance on MC or QQP, so a swap has nothing to break there). The scaling view runs every task.
DEFAULT_SWAP_TASKS = ("knowledge_cloze", "arithmetic_add")
DEFAULT_SEEDS = 3  # evaluation seeds of the default suite run: --seed, --seed + 1, ...
CONTROLS = ("self", "other_input", "uniform", "shuffle_heads")
# Tasks read from local files, and the flag that names each file.
FILE_TASKS = {"mmlu": "mmlu", "qqp_glue": "qqp"}
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)

Pair = tuple[str, str, str]  # (recipient, donor, kind)


@dataclass(frozen=True, kw_only=True)
class Config(StudyConfig):
    """One attention-swap run. ``models`` and ``donors`` come together or not at all: every
    model is swapped with every donor; neither means the suite ladder and its default pairs.

    ``seeds``: the evaluation seeds (each draws its own items and head shuffles); default
    ``DEFAULT_SEEDS`` seeds from ``seed`` for the suite run, ``seed`` alone for given models.
    Every seed runs the scaling view on every task and the swap grid (controls, swaps, the
    donors from another input) on ``grid_tasks``; the alpha curve and layer sweeps run at the
    first seed, on ``grid_tasks`` too; file tasks (whose items no seed changes) run at the
    first seed only. ``phase1``: the scaling view on the
    suite models before their ICL phase too (``@step2000``; the suite run only).

    ``n`` distinct items per task (sampled without replacement), so it may not exceed a task's
    population (``interp.tasks.task_population``); ``--mmlu``/``--qqp`` files give their first
    ``n`` examples (all of them when the file is shorter).

    >>> config = Config(out=Path("/tmp/swap"), n=20)
    >>> config.pairs[-4], config.eval_seeds, config.grid_tasks
    (('suite/pythia-s5', 'suite/opt-s5', 'family'), (0, 1, 2), ('knowledge_cloze', 'arithmetic_add'))
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
    seeds: Optional[tuple[int, ...]] = None
    swap_tasks: Optional[tuple[str, ...]] = None
    phase1: bool = True

    def validate(self) -> None:
        for name in ("models", "donors", "tasks", "mmlu_subjects", "seeds", "swap_tasks"):
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
        self._check_seeds()
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

    def _check_seeds(self) -> None:
        if self.seeds is not None and (not self.seeds or len(set(self.seeds)) != len(self.seeds)):
            raise ValueError(f"--seeds {' '.join(map(str, self.seeds))}: give one or more "
                             "distinct evaluation seeds")
        if self.swap_tasks is not None and not self.swap_tasks:
            raise ValueError("--swap-tasks is empty: name at least one of --tasks to swap on")
        for task in self.swap_tasks or ():
            if task not in self.tasks:
                raise ValueError(f"--swap-tasks {task} is not in --tasks: add it to --tasks "
                                 "or drop it from --swap-tasks")

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
    def eval_seeds(self) -> tuple[int, ...]:
        """The evaluation seeds, first one first (see the class docstring)."""
        if self.seeds is not None:
            return self.seeds
        count = DEFAULT_SEEDS if self.models is None else 1
        return tuple(self.seed + k for k in range(count))

    @property
    def grid_tasks(self) -> tuple[str, ...]:
        """The tasks the swap grid and sweeps run on: ``swap_tasks``; else, with the default
        ``tasks``, ``DEFAULT_SWAP_TASKS``; else every task; plus the file tasks given
        (``mmlu``, ``qqp_glue``)."""
        if self.swap_tasks is not None:
            return self.swap_tasks
        files = tuple(task for task, flag in FILE_TASKS.items() if getattr(self, flag) is not None)
        chosen = DEFAULT_SWAP_TASKS if self.tasks == DEFAULT_TASKS else self.tasks
        return tuple(dict.fromkeys(chosen + files))

    @property
    def ladders(self) -> dict[str, tuple[str, ...]]:
        """The scaling ladders by phase: ``final`` (the models as shipped) and, for the suite
        run with ``phase1``, ``phase-1`` (the same models before their ICL phase)."""
        ladders = {"final": self.ladder}
        if self.phase1 and self.models is None:
            ladders["phase-1"] = tuple(f"{m}{PHASE1}" for m in self.ladder)
        return ladders

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
