"""The master table ``results``: the main measurement of every experiment in one long table.

One row per (experiment, model, task, condition, measure): the ladder's accuracy and loss;
the all-parameter gradient cosine per reference; the token-split cosines (mean over the two
batches); the Fisher overlaps; the final rare loss and the injection effects of continued
training; the final accuracy and loss of recovery.
"""

from __future__ import annotations

import pandas as pd

from interp.analysis.gradients import ALL

COLUMNS = ["experiment", "model", "size", "parameters", "task", "condition", "measure", "value"]


def results_table(tables: dict[str, pd.DataFrame], *, focus: str) -> pd.DataFrame:
    """The long master table of whichever experiment tables are present.

    >>> results_table({}, focus="rare_comparison_4").columns.tolist()[:3]
    ['experiment', 'model', 'size']
    """
    parts = []
    if "ladder" in tables:
        parts.append(_long(tables["ladder"].assign(condition="as trained"), "ladder",
                           ["accuracy", "loss"]))
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
        parts.append(_final_rows(tables["forget"], "forget", focus, "gap {:g}", ["rare_loss"]))
    if "injections" in tables and not tables["injections"].empty:
        parts.append(_injection_rows(tables["injections"], focus))
    if "recovery" in tables:
        rec = tables["recovery"].dropna(subset=["rare_accuracy"])
        parts.append(_final_rows(rec, "recovery", focus, "x{:g}", ["rare_accuracy", "rare_loss"]))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def _long(table: pd.DataFrame, experiment: str, measures: list[str], *,
          rename: dict | None = None) -> pd.DataFrame:
    long = table.melt(id_vars=["model", "size", "parameters", "task", "condition"],
                      value_vars=measures, var_name="measure", value_name="value")
    return long.assign(experiment=experiment, measure=long.measure.replace(rename or {}))


def _final_rows(trace: pd.DataFrame, experiment: str, focus: str, label: str,
                measures: list[str]) -> pd.DataFrame:
    """The last traced step of each (model, variant), as final_<measure> rows."""
    last = trace.sort_values(["parameters", "variant", "step"]).groupby(
        ["model", "variant"], sort=False).tail(1)
    last = last.assign(task=focus, condition=[label.format(v) for v in last.variant])
    return _long(last, experiment, measures, rename={m: f"final_{m}" for m in measures})


def _injection_rows(injections: pd.DataFrame, focus: str) -> pd.DataFrame:
    """Per (model, gap): the mean drop per injection and the median share of it kept."""
    by = injections.sort_values(["parameters", "variant"], kind="stable").groupby(
        ["model", "size", "parameters", "variant"], sort=False)
    table = by.agg(mean_drop=("drop", "mean"), median_kept=("kept", "median")).reset_index()
    table = table.assign(task=focus, condition=[f"gap {v:g}" for v in table.variant])
    return _long(table, "injections", ["mean_drop", "median_kept"])


def final_models(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of final models (the size ladder), not of intermediate checkpoints.

    >>> final_models(pd.DataFrame({"model": ["a", "a@step1"]})).model.tolist()
    ['a']
    """
    return table[~table.model.str.contains("@")]


def checkpoint_series(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of every checkpoint series: the @stepN models and the final model of their base.

    >>> t = pd.DataFrame({"model": ["a", "a@step1", "b"], "base": ["a", "a", "b"]})
    >>> checkpoint_series(t).model.tolist()
    ['a', 'a@step1']
    """
    bases = set(table[table.model.str.contains("@")].base)
    return table[table.base.isin(bases)]
