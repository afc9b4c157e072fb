"""The findings of experiments 2-4 (gradients, update and forget, recovery), from the tables.

Gradient cosines and Fisher overlaps have no interval (one gradient per rare task); they are
listed with their spread over the rare tasks. Loss differences between training variants are
paired t-intervals over the same items; accuracy effects of recovery are paired Tango
intervals with the exact McNemar p. Each training variant is one run.
"""

from __future__ import annotations

import pandas as pd

from interp.analysis.gradients import ALL
from interp.analysis.stats import Interval, accuracy_interval
from interp.runs.files import markdown_table
from interp.studies.task_interference import comparisons as C
from interp.studies.task_interference.config import Config
from interp.studies.task_interference.controls import matched_time_sentence
from interp.studies.task_interference.results import final_models
from interp.studies.task_interference.seeds import noise_floor_sentence
from interp.studies.task_interference.wording import bracket, describe_loss, say_difference

GROUP_KINDS = ("embed", "attn_qkv", "attn_out", "mlp_in", "mlp_out")


def per_size(values: pd.Series, rows: pd.DataFrame, models: list[str], fmt: str = "+.2f") -> str:
    """``s1 +0.08, s2 -0.02``: one value per model, in size order.

    >>> rows = pd.DataFrame({"model": ["a", "b"], "size": ["s1", "s2"]})
    >>> per_size(pd.Series({"a": 0.081, "b": -0.02}), rows, ["a", "b"])
    's1 +0.08, s2 -0.02'
    """
    return ", ".join(f"{C.label(rows, m)} {values[m]:{fmt}}" for m in models)


