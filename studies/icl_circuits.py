"""Which fine-tuning keeps in-context learning: Q/K or V? Variants, attribution by patching, toy.

Question (arXiv 2602.23197): fine-tuning a model zero-shot on one task can destroy its
in-context learning (ICL); the paper's theory says updating only the value matrix keeps it,
and an auxiliary few-shot loss helps ICL on the target task but not on held-out tasks.

1. Variants: fine-tune the base model zero-shot on a target task (default ``icl_fixed``: one
   fixed mapping animals -> dax, colors -> wug, asked with 0 shots), training all weights,
   attention (q, k, v, o), q + k, v, o, or nothing; each with and without the few-shot loss
   (weight annealed 1 -> 0). Several seeds (training draws) per variant.
2. Evaluation at k = 0, 1, 2, 4, 8, 16 shots on the target task and held-out tasks (default
   ``icl_fixed_flipped``: the same family with the reversed mapping shown, the -theta0 test,
   and ``icl_heldout``: fresh mappings over held-out categories); "% of base few-shot
   accuracy preserved" per variant with t-intervals over seeds.
3. Attribution: per layer, patch the attention pattern (= Q and K, same tokens) or the V
   activations between base and fine-tuned model, both directions; fraction of the gap
   restored. ICL heads: attention from the query to the demonstrations' labels.
4. The paper's toy: one linear-attention layer on in-context linear regression.

Default: the embedded suite on CPU (a few minutes on 2 cores):
    python studies/icl_circuits.py
Real checkpoints:
    python studies/icl_circuits.py --models EleutherAI/pythia-160m --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

# The smallest suite model of each family that reads ICL prompts (card, "ICL during the ICL
# phase"): the claim is about keeping ICL, so the base must have it. pythia-s4 does not.
DEFAULT_MODELS = ["suite/opt-s4", "suite/pythia-s5"]
DEFAULT_TARGET = "icl_fixed"
DEFAULT_HELDOUT = ["icl_fixed_flipped", "icl_heldout"]
DEFAULT_SHOTS = [0, 1, 2, 4, 8, 16]
DEFAULT_TRAINABLE = ["all", "attn", "qk", "v", "o", "none"]
DEFAULT_ATTRIBUTION = ["all", "attn", "qk", "v"]
DEFAULT_N = 48
RESULT_COLUMNS = ["model", "variant", "trainable", "few_shot", "seed", "task", "role", "shots",
                  "n", "accuracy", "loss"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from interp.runs.cli import add_common_flags

    parser = argparse.ArgumentParser(
        prog="python studies/icl_circuits.py",
        description="Fine-tuning variants vs in-context learning; QK/V patching; linear toy.",
    )
    add_common_flags(parser, out="figures/icl_circuits")
    parser.set_defaults(n=DEFAULT_N)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS,
                        help=f"base models to fine-tune (default {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--target-task", default=DEFAULT_TARGET,
                        help="zero-shot task to fine-tune on (needs a 'train' split and 'shots')")
    parser.add_argument("--heldout-tasks", nargs="+", default=DEFAULT_HELDOUT,
                        help="tasks whose k-shot accuracy measures ICL beyond the target")
    parser.add_argument("--shots", nargs="+", type=int, default=DEFAULT_SHOTS,
                        help="demonstration counts to evaluate (default 0 1 2 4 8 16)")
    parser.add_argument("--variants", nargs="+", default=DEFAULT_TRAINABLE,
                        help="trainable sets: all attn qk v o none (each also +fs)")
    parser.add_argument("--seeds", type=int, default=3, help="fine-tuning seeds per variant")
    parser.add_argument("--steps", type=int, default=60, help="fine-tuning steps")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak fine-tuning learning rate")
    parser.add_argument("--fs-shots", type=int, default=4,
                        help="demonstrations per prompt of the auxiliary few-shot loss")
    parser.add_argument("--attribution", nargs="+", default=DEFAULT_ATTRIBUTION,
                        help="zero-shot variants (seed 0) to patch against the base model")
    parser.add_argument("--attribution-shots", type=int, default=8,
                        help="shots of the prompts patched and of the ICL-head scores")
    parser.add_argument("--toy-seeds", type=int, default=3,
                        help="fine-tuning seeds of the linear-attention toy (0 skips it)")
    parser.add_argument("--toy-steps", type=int, nargs=2, default=None, metavar=("PRE", "FT"),
                        help="toy pretraining and fine-tuning steps (default 1200 200)")
    parser.add_argument("--toy-eval-prompts", type=int, default=2000,
                        help="toy test prompts per (variant, task, shots)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from interp.runs.cli import fail_cleanly
    from interp.training import NonFiniteLossError

    with fail_cleanly():
        try:
            return run(args)
        except NonFiniteLossError as error:
            print(f"error: {error}; lower --lr or --steps", file=sys.stderr)
            return 2


def check_args(args) -> None:
    if args.tasks or args.mmlu or args.qqp:
        raise ValueError("this study takes --target-task and --heldout-tasks, not --tasks/--mmlu/--qqp")
    if args.seeds < 1 or args.steps < 1 or args.n < 2:
        raise ValueError("--seeds and --steps must be >= 1 and --n >= 2")
    if any(k < 0 for k in args.shots) or 0 not in args.shots or len(args.shots) < 2:
        raise ValueError("--shots must include 0 and at least one count >= 1")


def run(args) -> int:
    import pandas as pd
    import torch

    from interp.training.finetune import FineTuneConfig, variants
    from interp.runs.cache import ResultCache
    from interp.runs.files import save_table, write_atomic
    from interp.tasks import get_task

    started = time.time()
    check_args(args)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # 31 loads and saves: one study bar is enough
    torch.manual_seed(args.seed)
    config = FineTuneConfig(target_task=args.target_task, steps=args.steps, lr=args.lr,
                            fs_shots=args.fs_shots)
    chosen = variants(tuple(args.variants))
    if not any(v.trainable == "none" for v in chosen):
        raise ValueError("--variants must include 'none': it is the base every variant is compared to")
    eval_tasks = {(name, k): get_task(name, n=args.n, seed=args.seed, split="test", shots=k)
                  for name in [args.target_task, *args.heldout_tasks] for k in args.shots}
    get_task(args.target_task, n=2, split="train", shots=args.fs_shots)  # fail early if unfit
    cache = ResultCache(args.out / "cells", study=Path(__file__).stem, force=args.force)
    weights = args.out / "cells" / "weights"
    state = dict(trained=0, reused=0)

    frames, attribution, heads = [], [], []
    for model_name in args.models:
        frames.append(evaluate_variants(model_name, chosen, config, eval_tasks, args, cache,
                                        weights, state))
        a, h = attribute(model_name, config, args, cache, weights)
        attribution.append(a)
        heads.append(h)
    results = pd.concat(frames, ignore_index=True)[RESULT_COLUMNS]
    preserved = preserved_table(results)
    attribution = pd.concat(attribution, ignore_index=True)
    heads = pd.concat(heads, ignore_index=True)
    toy = run_toy(args, cache)

    args.out.mkdir(parents=True, exist_ok=True)
    save_table(results, args.out / "results.csv")
    save_table(preserved, args.out / "preserved.csv")
    save_table(attribution, args.out / "attribution.csv")
    save_table(heads, args.out / "icl_heads.csv")
    if not toy.empty:
        save_table(toy, args.out / "toy.csv")
    figures = []
    for model_name in args.models:  # one set of model figures per base model
        suffix = "" if len(args.models) == 1 else "-" + model_name.replace("/", "--")
        figures += draw_figures(results, preserved, attribution, model_name, args.out, suffix)
    figures += draw_toy(toy, args.out)
    write_atomic(args.out / "CAPTIONS.md", captions(args))
    cells = dict(computed=cache.computed, reused=cache.reused, weights_trained=state["trained"],
                 weights_reused=state["reused"])
    write_atomic(args.out / "results.json", run_record(args, config, preserved, results, toy,
                                                       time.time() - started, cells))
    print(summary(results, preserved, attribution, heads, toy))
    tables = "results, preserved, attribution, icl_heads" + ("" if toy.empty else ", toy")
    print(f"\n{len(figures) // 2} figures (PNG + PDF), {tables} (.csv), results.json, "
          f"CAPTIONS.md -> {args.out} "
          f"({time.time() - started:.0f}s; fine-tuned weights: {state['trained']} trained, "
          f"{state['reused']} loaded; {cache.computed} cells computed, {cache.reused} reused)")
    return 0


def evaluate_variants(model_name, chosen, config, eval_tasks, args, cache, weights, state):
    """Accuracy and loss of every (variant, seed) on every (task, shots): tidy rows."""
    import pandas as pd
    from tqdm.auto import tqdm

    import interp
    from interp.scoring import evaluate
    from interp.training.finetune import fine_tuned

    frames = []
    jobs = [(v, s) for v in chosen for s in (range(1) if v.trainable == "none" else range(args.seeds))]
    for variant, seed in tqdm(jobs, desc=f"{model_name} variants", mininterval=5):
        key = dict(study="icl_circuits", v=1, model=model_name, variant=variant.name, seed=seed,
                   weights=interp.fingerprint(model_name),
                   config=config.key(), n=args.n, eval_seed=args.seed,
                   tasks=sorted(f"{t}@{k}" for t, k in eval_tasks))
        loaded = {}

        def compute():
            model, reused = fine_tuned(model_name, variant, config, seed=seed, folder=weights,
                                       device=args.device, force=args.force)
            loaded["reused"] = reused
            rows = []
            for (task_name, shots), task in eval_tasks.items():
                row = evaluate(model, [task], condition=variant.name, name=model_name,
                               batch_size=args.batch_size, progress=False)
                rows.append(row.assign(task=task_name, shots=shots))
            return pd.concat(rows, ignore_index=True)

        rows = cache.get(key, compute)
        if variant.components and "reused" in loaded:  # weights were needed this run
            state["reused" if loaded["reused"] else "trained"] += 1
        role = rows.task.map(lambda t: "target" if t == config.target_task else "heldout")
        frames.append(rows.assign(variant=variant.name, trainable=variant.trainable,
                                  few_shot=variant.few_shot, seed=seed, role=role))
    table = pd.concat(frames, ignore_index=True)
    # "none" never trains: its one run is every seed's base.
    base = table[table.trainable == "none"]
    copies = [base.assign(seed=s) for s in range(1, args.seeds)]
    return pd.concat([table, *copies], ignore_index=True)


def preserved_table(results):
    """Per (model, variant, task): % of the base model's few-shot accuracy (mean over k >= 1)
    kept after fine-tuning, mean and 95% t-interval over seeds; and zero-shot accuracy."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    few = results[results.shots > 0].groupby(["model", "variant", "seed", "task"]).accuracy.mean()
    zero = results[results.shots == 0].set_index(["model", "variant", "seed", "task"]).accuracy
    base = few.xs("none", level="variant").groupby(["model", "task"]).mean()
    frame = few.rename("few_shot_accuracy").reset_index()
    frame["zero_shot_accuracy"] = zero.reindex(
        pd.MultiIndex.from_frame(frame[["model", "variant", "seed", "task"]])).to_numpy()
    frame["base_few_shot"] = [base.loc[(m, t)] for m, t in zip(frame.model, frame.task)]
    frame["preserved"] = 100 * frame.few_shot_accuracy / frame.base_few_shot
    rows = []
    for (model, variant, task), group in frame.groupby(["model", "variant", "task"], sort=False):
        values = group.preserved.to_numpy()
        half = (stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
                if len(values) > 1 else np.nan)
        rows.append(dict(model=model, variant=variant, task=task, seeds=len(values),
                         preserved=values.mean(), ci_low=values.mean() - half,
                         ci_high=values.mean() + half,
                         few_shot_accuracy=group.few_shot_accuracy.mean(),
                         base_few_shot=group.base_few_shot.iloc[0],
                         zero_shot_accuracy=group.zero_shot_accuracy.mean()))
    return pd.DataFrame(rows)


