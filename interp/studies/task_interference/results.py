"""The master table ``results``: the main measurement of every experiment in one long table.

One row per (experiment, model, task, condition, measure), with ``value`` and, where the
measure has one, its 95% interval ``lo``/``hi``, the number of distinct items ``n`` and a
p-value ``p``: accuracies (Wilson interval; ``p`` one-sided exact binomial against chance),
paired accuracy differences ``delta_accuracy`` (Tango interval; ``p`` exact McNemar) and
paired loss differences ``delta_loss`` (t-interval over items). Rows: the ladder's accuracy
and loss; its size steps (``ladder_steps``); the all-parameter gradient cosine per reference;
the token-split cosines (mean over the two batches); the Fisher overlaps; the final rare loss
and accuracy, the gap steps and the injection effects of continued training; the start and
final accuracy, final loss and paired effects of recovery.
"""

from __future__ import annotations

import pandas as pd

from interp.analysis.gradients import ALL
from interp.analysis.stats import accuracy_interval, binomial_vs_chance
from interp.studies.task_interference import comparisons as C
from interp.studies.task_interference.facts import chance_of

COLUMNS = ["experiment", "model", "size", "parameters", "task", "condition", "measure", "value",
           "lo", "hi", "n", "p"]
# The per-item outcomes table "items" (items.csv.gz): one row per scored instance.
ITEMS_COLUMNS = ["experiment", "model", "task", "condition", "step", "item", "chosen",
                 "correct", "loss"]


def results_table(tables: dict[str, pd.DataFrame], *, focus: str) -> pd.DataFrame:
    """The long master table of whichever experiment tables are present.

    >>> results_table({}, focus="rare_comparison_4").columns.tolist()[:3]
    ['experiment', 'model', 'size']
    """
    parts = []
    items = tables.get("items", pd.DataFrame(columns=ITEMS_COLUMNS))
    if "ladder" in tables:
        parts += _ladder_rows(tables["ladder"], items)
    if "cosines" in tables:
        cos = tables["cosines"][tables["cosines"].group == ALL]
        parts.append(_long(cos.assign(task=cos.rare_task, condition="vs " + cos.reference),
                           "gradients", ["cosine"]))
    if "token_split" in tables:
        split = tables["token_split"][tables["token_split"].group == ALL]
        split = split.groupby(["model", "size", "parameters", "rare_task", "part"], sort=False,
                              as_index=False).cosine.mean()
        parts.append(_long(split.assign(task=split.rare_task, condition=split.part),
                           "token_split", ["cosine"], rename={"cosine": "cosine_to_rare"}))
    if "fisher" in tables:
        fisher = tables["fisher"][tables["fisher"].group == ALL]
        parts.append(_long(fisher.assign(task=fisher.rare_task, condition="vs frequent"),
                           "fisher", ["jaccard", "chance_jaccard", "weighted_overlap"]))
    if "forget" in tables:
        parts += _training_rows(tables["forget"], items, "forget", focus)
        parts.append(_gap_rows(tables["forget"], items, focus))
    if "injections" in tables and not tables["injections"].empty:
        parts.append(_injection_rows(tables["injections"], focus))
    if "recovery" in tables:
        parts += _training_rows(tables["recovery"], items, "recovery", focus)
        parts.append(_recovery_rows(tables, items, focus))
    parts += _control_rows(tables, focus)
    if "seeds" in tables:
        parts.append(_seed_rows(tables["seeds"]))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(parts, ignore_index=True).reindex(columns=COLUMNS)


def _long(table: pd.DataFrame, experiment: str, measures: list[str], *,
          rename: dict | None = None) -> pd.DataFrame:
    long = table.melt(id_vars=["model", "size", "parameters", "task", "condition"],
                      value_vars=measures, var_name="measure", value_name="value")
    return long.assign(experiment=experiment, measure=long.measure.replace(rename or {}))


