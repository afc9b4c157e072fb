"""Overshoot or overwriting: the forget runs' controls, compared at matched time since an
injection, and the gaps compared at matched time since their last injection.

After an injection at step s (its update leads to traced step s + 1) the focus loss can rise
again before the next injection s'. Two explanations: the optimiser overshoots (the
injection's own update, or Adam's momentum after it, goes past the rare task's minimum), or
the frequent tasks' gradients of the steps in between overwrite it. The controls
(``continued.continue_training``) tell them apart on the same items at the same step:

- ``immediate``: loss(s + 1) - loss(s), the injection step's own effect;
- ``rise``: loss(s') - loss(s + 1), what the steps after it did (0 under ``freeze``);
- ``overwriting``: full run minus ``rare_only`` at s' (the frequent tasks' share of the rise);
- ``momentum``: ``rare_only`` minus ``freeze`` at s' (what momentum alone did after it).

Every interval is a paired t-interval over items of one run per model and variant.
"""

from __future__ import annotations

import pandas as pd

from interp.analysis.stats import Interval
from interp.runs.files import markdown_table
from interp.studies.task_interference import comparisons as C
from interp.studies.task_interference.continued import matched_frequency_plan
from interp.studies.task_interference.wording import bracket, describe_loss

CONTROL_COLUMNS = ["model", "injection", "injection_step", "next_step", "measure", "value",
                   "lo", "hi", "n"]
MEASURES = {"immediate": "the injection step itself, loss(s+1) - loss(s)",
            "rise": "the steps after it, loss(next) - loss(s+1)",
            "overwriting": "full run minus rare-only at the next injection (or the end)",
            "momentum": "rare-only minus freeze at the next injection (or the end)"}


def control_effects(items: pd.DataFrame, *, gap: int, steps: int, start: int) -> pd.DataFrame:
    """Per forget model and injection of the ``gap`` run: ``immediate`` and ``rise`` of the
    full run (``gap N``) and of each control (``gap N freeze``, ``gap N rare_only``), and the
    ``overwriting`` and ``momentum`` differences at the next injection, all paired over items.

    >>> rows = []
    >>> for cond, after, nxt in (("gap 2", 1.0, 1.5), ("gap 2 rare_only", 1.0, 1.0)):
    ...     for step, loss in ((1, 2.0), (2, after), (3, nxt), (4, nxt)):
    ...         rows += [dict(experiment="forget", model="a", condition=cond, step=step,
    ...                       item=i, loss=loss + 0.1 * i) for i in range(3)]
    >>> t = control_effects(pd.DataFrame(rows), gap=2, steps=4, start=1)
    >>> t[t.measure == "overwriting"][["injection", "value"]].round(2).values.tolist()
    [[1.0, 0.5], [2.0, 0.5]]
    """
    forget = items[items.experiment == "forget"]
    plan = sorted(matched_frequency_plan(steps, gap, start=start))
    rows = []
    for model, group in forget.groupby("model", sort=False):
        def losses(variant: str, step: int) -> pd.Series:
            condition = f"gap {gap}" + ("" if variant == "full" else f" {variant}")
            return C.item_losses(group, condition=condition, step=step)

        variants = [v for v in ("full", "freeze", "rare_only")
                    if not losses(v, plan[0]).empty] if plan else []
        for k, s in enumerate(plan):
            nxt = plan[k + 1] if k + 1 < len(plan) else steps
            base = dict(model=model, injection=k + 1, injection_step=s, next_step=nxt)
            for v in variants:
                for measure, (a, b) in (("immediate", (s + 1, s)), ("rise", (nxt, s + 1))):
                    rows.append(_row(base, f"{measure} ({v})", losses(v, a), losses(v, b)))
            for measure, (a, b) in (("overwriting", ("full", "rare_only")),
                                    ("momentum", ("rare_only", "freeze"))):
                if a in variants and b in variants:
                    rows.append(_row(base, measure, losses(a, nxt), losses(b, nxt)))
    return pd.DataFrame(rows, columns=CONTROL_COLUMNS)


def _row(base: dict, measure: str, treated: pd.Series, reference: pd.Series) -> dict:
    iv = C.loss_difference(treated, reference)
    return dict(base, measure=measure, value=iv.estimate, lo=iv.lo, hi=iv.hi, n=iv.n)


