"""Which fine-tuning keeps in-context learning: Q/K or V? Variants, attribution by patching, toy.

Question (arXiv 2602.23197): fine-tuning a model zero-shot on one task can destroy its
in-context learning (ICL); the paper's theory says updating only the value matrix keeps it,
and an auxiliary few-shot loss helps ICL on the target task but not on held-out tasks.

1. Variants: fine-tune the base model zero-shot on a target task (default ``icl_fixed``: one
   fixed mapping animals -> dax, colors -> wug, asked with 0 shots), training all weights,
   attention (q, k, v, o), q + k, q, k, v, o, or nothing; the sets in --fs-variants also with
   the few-shot loss (weight annealed 1 -> 0). Several seeds (training draws) per variant.
2. Evaluation at k = 0, 1, 2, 4, 8 shots (a 1-shot prompt shows a drawn category) on the
   target and held-out tasks (default ``icl_fixed_flipped``: the reversed mapping shown, the
   -theta0 test; ``icl_fixed_flipped_unshown``: the same with the query word never shown;
   ``icl_other`` and ``icl_unshown``: in-context tasks the bases can do; ``icl_heldout``: the
   no-ICL control), item by item (a prompt space smaller than --n is scored exhaustively).
   Beside each accuracy: the target's at the same k, the output-label distribution and the
   chance-normalised kept share; each variant's reading (format collapse or not).
3. A learning-rate x steps grid (--grid-*) of Q/K-only and V-only: capacity vs intervention.
4. Attribution over the seeds: per layer, patch the attention pattern (= Q and K, same tokens)
   or the V activations between base and fine-tuned model, both directions; fraction of the
   gap restored where the gap can be divided by. ICL heads: attention to the labels.
5. The paper's toy: one linear-attention layer on in-context linear regression.

The study lives in ``interp.studies.icl_circuits``; this file turns flags into its Config.
It fine-tunes and scores in float32 (a --dtype other than float32 is refused).

Default: the embedded suite on CPU, trimmed to fit 5 minutes (see the README for the time
and for the fuller run):
    python studies/icl_circuits.py
Real checkpoints:
    python studies/icl_circuits.py --models EleutherAI/pythia-160m --device cuda
"""

from __future__ import annotations

import argparse
import sys

from interp.runs.cli import add_common_flags, common_settings, fail_cleanly, study_main
from interp.studies.icl_circuits import (DEFAULT_ATTRIBUTION, DEFAULT_FS, DEFAULT_GRID_VARIANTS,
                                         DEFAULT_HELDOUT, DEFAULT_MODELS, DEFAULT_N,
                                         DEFAULT_SHOTS, DEFAULT_TARGET, DEFAULT_TRAINABLE, STUDY,
                                         Config)
from interp.training import NonFiniteLossError


def parser() -> argparse.ArgumentParser:
    """The study's flags: the shared ones (no --tasks/--mmlu/--qqp) plus its own."""
    made = argparse.ArgumentParser(
        prog="python studies/icl_circuits.py",
        description="Fine-tuning variants vs in-context learning; QK/V patching; linear toy.",
    )
    add_common_flags(made, out="figures/icl_circuits", tasks=False, data_files=False)
    made.set_defaults(n=DEFAULT_N)
    add = made.add_argument
    add("--models", nargs="+", default=list(DEFAULT_MODELS),
        help=f"base models to fine-tune (default {' '.join(DEFAULT_MODELS)})")
    add("--target-task", default=DEFAULT_TARGET,
        help="zero-shot task to fine-tune on (needs a 'train' split and 'shots')")
    add("--heldout-tasks", nargs="+", default=list(DEFAULT_HELDOUT),
        help="tasks whose k-shot accuracy measures ICL beyond the target")
    add("--shots", nargs="+", type=int, default=list(DEFAULT_SHOTS),
        help="demonstration counts to evaluate (default 0 1 2 4 8)")
    add("--variants", nargs="+", default=list(DEFAULT_TRAINABLE),
        help="trainable sets: all attn qk q k v o none (each also +fs)")
    add("--fs-variants", nargs="*", default=list(DEFAULT_FS),
        help=f"trainable sets also trained with the few-shot loss (default {' '.join(DEFAULT_FS)})")
    add("--seeds", type=int, default=3, help="fine-tuning seeds per variant")
    add("--steps", type=int, default=40, help="fine-tuning steps")
    add("--lr", type=float, default=2e-3, help="peak fine-tuning learning rate")
    add("--fs-shots", type=int, default=4,
        help="demonstrations per prompt of the auxiliary few-shot loss")
    add("--attribution", nargs="+", default=list(DEFAULT_ATTRIBUTION),
        help="zero-shot variants (seed 0) to patch against the base model")
    add("--attribution-shots", type=int, default=8,
        help="shots of the prompts patched and of the ICL-head scores")
    add("--attribution-tasks", nargs="+", default=["icl_fixed_flipped"],
        help="tasks the attribution patches on (default icl_fixed_flipped)")
    add("--grid-variants", nargs="*", default=list(DEFAULT_GRID_VARIANTS),
        help="trainable sets of the lr x steps grid (zero-shot loss; none given: no grid)")
    add("--grid-lrs", nargs="+", type=float, default=[5e-4, 2e-3],
        help="learning rates of the grid (default 5e-4 2e-3)")
    add("--grid-steps", nargs="+", type=int, default=[15, 40],
        help="step counts of the grid (default 15 40)")
    add("--grid-seeds", type=int, default=1, help="fine-tuning seeds per grid point")
    add("--toy-seeds", type=int, default=3,
        help="fine-tuning seeds of the linear-attention toy (0 skips it)")
    add("--toy-steps", type=int, nargs=2, default=None, metavar=("PRE", "FT"),
        help="toy pretraining and fine-tuning steps (default 1200 200)")
    add("--toy-eval-prompts", type=int, default=1000,
        help="toy test prompts per (variant, task, shots)")
    return made


def make_config(args: argparse.Namespace) -> Config:
    """The flags as a Config (validated on construction)."""
    own = ("models", "target_task", "heldout_tasks", "shots", "variants", "fs_variants", "seeds",
           "steps", "lr", "fs_shots", "attribution", "attribution_shots", "attribution_tasks",
           "grid_variants", "grid_lrs", "grid_steps", "grid_seeds", "toy_seeds", "toy_steps",
           "toy_eval_prompts")
    return Config(**common_settings(args), **{name: getattr(args, name) for name in own})


def main(argv: list[str] | None = None) -> int:
    with fail_cleanly():
        try:
            return study_main(STUDY, parser(), argv, make_config)
        except NonFiniteLossError as error:
            raise ValueError(f"{error}; lower --lr or --steps") from None


if __name__ == "__main__":
    sys.exit(main())
