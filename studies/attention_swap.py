"""Attention swap: run a model on another model's attention patterns and measure what breaks.

Hypothesis under test (arXiv 2510.21866): swapping attention patterns between models causes
complete accuracy loss rather than graceful degradation, and accuracy on knowledge tasks does
not move with loss as models grow. Donors are graded (the same run before its ICL phase, a
sibling seed, another size, the other family; each also from another input), each beside
controls: a self-swap on the same input (asserted to change nothing), own patterns from
another input (the matched control), uniform causal patterns and head-shuffled own patterns;
over several pairs per kind and three evaluation seeds. The study lives in
``interp.studies.attention_swap``; this file turns flags into its Config.

Default: the embedded suite on CPU (see the README for the measured time):
    python studies/attention_swap.py --threads 1
Real checkpoints:
    python studies/attention_swap.py --models EleutherAI/pythia-410m EleutherAI/pythia-1b \\
        --donors EleutherAI/pythia-410m@step3000 --mmlu data/mmlu --device cuda --dtype bf16
"""

from __future__ import annotations

import argparse
import sys

from interp.runs.cli import add_common_flags, common_settings, study_main
from interp.studies.attention_swap import DEFAULT_TASKS, STUDY, Config


def parser() -> argparse.ArgumentParser:
    """The study's flags: the shared ones plus models, donors and the head mapping."""
    made = argparse.ArgumentParser(
        prog="python studies/attention_swap.py",
        description="Swap attention patterns between models; controls, scaling view, figures.",
    )
    add_common_flags(made, out="figures/attention_swap")
    made.add_argument("--models", nargs="+", default=None,
                      help="recipients and the scaling ladder (default: the suite's 10 models)")
    made.add_argument("--donors", nargs="+", default=None,
                      help="donors; every --models recipient is swapped with every donor "
                           "(default: the suite's checkpoint, size, family and seed pairs)")
    made.add_argument("--heads", choices=["index", "mean", "match"], default="match",
                      help="head mapping when donor and recipient head counts differ")
    made.add_argument("--sweeps", action=argparse.BooleanOptionalAction, default=True,
                      help="the focus pair's alpha curve and per-layer sweeps (default on; "
                           "--no-sweeps skips them: 3 x layers + 5 cells fewer)")
    made.add_argument("--seeds", nargs="+", type=int, default=None,
                      help="evaluation seeds, each drawing its own items and head shuffles "
                           "(default: 3 seeds from --seed for the suite run, --seed alone "
                           "with --models)")
    made.add_argument("--swap-tasks", nargs="+", default=None,
                      help="tasks the swap grid and sweeps run on (default: every --tasks "
                           "task; with the default tasks, knowledge_cloze and arithmetic_add, "
                           "the two the suite solves); the scaling view runs every task")
    made.add_argument("--phase1", action=argparse.BooleanOptionalAction, default=True,
                      help="the scaling view on the suite models before their ICL phase too "
                           "(@step2000; suite run only; default on)")
    made.add_argument("--mmlu-shots", type=int, default=None,
                      help="MMLU dev questions shown before each test question (default: 5 "
                           "where --mmlu has a dev split, else 0)")
    made.add_argument("--mmlu-subjects", nargs="+", default=None,
                      help="MMLU subjects to score, or the preset 'math' (paper A's "
                           "mathematics subjects); default: every subject found")
    return made


def make_config(args: argparse.Namespace) -> Config:
    """The flags as a Config (validated on construction)."""
    return Config(**common_settings(args), models=args.models, donors=args.donors,
                  tasks=_tasks(args), mmlu=args.mmlu, mmlu_shots=args.mmlu_shots,
                  mmlu_subjects=args.mmlu_subjects, qqp=args.qqp, heads=args.heads,
                  sweeps=args.sweeps, seeds=args.seeds, swap_tasks=args.swap_tasks,
                  phase1=args.phase1)


def _tasks(args: argparse.Namespace) -> tuple[str, ...]:
    # --tasks mmlu alone means MMLU only; --mmlu without --tasks adds it to the defaults.
    return tuple(args.tasks) if args.tasks else DEFAULT_TASKS


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, parser(), argv, make_config)


if __name__ == "__main__":
    sys.exit(main())