def matched_time_steps(items: pd.DataFrame, *, gaps, steps: int, start: int) -> pd.DataFrame:
    """Per forget model: each gap's loss one step after its last injection (every gap has then
    injected the same number of blocks, and each is one step past an injection) minus the
    next smaller gap's, paired over items; the end-of-run comparison (``gap_steps``) instead
    matches the number of steps and leaves the time since the last injection unequal.

    >>> rows = [dict(experiment="forget", model="a", condition=f"gap {g}", step=step, item=i,
    ...              loss=float(g + i)) for g, step in ((1, 4), (2, 4)) for i in range(3)]
    >>> matched_time_steps(pd.DataFrame(rows), gaps=(1, 2), steps=4, start=1)[["condition", "delta_loss"]].values.tolist()
    [['gap 2 vs gap 1', 1.0]]
    """
    forget = items[items.experiment == "forget"]
    injected = sorted(g for g in gaps if g)
    after = {g: max(matched_frequency_plan(steps, g, start=start)) + 1 for g in injected}
    rows = []
    for model, group in forget.groupby("model", sort=False):
        for smaller, larger in zip(injected, injected[1:]):
            a = C.item_losses(group, condition=f"gap {larger}", step=after[larger])
            b = C.item_losses(group, condition=f"gap {smaller}", step=after[smaller])
            if a.empty or b.empty:
                continue
            iv = C.loss_difference(a, b)
            rows.append(dict(model=model, condition=f"gap {larger} vs gap {smaller}",
                             step_larger=after[larger], step_smaller=after[smaller],
                             delta_loss=iv.estimate, delta_loss_lo=iv.lo, delta_loss_hi=iv.hi,
                             n=iv.n))
    return pd.DataFrame(rows, columns=["model", "condition", "step_larger", "step_smaller",
                                       "delta_loss", "delta_loss_lo", "delta_loss_hi", "n"])


def excludes_zero(row) -> int:
    """+1 / -1 where the row's interval lies above / below 0, else 0.

    >>> excludes_zero(pd.Series(dict(lo=0.1, hi=0.3))), excludes_zero(pd.Series(dict(lo=-0.1, hi=0.3)))
    (1, 0)
    """
    return 1 if row["lo"] > 0 else -1 if row["hi"] < 0 else 0


def _cell(rows: pd.DataFrame, measure: str) -> str:
    hit = rows[rows.measure == measure]
    if hit.empty:
        return ""
    r = hit.iloc[0]
    text = bracket(r.value, r.lo, r.hi, signed=True)
    return f"**{text}**" if excludes_zero(r) else text


def control_grid(controls: pd.DataFrame, label) -> str:
    """Markdown: per model and injection, the four measures (bold: interval excludes 0)."""
    shown = [("immediate (full)", "injection step, full run"), ("rise (full)", "rise after, full run"),
             ("rise (rare_only)", "rise after, rare-only"), ("overwriting", "full - rare-only"),
             ("momentum", "rare-only - freeze")]
    rows = []
    for (model, k), group in controls.groupby(["model", "injection"], sort=False):
        r = group.iloc[0]
        row = {"model": label(model), "injection": f"{k} (step {r.injection_step} -> {r.next_step})"}
        row.update({name: _cell(group, measure) for measure, name in shown})
        rows.append(row)
    return markdown_table(pd.DataFrame(rows), index=False)


def control_findings(tables: dict[str, pd.DataFrame], gap: int, label) -> str:
    """The controls' table and what it decides: overshoot, overwriting, or neither."""
    controls = tables.get("controls")
    if controls is None or controls.empty:
        return ""
    out = [f"**Overshoot or overwriting.** The gap-{gap} run beside two controls, identical "
           "up to the first injection: `freeze` takes no update between injections; "
           "`rare_only` trains each injection step on its rare rows alone and lets AdamW step "
           "on a zero gradient between injections (momentum only). Loss differences in nats, "
           "paired t over the same items at the same step (bold: the interval excludes 0); "
           "a rise is measured from one step after an injection to the next injection (or the "
           "end), so every variant is compared at matched time since the injection.",
           control_grid(controls, label)]
    by = controls.set_index(["model", "injection", "measure"])
    events = [(m, k) for (m, k, meas) in by.index if meas == "rise (full)"
              and by.loc[(m, k, meas), "lo"] > 0]
    def verdict(m, k) -> str:
        said = []
        for measure, word in (("overwriting", "overwriting (full run above rare-only)"),
                              ("rise (rare_only)", "overshoot (rare-only rises too)"),
                              ("immediate (full)", "the injection step itself raised the loss")):
            if (m, k, measure) in by.index and by.loc[(m, k, measure), "lo"] > 0:
                said.append(word)
        return f"{label(m)} injection {k}: " + (", ".join(said) or "neither control decides")
    if not events:
        out.append("After no injection does the full run's loss rise with an interval above 0.")
    else:
        out.append(f"The full run's loss rises again after {len(events)} injection(s): "
                   + "; ".join(verdict(m, k) for m, k in events) + ".")
    raised = [(m, k) for (m, k, meas) in by.index if meas == "immediate (full)"
              and by.loc[(m, k, meas), "lo"] > 0]
    out.append("An injection step that itself raised the focus loss: "
               + (", ".join(f"{label(m)} injection {k}" for m, k in raised) or "none") + ".")
    return "\n\n".join(out)


def matched_time_sentence(tables: dict[str, pd.DataFrame], label) -> str:
    """The gaps compared one step after their last injection (matched time and blocks)."""
    matched = tables.get("matched_time")
    if matched is None or matched.empty:
        return ""
    said = "; ".join(
        f"{label(r.model)} {r.condition} "
        + describe_loss(Interval(r.delta_loss, r.delta_loss_lo, r.delta_loss_hi, n=int(r.n)))
        for r in matched.itertuples())
    higher = int((matched.delta_loss_lo > 0).sum())
    return ("Matched time since the injection: each gap one step after its last injection "
            f"(all blocks in), larger gap minus smaller: {said}. A larger gap is higher in "
            f"{higher} of {len(matched)}.")