def _ladder_rows(ladder: pd.DataFrame, items: pd.DataFrame) -> list[pd.DataFrame]:
    """Accuracy (Wilson, p against chance) and loss per model and copy; the size steps."""
    rows = ladder.assign(condition="as trained")
    accuracy = _long(rows, "ladder", ["accuracy"]).assign(
        lo=rows.accuracy_lo.to_numpy(), hi=rows.accuracy_hi.to_numpy(), n=rows.n.to_numpy(),
        p=rows.p_vs_chance.to_numpy())
    parts = [accuracy, _long(rows, "ladder", ["loss"]).assign(n=rows.n.to_numpy())]
    steps = C.size_steps(ladder, items)
    if not steps.empty:
        facts = ladder.drop_duplicates("model").set_index("model")
        parts.append(pd.DataFrame(dict(
            experiment="ladder_steps", model=steps.larger,
            size=facts.loc[steps.larger, "size"].to_numpy(),
            parameters=facts.loc[steps.larger, "parameters"].to_numpy(), task=steps.task,
            condition=steps.condition, measure="delta_accuracy", value=steps.delta_accuracy,
            lo=steps.delta_accuracy_lo, hi=steps.delta_accuracy_hi, n=steps.n,
            p=steps.mcnemar_p)))
    return parts


def _training_rows(trace: pd.DataFrame, items: pd.DataFrame, experiment: str,
                   focus: str) -> list[pd.DataFrame]:
    """Per (model, variant): final loss, and start (recovery only) and final accuracy with a
    Wilson interval from the end-point items."""
    facts = trace.drop_duplicates("model").set_index("model")[["size", "parameters"]]
    scored = items[(items.experiment == experiment)]
    parts = []
    for (model, condition), group in scored.groupby(["model", "condition"], sort=False):
        ends = {"start": group[group.step == group.step.min()],
                "final": group[group.step == group.step.max()]}
        base = dict(experiment=experiment, model=model, size=facts.loc[model, "size"],
                    parameters=facts.loc[model, "parameters"], task=focus, condition=condition)
        for when, rows in ends.items():
            if when == "start" and experiment == "forget":
                continue  # forget measures loss; its accuracy is only reported at the end
            iv = accuracy_interval(rows.correct.to_numpy())
            parts.append(dict(base, measure=f"{when}_rare_accuracy", value=iv.estimate,
                              lo=iv.lo, hi=iv.hi, n=iv.n,
                              p=binomial_vs_chance(rows.correct.to_numpy(), chance_of(focus))))
        parts.append(dict(base, measure="final_rare_loss", value=float(ends["final"].loss.mean()),
                          n=len(ends["final"])))
    return [pd.DataFrame(parts)]


def _gap_rows(forget: pd.DataFrame, items: pd.DataFrame, focus: str) -> pd.DataFrame:
    """Final-loss differences between consecutive gaps, paired over items."""
    steps = C.gap_steps(items)
    facts = forget.drop_duplicates("model").set_index("model")
    return pd.DataFrame(dict(
        experiment="forget", model=steps.model, size=facts.loc[steps.model, "size"].to_numpy(),
        parameters=facts.loc[steps.model, "parameters"].to_numpy(), task=focus,
        condition=steps.condition, measure="delta_loss", value=steps.delta_loss,
        lo=steps.delta_loss_lo, hi=steps.delta_loss_hi, n=steps.n))


def _recovery_rows(tables: dict[str, pd.DataFrame], items: pd.DataFrame,
                   focus: str) -> pd.DataFrame:
    """Recovery's paired accuracy effects: end vs start, and end vs the ladder's largest model."""
    ladder = tables.get("ladder")
    reference = None if ladder is None else C.reference_model(ladder, focus)
    effects = C.recovery_effects(items, reference)
    if effects.empty:
        return effects
    facts = tables["recovery"].drop_duplicates("model").set_index("model")
    return pd.DataFrame(dict(
        experiment="recovery", model=effects.model,
        size=facts.loc[effects.model, "size"].to_numpy(),
        parameters=facts.loc[effects.model, "parameters"].to_numpy(), task=focus,
        condition=effects.condition + ", " + effects.comparison, measure="delta_accuracy",
        value=effects.delta_accuracy, lo=effects.delta_accuracy_lo, hi=effects.delta_accuracy_hi,
        n=effects.n, p=effects.mcnemar_p))


