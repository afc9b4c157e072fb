"""Between-seed and phase-1 views of the ladder, and the gradients' split-half noise floor.

Seeds: each size's sibling seeds (``suite/<family>-sK-seed1``) are separate training runs on
the same sequences in the same order. A size step is then a mean over seed pairs (seed k of
the larger size minus seed k of the smaller) with a t-interval on n - 1 df
(``seed_interval``); with two seeds that interval is wide, and a size difference is called a
trend only where it excludes 0. Phase 1: the ``@step2000`` checkpoint of each size, before the
ICL phase, scored on the same items as the final model (paired, Tango).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from interp.analysis.stats import Interval, accuracy_interval, paired_frame, seed_interval
from interp.studies.task_interference import comparisons as C
from interp.studies.task_interference.wording import bracket, say_difference

SEED_COLUMNS = ["model", "base", "size", "parameters", "seed", "phase", "step", "kind",
                "accuracy", "accuracy_lo", "accuracy_hi", "n"]
SEED_STEP_COLUMNS = ["kind", "smaller", "larger", "condition", "seeds", "delta", "lo", "hi"]


def seed_table(ladder: pd.DataFrame) -> pd.DataFrame:
    """Per model (final models, sibling seeds and phase-1 checkpoints alike) and rare kind: the
    accuracy pooled over the kind's copies (every copy scored on all its items) and n.

    >>> ladder = pd.DataFrame(dict(model="m", base="m", size="s1", parameters=1, seed=0,
    ...     phase="ICL phase", step=3500, kind="comparison", accuracy=[0.5, 0.7], n=[60, 60]))
    >>> seed_table(ladder)[["accuracy", "n"]].values.tolist()
    [[0.6, 120.0]]
    >>> bool(seed_table(ladder).eval("accuracy_lo < accuracy < accuracy_hi").all())
    True
    """
    if ladder.empty:
        return pd.DataFrame(columns=SEED_COLUMNS)
    rows = ladder.assign(hits=(ladder.accuracy * ladder.n).round().astype(int))
    keys = [c for c in SEED_COLUMNS if c not in ("accuracy", "accuracy_lo", "accuracy_hi", "n")]
    pooled = rows.groupby(keys, sort=False, dropna=False)[["hits", "n"]].sum().reset_index()
    intervals = [accuracy_interval(np.r_[np.ones(h), np.zeros(n - h)].astype(bool))
                 for h, n in zip(pooled.hits, pooled.n)]
    return pooled.assign(accuracy=pooled.hits / pooled.n,
                         accuracy_lo=[iv.lo for iv in intervals],
                         accuracy_hi=[iv.hi for iv in intervals])[SEED_COLUMNS]


def final_runs(seeds: pd.DataFrame) -> pd.DataFrame:
    """The rows of final models (every seed), not of checkpoints."""
    return seeds[~seeds.model.str.contains("@")]


def seed_steps(seeds: pd.DataFrame) -> pd.DataFrame:
    """Per kind, each size step (and smallest vs largest, and the widest span whose ends both
    have several seeds): the mean over the seeds both sizes have of (larger - smaller) pooled
    accuracy, with its t-interval over those seed pairs (NaN bounds from a single pair).

    >>> s = pd.DataFrame(dict(model=["a", "a1", "b", "b1"], size=["s1", "s1", "s2", "s2"],
    ...     parameters=[1, 1, 2, 2], seed=[0, 1, 0, 1], kind="comparison",
    ...     accuracy=[0.5, 0.6, 0.7, 0.9]))
    >>> seed_steps(s)[["condition", "seeds", "delta"]].round(2).values.tolist()
    [['s2 vs s1', 2, 0.25]]
    """
    runs = final_runs(seeds)
    sizes = list(runs.sort_values("parameters", kind="stable")["size"].unique())
    pairs = list(zip(sizes, sizes[1:])) + ([(sizes[0], sizes[-1])] if len(sizes) > 2 else [])
    # The widest span both of whose ends have several seeds, when the largest size has one.
    several = [z for z in sizes if runs[runs["size"] == z].seed.nunique() > 1]
    if len(several) > 1 and (several[0], several[-1]) not in pairs + [(sizes[0], sizes[-1])]:
        pairs.append((several[0], several[-1]))
    rows = []
    for kind, group in runs.groupby("kind", sort=False):
        by = group.set_index(["size", "seed"]).accuracy
        for smaller, larger in pairs:
            common = sorted(set(by.loc[larger].index) & set(by.loc[smaller].index))
            deltas = [by.loc[(larger, k)] - by.loc[(smaller, k)] for k in common]
            iv = seed_interval(deltas)
            rows.append(dict(kind=kind, smaller=smaller, larger=larger,
                             condition=f"{larger} vs {smaller}", seeds=len(common),
                             delta=iv.estimate, lo=iv.lo, hi=iv.hi))
    return pd.DataFrame(rows, columns=SEED_STEP_COLUMNS)


def seed_findings(tables: dict[str, pd.DataFrame]) -> str:
    """Per size, each seed's pooled accuracy and their mean [t-interval]; the size steps over
    seed pairs, a trend only where the interval excludes 0."""
    seeds = final_runs(tables["seeds"])
    if seeds.empty or seeds.seed.nunique() < 2:
        return ""
    parts = ["**Seeds.** Pooled accuracy over a kind's copies, per training seed (each seed a "
             "separate run on the same sequences); mean over seeds with a t-interval on n - 1 "
             "df. Size steps are means of seed-paired differences (seed k minus seed k), a "
             "trend only where that interval excludes 0."]
    steps = seed_steps(tables["seeds"])
    for kind, group in seeds.groupby("kind", sort=False):
        per_size = []
        for size, runs in group.sort_values(["parameters", "seed"]).groupby("size", sort=False):
            values = ", ".join(f"seed {r.seed} {r.accuracy:.3f}" for r in runs.itertuples())
            iv = seed_interval(runs.accuracy.to_numpy())
            mean = (f"mean {bracket(iv.estimate, iv.lo, iv.hi, '.3f')}" if iv.n > 1
                    else "one seed, no interval")
            per_size.append(f"{size}: {values} ({mean})")
        mine = steps[steps.kind == kind]
        said = "; ".join(f"{r.condition} {_seed_difference(r)}" for r in mine.itertuples())
        trends = [r.condition for r in mine.itertuples() if r.lo > 0 or r.hi < 0]
        parts.append(f"{kind.capitalize()}: " + "; ".join(per_size) + f". Size steps over "
                     f"seeds: {said}. Trends (interval excludes 0): "
                     f"{', '.join(trends) or 'none'}.")
    return " ".join(parts)


def _seed_difference(row) -> str:
    if row.seeds < 2 or math.isnan(row.lo):
        return f"{row.delta:+.3f} ({row.seeds} seed pair: no interval)"
    return f"{bracket(row.delta, row.lo, row.hi, signed=True)} ({row.seeds} seed pairs)"


def seed_span(tables: dict[str, pd.DataFrame], kind: str = "comparison") -> Interval | None:
    """The seed-level smallest-vs-largest step with at least two seed pairs (else the widest
    size span that has them), for the paper's claim; None without sibling seeds."""
    if "seeds" not in tables:
        return None
    steps = seed_steps(tables["seeds"])
    steps = steps[(steps.kind == kind) & (steps.seeds >= 2)]
    if steps.empty:
        return None
    order = list(final_runs(tables["seeds"]).sort_values("parameters")["size"].unique())
    widest = steps.assign(span=[order.index(r.larger) - order.index(r.smaller)
                                for r in steps.itertuples()]).sort_values("span").iloc[-1]
    return Interval(widest.delta, widest.lo, widest.hi, n=int(widest.seeds),
                    reason=widest.condition)