def gradient_findings(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """Cosines per reference and group, the token split, the Fisher overlap."""
    cos = final_models(tables["cosines"]).assign(
        kind=lambda t: t.group.map(lambda g: g.split(".")[-1]))
    models = C.ordered_models(cos)
    rare = ", ".join(config.plan()["gradient_tasks"])
    out = [f"**Gradient interference.** One gradient per rare task ({rare}; instances: "
           f"min(grad_n = {config.grad_n}, the copy's population)); each number is the mean over "
           "those rare tasks (sd: their spread), so none has an interval and no trend is read "
           "into them."]
    for ref, name in (("frequent", "the frequent tasks' mean gradient"),
                      ("mixture", "a mixture batch's LM gradient")):
        rows = cos[cos.reference == ref]
        if rows.empty:
            continue
        every = rows[rows.kind == ALL].groupby("model").cosine
        groups = rows[rows.kind != ALL].groupby(["model", "kind"]).cosine.mean()
        first = groups.loc[models[0]]
        top = first.abs().idxmax()
        rest = groups.drop(models[0], level="model").abs().max() if len(models) > 1 else None
        out.append(f"Rare-task gradient vs {name}, all parameters: "
                   f"{per_size(every.mean(), rows, models)} (sd over rare tasks up to "
                   f"{every.std().max():.2f}). {C.label(rows, models[0])}'s largest group: "
                   f"{top} {first[top]:+.2f}"
                   + (f"; in every other size every group is within ±{rest:.2f}." if rest is not None else "."))
    if "token_split" in tables:
        out.append(_split_sentence(final_models(tables["token_split"]), models))
    if "fisher" in tables:
        out.append(_fisher_sentence(final_models(tables["fisher"]), models, config))
    if "noise_floor" in tables:
        out.append(noise_floor_sentence(tables["noise_floor"], models, cos))
    phase1 = tables["cosines"][tables["cosines"].model.str.endswith("@step2000")]
    phase1 = phase1[(phase1.group == ALL) & (phase1.reference == "frequent")]
    if not phase1.empty:
        means = phase1.groupby("model").cosine.mean()
        shown = phase1.drop_duplicates("model").sort_values("parameters")
        out.append("Phase-1 models (`@step2000`), rare-task gradient vs the frequent tasks' mean, "
                   "all parameters: " + ", ".join(f"{r.size} {means[r.model]:+.2f}"
                                                  for r in shown.itertuples()) + ".")
    return " ".join(out)


def _split_sentence(split: pd.DataFrame, models: list[str]) -> str:
    split = split[split.group == ALL]
    stats = split.groupby(["part", "model"]).cosine.agg(["mean", "std"])
    parts = []
    for part, name in (("task_tokens", "g_task (rare-block tokens)"),
                       ("other_tokens", "g_other (all other tokens)"), ("batch", "g (the batch)")):
        rows = stats.loc[part]
        parts.append(f"{name} {per_size(rows['mean'], split, models)} (sd up to "
                     f"{rows['std'].max():.2f})")
    return ("A mixed batch's gradient, split into g = g_task + g_other, each one's cosine to the "
            "rare direction g_r (mean over rare tasks and two batches): " + "; ".join(parts) + ".")


def _fisher_sentence(fisher: pd.DataFrame, models: list[str], config: Config) -> str:
    fisher = fisher[fisher.group == ALL]
    means = fisher.groupby("model")[["jaccard", "chance_jaccard", "weighted_overlap"]].mean()
    return (f"Top-{config.top_fraction:.0%} Fisher parameters of each rare task vs the frequent "
            f"tasks ({config.fisher_n} instances each): Jaccard "
            f"{per_size(means.jaccard, fisher, models, '.3f')} against "
            f"{means.chance_jaccard.mean():.3f} by chance; Fisher-weighted overlap "
            f"{per_size(means.weighted_overlap, fisher, models, '.2f')}.")


def forget_findings(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """Final loss per gap, gap steps paired over items, the largest regained loss."""
    forget, items = full_runs(tables["forget"]), tables["items"]
    models = C.ordered_models(forget)
    gaps = sorted(int(g) for g in forget.variant.unique())
    shown = [g for g in gaps if g]
    blocks = forget.groupby(["model", "variant"]).injected.sum()
    n = int(items[items.experiment == "forget"].groupby(["model", "condition", "step"]).size().min())
    last = forget.dropna(subset=["rare_loss"]).sort_values("step").groupby(["model", "variant"]).rare_loss
    out = [f"**Update and forget.** {', '.join(str(b) for b in sorted(set(blocks[blocks > 0])))} "
           f"blocks of {config.focus_task} go into {config.train_steps} steps of continued "
           f"training, {' / '.join(map(str, shown))} at a time (the same overall rate), or none; "
           f"its loss is traced on {n} held-out items. One run per model and gap: intervals are "
           "between items."]
    if 0 in gaps:
        out.append("Without injections the loss goes " + ", ".join(
            f"{last.first()[(m, 0)]:.2f} -> {last.last()[(m, 0)]:.2f} ({C.label(forget, m)})"
            for m in models) + ".")
    if shown:
        out.append(f"Final loss for gap {' / '.join(map(str, shown))}: " + "; ".join(
            f"{C.label(forget, m)} {' / '.join(f'{last.last()[(m, g)]:.2f}' for g in shown)}"
            for m in models) + ".")
    gap_steps = C.gap_steps(items)
    if not gap_steps.empty:
        out.append("Larger gap minus smaller, final loss on the same items: " + "; ".join(
            f"{C.label(forget, r.model)} {r.condition} "
            + describe_loss(_interval(r)) for r in gap_steps.itertuples()) + ".")
        higher = int((gap_steps.delta_loss_lo > 0).sum())
        out.append(f"A larger gap ends higher in {higher} of these {len(gap_steps)} comparisons"
                   + (", at every size and step." if higher == len(gap_steps) else "."))
    if "injections" in tables and not full_runs(tables["injections"]).empty:
        out.append(_regained_sentence(full_runs(tables["injections"]), forget, models))
    out.append(matched_time_sentence(tables, lambda m: C.label(forget, m)))
    return " ".join(p for p in out if p)


def full_runs(table: pd.DataFrame) -> pd.DataFrame:
    """The forget rows of the gap runs themselves, not of their controls.

    >>> full_runs(pd.DataFrame({"control": ["none", "freeze"]})).control.tolist()
    ['none']
    """
    return table[table.control == "none"] if "control" in table else table


def _interval(row) -> Interval:
    return Interval(row.delta_loss, row.delta_loss_lo, row.delta_loss_hi, n=int(row.n))


def _regained_sentence(inj: pd.DataFrame, forget: pd.DataFrame, models: list[str]) -> str:
    inj = inj.assign(regained=inj.loss_at_next - inj.lowest,
                     number=inj.groupby(["model", "variant"]).injection_step.rank().astype(int))
    worst = inj.loc[inj.regained.idxmax()]
    widest = inj[inj.variant == inj.variant.max()]
    kept = widest.groupby("model").kept.min()
    lost = ("After no injection does the loss rise again before the next one." if worst.regained <= 0 else
            f"The largest rise after an injection: +{worst.regained:.2f} nats in "
            f"{C.label(forget, worst.model)} after injection {worst.number} of the gap-"
            f"{int(worst.variant)} run, from its lowest point ({steps(worst.lowest_after)} after "
            f"the injection; drop {worst['drop']:+.2f} nats) to the next injection or the end "
            f"({steps(worst.gap)} after it).")
    return (f"{lost} Smallest share of a gap-{int(inj.variant.max())} gain still there at the "
            "next injection (1 = all kept; injections without a drop have no share): "
            + ", ".join(f"{C.label(forget, m)} {kept[m]:.2f}" for m in models if m in kept.index)
            + ".")


def steps(count: float) -> str:
    """``1 step``, ``16 steps``.

    >>> steps(1), steps(16.0)
    ('1 step', '16 steps')
    """
    return f"{int(count)} step" + ("" if int(count) == 1 else "s")


def recovery_findings(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """Start and end accuracy per model and factor, paired effects, and losses against scale."""
    rec, items = tables["recovery"], tables["items"]
    ladder = tables.get("ladder")
    reference = None if ladder is None else C.reference_model(ladder, config.focus_task)
    effects = C.recovery_effects(items, reference)
    scored = items[items.experiment == "recovery"]
    n = int(scored.groupby(["model", "condition", "step"]).size().min())
    out = [f"**Recovery.** {config.focus_task} upsampled by "
           f"{', '.join(f'x{f:g}' for f in config.factors)} over its training frequency for "
           f"{config.recovery_steps} steps of continued training; accuracy on {n} held-out "
           "items (Wilson intervals), effects paired on the same items (Tango interval, exact "
           "McNemar p). One run per model and factor."]
    out.append(_recovery_grid(rec, scored, effects))
    if reference is not None:
        ref_items = items[(items.experiment == "ladder") & (items.model == reference)
                          & (items.task == config.focus_task)]
        iv = accuracy_interval(ref_items.correct.to_numpy())
        out.append(f"Yardstick: {reference.replace('suite/', '')} at the original frequency, no "
                   f"extra training: {bracket(iv.estimate, iv.lo, iv.hi)}.")
    out.append(_recovery_sentences(rec, effects))
    if reference is not None:
        out.append(_recovery_losses(rec, items, reference, config))
    return "\n\n".join(p for p in out if p)


def _recovery_grid(rec: pd.DataFrame, scored: pd.DataFrame, effects: pd.DataFrame) -> str:
    rows = []
    for (model, condition), group in scored.groupby(["model", "condition"], sort=False):
        start = accuracy_interval(group[group.step == group.step.min()].correct.to_numpy())
        end = accuracy_interval(group[group.step == group.step.max()].correct.to_numpy())
        row = {"model": C.label(rec, model), "upsampling": condition,
               "start": bracket(start.estimate, start.lo, start.hi),
               "end": bracket(end.estimate, end.lo, end.hi)}
        mine = effects[(effects.model == model) & (effects.condition == condition)]
        for r in mine.itertuples():
            row[r.comparison] = say_difference(r)
        rows.append(row)
    return markdown_table(pd.DataFrame(rows).fillna("-"), index=False)


def _recovery_sentences(rec: pd.DataFrame, effects: pd.DataFrame) -> str:
    """The smallest and largest factor's effects in words, per model."""
    factors = sorted(effects.condition.unique(), key=lambda c: float(c[1:]))
    chosen = [factors[-1]] + ([factors[0]] if len(factors) > 1 else [])
    lines = []
    for condition in chosen:
        mine = effects[effects.condition == condition]
        lines.append(f"{condition}: " + "; ".join(
            f"{C.label(rec, r.model)} {r.comparison} {say_difference(r)}"
            for r in mine.itertuples()) + ".")
    return " ".join(lines)


def _recovery_losses(rec: pd.DataFrame, items: pd.DataFrame, reference: str,
                     config: Config) -> str:
    """The largest factor's final loss per model against the reference's, paired over items."""
    condition = f"x{max(config.factors):g}"
    scored = items[(items.experiment == "recovery") & (items.condition == condition)]
    ref = C.item_losses(items, experiment="ladder", model=reference, task=config.focus_task)
    parts = []
    for model, group in scored.groupby("model", sort=False):
        final = C.item_losses(group, step=group.step.max())
        parts.append(f"{C.label(rec, model)} {final.mean():.2f} "
                     f"({describe_loss(C.loss_difference(final, ref))})")
    return (f"Final loss with {condition}: " + "; ".join(parts) + f", against "
            f"{reference.replace('suite/', '')}'s {ref.mean():.2f} on the same items.")
