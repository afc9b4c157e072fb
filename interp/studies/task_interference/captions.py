"""CAPTIONS.md of the task-interference study: one paragraph per figure and one on the
tables, each number read from the run's tables (so a rerun on other weights stays true)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from interp.studies.task_interference.config import Config
from interp.studies.task_interference.results import ALL, checkpoint_series, final_models

KINDS = ("embed", "attn_qkv", "attn_out", "mlp_in", "mlp_out", "all")


def captions(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """CAPTIONS.md: a header naming the run, then each figure's caption and the tables'."""
    parts = [_header(tables, config)]
    for name, caption in (("ladder", ladder_caption), ("ladder", trajectory_caption),
                          ("cosines", cosine_groups_caption), ("cosines", cosine_size_caption),
                          ("token_split", split_caption), ("fisher", fisher_caption),
                          ("forget", forget_caption), ("injections", injections_caption),
                          ("recovery", recovery_caption)):
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


def size_of(table: pd.DataFrame, model: str) -> str:
    """The suite size (``s1``) of ``model``, else its short name."""
    size = table.loc[table.model == model, "size"].iloc[0]
    return size if isinstance(size, str) and size else short(model)


def by_size(table: pd.DataFrame) -> list[str]:
    """The models of ``table`` from the smallest to the largest."""
    return list(table.sort_values("parameters", kind="stable").model.unique())


def listing(values, fmt: str = ".2f", sep: str = ", ") -> str:
    """Numbers joined for a sentence."""
    return sep.join(format(v, fmt) for v in values)


def trend(values: list[float]) -> str:
    """How a series moves from the first value to the last, in words.

    >>> trend([1, 2, 3]), trend([3, 2, 1]), trend([1, 3, 2])
    ('rises with every size step', 'falls with every size step', 'is not monotone in size')
    """
    steps = np.diff(values)
    if len(steps) and (steps > 0).all():
        return "rises with every size step"
    if len(steps) and (steps < 0).all():
        return "falls with every size step"
    return "is not monotone in size"


def sci(x: float) -> str:
    """A frequency as in the captions: ``3e-2``.

    >>> sci(0.0003)
    '3e-4'
    """
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def ci95(n: int, p: float = 0.5) -> float:
    """Half-width of a normal 95% interval of an accuracy ``p`` on ``n`` instances."""
    return 1.96 * math.sqrt(p * (1 - p) / n)


def _header(tables: dict[str, pd.DataFrame], config: Config) -> str:
    plan = config.plan()
    checkpoints = (f", the checkpoints {', '.join(short(m) for m in plan['checkpoints'])}"
                   if plan["checkpoints"] else "")
    return (f"# Task interference: figure captions\n\nGenerated from the tables of this run "
            f"(models {', '.join(short(m) for m in plan['models'])}{checkpoints}; "
            f"{len(plan['rare'])} rare tasks on {config.n} held-out instances each, seed "
            f"{config.seed}; experiments {', '.join(config.experiments)}). Numbers are from these "
            "tables and move with the weights. Tables: "
            f"{', '.join(f'`{t}.csv`' for t in tables)}; settings, plan and summary: "
            f"`results.json`. With {config.n} instances, an accuracy near 0.5 is "
            f"±{ci95(config.n):.2f} at 95%.")


def ladder_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """ladder_heatmap: accuracy and loss over frequency x size."""
    final = final_models(tables["ladder"])
    models = by_size(final)
    freqs = sorted(final.frequency.dropna().unique(), reverse=True)
    text = ["**ladder_heatmap.** Held-out accuracy (top) and answer-token loss (bottom) on the "
            "rare-task ladder. Copy k of comparison (chance 0.5) and of modular addition "
            "(chance 1/11) was injected into a fraction f_k of training sequences (columns, "
            f"{sci(freqs[0])} down to {sci(freqs[-1])}), as blocks of 8 instances replacing the "
            "start of a sequence. These f_k are the phase-1 corpus rates: the ICL phase's "
            "ICL-only rows carry no rare tasks and its mixed rows carry them at the corpus rate, "
            "so each copy's share over all training sequences is lower by one common factor, "
            "which does not change the ordering. Rows: model size."]
    comp = final[final.kind == "comparison"]
    if not comp.empty:
        grid = comp.pivot_table(index="model", columns="frequency", values="accuracy").loc[models]
        top, low = grid.columns.max(), grid.columns.min()
        means = comp.groupby("model").accuracy.mean().loc[models]
        text.append(
            f"In comparison, accuracy at {sci(top)} is {listing(grid[top])} and at {sci(low)} "
            f"{listing(grid[low])} ({', '.join(size_of(final, m) for m in models)}). The mean "
            f"over the copies is {listing(means, '.3f')}, so it {trend(list(means))}.")
        rarest = comp[comp.frequency == low].set_index("model").loc[models]
        above = [size_of(final, m) for m, r in rarest.iterrows()
                 if r.accuracy - 0.5 > ci95(config.n)]
        text.append(
            f"At the rarest copy ({sci(low)}) {'no size' if not above else ', '.join(above)} "
            f"{'is' if len(above) < 2 else 'are'} clearly above chance; its loss "
            f"{trend(list(rarest.loss))} ({listing(rarest.loss, '.1f', ' / ')}).")
    mod = final[final.kind == "modadd"]
    if not mod.empty:
        best = mod.loc[mod.accuracy.idxmax()]
        above = mod[mod.accuracy > 1 / 11]
        text.append(
            f"Modular addition's best cell is {best.accuracy:.2f} ({size_of(final, best.model)} at "
            f"{sci(best.frequency)}); {len(above)} of {len(mod)} cells are above the 1/11 of a "
            "random guess among the answers. The paper's hypothesis expects larger models to keep "
            "more of the copies.")
    return " ".join(text)


def trajectory_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """ladder_trajectory: each copy's accuracy over the checkpoints of one model."""
    series = checkpoint_series(tables["ladder"])
    if series.empty:
        return ""
    base = series.base.iloc[0]
    text = [f"**ladder_trajectory.** Held-out accuracy of each rare copy over the training "
            f"checkpoints of {short(base)} (step {series.step.min()} to {series.step.max()}; "
            "symlog x)."]
    for kind in ("comparison", "modadd"):
        rows = series[series.kind == kind].sort_values("step")
        if rows.empty:
            continue
        parts = []
        for freq, g in sorted(rows.groupby("frequency"), key=lambda fg: -fg[0]):
            peak = g.loc[g.accuracy.idxmax()]
            parts.append(f"{sci(freq)}: {g.accuracy.iloc[0]:.2f} -> peak {peak.accuracy:.2f} "
                         f"(step {peak.step}) -> {g.accuracy.iloc[-1]:.2f}")
        text.append(f"{kind.capitalize()} (first -> peak -> final): {'; '.join(parts)}.")
        losses = rows.groupby("frequency").loss
        rarest = rows[rows.frequency == rows.frequency.min()]
        text.append(f"Not drawn (`ladder.csv`): the {kind} answer loss of the rarest copy goes "
                    f"from {rarest.loss.iloc[0]:.1f} to a peak of {rarest.loss.max():.1f} and ends "
                    f"at {rarest.loss.iloc[-1]:.1f} (most frequent copy: "
                    f"{losses.first().iloc[-1]:.2f} -> {losses.last().iloc[-1]:.2f}).")
    return " ".join(text)