def attribute(model_name, config, args, cache, weights):
    """Patch QK / V per layer between the base and each attribution variant (seed 0), both
    directions, on the held-out tasks at ``--attribution-shots``; and ICL-head scores."""
    import pandas as pd

    import interp
    from interp.analysis import patching as icl_attribution
    from interp.training.finetune import Variant, fine_tuned
    from interp.tasks import get_task

    tasks = [get_task(name, n=args.n, seed=args.seed, split="test", shots=args.attribution_shots)
             for name in args.heldout_tasks]
    base_model, _ = fine_tuned(model_name, Variant("none"), config, seed=0, folder=weights,
                               device=args.device)
    sweeps, heads = [], []
    for variant in [Variant.parse(v) for v in args.attribution]:
        key = dict(study="icl_circuits", part="attribution", v=1, model=model_name,
                   weights=interp.fingerprint(model_name),
                   variant=variant.name, config=config.key(), n=args.n, eval_seed=args.seed,
                   shots=args.attribution_shots, tasks=args.heldout_tasks)

        def compute(variant=variant):
            tuned, _ = fine_tuned(model_name, variant, config, seed=0, folder=weights,
                                       device=args.device)
            sweep = icl_attribution.patch_sweep(base_model, tuned, tasks,
                                                batch_size=args.batch_size)
            scored = [icl_attribution.gap_fraction(sweep, metric) for metric in ("loss", "accuracy")]
            head_rows = [icl_attribution.icl_head_scores(tuned, t).assign(model_state=variant.name)
                         for t in tasks]
            return pd.concat([*(s.assign(kind="patch") for s in scored),
                              *(h.assign(kind="heads") for h in head_rows)], ignore_index=True)

        rows = cache.get(key, compute)
        sweeps.append(rows[rows.kind == "patch"].assign(model=model_name, variant=variant.name))
        heads.append(rows[rows.kind == "heads"])
    base_heads = pd.concat([icl_attribution.icl_head_scores(base_model, t) for t in tasks])
    heads = pd.concat([base_heads.assign(model_state="base"), *heads], ignore_index=True)
    heads = heads.assign(model=model_name)[["model", "model_state", "task", "layer", "head", "n",
                                            "label_attention", "answer_attention"]]
    # Cached cells come back from JSON beside NaN-padded columns: keep integer columns integer.
    heads = heads.astype({"layer": int, "head": int, "n": int})
    patch_columns = ["model", "variant", "direction", "site", "layer", "task", "n", "metric",
                     "accuracy", "loss", "gap", "fraction"]
    sweeps = pd.concat(sweeps, ignore_index=True)[patch_columns]
    return sweeps.astype({"layer": int, "n": int}), heads


