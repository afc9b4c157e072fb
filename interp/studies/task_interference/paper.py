"""Our tables against the paper (arXiv 2605.29548; /work/shared/notes/papers.md): one line
per claim with its verdict, **supported**, **contradicted** or **cannot test**, and the interval
that decides it. The paper's own numbers are quoted as published.

Verdict rules: a claim about a difference is supported (or contradicted) only when the
deciding paired interval excludes 0 in the claimed (or the opposite) direction; a size trend
needs a between-seed interval (``seeds.seed_span``) to exclude 0, else it is stated for seed 0
on its items only; a number without an interval (the gradient cosines) can only be read
against the split-half noise floor, never called a trend.
"""

from __future__ import annotations

import pandas as pd

from interp.analysis.gradients import ALL
from interp.studies.task_interference import comparisons as C
from interp.studies.task_interference.config import Config
from interp.studies.task_interference.results import final_models
from interp.studies.task_interference.seeds import phase1_span, seed_span
from interp.studies.task_interference.wording import bracket, say_difference

# Published numbers (papers.md): batch-gradient cosine to g_r, and the non-task-token part's.
PAPER_BATCH = "0.04 ± 0.04 at 300M, 0.08 ± 0.02 at 1B"
PAPER_OTHER = "0.10 ± 0.09 at 20M, about 0 at 1B"