def cosine_groups_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """gradient_cosines_groups: cosine per parameter group, per model."""
    final = final_models(tables["cosines"]).assign(
        kind=lambda t: t.group.map(lambda g: g.split(".")[-1]))
    models = by_size(final)
    plan = config.plan()
    text = [f"**gradient_cosines_groups.** Cosine between the rare-task gradient (mean "
            f"answer-token loss gradient over {config.grad_n} held-out instances) and (left) the "
            f"mean of the frequent tasks' gradients ({', '.join(plan['frequent'])}) or (right) a "
            f"{config.train_batch}-sequence mixture batch's LM gradient, per parameter group "
            "(embeddings, fused QKV rows, attention output, MLP in/out, and all), averaged over "
            f"the rare tasks ({', '.join(plan['gradient_tasks'])}) and over layers."]
    for ref in ("frequent", "mixture"):
        grid = final[final.reference == ref].pivot_table(index="model", columns="kind",
                                                         values="cosine", aggfunc="mean")
        grid = grid.loc[models, [k for k in KINDS if k in grid.columns]]
        first = grid.iloc[0]
        rest = grid.iloc[1:].abs().to_numpy().max() if len(grid) > 1 else float("nan")
        text.append(f"Against the {ref} gradient, {size_of(final, models[0])}: "
                    + ", ".join(f"{k} {v:+.2f}" for k, v in first.items())
                    + (f"; every other size is within ±{rest:.2f} in every group." if len(grid) > 1 else "."))
    smallest = final[(final.model == models[0]) & (final.reference == "frequent")
                     & (final.kind == ALL)].cosine.mean()
    text.append("The hypothesis expects the rare gradient of a small model to point against the "
                f"frequent tasks' (a negative cosine); here the smallest model's is {smallest:+.2f}"
                + (", which fits it." if smallest < 0 else ", which does not fit it."))
    return " ".join(text)