def phase_steps(ladder: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Per size with a phase-1 checkpoint and kind: final model minus its ``@step2000``
    checkpoint, pooled over copies, paired on the same items (Tango, exact McNemar)."""
    scored = items[items.experiment == "ladder"]
    kinds = ladder.drop_duplicates("task").set_index("task").kind
    parts = []
    for name in C.ordered_models(ladder):
        early = f"{name}@step2000"
        pair = scored[scored.model.isin([name, early])]
        if early not in set(pair.model):
            continue
        pair = pair.assign(kind=pair.task.map(kinds))
        parts.append(paired_frame(pair, by="kind", treated=name, base=early,
                                  condition_col="model").assign(model=name, size=C.label(ladder, name)))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def phase1_findings(tables: dict[str, pd.DataFrame]) -> str:
    """The ladder's pooled accuracy at phase 1 (``@step2000``) beside the final models, the
    ICL phase's effect per size, and phase 1's smallest vs largest step."""
    ladder, items = tables["ladder"], tables["items"]
    early = ladder[ladder.model.str.endswith("@step2000")]
    if early.empty:
        return ""
    steps = phase_steps(ladder, items)
    parts = ["**Phase-1 models** (`@step2000`, before the ICL phase; labelled `phase 1` in "
             "the tables). Pooled accuracy over the comparison copies, Wilson 95%; the ICL "
             "phase's effect (final minus phase 1, same items):"]
    scored = items[(items.experiment == "ladder") & items.task.str.startswith("rare_comparison")]
    lines = []
    for r in steps[steps.kind == "comparison"].itertuples():
        iv = accuracy_interval(scored[scored.model == f"{r.model}@step2000"].correct.to_numpy())
        lines.append(f"{r.size} phase 1 {bracket(iv.estimate, iv.lo, iv.hi, '.3f')}, "
                     f"ICL phase {say_difference(r)}")
    parts.append("; ".join(lines) + ".")
    span = _phase1_span(early, items)
    if span is not None:
        parts.append(f"Phase 1, {span[0]} on the comparison copies: {say_difference(span[1])}.")
    return " ".join(parts)


def _phase1_span(early: pd.DataFrame, items: pd.DataFrame):
    """Smallest vs largest phase-1 checkpoint, pooled comparison copies, paired on items."""
    names = list(early.sort_values("parameters").model.unique())
    if len(names) < 2:
        return None
    pair = items[(items.experiment == "ladder") & items.model.isin([names[0], names[-1]])
                 & items.task.str.startswith("rare_comparison")].assign(kind="comparison")
    row = next(paired_frame(pair, by="kind", treated=names[-1], base=names[0],
                            condition_col="model").itertuples())
    sizes = early.drop_duplicates("model").set_index("model")["size"]
    return f"{sizes[names[-1]]} vs {sizes[names[0]]}", row


def phase1_span(tables: dict[str, pd.DataFrame]):
    """(label, paired row) of phase 1's smallest vs largest comparison step, or None."""
    if "ladder" not in tables or "items" not in tables:
        return None
    early = tables["ladder"][tables["ladder"].model.str.endswith("@step2000")]
    return _phase1_span(early, tables["items"]) if not early.empty else None


def noise_floor_sentence(floor: pd.DataFrame, models: list[str], rows: pd.DataFrame) -> str:
    """The split-half cosines per size (rare and frequent tasks) and how far the rare-vs-
    frequent cosine moves between the two halves of a rare task."""
    floor = floor[floor.model.isin(models)]
    if floor.empty:
        return ""
    halves = floor.groupby(["kind", "model"]).halves.mean()
    rare = floor[floor.kind == "rare"]
    moves = (rare.a_vs_frequent - rare.b_vs_frequent).abs().groupby(rare.model).max()

    def per(values) -> str:
        return ", ".join(f"{C.label(rows, m)} {values[m]:+.2f}" for m in models if m in values)

    return ("Split-half noise floor (each task's instances in two disjoint halves, even and odd "
            f"positions): cosine between the halves' gradients, rare tasks {per(halves['rare'])}; "
            f"frequent tasks {per(halves['frequent'])}. The rare-vs-frequent cosine computed "
            f"from one half or the other differs by up to {per(moves)} (largest over rare "
            "tasks): a rare-vs-frequent cosine smaller than that is within the noise of "
            "which instances were drawn.")