def _control_rows(tables: dict[str, pd.DataFrame], focus: str) -> list[pd.DataFrame]:
    """The forget controls' paired loss differences (``controls``) and the gaps at matched
    time since their last injection (``matched_time``)."""
    parts = []
    controls = tables.get("controls")
    if controls is not None and not controls.empty:
        parts.append(pd.DataFrame(dict(
            experiment="forget_controls", model=controls.model, size=controls["size"],
            parameters=controls.parameters, task=focus,
            condition=[f"injection {k} (step {s})" for k, s in
                       zip(controls.injection, controls.injection_step)],
            measure=controls.measure, value=controls.value, lo=controls.lo, hi=controls.hi,
            n=controls.n)))
    matched = tables.get("matched_time")
    if matched is not None and not matched.empty:
        parts.append(pd.DataFrame(dict(
            experiment="forget_matched_time", model=matched.model, size=matched["size"],
            parameters=matched.parameters, task=focus, condition=matched.condition,
            measure="delta_loss", value=matched.delta_loss, lo=matched.delta_loss_lo,
            hi=matched.delta_loss_hi, n=matched.n)))
    return parts


def _seed_rows(seeds: pd.DataFrame) -> pd.DataFrame:
    """Pooled accuracy (Wilson interval) per model (every seed, phase-1 checkpoints too) and
    kind."""
    return pd.DataFrame(dict(
        experiment="ladder_pooled", model=seeds.model, size=seeds["size"],
        parameters=seeds.parameters, task=seeds.kind + " (all copies)",
        condition=[f"seed {s}, {p}" for s, p in zip(seeds.seed, seeds.phase)],
        measure="accuracy", value=seeds.accuracy, lo=seeds.accuracy_lo, hi=seeds.accuracy_hi,
        n=seeds.n))


def _injection_rows(injections: pd.DataFrame, focus: str) -> pd.DataFrame:
    """Per (model, gap): the mean drop per injection and the median share of it kept."""
    if "control" not in injections:
        injections = injections.assign(control="none")
    by = injections.sort_values(["parameters", "variant"], kind="stable").groupby(
        ["model", "size", "parameters", "variant", "control"], sort=False)
    table = by.agg(mean_drop=("drop", "mean"), median_kept=("kept", "median")).reset_index()
    table = table.assign(task=focus, condition=[
        f"gap {v:g}" + ("" if c == "none" else f" {c}") for v, c in zip(table.variant, table.control)])
    return _long(table, "injections", ["mean_drop", "median_kept"])


def final_models(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the final seed-0 models (the size ladder), not of intermediate checkpoints nor
    of sibling seeds (those have their own between-seed findings, ``seeds.py``).

    >>> final_models(pd.DataFrame({"model": ["a", "a@step1", "b"], "seed": [0, 0, 1]})).model.tolist()
    ['a']
    """
    keep = ~table.model.str.contains("@")
    if "seed" in table:
        keep &= table.seed.fillna(0) == 0
    return table[keep]


def checkpoint_series(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the checkpoint series: the @stepN models and the final model of the base with
    the most checkpoints (the log-spaced series; every other size has only its phase-1
    ``@step2000``, which the phase-1 findings read instead).

    >>> t = pd.DataFrame({"model": ["a", "a@step1", "a@step2", "b", "b@step2"],
    ...                   "base": ["a", "a", "a", "b", "b"]})
    >>> checkpoint_series(t).model.tolist()
    ['a', 'a@step1', 'a@step2']
    """
    counts = table[table.model.str.contains("@")].drop_duplicates("model").base.value_counts()
    if counts.empty or counts.max() < 2:  # a series needs two checkpoints
        return table.iloc[:0]
    bases = set(counts[counts == counts.max()].index)
    if "seed" in table:
        table = table[table.seed.fillna(0) == 0]
    return table[table.base.isin(bases)]
