"""CAPTIONS.md of the task-interference study: one paragraph per figure and one on the
tables. A caption says what is drawn and how to read it (chance levels, intervals, marks);
its few numbers are read from the run's tables, and the findings with their intervals are
in FINDINGS.md."""

from __future__ import annotations

import pandas as pd

from interp.analysis.stats import accuracy_interval
from interp.studies.task_interference.config import Config
from interp.studies.task_interference.results import checkpoint_series, final_models
from interp.studies.task_interference.wording import chance_label, sci

HATCH_NOTE = "hatched cells: the 95% interval includes {what}"


def captions(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """CAPTIONS.md: a header naming the run, then each figure's caption and the tables'."""
    parts = [_header(tables, config)]
    for name, caption in (("ladder", ladder_caption), ("ladder", steps_caption),
                          ("ladder", trajectory_caption), ("cosines", cosine_groups_caption),
                          ("cosines", cosine_size_caption), ("token_split", split_caption),
                          ("fisher", fisher_caption), ("forget", forget_caption),
                          ("injections", injections_caption), ("recovery", recovery_caption)):
        if name in tables and not tables[name].empty:
            parts.append(caption(tables, config))
    parts.append(tables_caption(tables))
    return "\n\n".join(p for p in parts if p) + "\n"


def short(model: str) -> str:
    """A model's short name: ``suite/pythia-s3@step64`` -> ``pythia-s3@step64``.

    >>> short("suite/pythia-s3")
    'pythia-s3'
    """
    return model.replace("suite/", "")


def half_width_at_half(n: int) -> str:
    """The Wilson 95% interval of an accuracy of 1/2 on ``n`` items, as text.

    >>> half_width_at_half(66)
    '0.38-0.62'
    """
    iv = accuracy_interval([True] * (n // 2) + [False] * (n - n // 2))
    return f"{iv.lo:.2f}-{iv.hi:.2f}"


def _counts(tables: dict[str, pd.DataFrame]) -> str:
    if "ladder" not in tables:
        return ""
    counts = tables["ladder"].groupby("kind").n.max()
    return "; ".join(f"{k}: n = {int(v)} per copy" for k, v in counts.items())


def _header(tables: dict[str, pd.DataFrame], config: Config) -> str:
    plan = config.plan()
    checkpoints = (f", the checkpoints {', '.join(short(m) for m in plan['checkpoints'])}"
                   if plan["checkpoints"] else "")
    text = (f"# Task interference: figure captions\n\nGenerated from the tables of this run "
            f"(models {', '.join(short(m) for m in plan['models'])}{checkpoints}; "
            f"{len(plan['rare'])} rare tasks, each scored on min(n = {config.n}, its test "
            f"population) distinct held-out instances, seed {config.seed}; experiments "
            f"{', '.join(config.experiments)}). Tables: "
            f"{', '.join(f'`{t}.csv`' for t in tables if t != 'items')}, `items.csv.gz`; "
            "settings, plan and summary: `results.json`; the findings with their intervals: "
            "`FINDINGS.md`. Accuracy intervals are Wilson 95%; differences on the same items "
            "are paired (Tango 95% interval, exact McNemar p).")
    counts = _counts(tables)
    if counts:
        n = int(tables["ladder"].n.max())
        text += (f" Instances per rare copy ({counts}): every test instance by default, so an "
                 f"accuracy of 1/2 on {n} items has the interval {half_width_at_half(n)}.")
    return text


def ladder_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """ladder_heatmap: accuracy and loss over frequency x size."""
    final = final_models(tables["ladder"])
    freqs = sorted(final.frequency.dropna().unique(), reverse=True)
    chances = "; ".join(f"{k} {chance_label(final[final.kind == k].task.iloc[0])}"
                        for k in final.kind.unique())
    return ("**ladder_heatmap.** Held-out accuracy (top: value and Wilson 95% interval; the "
            "diverging colour map is centred on chance, " + chances + "; "
            + HATCH_NOTE.format(what="chance") + ") and mean answer-token loss (bottom, nats) "
            "on the rare-task ladder. Copy k of comparison and of modular addition was injected "
            f"into a fraction f_k of training sequences (columns, {sci(freqs[0])} down to "
            f"{sci(freqs[-1])}), as blocks of 8 instances replacing the start of a sequence. "
            "These f_k are the phase-1 corpus rates: the ICL phase's ICL-only rows carry no rare "
            "tasks and its mixed rows carry them at the corpus rate, so each copy's share over "
            "all training sequences is lower by one common factor, which does not change the "
            "ordering. Rows: model size, smallest at the top.")


def steps_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """ladder_steps: paired accuracy differences between neighbouring sizes."""
    if final_models(tables["ladder"]).model.nunique() < 2:
        return ""
    return ("**ladder_steps.** Each size step of the ladder: the larger model's accuracy minus "
            "the smaller's on the same items (rows: s_k+1 vs s_k, and the smallest vs the "
            "largest), per copy (columns, by training frequency) and pooled over a kind's copies "
            "(`all`: the mean over copies). Cells: Δ and its paired Tango 95% interval; the "
            "colour map is centred on 0; " + HATCH_NOTE.format(what="0")
            + " (no detectable difference).")


def trajectory_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """ladder_trajectory: each copy's accuracy over the checkpoints of one model."""
    series = checkpoint_series(tables["ladder"])
    if series.empty:
        return ""
    return (f"**ladder_trajectory.** Held-out accuracy of each rare copy over the training "
            f"checkpoints of {short(series.base.iloc[0])} (step {series.step.min()} to "
            f"{series.step.max()}; symlog x), one line per copy coloured by its training "
            "frequency (dark: frequent), with Wilson 95% bands clipped to [0, 1] and chance "
            "dashed (1/2 for comparison, 1/11 for modular addition). The answer losses of the "
            "same cells are in `ladder.csv`.")


def cosine_groups_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """gradient_cosines_groups: cosine per parameter group, per model."""
    plan = config.plan()
    return (f"**gradient_cosines_groups.** Cosine between the rare-task gradient (mean "
            f"answer-token loss gradient over min({config.grad_n}, population) held-out "
            f"instances) and (left) the mean of the frequent tasks' gradients "
            f"({', '.join(plan['frequent'])}) or (right) a {config.train_batch}-sequence "
            "mixture batch's LM gradient, per parameter group (embeddings, fused QKV rows, "
            "attention output, MLP in/out, and all), averaged over the rare tasks "
            f"({', '.join(plan['gradient_tasks'])}) and over layers. The colour map is centred "
            "on 0. One gradient per rare task: no interval, so no cell is marked.")


def cosine_size_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """gradient_cosines_size: the all-parameter cosine against size and over training."""
    return ("**gradient_cosines_size.** The same cosine over all parameters, per reference, "
            "against parameter count (left) and over the checkpoints (right, with "
            "--checkpoint-gradients). Bands: ±1 sd over rare tasks (a spread, not an interval); "
            "0 drawn grey.")


def split_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """token_split: a mixed batch's gradient parts against the rare direction."""
    return ("**token_split.** A mixture batch with one injected rare block. Its LM gradient g "
            "splits exactly into the rare-block tokens' part g_task and the other tokens' part "
            "g_other (g = g_task + g_other). The plot shows each part's cosine to the rare-task "
            "direction g_r, against size (left) and over the checkpoints (right, with "
            "--checkpoint-gradients). Bands: ±1 sd over rare tasks and two batches. Most of a "
            "block's loss is on predicting the made-up operand tokens, not the answers, so "
            "g_task points towards g_r only partly.")


def fisher_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """fisher_overlap: top-Fisher overlap of rare and frequent tasks against size."""
    return (f"**fisher_overlap.** Diagonal (empirical) Fisher of each rare task and of the "
            f"frequent tasks together, {config.fisher_n} instances each: the Jaccard overlap of "
            f"their top-{config.top_fraction:.0%} parameter sets, its chance level f/(2-f), and "
            "the Fisher-weighted overlap sum(min(p_a, p_b)), against parameter count. Bands: "
            "±1 sd over rare tasks.")


def forget_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """update_forget: rare loss after every step of continued training with injections."""
    forget = tables["forget"]
    gaps = sorted(forget.variant.unique())
    return (f"**update_forget.** Rare-task ({config.focus_task}) held-out loss after every step "
            "of continued training on each model's own mixture. The copy under study is removed "
            "from the mixture and given back only as planned injections (red ticks): n blocks "
            f"every n steps (n = {', '.join(str(int(g)) for g in gaps if g)}, the same overall "
            f"rate), or none. Training: batch {config.train_batch}, {config.train_steps} steps, "
            "LR " + (f"{config.lr:g}" if config.lr else f"{config.lr_scale:g} x the suite's peak")
            + f" with a {config.burn_in}-step warmup, fresh AdamW; one run per panel. A final "
            "loss above the lowest is a gain lost again.")


def injections_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """forgetting_summary: drop, share kept and half-life per injection."""
    return ("**forgetting_summary.** For each injection: the drop in rare loss (before the "
            "injection vs the lowest point before the next one); the share of that drop still "
            "there at the next injection (or at the end); and the half-life of the gain in steps, "
            "shown only where half was lost before the next injection. Colours: the gap, ordered "
            "(light: small). Error bars: ±1 sd over injections (a spread, not an interval). "
            "These measures only see losses between two injections; a rise that starts at an "
            "injection shows in update_forget.")


def recovery_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """recovery: upsampling the focus task in small models against scaling up."""
    rec = tables["recovery"]
    models = list(rec.sort_values("parameters").model.unique())
    n = int(rec.rare_n.max()) if "rare_n" in rec else config.n
    return (f"**recovery.** Continued training ({config.recovery_steps} steps) of "
            f"{' and '.join(short(m) for m in models)} with {config.focus_task} upsampled "
            f"{', '.join(f'x{f:g}' for f in config.factors)} over its training frequency "
            "(colours ordered by factor). Held-out accuracy on "
            f"{n} instances, scored every 10 steps, with Wilson 95% bands clipped to [0, 1]; "
            "dotted: the model's own accuracy before continued training (the base); dashed grey: "
            "chance (1/2); dashed black with a grey band: the largest ladder model at the "
            "original frequency, with no extra training. The paired end-vs-start and "
            "end-vs-largest effects are in FINDINGS.md and `results.csv`.")


def tables_caption(tables: dict[str, pd.DataFrame]) -> str:
    """What each table holds, the master table first."""
    results = tables["results"]
    counts = results.groupby("experiment", sort=False).size()
    return ("**Tables.** `results.csv` is the master table: one long row per (experiment, model, "
            "task, condition, measure) with its `value`, and where the measure has one its 95% "
            "interval `lo`/`hi`, its number of distinct items `n` and a p-value `p` (accuracy: "
            "Wilson interval, one-sided exact binomial against chance; `delta_accuracy`: Tango "
            "paired interval, exact McNemar; `delta_loss`: paired t-interval over items) — "
            + ", ".join(f"{e} {n} rows ({', '.join(results[results.experiment == e].measure.unique())})"
                        for e, n in counts.items())
            + ". Conditions: 'as trained' (ladder), 's_k+1 vs s_k' (size steps), 'vs <reference>' "
            "(gradient cosines, Fisher), the gradient part (token split), 'gap n' (continued "
            "training with n blocks every n steps) and 'xF' (recovery upsampling). "
            "`items.csv.gz` holds every scored instance (experiment, model, task, condition, "
            "step, item, chosen, correct, loss): the ladder's cells and the first and last step "
            "of every continued-training run (the curves in between are accuracy and mean loss "
            "only). The full tables: `ladder.csv` (n, accuracy with its Wilson interval, chance, "
            "p against chance, and loss per model, checkpoint and rare task), `cosines.csv` (per "
            "parameter group and reference), `token_split.csv` (per batch and gradient part), "
            "`fisher.csv` (per group), `forget.csv` and `recovery.csv` (one row per training "
            "step; `rare_n` instances where scored), `injections.csv` (one row per injection).")