def run_toy(args, cache):
    import pandas as pd

    from interp.linear_icl import ToyConfig, run_toy as toy_rows

    if args.toy_seeds < 1:
        return pd.DataFrame()
    pretrain_steps, finetune_steps = args.toy_steps or (ToyConfig.pretrain_steps,
                                                        ToyConfig.finetune_steps)
    config = ToyConfig(pretrain_steps=pretrain_steps, finetune_steps=finetune_steps,
                       eval_prompts=args.toy_eval_prompts)
    key = dict(study="icl_circuits", part="toy", v=1, config=str(config), seeds=args.toy_seeds)
    return cache.get(key, lambda: toy_rows(config, seeds=args.toy_seeds))


def draw_figures(results, preserved, attribution, model: str, out: Path,
                 suffix: str = "") -> list[Path]:
    """Accuracy vs shots, preserved-% bars and the layer x {QK, V} heatmap of one model."""
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    from interp.runs import plots

    plots.use_style()
    written: list[Path] = []
    shown = results[results.model == model]
    tasks = list(dict.fromkeys(shown.sort_values("role", ascending=False).task))
    order = list(dict.fromkeys(shown.trainable))  # colour: what trains; dashes: + few-shot loss
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.8), sharey=True,
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        sns.lineplot(shown[shown.task == task], x="shots", y="accuracy", hue="trainable",
                     hue_order=order, style="few_shot", marker="o", errorbar=("se", 1.96),
                     palette="tab10",
                     ax=ax, legend=ax is axes[0][-1])
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(sorted(shown.shots.unique()), [str(k) for k in sorted(shown.shots.unique())])
        role = shown[shown.task == task].role.iloc[0]
        ax.set_title(f"{task} ({role})")
        ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    axes[0][-1].legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8)
    fig.suptitle(f"{model}: accuracy vs demonstrations after fine-tuning")
    written += plots.save(fig, out / f"accuracy_vs_shots{suffix}")

    bars = preserved[(preserved.model == model) & (preserved.variant != "none")]
    variants_shown = [v for v in dict.fromkeys(shown.variant) if v in set(bars.variant)]
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(variants_shown) * max(1, len(tasks) / 2), 3.8))
    width = 0.8 / len(tasks)
    for i, task in enumerate(tasks):
        part = bars[bars.task == task].set_index("variant").reindex(variants_shown)
        x = np.arange(len(variants_shown)) + (i - (len(tasks) - 1) / 2) * width
        err = np.vstack([part.preserved - part.ci_low, part.ci_high - part.preserved])
        ax.bar(x, part.preserved, width, label=task, yerr=np.nan_to_num(err), capsize=2)
    ax.axhline(100, color="gray", lw=0.8, ls=":")
    ax.set_xticks(np.arange(len(variants_shown)), variants_shown, rotation=30)
    ax.set_ylabel("% of base few-shot accuracy")
    ax.set_title(f"{model}: few-shot accuracy preserved (95% t-interval over seeds)")
    ax.legend(fontsize=8)
    written += plots.save(fig, out / f"preserved{suffix}")

    cells = attribution[(attribution.model == model) & (attribution.metric == "loss")]
    if not cells.empty:
        task = cells.task.iloc[0]
        cells = cells[cells.task == task]
        combos = list(dict.fromkeys(zip(cells.variant, cells.direction)))
        fig, axes = plt.subplots(1, len(combos), figsize=(1.9 * len(combos) + 1, 3.2),
                                 squeeze=False, sharey=True)
        for ax, (variant, direction) in zip(axes[0], combos):
            part = cells[(cells.variant == variant) & (cells.direction == direction)]
            grid = part.pivot_table(index="layer", columns="site", values="fraction")
            grid = grid.rename(columns={"qk": "QK", "v": "V"})
            sns.heatmap(grid, annot=True, fmt=".2f", center=0, cmap="RdBu_r", vmin=-1, vmax=1,
                        cbar=ax is axes[0][-1], ax=ax)
            # A small gap makes every fraction noisy: show it beside the panel's name.
            ax.set_title(f"{variant}: {direction}\ngap {part.gap.iloc[0]:+.2f} nats", fontsize=9)
            ax.set_xlabel("")
        fig.suptitle(f"{model}, {task}: fraction of the base-vs-tuned loss gap per patch", y=1.03)
        written += plots.save(fig, out / f"attribution_heatmap{suffix}")

    return written


