"""The ICL-circuits study's settings: base models, target and held-out tasks, variants, toy."""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path
from typing import Optional

from interp.sources import resolve
from interp.runs.study import StudyConfig
from interp.studies.icl_circuits.toy import ToyConfig
from interp.tasks import get_task
from interp.training.finetune import FineTuneConfig, Variant, variants

# The smallest suite model of each family that reads ICL prompts (card, "ICL during the ICL
# phase"): the claim is about keeping ICL, so the base must have it. pythia-s4 does not.
DEFAULT_MODELS = ("suite/opt-s4", "suite/pythia-s5")
DEFAULT_TARGET = "icl_fixed"
# The reversed mapping (shown, and with the query word never shown), then an in-context task
# on which the bases have ICL away from the fine-tuned family (icl_unshown, the card's, is one
# more: the fuller run adds it), then icl_heldout, on which they do not: the no-ICL control
# (a fall there is no loss of ICL).
DEFAULT_HELDOUT = ("icl_fixed_flipped", "icl_fixed_flipped_unshown", "icl_other", "icl_heldout")
CONTROL_TASKS = ("icl_heldout",)
# The default run is trimmed to fit 5 minutes on 2 cores (issue 20); the README gives the
# fuller run (k = 16, attn, 60 steps, a wider grid) and its time.
DEFAULT_SHOTS = (0, 1, 2, 4, 8)
DEFAULT_TRAINABLE = ("all", "qk", "q", "k", "v", "o", "none")
DEFAULT_FS = ("all", "qk", "v")  # the sets also trained with the few-shot loss
DEFAULT_ATTRIBUTION = ("qk", "v")
DEFAULT_GRID_VARIANTS = ("qk", "v")
DEFAULT_N = 40  # distinct prompts per (task, k): 48 before the 5-minute trim
FLOAT32 = (None, "float32", "fp32")


