"""The task-interference study's settings: the size ladder, the tasks, the training variants."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from interp.sources import SUITE_DIR, resolve
from interp.runs.study import StudyConfig
from interp.studies.task_interference.facts import (
    continued_lr, extreme_copies, rare_copy, suite_siblings)
from interp.tasks import available_tasks

FAMILY_SIZES = ("s1", "s2", "s3", "s4", "s5")
DEFAULT_FREQUENT = ("arithmetic_add", "knowledge_cloze", "icl")
DEFAULT_RARE = tuple(f"rare_{kind}_{k}" for kind in ("comparison", "modadd") for k in range(6))
EXPERIMENTS = ("ladder", "gradients", "forget", "recovery")
# Forget-run controls (at --control-gap): ``freeze`` takes no update between injections after
# the first; ``rare_only`` trains the injection steps on their rare rows alone and lets Adam's
# momentum run on between them with no new gradient. See continued.py.
CONTROLS = ("freeze", "rare_only")
PHASE1_STEP = 2000  # the suite's phase-1 checkpoint, before the ICL phase
COUNTS = ("grad_n", "fisher_n", "eval_n", "train_batch", "train_steps", "recovery_steps")
LISTS = ("tasks", "models", "checkpoints", "phase1", "train_models", "recovery_models",
         "frequent_tasks", "rare_tasks", "experiments", "gradient_tasks", "groups", "gaps",
         "factors", "controls")


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
    phase1: Optional[tuple[str, ...]] = None
    checkpoint_gradients: bool = False  # gradients over --checkpoints too (the ladder always)
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
    controls: tuple[str, ...] = CONTROLS
    control_gap: Optional[int] = None
    reference_training: bool = True
    train_steps: int = 64
    burn_in: int = 16
    factors: tuple[float, ...] = (1, 64)  # the fuller run: 1 4 16 64 (README)
    recovery_steps: int = 160
    train_batch: int = 16
    lr: Optional[float] = None
    lr_scale: float = 0.3
    eval_n: int = 100  # capped at the focus copy's population: every instance is traced

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
        lists = ("models", "checkpoints", "phase1", "train_models", "recovery_models", "reference")
        for name in dict.fromkeys(m for key in lists for m in plan[key]):
            resolve(name)  # unknown names fail here, before an hour of work
        if "forget" in self.experiments or "recovery" in self.experiments:
            for name in dict.fromkeys(plan["train_models"] + plan["recovery_models"]
                                      + plan["reference"]):
                continued_lr(name, self.lr, self.lr_scale)  # non-suite models need --lr
        self._check_training()

    def _check_training(self) -> None:
        if any(g < 0 or g > self.train_batch for g in self.gaps):
            raise ValueError(f"--gaps must be between 0 and --train-batch ({self.train_batch}): "
                             "n blocks every n steps needs n sequences in one batch")
        for name in self.controls:
            if name not in CONTROLS:
                raise ValueError(f"unknown control {name!r}: choose from {', '.join(CONTROLS)}")
        if self.controls and self._control_gap() not in [g for g in self.gaps if g]:
            raise ValueError(f"--control-gap must be one of the injected --gaps "
                             f"({', '.join(str(g) for g in self.gaps if g) or 'none'})")
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
        models = list(self.models or suite + suite_siblings(self.family, FAMILY_SIZES))
        return dict(frequent=frequent, rare=rare,
                    gradient_tasks=list(self.gradient_tasks or extreme_copies(rare)),
                    models=models, checkpoints=self._checkpoints(), phase1=self._phase1(suite),
                    train_models=list(self.train_models or suite[:3]),
                    recovery_models=list(self.recovery_models or suite[:2]),
                    reference=self._reference(models))

    def control_gap_of(self) -> Optional[int]:
        """The gap the forget controls run at: ``control_gap``, else the largest injected gap.

        >>> Config(models=("suite/pythia-s1",)).control_gap_of()
        16
        """
        return self._control_gap()

    def _control_gap(self) -> Optional[int]:
        injected = [g for g in self.gaps if g]
        if self.control_gap is not None:
            return self.control_gap
        return max(injected) if injected else None

    def _phase1(self, suite: list[str]) -> list[str]:
        """The phase-1 (``@step2000``) checkpoints scored beside the final models."""
        if self.phase1 in (("none",), ()):
            return []
        if self.phase1:
            return list(self.phase1)
        return [] if self.models else [f"{m}@step{PHASE1_STEP}" for m in suite]

    def _reference(self, models: list[str]) -> list[str]:
        """Recovery's yardstick, the largest seed-0 ladder model, given the same continued
        training at the original frequency (x1); empty when switched off."""
        if not self.reference_training or "recovery" not in self.experiments:
            return []
        final = [m for m in models if "@" not in m and "-seed" not in m]
        return final[-1:]

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
