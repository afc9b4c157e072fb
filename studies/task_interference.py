"""Task interference: why larger models keep rare tasks that smaller ones lose.

Hypothesis under test (arXiv 2605.29548): in small models the gradients of frequent tasks
overwrite what a rare task's instances wrote ("update and forget"); larger models master the
frequent tasks, their pull fades, and rare signals stick. Raising a rare task's frequency can
anchor it in a small model instead. Four experiments (interp.studies.task_interference):

1. ladder: rare-task accuracy/loss over training frequency x model size, and over checkpoints;
2. gradients: rare-task gradient direction against the frequent tasks' and the mixture's, per
   parameter group; a mixed batch's gradient split into rare-token and other-token parts;
   Fisher overlap of the most important parameters; against size and checkpoint;
3. forget: continued training on the model's mixture with rare blocks injected (matched
   frequency: n blocks every n steps), rare loss traced every step;
4. recovery: continued training of small models with the rare task upsampled.

Rare copies have about 60 distinct test instances each: ``--n``, ``--grad-n`` and ``--eval-n``
are capped at a task's population, so by default every rare copy is scored exhaustively and
the tables report the real n. Writes the tables, items.csv.gz (per-instance outcomes),
CAPTIONS.md and FINDINGS.md (every number of the README section, with its interval).

Default: the embedded suite on CPU (297 s wall, 277 s CPU on one core, fresh folder, a shared
2-core machine, 2026-12-02; the fuller run's command and cost are in the README):
    python studies/task_interference.py
Real checkpoints (rare tasks are over made-up tokens, so any tokenizer works):
    python studies/task_interference.py --models EleutherAI/pythia-70m EleutherAI/pythia-160m \\
        --checkpoints none --train-models EleutherAI/pythia-70m --recovery-models \\
        EleutherAI/pythia-70m --lr 1e-4 --device cuda
Tasks: ``--frequent-tasks`` and ``--rare-tasks``; or ``--tasks`` with both kinds mixed,
split by name (``rare_*`` tasks are rare, all others frequent).
"""

from __future__ import annotations

import argparse
import sys

from interp.runs.cli import add_common_flags, common_settings, study_main
from interp.studies.task_interference import DEFAULT_FREQUENT, EXPERIMENTS, STUDY, Config
from interp.studies.task_interference.config import CONTROLS

LISTS = ("tasks", "models", "checkpoints", "phase1", "train_models", "recovery_models",
         "frequent_tasks", "rare_tasks", "experiments", "gradient_tasks", "groups", "gaps",
         "factors", "controls")
VALUES = ("checkpoint_gradients", "family", "focus_task", "grad_n", "fisher_n", "top_fraction", "train_steps",
          "burn_in", "recovery_steps", "train_batch", "lr", "lr_scale", "eval_n", "control_gap",
          "reference_training")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python studies/task_interference.py",
        description="Frequent-vs-rare task interference in gradients and weights, across sizes.")
    add_common_flags(p, out="figures/task_interference", data_files=False)
    add = p.add_argument
    add("--family", choices=["pythia", "opt"], default="pythia",
        help="suite family for the default model lists (default pythia)")
    add("--models", nargs="+", default=None,
        help="size ladder for experiments 1-2 (default: suite/<family>-s1..s5 and every "
             "shipped sibling seed suite/<family>-sK-seedN)")
    add("--checkpoints", nargs="+", default=None,
        help="checkpoints for the trajectories of experiments 1-2 (default: every "
             "suite/<family>-s3@stepN shipped; 'none' to skip)")
    add("--checkpoint-gradients", action="store_true",
        help="run experiment 2 on the --checkpoints too (default: the ladder only; the "
             "gradients take the final and phase-1 models)")
    add("--phase1", nargs="+", default=None,
        help="phase-1 checkpoints scored beside the final models in experiments 1-2 (default: "
             "suite/<family>-s1..s5@step2000, before the ICL phase; 'none' to skip)")
    add("--train-models", nargs="+", default=None,
        help="models continued in experiment 3 (default suite/<family>-s1 s2 s3)")
    add("--recovery-models", nargs="+", default=None,
        help="small models continued in experiment 4 (default suite/<family>-s1 s2)")
    add("--frequent-tasks", nargs="+", default=None,
        help=f"frequent tasks (default {' '.join(DEFAULT_FREQUENT)})")
    add("--rare-tasks", nargs="+", default=None,
        help="rare ladder tasks (default rare_comparison_0..5, rare_modadd_0..5)")
    add("--focus-task", default="rare_comparison_4",
        help="rare task injected (exp. 3) and upsampled (exp. 4)")
    add("--experiments", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS),
        help="which experiments to run (default all)")
    add("--gradient-tasks", nargs="+", default=None,
        help="rare tasks of experiment 2 (default: the most and the least frequent copy of "
             "each kind among the rare tasks)")
    add("--groups", nargs="+", default=None,
        help="parameter groups for experiment 2 (default all: embed, L0.attn_qkv, ...)")
    add("--grad-n", type=int, default=64,
        help="instances per task for gradient directions (default 64; capped at the task's "
             "population)")
    add("--fisher-n", type=int, default=16, help="instances per task for the diagonal Fisher (default 16)")
    add("--top-fraction", type=float, default=0.01,
        help="fraction of parameters in a task's top-Fisher set (default 0.01)")
    add("--gaps", nargs="+", type=int, default=[0, 1, 4, 16],
        help="matched-frequency variants: n blocks every n steps; 0 = no injection")
    add("--controls", nargs="*", choices=CONTROLS, default=list(CONTROLS),
        help="forget-run controls at --control-gap: freeze (no update between injections), "
             "rare_only (injection steps on their rare rows alone, momentum only between); "
             "give none to skip (default both)")
    add("--control-gap", type=int, default=None,
        help="the gap whose run gets the controls (default the largest of --gaps)")
    add("--no-reference-training", dest="reference_training", action="store_false",
        help="skip the yardstick's continued training at x1 in experiment 4 (default: the "
             "largest seed-0 ladder model gets the same continued training as the small ones)")
    add("--train-steps", type=int, default=64, help="steps of continued training in experiment 3 (default 64)")
    add("--burn-in", type=int, default=16,
        help="steps before the first injection (default 16; also the LR warmup)")
    add("--factors", nargs="+", type=float, default=[1, 64],
        help="upsampling factors of the focus task's frequency (experiment 4; default 1 64, "
             "the fuller run 1 4 16 64)")
    add("--recovery-steps", type=int, default=160,
        help="steps of continued training in experiment 4 (default 160)")
    add("--train-batch", type=int, default=16, help="sequences per training step (default 16)")
    add("--lr", type=float, default=None,
        help="learning rate of continued training (default: lr-scale x the suite model's peak "
             "LR; required for non-suite models)")
    add("--lr-scale", type=float, default=0.3, help="fraction of the suite's peak LR (default 0.3)")
    add("--eval-n", type=int, default=100,
        help="held-out focus-task instances traced during training (default 100, capped at the "
             "task's population: all of them)")
    return p


def make_config(args: argparse.Namespace) -> Config:
    """The flags as a Config (lists as tuples; unset lists stay None for the defaults)."""
    lists = {k: None if getattr(args, k) is None else tuple(getattr(args, k)) for k in LISTS}
    return Config(**common_settings(args), **lists, **{k: getattr(args, k) for k in VALUES})


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, parser(), argv, make_config)


if __name__ == "__main__":
    sys.exit(main())
