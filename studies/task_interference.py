"""Task interference: why larger models keep rare tasks that smaller ones lose.

Hypothesis under test (arXiv 2605.29548): in small models the gradients of frequent tasks
overwrite what a rare task's instances wrote ("update and forget"); larger models master the
frequent tasks, their pull fades, and rare signals stick. Raising a rare task's frequency can
anchor it in a small model instead. Four experiments:

1. ladder: rare-task accuracy/loss over training frequency x model size, and over checkpoints;
2. gradients: rare-task gradient direction against the frequent tasks' and the mixture's, per
   parameter group; a mixed batch's gradient split into rare-token and other-token parts;
   Fisher overlap of the most important parameters; against size and checkpoint;
3. forget: continued training on the model's mixture with rare blocks injected (matched
   frequency: n blocks every n steps), rare loss traced every step;
4. recovery: continued training of small models with the rare task upsampled.

Default: the embedded suite on CPU (about 2 minutes on 2 cores):
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
from pathlib import Path
import shutil
import sys
import time

FAMILY_SIZES = ("s1", "s2", "s3", "s4", "s5")
DEFAULT_FREQUENT = ["arithmetic_add", "knowledge_cloze", "icl"]
DEFAULT_RARE = [f"rare_{kind}_{k}" for kind in ("comparison", "modadd") for k in range(6)]
EXPERIMENTS = ("ladder", "gradients", "forget", "recovery")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from interp.runs.cli import add_common_flags

    parser = argparse.ArgumentParser(
        prog="python studies/task_interference.py",
        description="Frequent-vs-rare task interference in gradients and weights, across sizes.",
    )
    add_common_flags(parser, out="figures/task_interference")
    parser.add_argument("--family", choices=["pythia", "opt"], default="pythia",
                        help="suite family for the default model lists (default pythia)")
    parser.add_argument("--models", nargs="+", default=None,
                        help="size ladder for experiments 1-2 (default: suite/<family>-s1..s5)")
    parser.add_argument("--checkpoints", nargs="+", default=None,
                        help="checkpoints for the trajectories of experiments 1-2 (default: every "
                             "suite/<family>-s3@stepN shipped; 'none' to skip)")
    parser.add_argument("--train-models", nargs="+", default=None,
                        help="models continued in experiment 3 (default suite/<family>-s1 s2 s3)")
    parser.add_argument("--recovery-models", nargs="+", default=None,
                        help="small models continued in experiment 4 (default suite/<family>-s1 s2)")
    parser.add_argument("--frequent-tasks", nargs="+", default=None,
                        help=f"frequent tasks (default {' '.join(DEFAULT_FREQUENT)})")
    parser.add_argument("--rare-tasks", nargs="+", default=None,
                        help="rare ladder tasks (default rare_comparison_0..5, rare_modadd_0..5)")
    parser.add_argument("--focus-task", default="rare_comparison_4",
                        help="rare task injected (exp. 3) and upsampled (exp. 4)")
    parser.add_argument("--experiments", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS),
                        help="which experiments to run (default all)")
    parser.add_argument("--gradient-tasks", nargs="+", default=None,
                        help="rare tasks of experiment 2 (default: the most and the least frequent "
                             "copy of each kind among the rare tasks)")
    parser.add_argument("--groups", nargs="+", default=None,
                        help="parameter groups for experiment 2 (default all: embed, L0.attn_qkv, ...)")
    parser.add_argument("--grad-n", type=int, default=64,
                        help="instances per task for gradient directions (default 64)")
    parser.add_argument("--fisher-n", type=int, default=16,
                        help="instances per task for the diagonal Fisher (default 16)")
    parser.add_argument("--top-fraction", type=float, default=0.01,
                        help="fraction of parameters in a task's top-Fisher set (default 0.01)")
    parser.add_argument("--gaps", nargs="+", type=int, default=[0, 1, 4, 16],
                        help="matched-frequency variants: n blocks every n steps; 0 = no injection")
    parser.add_argument("--train-steps", type=int, default=64,
                        help="steps of continued training in experiment 3 (default 64)")
    parser.add_argument("--burn-in", type=int, default=16,
                        help="steps before the first injection (default 16; also the LR warmup)")
    parser.add_argument("--factors", nargs="+", type=float, default=[1, 4, 16, 64],
                        help="upsampling factors of the focus task's frequency (experiment 4)")
    parser.add_argument("--recovery-steps", type=int, default=160,
                        help="steps of continued training in experiment 4 (default 160)")
    parser.add_argument("--train-batch", type=int, default=16,
                        help="sequences per training step (default 16)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate of continued training (default: lr-scale x the suite "
                             "model's peak LR; required for non-suite models)")
    parser.add_argument("--lr-scale", type=float, default=0.3,
                        help="fraction of the suite's peak LR (default 0.3)")
    parser.add_argument("--eval-n", type=int, default=64,
                        help="held-out focus-task instances traced during training (default 64)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from interp.runs.cli import fail_cleanly

    with fail_cleanly():
        return run(args)


def resolve_plan(args) -> dict:
    """Model lists and tasks, with every bad input caught before any work starts."""
    from interp.interference import rare_copy
    from interp.loading import SUITE_DIR, resolve

    if args.mmlu is not None or args.qqp is not None:
        raise ValueError("task_interference takes named tasks only (--frequent-tasks, "
                         "--rare-tasks); drop --mmlu / --qqp")
    for flag in ("n", "grad_n", "fisher_n", "eval_n", "train_batch", "train_steps",
                 "recovery_steps"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.tasks and (args.frequent_tasks or args.rare_tasks):
        raise ValueError("give --tasks (split by name) or --frequent-tasks/--rare-tasks, not both")
    frequent, rare = args.frequent_tasks, args.rare_tasks
    if args.tasks:
        rare = [t for t in args.tasks if t.startswith("rare_")]
        frequent = [t for t in args.tasks if not t.startswith("rare_")]
        if not rare or not frequent:
            raise ValueError("--tasks needs both kinds: rare_* ladder tasks and frequent tasks "
                             "(or use --frequent-tasks / --rare-tasks)")
    frequent = frequent or DEFAULT_FREQUENT
    rare = rare or DEFAULT_RARE
    for name in rare + [args.focus_task]:
        rare_copy(name)
    gradient_tasks = args.gradient_tasks or extreme_copies(rare)
    for name in gradient_tasks:
        rare_copy(name)
    suite = [f"suite/{args.family}-{s}" for s in FAMILY_SIZES]
    models = args.models or suite
    if args.checkpoints == ["none"]:
        checkpoints = []
    elif args.checkpoints:
        checkpoints = args.checkpoints
    elif args.models:
        checkpoints = []
    else:
        folder = SUITE_DIR / f"{args.family}-s3" / "checkpoints"
        steps = sorted(int(p.name[4:]) for p in folder.glob("step*") if p.name[4:].isdigit())
        checkpoints = [f"suite/{args.family}-s3@step{s}" for s in steps]
    train_models = args.train_models or suite[:3]
    recovery_models = args.recovery_models or suite[:2]
    for name in dict.fromkeys(models + checkpoints + train_models + recovery_models):
        resolve(name)  # unknown names fail here, before an hour of work
    if "forget" in args.experiments or "recovery" in args.experiments:
        from interp.interference import continued_lr

        for name in dict.fromkeys(train_models + recovery_models):
            continued_lr(name, args.lr, args.lr_scale)  # non-suite models need --lr
    if any(g < 0 or g > args.train_batch for g in args.gaps):
        raise ValueError(f"--gaps must be between 0 and --train-batch ({args.train_batch}): "
                         "n blocks every n steps needs n sequences in one batch")
    if any(f <= 0 for f in args.factors):
        raise ValueError("--factors must be positive")
    if not 0 < args.top_fraction <= 1:
        raise ValueError("--top-fraction must be in (0, 1]")
    if args.burn_in >= args.train_steps:
        raise ValueError("--burn-in must be shorter than --train-steps")
    return dict(frequent=frequent, rare=rare, gradient_tasks=gradient_tasks, models=models,
                checkpoints=checkpoints,
                train_models=train_models, recovery_models=recovery_models)


def extreme_copies(rare: list[str]) -> list[str]:
    """The lowest- and highest-numbered (most and least frequent) copy of each rare kind.

    >>> extreme_copies(["rare_comparison_0", "rare_comparison_3", "rare_comparison_5"])
    ['rare_comparison_0', 'rare_comparison_5']
    """
    from interp.interference import rare_copy

    chosen = []
    for kind in dict.fromkeys(rare_copy(t)[0] for t in rare):
        copies = sorted(rare_copy(t)[1] for t in rare if rare_copy(t)[0] == kind)
        chosen += [f"rare_{kind}_{c}" for c in dict.fromkeys((copies[0], copies[-1]))]
    return chosen


def run(args) -> int:
    import pandas as pd
    import torch

    import interp
    from interp import interference as I
    from interp.runs.cache import ResultCache
    from interp.runs.files import save_table, write_atomic
    from interp.tasks import get_task

    started = time.time()
    torch.manual_seed(args.seed)
    plan = resolve_plan(args)
    cache = ResultCache(args.out / "cells", study=Path(__file__).stem, force=args.force)
    load = dict(device=args.device, dtype=args.dtype)
    ladder_tasks = [get_task(t, n=args.n, seed=args.seed) for t in plan["rare"]]
    base_key = dict(study="task_interference", v=1, seed=args.seed)
    tables: dict[str, pd.DataFrame] = {}

    if "ladder" in args.experiments:
        def ladder_cell(name):
            return lambda: I.ladder_rows(name, interp.load_hf_model(name, **load), ladder_tasks,
                                         batch_size=args.batch_size)
        tables["ladder"] = pd.concat(
            [cache.get(dict(base_key, exp="ladder", model=name, weights=interp.fingerprint(name), tasks=plan["rare"], n=args.n),
                       ladder_cell(name))
             for name in I.progress(plan["models"] + plan["checkpoints"], "ladder")],
            ignore_index=True)

    if "gradients" in args.experiments:
        frequent = [get_task(t, n=args.grad_n, seed=args.seed) for t in plan["frequent"]]
        rare = [get_task(t, n=args.grad_n, seed=args.seed) for t in plan["gradient_tasks"]]

        def gradient_cell(name):
            def compute():
                model = interp.load_hf_model(name, **load)
                mixture = I.mixture_sequences(name, model.tokenizer, 2 * args.train_batch,
                                              seed=args.seed + 101, exclude=plan["rare"])
                out = I.gradient_interference(
                    name, model, frequent, rare, mixture=mixture, fisher_n=args.fisher_n,
                    top_fraction=args.top_fraction, groups=args.groups, seed=args.seed)
                return pd.concat([t.assign(table=k) for k, t in out.items()], ignore_index=True)
            return compute

        cells = [cache.get(dict(base_key, exp="gradients", model=name,
                                weights=interp.fingerprint(name), frequent=plan["frequent"],
                                rare=plan["gradient_tasks"], grad_n=args.grad_n,
                                fisher_n=args.fisher_n,
                                top_fraction=args.top_fraction, groups=args.groups,
                                batch=args.train_batch), gradient_cell(name))
                 for name in I.progress(plan["models"] + plan["checkpoints"], "gradients")]
        both = pd.concat(cells, ignore_index=True)
        for table in ("cosines", "token_split", "fisher"):
            tables[table] = both[both.table == table].drop(columns="table").dropna(axis=1, how="all")

    focus = get_task(args.focus_task, n=args.eval_n, seed=args.seed)
    corpora: dict[str, torch.Tensor] = {}  # one corpus per mixture, tokenizer and length

    def corpus_for(name, model, steps):
        key = repr((I.corpus_config(name), sorted(model.tokenizer.get_vocab().items()), steps))
        if key not in corpora:
            corpora[key] = I.mixture_sequences(name, model.tokenizer, steps * args.train_batch,
                                               seed=args.seed + 1, exclude=[args.focus_task])
        return corpora[key]

    def training_cell(name, exp, variant, plan_of, steps, eval_every, focus):
        lr = I.continued_lr(name, args.lr, args.lr_scale)
        config = I.ContinuedTraining(steps=steps, batch_size=args.train_batch, lr=lr,
                                     warmup=args.burn_in, eval_every=eval_every, seed=args.seed)
        key = dict(base_key, exp=exp, model=name, weights=interp.fingerprint(name),
                   variant=variant, focus=args.focus_task,
                   config=repr(config), eval_n=len(focus))
        state_dir = cache.path(key).with_suffix("")

        def compute():
            model = interp.load_hf_model(name, **load)
            injections = plan_of(name)
            trace = I.continue_training(model, corpus_for(name, model, steps), injections,
                                        args.focus_task, focus, config, state_dir=state_dir,
                                        trace_injections=exp == "forget",
                                        label=f"{name} {exp} {variant}")
            facts = I.model_facts(name, model)
            return trace.assign(**{k: facts[k] for k in ("model", "family", "size", "parameters")},
                                variant=variant, lr=lr)

        rows = cache.get(key, compute)
        shutil.rmtree(state_dir, ignore_errors=True)  # the cached rows supersede the state
        return rows

    if "forget" in args.experiments:
        traces, effects = [], []
        jobs = [(m, g) for m in plan["train_models"] for g in args.gaps]
        for name, gap in I.progress(jobs, "update and forget"):
            injections = I.matched_frequency_plan(args.train_steps, gap, start=args.burn_in)
            trace = training_cell(name, "forget", gap, lambda _n, p=injections: p,
                                  args.train_steps, 1, focus)
            traces.append(trace)
            effect = I.injection_effects(trace, injections)
            effects.append(effect.assign(model=name, size=trace["size"].iloc[0],
                                         parameters=trace.parameters.iloc[0], variant=gap))
        tables["forget"] = pd.concat(traces, ignore_index=True)
        tables["injections"] = pd.concat(effects, ignore_index=True)

    if "recovery" in args.experiments:
        def upsampled(factor):
            def plan_of(name):
                frequency = I.ladder_frequency(args.focus_task, I.corpus_config(name))
                return I.upsampled_plan(args.recovery_steps, args.train_batch, frequency,
                                        factor, seed=args.seed)
            return plan_of

        # Accuracy is the recovery measure: score it on --n instances, as the ladder does.
        recovery_focus = get_task(args.focus_task, n=args.n, seed=args.seed)
        jobs = [(m, f) for m in plan["recovery_models"] for f in args.factors]
        tables["recovery"] = pd.concat(
            [training_cell(name, "recovery", factor, upsampled(factor), args.recovery_steps, 10,
                           recovery_focus)
             for name, factor in I.progress(jobs, "recovery")], ignore_index=True)

    args.out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        save_table(table, args.out / f"{name}.csv")
    figures = I.draw_figures(tables, args.out, focus=args.focus_task)
    summary = I.summary(tables, focus=args.focus_task)
    write_atomic(args.out / "results.json", I.run_record(
        args, plan=plan, summary=summary, seconds=time.time() - started,
        cells=dict(computed=cache.computed, reused=cache.reused)))
    print(I.summary_text(summary))
    print(f"\n{len(figures) // 2} figures (PNG + PDF), {', '.join(f'{t}.csv' for t in tables)}, "
          f"results.json -> {args.out} ({time.time() - started:.0f}s; {cache.computed} cells "
          f"computed, {cache.reused} reused)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
