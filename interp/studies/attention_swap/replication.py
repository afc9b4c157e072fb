"""Intervals over units larger than an item: over swap pairs and over evaluation seeds for the
swaps and controls, over seeds for the scaling fits.

The item-level paired intervals (results.csv) say whether one cell moved; these say whether
an effect holds across recipient/donor pairs of one kind, and across fresh item samples. Both
are t-intervals on n - 1 degrees of freedom (``interp.analysis.stats.seed_interval``); a unit
count of one gives no interval (NaN bounds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interp.analysis.scaling import confidence_competence
from interp.analysis.stats import seed_interval
from interp.studies.attention_swap.sweep import OTHER_INPUT_SWAP, PAIR_KEYS

GAP_COLUMNS = ["phase", "family", "task", "seed", "sizes", "loss_slope", "choice_loss_slope",
               "accuracy_slope", "loss_gain", "accuracy_gain", "gap", "paper_gap",
               "choice_paper_gap"]
FIT_MEASURES = ["loss_slope", "choice_loss_slope", "accuracy_slope", "gap", "paper_gap",
                "choice_paper_gap"]
FIT_COLUMNS = ["phase", "family", "task", "measure", "seeds", "mean", "lo", "hi"]
REPLICATION_COLUMNS = ["condition", "task", "measure", "over", "k", "mean", "lo", "hi", "cells",
                       "cells_below", "cells_above"]
REPLICATED = ("swap:", OTHER_INPUT_SWAP, "control:")


def paper_ratio(loss_slope: float, accuracy_slope: float) -> float:
    """Paper A's gap as its own material writes it, a slope ratio: the loss fall per unit of
    accuracy gained, -(dL/dlog N) / (dA/dlog N); inf when accuracy does not rise.

    >>> paper_ratio(-0.5, 0.25), paper_ratio(-0.5, 0.0)
    (2.0, inf)
    """
    return -loss_slope / accuracy_slope if accuracy_slope > 1e-9 else float("inf")


def gap_table(scaling: pd.DataFrame) -> pd.DataFrame:
    """Per (phase, family, task, seed): ``interp.analysis.scaling.confidence_competence``
    (our gap), the slope of the choice-restricted loss, and paper A's slope ratio on the
    full and on the choice-restricted loss (``paper_ratio``)."""
    frames = []
    for (phase, seed), rows in scaling.groupby(["phase", "seed"], sort=False):
        fit = confidence_competence(rows)
        if fit.empty:
            continue
        slopes = {}
        for (family, task), group in rows.groupby(["family", "task"]):
            choice = group.choice_loss.to_numpy(dtype=float)
            x = np.log10(group.parameters.to_numpy(dtype=float))
            ok = np.isfinite(choice).all() and group.parameters.nunique() > 1
            slopes[(family, task)] = np.polyfit(x, choice, 1)[0] if ok else float("nan")
        fit["choice_loss_slope"] = [slopes[k] for k in zip(fit.family, fit.task)]
        fit["paper_gap"] = [paper_ratio(a, b) for a, b in zip(fit.loss_slope, fit.accuracy_slope)]
        fit["choice_paper_gap"] = [paper_ratio(a, b) if np.isfinite(a) else float("nan")
                                   for a, b in zip(fit.choice_loss_slope, fit.accuracy_slope)]
        frames.append(fit.assign(phase=phase, seed=seed))
    if not frames:
        return pd.DataFrame(columns=GAP_COLUMNS)
    return pd.concat(frames, ignore_index=True)[GAP_COLUMNS]


def scaling_fits(gap: pd.DataFrame) -> pd.DataFrame:
    """Each fit measure of ``gap_table`` over the seeds: mean and t-interval; NaN bounds with
    one seed, and mean inf (no interval) where some seed's value is infinite.

    >>> gap = pd.DataFrame(dict(phase="final", family="f", task="t", seed=[0, 1, 2],
    ...     loss_slope=[-1.0, -1.2, -0.8], choice_loss_slope=float("nan"),
    ...     accuracy_slope=0.0, gap=float("inf"), paper_gap=float("inf"),
    ...     choice_paper_gap=float("nan")))
    >>> fits = scaling_fits(gap).set_index("measure")
    >>> round(float(fits.loc["loss_slope", "hi"]), 3), float(fits.loc["gap", "mean"])
    (-0.503, inf)
    """
    rows = []
    for (phase, family, task), group in gap.groupby(["phase", "family", "task"], sort=False):
        for measure in FIT_MEASURES:
            values = group[measure].to_numpy(dtype=float)
            if np.isnan(values).all():
                continue
            row = dict(phase=phase, family=family, task=task, measure=measure,
                       seeds=len(values), lo=np.nan, hi=np.nan)
            if np.isfinite(values).all():
                interval = seed_interval(values)
                row.update(mean=interval.estimate, lo=interval.lo, hi=interval.hi)
            else:
                row["mean"] = float("inf") if np.isinf(values).any() else float("nan")
            rows.append(row)
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def solved_cells(results: pd.DataFrame, scaling: pd.DataFrame) -> pd.DataFrame:
    """(recipient, task, seed) whose base accuracy is above chance (Wilson lower bound above
    it): where a swap has something to break."""
    chance = scaling.groupby("task").chance.first()
    base = results[results.condition == "base"]
    return base[base.accuracy_lo > base.task.map(chance)][PAIR_KEYS]


def replication_table(results: pd.DataFrame, versus: pd.DataFrame,
                      scaling: pd.DataFrame) -> pd.DataFrame:
    """Every swap, donor-from-another-input and control condition (every layer, alpha 1) on
    the cells whose recipient solves the task: Δ accuracy against base (``delta_vs_base``),
    against the matched control (``delta_vs_control``), the accuracy itself, and the share
    of the recipient's accuracy above chance that is kept (``kept``: (accuracy - chance) /
    (base - chance); 0 is a complete loss, 1 none), each with a
    t-interval over pairs (each pair's mean over seeds) and over seeds (each seed's mean over
    pairs), and how many item-level intervals lie below / above 0."""
    solved = solved_cells(results, scaling)
    whole = results[(results.layers == "all") & results.condition.str.startswith(REPLICATED)
                    & (results.condition != "control:self")].merge(solved, on=PAIR_KEYS)
    if whole.empty:
        return pd.DataFrame(columns=REPLICATION_COLUMNS)
    chance = whole.task.map(scaling.groupby("task").chance.first())
    base = whole.join(results[results.condition == "base"].set_index(PAIR_KEYS).accuracy
                      .rename("base_accuracy"), on=PAIR_KEYS).base_accuracy
    measured = [("delta_vs_base", whole.assign(value=whole.delta_accuracy)),
                ("accuracy", whole.assign(value=whole.accuracy)),
                ("kept", whole.assign(value=(whole.accuracy - chance) / (base - chance)))]
    against = versus[(versus.layers == "all")
                     & versus.condition.str.startswith(REPLICATED)].merge(solved, on=PAIR_KEYS)
    measured.append(("delta_vs_control", against.assign(value=against.delta_accuracy)))
    rows = []
    for measure, table in measured:
        for (condition, task), group in table.groupby(["condition", "task"], sort=False):
            delta = measure.startswith("delta")
            counts = dict(cells=len(group),
                          cells_below=int((group.delta_accuracy_hi < 0).sum()) if delta else 0,
                          cells_above=int((group.delta_accuracy_lo > 0).sum()) if delta else 0)
            for over, unit in (("pairs", ["recipient", "donor"]), ("seeds", ["seed"])):
                means = group.groupby(unit).value.mean().to_numpy(dtype=float)
                interval = seed_interval(means)
                rows.append(dict(condition=condition, task=task, measure=measure, over=over,
                                 k=len(means), mean=interval.estimate, lo=interval.lo,
                                 hi=interval.hi, **counts))
    return pd.DataFrame(rows, columns=REPLICATION_COLUMNS)
