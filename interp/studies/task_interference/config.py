"""The task-interference study's settings: the size ladder, the tasks, the training variants."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from interp.sources import SUITE_DIR, resolve
from interp.runs.study import StudyConfig
from interp.studies.task_interference.facts import continued_lr, extreme_copies, rare_copy
from interp.tasks import available_tasks

FAMILY_SIZES = ("s1", "s2", "s3", "s4", "s5")
DEFAULT_FREQUENT = ("arithmetic_add", "knowledge_cloze", "icl")
DEFAULT_RARE = tuple(f"rare_{kind}_{k}" for kind in ("comparison", "modadd") for k in range(6))
EXPERIMENTS = ("ladder", "gradients", "forget", "recovery")
COUNTS = ("grad_n", "fisher_n", "eval_n", "train_batch", "train_steps", "recovery_steps")
LISTS = ("tasks", "models", "checkpoints", "train_models", "recovery_models", "frequent_tasks",
         "rare_tasks", "experiments", "gradient_tasks", "groups", "gaps", "factors")


@dataclass(frozen=True, kw_only=True)
class Config(StudyConfig):
    """One task-interference run. Unset lists take the suite defaults of ``family``;
    ``tasks`` gives both kinds at once, split by name (``rare_*`` are rare).

    >>> Config(models=("suite/pythia-s1",)).plan()["checkpoints"]
    []
    >>> Config(gaps=(32,))
    Traceback (most recent call last):
    ...
    ValueError: --gaps must be between 0 and --train-batch (16): n blocks every n steps needs n sequences in one batch
    """

    out: Path = Path("figures/task_interference")
    tasks: Optional[tuple[str, ...]] = None
    family: str = "pythia"
    models: Optional[tuple[str, ...]] = None
    checkpoints: Optional[tuple[str, ...]] = None
    train_models: Optional[tuple[str, ...]] = None
    recovery_models: Optional[tuple[str, ...]] = None
    frequent_tasks: Optional[tuple[str, ...]] = None
    rare_tasks: Optional[tuple[str, ...]] = None
    focus_task: str = "rare_comparison_4"
    experiments: tuple[str, ...] = EXPERIMENTS
    gradient_tasks: Optional[tuple[str, ...]] = None
    groups: Optional[tuple[str, ...]] = None
    grad_n: int = 64
    fisher_n: int = 16
    top_fraction: float = 0.01
    gaps: tuple[int, ...] = (0, 1, 4, 16)
    train_steps: int = 64
    burn_in: int = 16
    factors: tuple[float, ...] = (1, 4, 16, 64)
    recovery_steps: int = 160
    train_batch: int = 16
    lr: Optional[float] = None
    lr_scale: float = 0.3
    eval_n: int = 64

    def validate(self) -> None:
        for name in LISTS:
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.family not in ("pythia", "opt"):
            raise ValueError(f"family must be pythia or opt, got {self.family!r}")
        for name in COUNTS:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        for name in self.experiments:
            if name not in EXPERIMENTS:
                raise ValueError(f"unknown experiment {name!r}: choose from {', '.join(EXPERIMENTS)}")
        for name in (*(self.tasks or ()), *(self.frequent_tasks or ())):
            check_task_name(name)
        if self.tasks and (self.frequent_tasks or self.rare_tasks):
            raise ValueError("give --tasks (split by name) or --frequent-tasks/--rare-tasks, not both")
        if self.tasks and not (any(t.startswith("rare_") for t in self.tasks)
                               and any(not t.startswith("rare_") for t in self.tasks)):
            raise ValueError("--tasks needs both kinds: rare_* ladder tasks and frequent tasks "
                             "(or use --frequent-tasks / --rare-tasks)")
        plan = self.plan()
        for name in (*plan["rare"], self.focus_task, *plan["gradient_tasks"]):
            rare_copy(name)
        lists = ("models", "checkpoints", "train_models", "recovery_models")
        for name in dict.fromkeys(m for key in lists for m in plan[key]):
            resolve(name)  # unknown names fail here, before an hour of work
        if "forget" in self.experiments or "recovery" in self.experiments:
            for name in dict.fromkeys(plan["train_models"] + plan["recovery_models"]):
                continued_lr(name, self.lr, self.lr_scale)  # non-suite models need --lr
        self._check_training()

    def _check_training(self) -> None:
        if any(g < 0 or g > self.train_batch for g in self.gaps):
            raise ValueError(f"--gaps must be between 0 and --train-batch ({self.train_batch}): "
                             "n blocks every n steps needs n sequences in one batch")
        if any(f <= 0 for f in self.factors):
            raise ValueError("--factors must be positive")
        if not 0 < self.top_fraction <= 1:
            raise ValueError("--top-fraction must be in (0, 1]")
        if self.burn_in >= self.train_steps:
            raise ValueError("--burn-in must be shorter than --train-steps")

    def plan(self) -> dict[str, list[str]]:
        """Model lists and tasks with the defaults filled in (recorded in results.json)."""
        frequent, rare = self.frequent_tasks, self.rare_tasks
        if self.tasks:
            rare = [t for t in self.tasks if t.startswith("rare_")]
            frequent = [t for t in self.tasks if not t.startswith("rare_")]
        frequent = list(frequent or DEFAULT_FREQUENT)
        rare = list(rare or DEFAULT_RARE)
        for name in rare:
            rare_copy(name)  # extreme_copies needs ladder names
        suite = [f"suite/{self.family}-{s}" for s in FAMILY_SIZES]
        return dict(frequent=frequent, rare=rare,
                    gradient_tasks=list(self.gradient_tasks or extreme_copies(rare)),
                    models=list(self.models or suite), checkpoints=self._checkpoints(),
                    train_models=list(self.train_models or suite[:3]),
                    recovery_models=list(self.recovery_models or suite[:2]))

    def _checkpoints(self) -> list[str]:
        if self.checkpoints in (("none",), ()):
            return []
        if self.checkpoints:
            return list(self.checkpoints)
        if self.models:
            return []
        folder = SUITE_DIR / f"{self.family}-s3" / "checkpoints"
        steps = sorted(int(p.name[4:]) for p in folder.glob("step*") if p.name[4:].isdigit())
        return [f"suite/{self.family}-s3@step{s}" for s in steps]


def check_task_name(name: str) -> None:
    """A clear error, with the closest name, for a task interp.tasks does not know.

    >>> check_task_name("arithmetic_ad")
    Traceback (most recent call last):
    ...
    ValueError: unknown task 'arithmetic_ad'. Did you mean 'arithmetic_add'? See interp.tasks.available_tasks()
    """
    known = available_tasks()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown task {name!r}.{hint} See interp.tasks.available_tasks()")
