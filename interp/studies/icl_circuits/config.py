"""The ICL-circuits study's settings: base models, target and held-out tasks, variants, toy."""

from __future__ import annotations

from dataclasses import dataclass
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
DEFAULT_HELDOUT = ("icl_fixed_flipped", "icl_heldout")
DEFAULT_SHOTS = (0, 1, 2, 4, 8, 16)
DEFAULT_TRAINABLE = ("all", "attn", "qk", "v", "o", "none")
DEFAULT_ATTRIBUTION = ("all", "attn", "qk", "v")
DEFAULT_N = 48
FLOAT32 = (None, "float32", "fp32")


@dataclass(frozen=True, kw_only=True)
class Config(StudyConfig):
    """One ICL-circuits run: ``variants`` are trainable sets (each also with the few-shot
    loss), ``attribution`` the zero-shot variants (seed 0) patched against the base.

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
    seeds: int = 3
    steps: int = 60
    lr: float = 2e-3
    fs_shots: int = 4
    attribution: tuple[str, ...] = DEFAULT_ATTRIBUTION
    attribution_shots: int = 8
    toy_seeds: int = 3
    toy_steps: Optional[tuple[int, int]] = None
    toy_eval_prompts: int = 2000

    def validate(self) -> None:
        for name in ("models", "heldout_tasks", "shots", "variants", "attribution", "toy_steps"):
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
        for name in self.attribution:
            Variant.parse(name)  # an unknown trainable set fails here
        if self.toy_steps is not None and (len(self.toy_steps) != 2 or min(self.toy_steps) < 1):
            raise ValueError("--toy-steps takes two counts >= 1: pretraining and fine-tuning steps")
        for name in self.models:
            resolve(name)  # a name that is no model fails here, before anything loads
        for name in self.tasks:  # unknown names fail here (two items: every task has them)
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

    @property
    def variant_list(self) -> list[Variant]:
        """The fine-tuning variants: each trainable set with and without the few-shot loss."""
        return variants(self.variants)

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