@dataclass(frozen=True, kw_only=True)
class Config(StudyConfig):
    """One ICL-circuits run: ``variants`` are trainable sets (those in ``fs_variants`` also
    with the few-shot loss), ``attribution`` the zero-shot variants patched against the base
    (every seed) on ``attribution_tasks``; ``grid_*`` the lr x steps grid.

    >>> Config(out=Path("/tmp/icl")).variant_list[-1].name
    'none'
    >>> Config(out=Path("/tmp/icl"), shots=(2, 4))
    Traceback (most recent call last):
    ...
    ValueError: --shots must include 0 and at least one count >= 1
    """

    out: Path = Path("figures/icl_circuits")
    n: int = DEFAULT_N
    models: tuple[str, ...] = DEFAULT_MODELS
    target_task: str = DEFAULT_TARGET
    heldout_tasks: tuple[str, ...] = DEFAULT_HELDOUT
    shots: tuple[int, ...] = DEFAULT_SHOTS
    variants: tuple[str, ...] = DEFAULT_TRAINABLE
    fs_variants: tuple[str, ...] = DEFAULT_FS
    seeds: int = 3
    steps: int = 40
    lr: float = 2e-3
    fs_shots: int = 4
    attribution: tuple[str, ...] = DEFAULT_ATTRIBUTION
    attribution_shots: int = 8
    attribution_tasks: tuple[str, ...] = ("icl_fixed_flipped",)
    # lr x steps grid (zero-shot loss only, seeds 0..grid_seeds-1) of grid_variants, scored on
    # the target and the first held-out task: capacity against the intervention.
    grid_variants: tuple[str, ...] = DEFAULT_GRID_VARIANTS
    grid_lrs: tuple[float, ...] = (5e-4, 2e-3)
    grid_steps: tuple[int, ...] = (15, 40)
    grid_seeds: int = 1
    toy_seeds: int = 3
    toy_steps: Optional[tuple[int, int]] = None
    toy_eval_prompts: int = 1000

    def validate(self) -> None:
        for name in ("models", "heldout_tasks", "shots", "variants", "attribution", "toy_steps",
                     "attribution_tasks", "grid_variants", "grid_lrs", "grid_steps", "fs_variants"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.dtype not in FLOAT32:
            raise ValueError(f"--dtype {self.dtype}: this study fine-tunes and scores in float32 "
                             "only; drop --dtype")
        if self.seeds < 1 or self.steps < 1 or self.n < 2:
            raise ValueError("--seeds and --steps must be >= 1 and --n >= 2")
        if any(k < 0 for k in self.shots) or 0 not in self.shots or len(self.shots) < 2:
            raise ValueError("--shots must include 0 and at least one count >= 1")
        if self.attribution_shots < 1:
            raise ValueError("--attribution-shots must be >= 1: ICL heads and patches read the "
                             "demonstrations")
        if not any(v.trainable == "none" for v in self.variant_list):
            raise ValueError("--variants must include 'none': it is the base every variant is "
                             "compared to")
        for name in (*self.attribution, *self.grid_variants, *self.fs_variants):
            Variant.parse(name)  # an unknown trainable set fails here
        if self.grid_variants and (self.grid_seeds < 1 or not self.grid_lrs or not self.grid_steps
                                   or min(self.grid_lrs) <= 0 or min(self.grid_steps) < 1):
            raise ValueError("--grid-lrs must be > 0, --grid-steps and --grid-seeds >= 1 "
                             "(or give no --grid-variants)")
        if self.toy_steps is not None and (len(self.toy_steps) != 2 or min(self.toy_steps) < 1):
            raise ValueError("--toy-steps takes two counts >= 1: pretraining and fine-tuning steps")
        for name in self.models:
            resolve(name)  # a name that is no model fails here, before anything loads
        if self.attribution and not self.attribution_tasks:
            raise ValueError("--attribution-tasks: name at least one task to patch on")
        for name in (*self.tasks, *self.attribution_tasks):  # unknown names fail here
            get_task(name, n=2, seed=self.seed, split="test", shots=0)
        get_task(self.target_task, n=2, split="train", shots=self.fs_shots)  # fail early if unfit

    @property
    def tasks(self) -> tuple[str, ...]:
        """Every evaluated task: the target first, then the held-out ones."""
        return (self.target_task, *self.heldout_tasks)

    def chance(self, task: str) -> float:
        """Chance accuracy on ``task``: one over its number of answer choices.

        >>> Config(out=Path("/tmp/icl")).chance("icl_fixed_flipped")
        0.5
        """
        example = get_task(task, n=1, seed=self.seed, split="test", shots=1).examples[0]
        return 1 / len(example.choices)

    def role(self, task: str) -> str:
        """"target", "control" (a task the bases have no ICL on) or "heldout".

        >>> Config(out=Path("/tmp/icl")).role("icl_heldout")
        'control'
        """
        if task == self.target_task:
            return "target"
        return "control" if task in CONTROL_TASKS else "heldout"

    def fixed_choices(self, task: str) -> bool:
        """Whether every prompt of ``task`` offers the same labels (then one label chosen on
        nearly every prompt is a constant answer, not a reading of the prompt).

        >>> cfg = Config(out=Path("/tmp/icl"))
        >>> cfg.fixed_choices("icl_fixed_flipped"), cfg.fixed_choices("icl_other")
        (True, False)
        """
        examples = get_task(task, n=8, seed=self.seed, split="test", shots=1).examples
        return len({e.choices for e in examples}) == 1

    @property
    def grid(self) -> list[FineTuneConfig]:
        """The lr x steps grid's training settings (the main setting among them if it lies on
        the grid: its weights are then reused)."""
        return [replace(self.finetune, lr=lr, steps=steps)
                for lr, steps in product(self.grid_lrs, self.grid_steps)]

    @property
    def variant_list(self) -> list[Variant]:
        """The fine-tuning variants: each trainable set, and those in ``fs_variants`` also
        with the few-shot loss.

        >>> [v.name for v in Config(out=Path("/tmp/icl"), variants=("q", "v", "none"),
        ...                         fs_variants=("v",)).variant_list]
        ['q', 'v', 'v+fs', 'none']
        """
        return [v for v in variants(self.variants)
                if not v.few_shot or v.trainable in self.fs_variants]

    @property
    def finetune(self) -> FineTuneConfig:
        """What every variant trains on and for how long."""
        return FineTuneConfig(target_task=self.target_task, steps=self.steps, lr=self.lr,
                              fs_shots=self.fs_shots)

    @property
    def toy(self) -> ToyConfig:
        """The linear-attention toy's sizes and schedules."""
        pretrain, finetune = self.toy_steps or (ToyConfig.pretrain_steps, ToyConfig.finetune_steps)
        return ToyConfig(pretrain_steps=pretrain, finetune_steps=finetune,
                         eval_prompts=self.toy_eval_prompts)