def draw_toy(toy, out: Path) -> list[Path]:
    """The toy's test MSE vs shots on theta0 and -theta0, per variant."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from interp.runs import plots

    plots.use_style()
    written: list[Path] = []
    if not toy.empty:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
        for ax, task in zip(axes, ("theta0", "-theta0")):
            part = toy[toy.task == task].assign(few_shot=lambda t: t.variant.str.endswith("+fs"))
            sns.lineplot(part, x="shots", y="mse", hue=part.variant.str.replace("+fs", ""),
                         style="few_shot", errorbar=("se", 1.96), palette="tab10", ax=ax,
                         legend=ax is axes[-1])
            ax.set_yscale("log")
            ax.set_title(f"toy: test on {task}")
            ax.set_ylabel("test MSE")
        axes[-1].legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8)
        fig.suptitle("One linear-attention layer fine-tuned on theta0 (ZS vs ZS+FS)")
        written += plots.save(fig, out / "toy_mse_vs_shots")
    return written


def captions(args) -> str:
    """Figure captions for the README (one paragraph each)."""
    model = ", ".join(args.models)
    held = ", ".join(args.heldout_tasks)
    several = ("\nWith several models each model figure is saved once per model, its name as a "
               "suffix.\n" if len(args.models) > 1 else "")
    return f"""# Captions: figures/icl_circuits
{several}
**accuracy_vs_shots.png** - {model} fine-tuned zero-shot on `{args.target_task}` (one fixed
label mapping, learned in the weights) with different trainable sets: `all`, `attn` (q, k, v,
o), `qk`, `v`, `o`; `none` is the base model. Dashed lines add the few-shot loss (weight
annealed 1 -> 0). Each panel is k-shot accuracy on one task: the target (demonstrations agree
with the learned mapping) and held-out tasks ({held}). `icl_fixed_flipped` shows the reversed
mapping, so only a model that reads the demonstrations gets it right. Lines are means over
{args.seeds} fine-tuning seeds with +-1.96 standard-error bands; dotted line: chance.