def cosine_size_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """gradient_cosines_size: the all-parameter cosine against size and over training."""
    every = tables["cosines"][tables["cosines"].group == ALL]
    final = final_models(every)
    models = by_size(final)
    text = ["**gradient_cosines_size.** The same cosine over all parameters, per reference, "
            "against parameter count (left) and over the checkpoints (right). Bands: ±1 sd over "
            "rare tasks."]
    for ref in ("frequent", "mixture"):
        means = final[final.reference == ref].groupby("model").cosine.mean().loc[models]
        text.append(f"Against size, the {ref} cosine is {listing(means, '+.2f')} "
                    f"({', '.join(size_of(final, m) for m in models)}).")
    series = checkpoint_series(every)
    if not series.empty:
        means = series.groupby(["step", "reference"]).cosine.mean().unstack()
        start = means.iloc[0]
        late = means[means.index >= 128].abs().to_numpy().max() if (means.index >= 128).any() else float("nan")
        text.append(f"Over training, at step {means.index[0]}: "
                    + ", ".join(f"{r} {v:+.2f}" for r, v in start.items())
                    + f"; from step 128 on every mean is within ±{late:.2f}.")
    return " ".join(text)


def split_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """token_split: a mixed batch's gradient parts against the rare direction."""
    every = tables["token_split"][tables["token_split"].group == ALL]
    final = final_models(every)
    models = by_size(final)
    names = ", ".join(size_of(final, m) for m in models)
    stats = final.groupby(["part", "model"]).cosine.agg(["mean", "std"])
    text = ["**token_split.** A mixture batch with one injected rare block. Its LM gradient g "
            "splits exactly into the rare-block tokens' part g_task and the other tokens' part "
            "g_other (g = g_task + g_other). The plot shows each part's cosine to the rare-task "
            "direction g_r, against size (left) and over the checkpoints (right). Bands: ±1 sd "
            "over rare tasks and two batches."]
    for part, label in (("task_tokens", "g_task"), ("other_tokens", "g_other"), ("batch", "g")):
        rows = stats.loc[part].loc[models]
        text.append(f"{label}: {listing(rows['mean'], '+.2f')} ({names}; sd "
                    f"{rows['std'].min():.2f}-{rows['std'].max():.2f}); it "
                    f"{trend(list(rows['mean']))}.")
    series = checkpoint_series(every)
    task = series[series.part == "task_tokens"].groupby("step").cosine.mean()
    if not task.empty:
        text.append(f"Over training, g_task's cosine peaks at {task.max():.2f} (step "
                    f"{task.idxmax()}) and ends at {task.iloc[-1]:.2f}.")
    text.append("Most of a block's loss is on predicting the made-up operand tokens, not the "
                "answers, so g_task points towards g_r only partly. The paper reports g_other "
                "aligned with g_r in a small model (0.10 at 20M) and near zero at 1B, and a batch "
                "cosine that rises with size (0.04 at 300M, 0.08 at 1B).")
    return " ".join(text)


