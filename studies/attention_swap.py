"""Attention swap: run a model on another model's attention patterns and measure what breaks.

Hypothesis under test (arXiv 2510.21866): swapping attention patterns between models causes
complete accuracy loss rather than graceful degradation, and accuracy on knowledge tasks does
not move with loss as models grow. Every swap is reported beside controls: a self-swap on the
same input (asserted to change nothing), a self-swap with another input's patterns, uniform
causal patterns and head-shuffled own patterns.

Default: the embedded suite on CPU (about 3 minutes on 2 cores):
    python studies/attention_swap.py
Real checkpoints:
    python studies/attention_swap.py --models EleutherAI/pythia-410m EleutherAI/pythia-1b \\
        --donors EleutherAI/pythia-410m@step3000 --mmlu data/mmlu --device cuda --dtype bf16
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time

DEFAULT_LADDER = [f"suite/{f}-s{i}" for f in ("pythia", "opt") for i in range(1, 6)]
# (recipient, donor, what differs): one pair for each kind of donor the study asks about.
DEFAULT_PAIRS = [
    ("suite/pythia-s3", "suite/pythia-s3@step64", "checkpoint"),
    ("suite/pythia-s3@step64", "suite/pythia-s3", "checkpoint (reverse)"),
    ("suite/pythia-s5", "suite/pythia-s4", "size"),
    ("suite/pythia-s5", "suite/opt-s5", "family"),
    ("suite/opt-s5", "suite/pythia-s5", "family"),
    ("suite/pythia-s3", "suite/pythia-s3-seed1", "seed"),
]
# The three kinds (MMLU-style knowledge, arithmetic procedure, QQP-style pattern
# matching) plus knowledge_cloze: the suite memorises facts as cloze but stays at chance on
# the MC and QQP formats, so cloze is the knowledge task a swap can actually break here.
DEFAULT_TASKS = ["knowledge_mc", "knowledge_cloze", "arithmetic_add", "qqp"]
CONTROLS = ["self", "other_input", "uniform", "shuffle_heads"]
ALPHAS = [0.0, 0.25, 0.5, 0.75, 1.0]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from interp.runs.cli import add_common_flags

    parser = argparse.ArgumentParser(
        prog="python studies/attention_swap.py",
        description="Swap attention patterns between models; controls, scaling view, figures.",
    )
    add_common_flags(parser, out="figures/attention_swap")
    parser.add_argument("--models", nargs="+", default=None,
                        help="recipients and the scaling ladder (default: the suite's 10 models)")
    parser.add_argument("--donors", nargs="+", default=None,
                        help="donors; every --models recipient is swapped with every donor "
                             "(default: the suite's checkpoint, size, family and seed pairs)")
    parser.add_argument("--heads", choices=["index", "mean", "match"], default="match",
                        help="head mapping when donor and recipient head counts differ")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from interp.runs.cli import fail_cleanly

    with fail_cleanly():
        return run(args)


def run(args) -> int:
    import pandas as pd
    import torch

    import interp
    from interp import swap_study
    from interp.runs.cache import ResultCache
    from interp.runs.files import write_atomic

    started = time.time()
    torch.manual_seed(args.seed)
    tasks = swap_study.build_tasks(args.tasks or DEFAULT_TASKS, n=args.n, seed=args.seed,
                                   mmlu=args.mmlu, qqp=args.qqp)
    ladder = args.models or DEFAULT_LADDER
    if args.models and args.donors:
        pairs = [(r, d, "given") for r in args.models for d in args.donors if r != d]
    elif args.models or args.donors:
        raise ValueError("give both --models and --donors to choose swap pairs, or neither")
    else:
        pairs = DEFAULT_PAIRS
    cache = ResultCache(args.out / "cells", study=Path(__file__).stem, force=args.force)
    models = swap_study.ModelPool(device=args.device, dtype=args.dtype)
    sweep = swap_study.Sweep(models, tasks, cache, batch_size=args.batch_size, seed=args.seed,
                             heads=args.heads)

    scaling = sweep.scaling(ladder)
    rows = [sweep.controls(r) for r in dict.fromkeys(r for r, _, _ in pairs)]
    rows += [sweep.swap(r, d, kind) for r, d, kind in pairs]
    focus_recipient, focus_donor, _ = next((p for p in pairs if p[2] == "family"), pairs[0])
    rows.append(sweep.alpha_curve(focus_recipient, focus_donor, ALPHAS))
    rows.append(sweep.layer_sweeps(focus_recipient, focus_donor))
    results = swap_study.with_deltas(pd.concat(rows, ignore_index=True), sweep)
    swap_study.assert_self_swap_is_exact(results)

    args.out.mkdir(parents=True, exist_ok=True)
    from interp.runs.files import save_table

    save_table(results, args.out / "results.csv")
    save_table(scaling, args.out / "scaling.csv")
    from interp.analysis.scaling import confidence_competence
    gap = confidence_competence(scaling)
    save_table(gap, args.out / "confidence_competence.csv")
    figures = swap_study.draw_figures(results, scaling, args.out)
    write_atomic(args.out / "results.json", swap_study.run_record(
        args, pairs=pairs, ladder=ladder, gap=gap, seconds=time.time() - started,
        cells=dict(computed=cache.computed, reused=cache.reused)))
    print(swap_study.summary(results, gap))
    print(f"\n{len(figures) // 2} figures (PNG + PDF), results.csv, scaling.csv, results.json -> {args.out} "
          f"({time.time() - started:.0f}s; {cache.computed} cells computed, {cache.reused} reused)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