**preserved.png** - Few-shot accuracy after fine-tuning as % of the base model's (mean over
k >= 1 shots), per variant and task; error bars are 95% t-intervals over {args.seeds} seeds.
Above 100% on the target means the learned mapping agrees with the demonstrations, not better
ICL.

**attribution_heatmap.png** - Patching between the base model and a fine-tuned variant
(seed 0) on `{args.heldout_tasks[0]}` at {args.attribution_shots} shots. Each cell patches one
layer's Q and K (= its attention pattern, for the same tokens) or its V activations.
`restore`: the fine-tuned model run with the base's activations, value = fraction of the
base-vs-tuned answer-loss gap closed; `break`: the base run with the fine-tuned activations,
value = fraction of the gap reproduced. Near 1: that site carries the change; near 0: it does
not. Panel titles give the gap (base minus tuned loss); a small gap makes fractions noisy.

**toy_mse_vs_shots.png** - The paper's setting: one linear-attention layer on tokens
[1, x, y], pretrained on in-context linear regression with random unit tasks theta, then
fine-tuned on theta0 training all / Q / K / V / KQ weights (solid: zero-shot loss; dashed:
plus the annealed few-shot loss); `none` is the pretrained model. Test MSE (log scale) vs
demonstrations on theta0 and on the held-out -theta0, mean and +-1.96 standard-error bands
over {args.toy_seeds} fine-tuning seeds of one pretrained model.
"""


def summary(results, preserved, attribution, heads, toy) -> str:
    """Short text tables: preserved %, zero-shot target accuracy, attribution, ICL heads, toy."""
    lines = ["% of base few-shot accuracy preserved (mean [95% t-interval] over seeds):"]
    cell = preserved.assign(shown=[f"{p:5.0f} [{lo:4.0f},{hi:4.0f}]" for p, lo, hi in
                                   zip(preserved.preserved, preserved.ci_low, preserved.ci_high)])
    lines.append(cell.pivot_table(index=["model", "variant"], columns="task", values="shown",
                                  aggfunc="first", sort=False).to_string())
    target = results[(results.role == "target") & (results.shots == 0)]
    zs = target.groupby(["model", "variant"], sort=False).accuracy.mean().round(2)
    lines += ["", "zero-shot accuracy on the target task (mean over seeds):", zs.to_string()]
    if not attribution.empty:
        part = attribution[attribution.metric == "loss"]
        grid = part.pivot_table(index=["variant", "direction", "site"], columns=["task", "layer"],
                                values="fraction", sort=False).round(2)
        lines += ["", "fraction of the loss gap per patched layer:", grid.to_string()]
    if not heads.empty:
        top = (heads.sort_values("answer_attention", ascending=False)
               .groupby(["model", "model_state", "task"], sort=False).head(3))
        top = top.assign(head=[f"L{l}H{h} {a:.2f}" for l, h, a in
                               zip(top["layer"], top["head"], top["answer_attention"])])
        shown = top.groupby(["model", "model_state", "task"], sort=False)["head"].agg(", ".join)
        lines += ["", "ICL heads: top attention from the query to the answer's demonstrated label:",
                  shown.unstack("task").to_string()]
    if not toy.empty:
        table = toy[toy.shots.isin([0, 1, 5, 20])].pivot_table(
            index="variant", columns=["task", "shots"], values="mse", sort=False).round(3)
        lines += ["", "toy test MSE (mean over seeds):", table.to_string()]
    return "\n".join(lines)


def run_record(args, config, preserved, results, toy, seconds, cells) -> str:
    import torch
    import transformers

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    record = dict(
        study="icl_circuits", config=settings, finetune=config.key(),
        preserved=preserved.to_dict("records"), seconds=round(seconds, 1), cells=cells,
        versions=dict(python=platform.python_version(), torch=torch.__version__,
                      transformers=transformers.__version__),
    )
    return json.dumps(record, indent=2, default=str) + "\n"


if __name__ == "__main__":
    sys.exit(main())