def fisher_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """fisher_overlap: top-Fisher overlap of rare and frequent tasks against size."""
    final = final_models(tables["fisher"])
    final = final[final.group == ALL]
    models = by_size(final)
    means = final.groupby("model")[["jaccard", "chance_jaccard", "weighted_overlap"]].mean().loc[models]
    sd = final.groupby("model").weighted_overlap.std().max()
    return (f"**fisher_overlap.** Diagonal (empirical) Fisher of each rare task and of the "
            f"frequent tasks together, {config.fisher_n} instances each. The plot shows the "
            f"Jaccard overlap of their top-{config.top_fraction:.0%} parameter sets, the chance "
            "level f/(2-f), and the Fisher-weighted overlap sum(min(p_a, p_b)). Jaccard is "
            f"{listing(means.jaccard)} ({', '.join(size_of(final, m) for m in models)}) against a "
            f"chance level of {means.chance_jaccard.mean():.3f}; it {trend(list(means.jaccard))}"
            f". The weighted overlap is {listing(means.weighted_overlap)} (sd up to "
            f"{sd:.2f}); it {trend(list(means.weighted_overlap))}.")


def _variant(gap) -> str:
    return "no injection" if gap == 0 else f"{gap} every {gap}"


def forget_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """update_forget: rare loss after every step of continued training with injections."""
    forget = tables["forget"]
    models = by_size(forget)
    gaps = sorted(forget.variant.unique())
    injected = forget.groupby(["model", "variant"]).injected.sum()
    blocks = sorted(set(injected[injected > 0]))
    frequency = final_models(tables["ladder"]).query("task == @config.focus_task").frequency \
        if "ladder" in tables else pd.Series(dtype=float)
    freq = f", frequency {sci(frequency.iloc[0])}" if len(frequency) else ""
    text = [f"**update_forget.** Rare-task ({config.focus_task}{freq}) held-out loss after every "
            "step of continued training on each model's own mixture. The copy under study is "
            "removed from the mixture and given back only as planned injections (red ticks): n "
            f"blocks every n steps (n = {', '.join(str(g) for g in gaps if g)}, same overall rate, "
            f"{listing(blocks, 'd', ' / ')} blocks in all), or none. Training: batch "
            f"{config.train_batch}, {config.train_steps} steps, LR "
            + (f"{config.lr:g}" if config.lr else f"{config.lr_scale:g} x the suite's peak")
            + f" with a {config.burn_in}-step warmup, fresh AdamW."]
    ends = forget.dropna(subset=["rare_loss"]).sort_values("step").groupby(["model", "variant"]).rare_loss
    first, last = ends.first(), ends.last()
    if 0 in gaps:
        text.append("Without injections the loss goes " + ", ".join(
            f"{first[(m, 0)]:.2f} -> {last[(m, 0)]:.2f} ({size_of(forget, m)})" for m in models) + ".")
    shown = [g for g in gaps if g]
    if shown:
        text.append(f"Final loss for n = {' / '.join(map(str, shown))}: " + "; ".join(
            f"{' / '.join(f'{last[(m, g)]:.2f}' for g in shown)} ({size_of(forget, m)})"
            for m in models) + ".")
        ordered = all(np.all(np.diff([last[(m, g)] for g in shown]) > 0) for m in models)
        if len(shown) > 1:
            text.append("Smaller gaps end lower at every size, as in the paper: a larger gap at "
                        "the same overall rate gives a higher loss." if ordered else
                        "Smaller gaps do not end lower at every size, as the paper would have it.")
    if shown:
        widest = forget[forget.variant == shown[-1]].dropna(subset=["rare_loss"])
        lows = widest.loc[widest.groupby("model").rare_loss.idxmin()].set_index("model")
        text.append(f"With n = {shown[-1]} the lowest loss is " + "; ".join(
            f"{lows.loc[m, 'rare_loss']:.2f} at step {lows.loc[m, 'step']} ({size_of(forget, m)}, "
            f"final {last[(m, shown[-1])]:.2f})" for m in models)
            + ": a final loss above the lowest is a gain lost again.")
    text.append("Most of a block's gradient is on its operand tokens (see token_split), and a "
                "fresh Adam state turns one sparse update into several steps of momentum.")
    return " ".join(text)


