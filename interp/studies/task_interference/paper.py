"""Our tables against the paper (arXiv 2605.29548; /work/shared/notes/papers.md): one line per
claim, in line or not as the tables decide. The paper's own numbers are quoted as published."""

from __future__ import annotations

import pandas as pd

from interp.analysis.gradients import ALL
from interp.studies.task_interference import comparisons as C
from interp.studies.task_interference.config import Config
from interp.studies.task_interference.results import final_models
from interp.studies.task_interference.wording import say_difference

# Published numbers (papers.md): batch-gradient cosine to g_r, and the non-task-token part's.
PAPER_BATCH = "0.04 ± 0.04 at 300M, 0.08 ± 0.02 at 1B"
PAPER_OTHER = "0.10 ± 0.09 at 20M, about 0 at 1B"


def paper_findings(tables: dict[str, pd.DataFrame], config: Config) -> str:
    """**What our runs show vs the paper**: a bullet per claim the tables can test."""
    lines = [_ladder_line(tables), _gap_line(tables), _recovery_line(tables, config),
             *_gradient_lines(tables), _forget_line(tables)]
    lines = [f"- {line}" for line in lines if line]
    if not lines:
        return ""
    return ("**What our runs show vs the paper** (small models lose rare tasks to frequent-task "
            "gradients; more frequency recovers them):\n\n" + "\n".join(lines))


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
    said = f"{row.condition}, mean over the comparison copies: {say_difference(row)}"
    if row.delta_accuracy_lo > 0:
        return f"In line: larger models keep more of the rare copies ({said})."
    return f"Not shown here: that larger models keep more of the rare copies ({said})."


def _gap_line(tables: dict[str, pd.DataFrame]) -> str:
    if "items" not in tables or "forget" not in tables:
        return ""
    steps = C.gap_steps(tables["items"])
    if steps.empty:
        return ""
    higher = int((steps.delta_loss_lo > 0).sum())
    verdict = "In line" if higher == len(steps) else "Partly in line" if higher else "Not in line"
    return (f"{verdict}: a larger gap at the same overall rate ends at a higher rare-task loss, as "
            f"in the paper's matched-frequency runs ({higher} of {len(steps)} paired gap "
            "comparisons have an interval above 0).")


def _recovery_line(tables: dict[str, pd.DataFrame], config: Config) -> str:
    if "recovery" not in tables or "ladder" not in tables or "items" not in tables:
        return ""
    reference = C.reference_model(tables["ladder"], config.focus_task)
    if reference is None:
        return ""
    effects = C.recovery_effects(tables["items"], reference)
    top = effects[effects.condition == f"x{max(config.factors):g}"]
    starts = top[top.comparison == "end vs start"]
    lifted = starts[starts.delta_accuracy_lo > 0]
    vs_ref = top[top.comparison != "end vs start"]
    level = vs_ref[(vs_ref.delta_accuracy_lo <= 0) & (vs_ref.delta_accuracy_hi >= 0)]
    def names(rows: pd.DataFrame) -> str:
        return ", ".join(C.label(tables["recovery"], m) for m in rows.model) or "none"

    held = int(len(lifted) == len(starts)) + int(len(level) == len(vs_ref))
    verdict = ("Not in line", "Partly in line", "In line")[held]
    return (f"{verdict}: raising the rare task's frequency instead of scaling up. With "
            f"x{max(config.factors):g}, accuracy rises with an interval above 0 in "
            f"{names(lifted)}, and ends with no detectable difference from "
            f"{reference.replace('suite/', '')} in {names(level)} (no detectable difference is "
            "not equality; see Recovery for the intervals).")


def _gradient_lines(tables: dict[str, pd.DataFrame]) -> list[str]:
    lines = []
    if "cosines" in tables:
        cos = final_models(tables["cosines"])
        cos = cos[(cos.group == ALL) & (cos.reference == "frequent")]
        if not cos.empty:
            models = C.ordered_models(cos)
            first = cos[cos.model == models[0]].cosine.mean()
            fits = "In line" if first < 0 else "Not in line"
            lines.append(f"{fits}: the hypothesis has a small model's rare-task gradient pulled "
                         f"against by the frequent tasks' (a negative cosine); in "
                         f"{C.label(cos, models[0])} it is {first:+.2f} (no interval).")
    if "token_split" in tables:
        split = final_models(tables["token_split"])
        split = split[split.group == ALL]
        models = C.ordered_models(split)
        means = split.groupby(["part", "model"]).cosine.mean()
        def values(part: str) -> str:
            return ", ".join(f"{C.label(split, m)} {means[(part, m)]:+.2f}" for m in models)

        lines.append(f"Compare (no interval on ours): the paper's non-task-token cosine to g_r is "
                     f"{PAPER_OTHER}; our g_other is {values('other_tokens')}. The paper's batch "
                     f"cosine is {PAPER_BATCH}; ours is {values('batch')}.")
    return lines


def _forget_line(tables: dict[str, pd.DataFrame]) -> str:
    if "injections" not in tables or tables["injections"].empty:
        return ""
    inj = tables["injections"]
    inj = inj.assign(regained=inj.loss_at_next - inj.lowest)
    models = C.ordered_models(inj)
    worst = inj.loc[inj.regained.idxmax()]
    if worst.regained <= 0:
        return ("Not shown here: the paper's small models forget most; here the loss rises "
                "again after no injection (one run per model).")
    smallest = worst.model == models[0]
    return (f"{'In line' if smallest else 'Not in line'}: the paper's small models forget most; "
            f"the largest rise of the loss after an injection here is in "
            f"{C.label(inj, worst.model)} ({worst.regained:+.2f} nats; one run per model).")
