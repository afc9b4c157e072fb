"""What the task-interference tables say: the summary printed and recorded in results.json,
CAPTIONS.md and FINDINGS.md. Every number in them is read from the tables of the run."""

from __future__ import annotations

import math
from typing import Any, Optional

import pandas as pd

from interp.runs.study import Report, Tables
from interp.studies.task_interference.captions import captions
from interp.studies.task_interference.config import Config
from interp.studies.task_interference.findings import findings
from interp.studies.task_interference.results import final_models
from interp.studies.task_interference.training_findings import full_runs


def report(tables: Tables, config: Config) -> Report:
    """The summary, CAPTIONS.md, FINDINGS.md, and the plan and summary results.json records."""
    found = summary(tables, focus=config.focus_task)
    return Report(summary=summary_text(found), captions=captions(tables, config),
                  record=dict(plan=config.plan(), summary=found),
                  findings=findings(tables, config))


def summary(tables: dict[str, pd.DataFrame], *, focus: str) -> dict:
    """The main numbers of a run, per model (and per variant where there are variants).

    >>> summary({}, focus="rare_comparison_4")
    {}
    """
    out: dict[str, Any] = {}
    if "ladder" in tables:
        ladder = final_models(tables["ladder"])
        out["ladder_mean_accuracy"] = (
            ladder.groupby(["model", "kind"], sort=False).accuracy.mean().round(3)
            .unstack().to_dict("index"))
        out["focus_accuracy"] = (
            ladder[ladder.task == focus].set_index("model").accuracy.round(3).to_dict())
    for table, by, key, columns in (
            ("cosines", "reference", "cosine_rare_vs_reference", None),
            ("token_split", "part", "token_split_cosine_to_rare", None),
            ("fisher", None, "fisher_overlap", ["jaccard", "chance_jaccard", "weighted_overlap"])):
        if table in tables:
            rows = final_models(tables[table])
            rows = rows[rows.group == "all"]
            if by is None:
                out[key] = rows.groupby("model", sort=False)[columns].mean().round(4).to_dict("index")
            else:
                out[key] = (rows.groupby(["model", by], sort=False).cosine.mean().round(4)
                            .unstack().to_dict("index"))
    out.update(_training_summary(tables))
    return out


def _training_summary(tables: dict[str, pd.DataFrame]) -> dict:
    out: dict[str, Any] = {}
    tables = {k: full_runs(t) if k in ("injections", "forget") else t for k, t in tables.items()}
    if "injections" in tables and not tables["injections"].empty:
        inj = tables["injections"].sort_values(["parameters", "variant"], kind="stable")
        out["injections"] = {
            f"{m} gap {v}": dict(mean_drop=round(float(g["drop"].mean()), 4),
                                 median_half_life=_rounded(g.half_life.median()),
                                 censored=round(float(g.censored.mean()), 2),
                                 median_kept=_rounded(g.kept.median()))
            for (m, v), g in inj.groupby(["model", "variant"], sort=False)}
    if "forget" in tables:
        last = _last(tables["forget"])
        out["forget_final_rare_loss"] = {f"{r.model} gap {r.variant}": round(r.rare_loss, 4)
                                         for r in last.itertuples()}
    if "recovery" in tables:
        last = _last(tables["recovery"].dropna(subset=["rare_accuracy"]))
        out["recovery_final_accuracy"] = {f"{r.model} x{r.variant:g}": round(r.rare_accuracy, 3)
                                          for r in last.itertuples()}
    return out


def _last(trace: pd.DataFrame) -> pd.DataFrame:
    return trace.sort_values(["parameters", "variant", "step"]).groupby(
        ["model", "variant"], sort=False).tail(1)


def _rounded(x: float) -> Optional[float]:
    return None if x is None or math.isnan(x) else round(float(x), 2)


def summary_text(summary: dict) -> str:
    """The summary as short indented text for the terminal.

    >>> print(summary_text({"focus_accuracy": {"suite/pythia-s1": 0.52}}))
    focus_accuracy:
      suite/pythia-s1: 0.52
    """
    lines = []
    for section, values in summary.items():
        lines.append(f"{section}:")
        for key, value in values.items():
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)