def injections_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """forgetting_summary: drop, share kept and half-life per injection."""
    inj = tables["injections"]
    models = by_size(inj)
    gaps = sorted(inj.variant.unique())
    drop = inj.groupby(["variant", "model"])["drop"].mean()
    kept = inj.groupby(["variant", "model"]).kept.median()
    measured = inj.half_life.notna()
    text = ["**forgetting_summary.** For each injection: the drop in rare loss (before the "
            "injection vs the lowest point before the next one); the share of that drop still "
            "there at the next injection (or at the end); and the half-life of the gain in steps, "
            "shown only where half was lost before the next injection. Error bars: ±1 sd over "
            f"injections. Mean drop ({', '.join(size_of(inj, m) for m in models)}), nats: "
            + "; ".join(f"{listing(drop.loc[g].loc[models], '.2f', ' / ')} for {_variant(g)}"
                        for g in gaps)
            + ". Median share kept: "
            + "; ".join(f"{listing(kept.loc[g].loc[models], '.2f', ' / ')} for {_variant(g)}"
                        for g in gaps)
            + f". {int(measured.sum())} of {len(inj)} injections have a measured half-life"]
    if measured.any():
        text[-1] += f" (median {inj.half_life[measured].median():.1f} steps)"
    text[-1] += ("; momentum keeps lowering the loss after the others, so they are censored. "
                 "These measures only see losses between two injections; a rise that starts at "
                 "an injection shows in update_forget. The hypothesis expects the smallest model "
                 "to forget most.")
    return " ".join(text)


def recovery_caption(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """recovery: upsampling the focus task in small models against scaling up."""
    rec = tables["recovery"]
    models = by_size(rec)
    factors = sorted(rec.variant.unique())
    blocks = rec.groupby(["variant"]).injected.sum() / rec.model.nunique()
    scored = rec.dropna(subset=["rare_accuracy"]).sort_values("step")
    acc = scored.groupby(["model", "variant"]).rare_accuracy
    loss = scored.groupby(["model", "variant"]).rare_loss
    text = [f"**recovery.** Continued training ({config.recovery_steps} steps) of "
            f"{' and '.join(short(m) for m in models)} with {config.focus_task} upsampled "
            f"{', '.join(f'x{f:g}' for f in factors)} over its training frequency "
            f"({listing(blocks.loc[factors], '.0f', ', ')} blocks in all, mean over models). "
            f"Held-out accuracy on {config.n} instances is scored every 10 steps."]
    reference = None
    if "ladder" in tables:
        ladder = final_models(tables["ladder"]).query("task == @config.focus_task")
        if not ladder.empty:
            reference = ladder.sort_values("parameters").iloc[-1]
            text.append(f"Dashed line: the largest model ({short(reference.model)}) at the "
                        f"original frequency, with no extra training ({reference.accuracy:.2f}).")
    for m in models:
        text.append(f"{size_of(rec, m)} starts at {acc.first()[(m, factors[0])]:.2f} and ends at "
                    f"{' / '.join(f'{acc.last()[(m, f)]:.2f}' for f in factors)} (best "
                    f"{' / '.join(f'{acc.max()[(m, f)]:.2f}' for f in factors)}); its loss goes from "
                    f"{loss.first()[(m, factors[0])]:.2f} to "
                    f"{' / '.join(f'{loss.last()[(m, f)]:.2f}' for f in factors)}.")
    if reference is not None:
        best = max(acc.last()[(m, factors[-1])] for m in models)
        text.append(f"With x{factors[-1]:g} the best small model ends at {best:.2f} against "
                    f"{reference.accuracy:.2f} from scale (one estimate is ±{ci95(config.n):.2f}); "
                    "the hypothesis expects upsampling to close the gap.")
    return " ".join(text)


def tables_caption(tables: dict[str, pd.DataFrame]) -> str:
    """What each CSV holds, the master table first."""
    results = tables["results"]
    counts = results.groupby("experiment", sort=False).size()
    return ("**Tables.** `results.csv` is the master table: one long row per (experiment, "
            "model, task, condition, measure) with its value — "
            + ", ".join(f"{e} {n} rows ({', '.join(results[results.experiment == e].measure.unique())})"
                        for e, n in counts.items())
            + ". Conditions: 'as trained' (ladder), 'vs <reference>' (gradient cosines, Fisher), "
            "the gradient part (token split), 'gap n' (continued training with n blocks every n "
            "steps) and 'xF' (recovery upsampling). The full tables: `ladder.csv` (accuracy and "
            "loss per model, checkpoint and rare task), `cosines.csv` (per parameter group and "
            "reference), `token_split.csv` (per batch and gradient part), `fisher.csv` (per "
            "group), `forget.csv` and `recovery.csv` (one row per training step), "
            "`injections.csv` (one row per injection).")