def paper_findings(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """**What our runs show vs the paper**: a bullet per claim, with its verdict."""
    lines = [_ladder_line(tables), _gap_line(tables), _overwrite_line(tables),
             _recovery_line(tables, config), *_gradient_lines(tables)]
    lines = [f"- {line}" for line in lines if line]
    if not lines:
        return ""
    return ("**What our runs show vs the paper** (small models lose rare tasks to frequent-task "
            "gradients; more frequency recovers them). Verdict per claim, with the interval "
            "that decides it:\n\n" + "\n".join(lines))


def _verdict(lo: float, hi: float) -> str:
    return "**Supported**" if lo > 0 else "**Contradicted**" if hi < 0 else "**Cannot test**"


def _ladder_line(tables: dict[str, pd.DataFrame]) -> str:
    if "ladder" not in tables or "items" not in tables:
        return ""
    ladder = final_models(tables["ladder"])
    steps = C.size_steps(ladder, tables["items"])
    models = C.ordered_models(ladder)
    span = steps[(steps.task == C.pooled_name("comparison")) & (steps.smaller == models[0])
                 & (steps.larger == models[-1])]
    if span.empty:
        return ""
    row = next(span.itertuples())
    verdict = _verdict(row.delta_accuracy_lo, row.delta_accuracy_hi)
    if verdict == "**Cannot test**":
        verdict = "**Cannot test** (no detectable difference)"
    text = (f"{verdict}: larger models keep more of the rare copies. Seed 0, {row.condition}, "
            f"mean over the comparison copies, paired on items: {say_difference(row)}.")
    seeds = seed_span(tables)
    if seeds is not None:
        trend = "a trend" if seeds.lo > 0 or seeds.hi < 0 else "not yet a trend: seed noise covers it"
        text += (f" Over seeds, {seeds.reason}: "
                 f"{bracket(seeds.estimate, seeds.lo, seeds.hi, signed=True)} "
                 f"({seeds.n} seed pairs, t-interval; {trend}).")
    early = phase1_span(tables)
    if early is not None:
        text += f" On the phase-1 models, {early[0]}: {say_difference(early[1])}."
    return text


def _gap_line(tables: dict[str, pd.DataFrame]) -> str:
    if "items" not in tables or "forget" not in tables:
        return ""
    steps = C.gap_steps(tables["items"])
    if steps.empty:
        return ""
    higher = int((steps.delta_loss_lo > 0).sum())
    lower = int((steps.delta_loss_hi < 0).sum())
    verdict = ("**Supported**" if higher == len(steps) else "**Contradicted**" if lower
               else "**Partly supported**" if higher else "**Cannot test**")
    text = (f"{verdict}: a larger gap at the same overall rate ends at a higher rare-task loss "
            f"({higher} of {len(steps)} paired gap comparisons above 0, {lower} below, at the "
            "end of the run")
    matched = tables.get("matched_time")
    if matched is not None and not matched.empty:
        up = int((matched.delta_loss_lo > 0).sum())
        down = int((matched.delta_loss_hi < 0).sum())
        text += (f"; one step after each gap's last injection, at matched time since it: {up} "
                 f"of {len(matched)} above 0, {down} below")
    return text + ")."


def _overwrite_line(tables: dict[str, pd.DataFrame]) -> str:
    """Update and forget: does the full run sit above the rare-only control at matched time?"""
    controls = tables.get("controls")
    if controls is None or controls.empty:
        return ""
    over = controls[controls.measure == "overwriting"]
    if over.empty:
        return ""
    label = lambda m: C.label(tables["forget"], m)  # noqa: E731
    models = list(dict.fromkeys(over.sort_values("parameters", kind="stable").model))
    per = "; ".join(
        f"{label(m)} " + ", ".join(bracket(r.value, r.lo, r.hi, signed=True)
                                   for r in over[over.model == m].itertuples())
        for m in models)
    up = int((over.lo > 0).sum())
    down = int((over.hi < 0).sum())
    by_model = {}
    for m in models:
        mine = over[over.model == m]
        ups, downs = bool((mine.lo > 0).any()), bool((mine.hi < 0).any())
        word = ("supported" if ups and not downs else "contradicted" if downs and not ups
                else "cannot test" if not ups else "mixed")
        by_model.setdefault(word, []).append(label(m))
    verdict = "; ".join(f"**{w.capitalize()}** in {', '.join(ms)}" for w, ms in by_model.items())
    return (f"{verdict}: frequent-task steps overwrite what an injection wrote. Full run minus "
            f"rare-only control at the next injection (nats, per injection): {per}; {up} of "
            f"{len(over)} above 0, {down} below. That small models forget most is **cannot "
            "test** here: one run per size, so no interval covers a difference between sizes.")


def _recovery_line(tables: dict[str, pd.DataFrame], config: Config) -> str:
    if "recovery" not in tables or "ladder" not in tables or "items" not in tables:
        return ""
    reference = C.reference_model(final_models(tables["ladder"]), config.focus_task)
    if reference is None:
        return ""
    effects = C.recovery_effects(tables["items"], reference)
    top = effects[(effects.condition == f"x{max(config.factors):g}") & (effects.model != reference)]
    starts = top[top.comparison == "end vs start"]
    trained = top[top.comparison == C.trained_reference_label(reference)]
    vs_ref = trained if not trained.empty else top[top.comparison.str.startswith("end vs ")
                                                   & (top.comparison != "end vs start")]
    lifted = starts[starts.delta_accuracy_lo > 0]
    said = "; ".join(f"{C.label(tables['recovery'], r.model)} {say_difference(r)}"
                     for r in starts.itertuples())
    verdict = ("**Supported**" if len(lifted) == len(starts) and len(starts) else
               "**Contradicted**" if (starts.delta_accuracy_hi < 0).any() else
               "**Partly supported**" if len(lifted) else "**Cannot test**")
    ref_said = "; ".join(f"{C.label(tables['recovery'], r.model)} {r.comparison}: {say_difference(r)}"
                         for r in vs_ref.itertuples())
    return (f"{verdict}: raising a rare task's frequency anchors it in a small model. With "
            f"x{max(config.factors):g}, end vs start: {said}. Against the yardstick "
            f"({ref_said}); no detectable difference is not equality.")


def _gradient_lines(tables: dict[str, pd.DataFrame]) -> list[str]:
    lines = []
    floor = tables.get("noise_floor")
    if "cosines" in tables:
        cos = final_models(tables["cosines"])
        cos = cos[(cos.group == ALL) & (cos.reference == "frequent")]
        if not cos.empty:
            first = C.ordered_models(cos)[0]
            value = cos[cos.model == first].cosine.mean()
            noise = _movement(floor, first)
            if noise is None:
                verdict, against = "**Cannot test**", "no noise floor, no interval"
            else:
                verdict = ("**Supported**" if value < -noise else "**Contradicted**"
                           if value > noise else "**Cannot test**")
                against = f"split-half noise floor ±{noise:.2f}; no interval"
            lines.append(f"{verdict}: in a small model the frequent tasks' gradient pulls against "
                         f"the rare task's (a negative cosine); in {C.label(cos, first)} it is "
                         f"{value:+.2f} ({against}).")
    if "token_split" in tables:
        split = final_models(tables["token_split"])
        split = split[split.group == ALL]
        models = C.ordered_models(split)
        means = split.groupby(["part", "model"]).cosine.mean()

        def values(part: str) -> str:
            return ", ".join(f"{C.label(split, m)} {means[(part, m)]:+.2f}" for m in models)

        lines.append(f"**Cannot test** (no interval on ours): the paper's non-task-token cosine "
                     f"to g_r is {PAPER_OTHER}; our g_other is {values('other_tokens')}. The "
                     f"paper's batch cosine is {PAPER_BATCH}; ours is {values('batch')}.")
    return lines


def _movement(floor, model: str):
    """How far the rare-vs-frequent cosine moves between a rare task's two halves (max)."""
    if floor is None or floor.empty:
        return None
    rare = floor[(floor.model == model) & (floor.kind == "rare")]
    if rare.empty:
        return None
    return float((rare.a_vs_frequent - rare.b_vs_frequent).abs().max())
