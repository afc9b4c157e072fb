"""Paper B's claims read off the tables: each a verdict (supported / contradicted / no
detectable difference / cannot test) with the interval it rests on.

Format collapse comes first: a fine-tuned model that fails the target's own demonstration
prompts (their demonstrations agree with the mapping it was trained on), or answers a
demonstration prompt with one constant label, has not lost ICL selectively; it has lost the
demonstration format. Its held-out falls say nothing about ICL, so every claim about ICL that
involves it reads "cannot test", naming the collapse.
"""

from __future__ import annotations

import math

import pandas as pd

from interp.analysis.stats import seed_interval
from interp.studies.icl_circuits.config import Config
from interp.studies.icl_circuits.measures import reason_text
from interp.studies.icl_circuits.tables import BASE

PAPER_B = "arXiv 2602.23197"
CHECKED = ("all", "attn")
# Below this kept share on the target's own demonstration prompts (or with a constant label)
# a variant reads "format collapse"; above it but still below 1, a milder fall that is no
# selective loss of ICL either.
COLLAPSED = 0.5  # "fine-tuning all (attention) parameters can harm ICL"


def short(model: str) -> str:
    """``suite/pythia-s5`` -> ``pythia-s5``."""
    return model.removeprefix("suite/")


def span(estimate: float, lo: float, hi: float, fmt: str = "+.2f") -> str:
    """``+0.40 [+0.10, +0.70]``, or the estimate alone without bounds (one seed).

    >>> span(0.4, 0.1, 0.7), span(0.4, math.nan, math.nan)
    ('+0.40 [+0.10, +0.70]', '+0.40 (one seed: no interval)')
    """
    if math.isnan(lo) or math.isnan(hi):
        return f"{estimate:{fmt}} (one seed: no interval)"
    return f"{estimate:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def collapse(preserved: pd.DataFrame, model: str, variant: str, config: Config) -> str:
    """Why ``variant`` of ``model`` shows format collapse ("" when it does not): it scores
    below the base on the target's demonstration prompts (chance-normalised kept share's
    t-interval below 1), or answers some demonstration prompt cell with one constant label."""
    if variant == BASE:
        return ""
    rows = preserved[(preserved.model == model) & (preserved.variant == variant)]
    target = rows[rows.task == config.target_task]
    why = []
    if not target.empty and target.kept_normalised_hi.iloc[0] < 1:
        row = target.iloc[0]
        kept = span(row.kept_normalised, row.kept_normalised_lo, row.kept_normalised_hi)
        why.append(f"target few-shot kept {kept}")
    constant = rows[rows.constant_answer_seeds > 0]
    if not constant.empty:
        tasks = ", ".join(f"`{r.task}` {r.constant_answer_seeds}/{r.seeds}"
                          for r in constant.itertuples())
        why.append(f"one constant label on a demonstration prompt cell (seeds: {tasks})")
    return "; ".join(why)


def reading(preserved: pd.DataFrame, model: str, variant: str, config: Config) -> str:
    """One variant in a phrase: format collapse, ICL lost on held-out tasks, or ICL kept
    (the held-out tasks with ICL: every one but the no-ICL control)."""
    if variant == BASE:
        return "the base"
    if collapse(preserved, model, variant, config):
        mine = preserved[(preserved.model == model) & (preserved.variant == variant)]
        target = mine[mine.task == config.target_task].kept_normalised
        if (mine.constant_answer_seeds > 0).any() or (target < COLLAPSED).any():
            return "format collapse"
        return "falls on the target's demonstrations too (not selective)"
    rows = preserved[(preserved.model == model) & (preserved.variant == variant)
                     & preserved.task.isin(icl_heldout(config))]
    lost = [f"`{r.task}`" for r in rows.itertuples() if r.kept_normalised_hi < 1]
    if lost:
        return "lost ICL selectively (" + ", ".join(lost) + ")"
    untested = rows.kept_normalised.isna().all() or rows.empty
    return "nothing to test" if untested else "kept ICL (no held-out fall detected)"


def icl_heldout(config: Config) -> list[str]:
    """The held-out tasks that measure ICL (not the control)."""
    return [t for t in config.heldout_tasks if config.role(t) == "heldout"]


def verdict(lo: float, hi: float, claimed: int) -> str:
    """``claimed`` +1: the claim says the quantity is above 0; -1: below.

    >>> verdict(0.1, 0.4, 1), verdict(0.1, 0.4, -1), verdict(-0.1, 0.4, 1)
    ('supported', 'contradicted', 'no detectable difference')
    """
    if math.isnan(lo) or math.isnan(hi):
        return "no interval (one seed)"
    side = 1 if lo > 0 else -1 if hi < 0 else 0
    if side == 0:
        return "no detectable difference"
    return "supported" if side == claimed else "contradicted"


def collapsed(preserved: pd.DataFrame, model: str, variants: tuple[str, ...],
              config: Config) -> list[str]:
    """Those of ``variants`` that show format collapse in ``model``."""
    return [v for v in variants if collapse(preserved, model, v, config)]


def comparison_verdicts(tables, config: Config, pairs: list[tuple[str, str]], tasks: list[str],
                        claimed: int, gate: bool = True) -> list[str]:
    """One line per (model, pair) from comparisons.csv's chance-normalised difference (t over
    seeds), a verdict per task; "cannot test" where a compared variant collapses (``gate``;
    the kept-share table gives why) or the base is too close to chance on the task."""
    table, preserved = tables["comparisons"], tables["preserved"]
    out = []
    for model in config.models:
        for treated, base in pairs:
            rows = table[(table.model == model) & (table.treated == treated)
                         & (table.base == base) & table.task.isin(tasks)]
            if rows.empty:
                continue
            head = f"{short(model)} {treated} - {base}"
            broken = collapsed(preserved, model, (treated, base), config) if gate else []
            if broken:
                out.append(f"{head}: cannot test ({', '.join(broken)}: format collapse or a fall "
                           "on the target's own demonstrations; see the readings)")
                continue
            cells = []
            for row in rows.itertuples():
                if reason_text(row.delta_normalised_reason):
                    cells.append(f"`{row.task}` cannot test (base too close to chance)")
                    continue
                said = verdict(row.delta_normalised_lo, row.delta_normalised_hi, claimed)
                numbers = span(row.delta_normalised, row.delta_normalised_lo,
                               row.delta_normalised_hi)
                cells.append(f"`{row.task}` {said} ({numbers})")
            out.append(f"{head}: " + "; ".join(cells))
    return out


def harm_verdicts(tables, config: Config) -> list[str]:
    """"Fine-tuning all (attention) parameters can harm ICL": the kept share on the held-out
    ICL tasks below 1 supports it; a collapse is named beside it, not hidden."""
    preserved = tables["preserved"]
    out = []
    for model in config.models:
        for variant in [v for v in CHECKED if v in set(preserved.variant)]:
            rows = preserved[(preserved.model == model) & (preserved.variant == variant)
                             & preserved.task.isin(icl_heldout(config))]
            if rows.empty:
                continue
            cells = []
            for r in rows.itertuples():
                if reason_text(r.kept_normalised_reason):
                    cells.append(f"`{r.task}` cannot test (base too close to chance)")
                    continue
                said = verdict(r.kept_normalised_lo - 1, r.kept_normalised_hi - 1, -1)
                kept = span(r.kept_normalised, r.kept_normalised_lo, r.kept_normalised_hi)
                cells.append(f"`{r.task}` {said} (kept {kept})")
            note = (", though by format collapse, not a selective loss"
                    if collapse(preserved, model, variant, config) else "")
            out.append(f"{short(model)} {variant}{note}: " + "; ".join(cells))
    return out


def zero_shot_verdicts(tables, config: Config, variant: str = "v") -> list[str]:
    """"Value-only fine-tuning improves zero-shot accuracy": its 0-shot target accuracy
    minus the base's, t over seeds."""
    results = tables["results"]
    out = []
    for model in config.models:
        rows = results[(results.model == model) & (results.task == config.target_task)
                       & (results.shots == 0)]
        mine = rows[rows.variant == variant].sort_values("seed").accuracy.to_numpy()
        base = rows[rows.variant == BASE].accuracy.iloc[:1]
        if len(mine) == 0 or base.empty:
            continue
        iv = seed_interval(mine - float(base.iloc[0]))
        out.append(f"{short(model)} {variant} - base: {verdict(iv.lo, iv.hi, 1)} "
                   f"({span(iv.estimate, iv.lo, iv.hi)}, of n = {int(rows.n.iloc[0])} prompts)")
    return out


def paper_claims(tables, config: Config) -> str:
    """The claims block: each claim, then its verdicts per model and task."""
    held = icl_heldout(config)
    target = [config.target_task]
    names = set(tables["preserved"].variant)
    fs = [(f"{v}+fs", v) for v in ("qk", "v", "all", "q", "k") if f"{v}+fs" in names]
    value_pairs = [("v", other) for other in ("qk", "q", "k", "all") if other in names]
    claims = [
        ("fine-tuning all (attention) parameters harms ICL (kept share below 1)",
         harm_verdicts(tables, config)),
        ("value-only fine-tuning improves zero-shot accuracy on the target",
         zero_shot_verdicts(tables, config)),
        ("value-only keeps more ICL than Q/K-only, Q-only, K-only and all-parameter fine-tuning",
         comparison_verdicts(tables, config, value_pairs, held, 1)),
        ("with the few-shot loss too, value-only keeps more ICL than Q/K-only (Q/K+fs - V+fs "
         "below 0)",
         comparison_verdicts(tables, config, [p for p in [("qk+fs", "v+fs")]
                                              if set(p) <= names], held, -1)),
        ("the few-shot loss helps ICL on the target task",
         comparison_verdicts(tables, config, fs, target, 1, gate=False)),
        ("the few-shot loss hurts ICL on held-out tasks",
         comparison_verdicts(tables, config, fs, held, -1)),
    ]
    lines = [f"**Paper B's claims** ({PAPER_B}), verdict per model and task (chance-normalised "
             "kept share or its difference, mean [t-interval] over seeds; supported / "
             "contradicted where the interval excludes the claim's null; cannot test where a "
             "compared variant shows format collapse or the base is too close to chance):"]
    for claim, verdicts in claims:
        lines.append(f"- {claim}:" + ("" if verdicts else " not run"))
        lines += [f"  - {v}" for v in verdicts]
    return "\n".join(lines)
