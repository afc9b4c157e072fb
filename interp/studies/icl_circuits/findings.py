"""The ICL-circuits findings (FINDINGS.md, the README's generated block), from the tables.

Every number a reader sees is read from the tables as the run wrote them (items, preserved,
comparisons, attribution, toy). A difference is called one only when its 95% interval
excludes 0 (over seeds: t with n - 1 df; over items: Tango); a comparison with chance names
the chance level.
"""

from __future__ import annotations

import math

import pandas as pd

from interp.analysis.stats import Interval, describe_vs_chance, seed_interval
from interp.runs.study import Tables
from interp.studies.icl_circuits.config import Config
from interp.studies.icl_circuits.tables import BASE, NO_PATCH

PAPER_B = "arXiv 2602.23197"
# Toy comparisons (treated, base), paired by seed, on the held-out -theta0 at the most shots:
# what keeps ICL (against the pretrained "none"), all against V-only, the few-shot loss.
TOY_COMPARISONS = (("all", "v"), ("q", "none"), ("k", "none"), ("kq", "none"), ("v", "none"),
                   ("all", "none"), ("q+fs", "q"), ("k+fs", "k"), ("kq+fs", "kq"),
                   ("v+fs", "v"), ("all+fs", "all"))


def short(model: str) -> str:
    """``suite/pythia-s5`` -> ``pythia-s5``."""
    return model.removeprefix("suite/")


def excludes_zero(lo: float, hi: float) -> bool:
    """Whether an interval lies wholly on one side of 0 (NaN bounds: no).

    >>> excludes_zero(0.1, 0.4), excludes_zero(-0.1, 0.4), excludes_zero(math.nan, math.nan)
    (True, False, False)
    """
    return bool(lo > 0 or hi < 0)


def interval_text(estimate: float, lo: float, hi: float, fmt: str = ".2f") -> str:
    """``0.43 [0.23, 0.64]``; ``0.43 (one seed)`` without bounds.

    >>> interval_text(43.2, 23.0, 64.4, ".0f"), interval_text(0.5, math.nan, math.nan)
    ('43 [23, 64]', '0.50 (one seed)')
    """
    if math.isnan(lo) or math.isnan(hi):
        return f"{estimate:{fmt}} (one seed)"
    return f"{estimate:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def seed_difference(iv: Interval, fmt: str = "+.2f") -> str:
    """A difference over seeds: the value with its t-interval when that excludes 0, else
    "no detectable difference".

    >>> seed_difference(seed_interval([0.1, 0.2, 0.3]))
    '+0.20 [-0.05, 0.45]: no detectable difference (3 seeds)'
    >>> seed_difference(seed_interval([1.0, 1.1, 1.2]))
    '+1.10 [0.85, 1.35] (t, 3 seeds)'
    """
    if iv.n < 2:
        return f"{iv.estimate:{fmt}} (one seed: no interval)"
    body = f"{iv.estimate:{fmt}} [{iv.lo:{fmt[1:]}}, {iv.hi:{fmt[1:]}}]"
    if excludes_zero(iv.lo, iv.hi):
        return f"{body} (t, {iv.n} seeds)"
    return f"{body}: no detectable difference ({iv.n} seeds)"


def findings(tables: Tables, config: Config) -> str:
    """The markdown block: settings, the bases, what fine-tuning kept, the comparisons,
    attribution and the toy."""
    parts = [settings(tables["results"], config), bases(tables["items"], config),
             kept_table(tables["preserved"], config), comparisons(tables["comparisons"], config)]
    if not tables["attribution"].empty:
        parts.append(attribution(tables["attribution"], config))
    if "toy_summary" in tables:
        parts.append(toy(tables["toy_summary"]))
    parts.append(paper_claims(tables, config))
    return "\n\n".join(parts) + "\n"


def settings(results: pd.DataFrame, config: Config) -> str:
    """What was run: models, seeds, shots, items per cell (the real n), chance, intervals."""
    sizes = results.drop_duplicates(["task", "shots"])
    usual = int(sizes.n.mode().iloc[0])
    small = sizes[sizes.n != usual]
    exceptions = "".join(
        f"; `{r.task}` at k = {r.shots}: all {r.n} distinct prompts" for r in small.itertuples())
    chances = sorted({config.chance(t) for t in config.tasks})
    return (f"Settings: {', '.join(f'`{m}`' for m in config.models)}, each variant fine-tuned "
            f"{config.steps} steps on `{config.target_task}` with {config.seeds} seeds "
            f"(`none`, the base, runs once); k = {', '.join(map(str, config.shots))} "
            f"demonstrations; n = {usual} distinct test prompts per (task, k){exceptions}. "
            f"Chance: {', '.join(f'{c:g}' for c in chances)} (two labels per prompt). "
            "Intervals are 95%: over seeds a t-interval (n - 1 df); over items Wilson for one "
            "accuracy, Tango (with exact McNemar p) for two variants on the same items. "
            "\"Few-shot\" pools the items of every k >= 1.")


def bases(items: pd.DataFrame, config: Config) -> str:
    """Each base model's few-shot accuracy per task against chance (Wilson, exact p)."""
    plain = items[(items.patch == NO_PATCH) & (items.variant == BASE) & (items.shots > 0)]
    lines = ["**The bases** (few-shot accuracy, Wilson interval, one-sided exact test against "
             "chance):"]
    for model in config.models:
        mine = plain[plain.model == model]
        cells = [f"`{task}` {describe_vs_chance(outcomes, config.chance(task))} "
                 f"(n = {len(outcomes)})" for task in config.tasks
                 for outcomes in [mine[mine.task == task].correct.to_numpy()]]
        lines.append(f"- {short(model)}: " + "; ".join(cells) + ".")
    return "\n".join(lines)


def kept_cell(row: pd.Series) -> str:
    """One preserved.csv row as a table cell: kept % [t over seeds] and the seeds whose
    paired few-shot difference from the base excludes 0."""
    if row.variant == BASE:
        base = interval_text(row.base_few_shot, row.base_few_shot_lo, row.base_few_shot_hi)
        return f"100 (base: {base})"
    text = interval_text(row.preserved, row.preserved_lo, row.preserved_hi, ".0f")
    marks = [f"{count}/{row.seeds} {side}" for count, side in
             ((row.seeds_below_base, "below"), (row.seeds_above_base, "above")) if count]
    return text + (f"; {', '.join(marks)}" if marks else "; none differs")


def kept_table(preserved: pd.DataFrame, config: Config) -> str:
    """Kept share of base few-shot accuracy per model, variant and task, with 0-shot target
    accuracy."""
    head = (f"**Kept share** of the base's few-shot accuracy (%, mean [t-interval] over "
            f"seeds), then how many seeds score below / above the base on the same items "
            f"(paired Tango interval excludes 0); 0-shot `{config.target_task}` accuracy is "
            f"the mean over seeds (n = {_zero_n(preserved, config)} prompts each):")
    columns = ["model", "variant", f"0-shot `{config.target_task}`",
               *(f"`{t}`" for t in config.tasks)]
    lines = [head, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for (model, variant), group in preserved.groupby(["model", "variant"], sort=False):
        by_task = group.set_index("task")
        zero = by_task.loc[config.target_task].zero_shot_accuracy
        cells = [short(model), variant, f"{zero:.2f}",
                 *(kept_cell(by_task.loc[t]) for t in config.tasks)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _zero_n(preserved: pd.DataFrame, config: Config) -> str:
    sizes = preserved[preserved.task == config.target_task].zero_shot_n.unique()
    return ", ".join(str(int(s)) for s in sorted(sizes))


def comparison_cell(row: pd.Series) -> str:
    """Δ kept share [t over seeds], bold when it excludes 0; then the seeds whose paired
    item-level interval lies below / above 0."""
    text = interval_text(row.delta_preserved, row.delta_preserved_lo, row.delta_preserved_hi,
                         "+.0f")
    if excludes_zero(row.delta_preserved_lo, row.delta_preserved_hi):
        text = f"**{text}**"
    seeds = row.seeds
    return f"{text}; items: {row.seeds_below}/{seeds} below, {row.seeds_above}/{seeds} above"


def comparisons(table: pd.DataFrame, config: Config) -> str:
    """Variant against variant: Δ kept share on the target and the first held-out task."""
    tasks = [config.target_task, config.heldout_tasks[0]]
    head = ("**Variant against variant** (treated - base, points of kept share: mean "
            "[t-interval] over seeds paired by index; **bold** where it excludes 0, else no "
            "detectable difference; then the seeds whose paired item-level Δ accuracy "
            "interval lies below / above 0):")
    if table.empty:
        return head.split(" (")[0] + ": none of the compared pairs was run."
    models = list(dict.fromkeys(table.model))
    columns = ["treated - base", *(f"{short(m)} `{t}`" for m in models for t in tasks)]
    lines = [head, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for (treated, base), group in table.groupby(["treated", "base"], sort=False):
        indexed = group.set_index(["model", "task"])
        cells = [comparison_cell(indexed.loc[(m, t)]) for m in models for t in tasks]
        lines.append(f"| {treated} - {base} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def attribution(table: pd.DataFrame, config: Config) -> str:
    """Per model and attributed variant: the base-vs-tuned loss gap and, per site, the layer
    whose restore patch closes most of it, with the loss it moves."""
    task = config.heldout_tasks[0]
    rows = table[(table.metric == "loss") & (table.direction == "restore") & (table.task == task)]
    head = (f"**Attribution** (`{task}`, {config.attribution_shots} shots, seed 0; restore: "
            "the fine-tuned model run with one layer's Q/K pattern or V from the base): the "
            "loss gap (base - tuned, nats, t-interval over items) and, per site, the layer "
            "whose patch closes the largest fraction of it, with the loss it moves; "
            "\"not settled\" where the gap's or the move's interval includes 0:")
    lines = [head, "", "| model | variant | loss gap | Q/K | V |", "|---|---|---|---|---|"]
    for (model, variant), group in rows.groupby(["model", "variant"], sort=False):
        first = group.iloc[0]
        gap = interval_text(first.gap, first.gap_lo, first.gap_hi, "+.2f")
        cells = [best_patch(group[group.site == site]) for site in ("qk", "v")]
        lines.append(f"| {short(model)} | {variant} | {gap} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def best_patch(rows: pd.DataFrame) -> str:
    """``L2: 0.91 (moves +1.10 [0.80, 1.40])`` for the layer with the largest fraction."""
    rows = rows.dropna(subset=["fraction"])
    if rows.empty:
        return "no gap to attribute"
    row = rows.loc[rows.fraction.idxmax()]
    moved = interval_text(row.moved, row.moved_lo, row.moved_hi, "+.2f")
    settled = excludes_zero(row.gap_lo, row.gap_hi) and excludes_zero(row.moved_lo, row.moved_hi)
    return (f"L{int(row.layer)}: {row.fraction:.2f} (moves {moved})"
            + ("" if settled else ", not settled"))


def toy(summary: pd.DataFrame) -> str:
    """The toy's MSE at 0 and the most shots per variant (mean and t-interval over seeds)."""
    most = int(summary.shots.max())
    head = (f"**Toy** (one linear-attention layer; test MSE, mean [t-interval] over "
            f"{int(summary.seeds.max())} fine-tuning seeds; lower is better):")
    lines = [head, "",
             f"| variant | theta0, 0 shots | theta0, {most} shots | -theta0, {most} shots |",
             "|---|---|---|---|"]
    indexed = summary.set_index(["variant", "task", "shots"])
    for variant in dict.fromkeys(summary.variant):
        cells = [indexed.loc[(variant, task, k)] for task, k in
                 (("theta0", 0), ("theta0", most), ("-theta0", most))]
        # "none" is the one pretrained model under every seed: its interval has no width.
        shown = [f"{c.mse:#.3g}" if variant == BASE
                 else interval_text(c.mse, c.mse_lo, c.mse_hi, "#.3g") for c in cells]
        lines.append(f"| {variant} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def verdict(row: pd.Series, more: str, less: str) -> str:
    """A comparisons.csv row read out: ``more`` / ``less`` when the t-interval over seeds
    excludes 0 (with one seed: that seed's paired item-level interval), else "no detectable
    difference"; the numbers beside.

    >>> row = pd.Series(dict(delta_preserved=11.0, delta_preserved_lo=7.0, delta_preserved_hi=16.0,
    ...                      seeds=3, seeds_below=0, seeds_above=1))
    >>> verdict(row, "V keeps more", "V keeps less")
    'V keeps more (+11 [+7, +16] points)'
    """
    numbers = interval_text(row.delta_preserved, row.delta_preserved_lo,
                            row.delta_preserved_hi, "+.0f")
    if row.seeds > 1:
        side = int(bool(row.delta_preserved_lo > 0)) - int(bool(row.delta_preserved_hi < 0))
    else:
        side = int(bool(row.seeds_above > 0)) - int(bool(row.seeds_below > 0))
    said = {1: more, -1: less}.get(side, "no detectable difference")
    return f"{said} ({numbers} points)"


def claim_line(table: pd.DataFrame, claim: str, task: str, pairs: list[tuple[str, str]],
               more: str, less: str) -> str | None:
    """One bullet: ``claim`` with each model's verdict for each (treated, base) pair present."""
    found = []
    for treated, base in pairs:
        rows = table[(table.task == task) & (table.treated == treated) & (table.base == base)]
        found += [f"{short(r.model)} {treated} - {base}: "
                  + verdict(r, more.format(treated=treated, base=base),
                            less.format(treated=treated, base=base))
                  for _, r in rows.iterrows()]
    return f"- {claim} (`{task}`): " + "; ".join(found) + "." if found else None


def kept_against_base(preserved: pd.DataFrame, variant: str, task: str) -> str | None:
    """Whether ``variant`` keeps the base's few-shot accuracy on ``task``, per model."""
    rows = preserved[(preserved.variant == variant) & (preserved.task == task)]
    found = []
    for _, r in rows.iterrows():
        kept = interval_text(r.preserved, r.preserved_lo, r.preserved_hi, ".0f")
        said = ("keeps less than the base" if r.preserved_hi < 100 else
                "keeps more than the base" if r.preserved_lo > 100 else
                "no detectable difference from the base")
        found.append(f"{short(r.model)} {said} ({kept} % kept)")
    return (f"- {variant} against the base (`{task}`): " + "; ".join(found) + "."
            if found else None)


def paper_claims(tables: Tables, config: Config) -> str:
    """Paper B's claims against these tables: each a verdict from its interval."""
    table, flipped = tables["comparisons"], config.heldout_tasks[0]
    target = config.target_task
    fs_pairs = [("qk+fs", "qk"), ("v+fs", "v"), ("all+fs", "all")]
    lines = [f"**Paper B's claims** ({PAPER_B}) **read off these tables** (`{flipped}`: held "
             "out, only the demonstrations give the answer; a verdict follows the t-interval "
             "over seeds; the item-level counts are in the tables above):",
             kept_against_base(tables["preserved"], "v", flipped),
             claim_line(table, "value-only against Q/K-only", flipped, [("v", "qk")],
                        "V-only keeps more", "Q/K-only keeps more"),
             claim_line(table, "value-only against all parameters", flipped, [("v", "all")],
                        "V-only keeps more", "all-parameter keeps more"),
             claim_line(table, "the few-shot loss on the target", target, fs_pairs,
                        "raises the kept share", "lowers it"),
             claim_line(table, "the few-shot loss on the held-out task", flipped, fs_pairs,
                        "raises the kept share", "lowers it"),
             claim_line(table, "Q/K + few-shot loss against V + few-shot loss", flipped,
                        [("qk+fs", "v+fs")], "Q/K+fs keeps more", "V+fs keeps more")]
    if "toy" in tables:
        lines.append(toy_claims(tables["toy"]))
    return "\n".join(line for line in lines if line)


def toy_claims(rows: pd.DataFrame) -> str:
    """The toy's reading of the same claims: V-only's zero-shot gain, what keeps ICL on
    -theta0, and all-parameter against V-only (paired by seed)."""
    most = int(rows.shots.max())

    def diff(task: str, shots: int, treated: str, base: str) -> str:
        held = rows[(rows.task == task) & (rows.shots == shots)].pivot_table(
            index="seed", columns="variant", values="mse")
        if treated not in held or base not in held:
            return f"{treated} - {base}: not run"
        iv = seed_interval((held[treated] - held[base]).to_numpy())
        return f"{treated} - {base} {seed_difference(iv, '+#.3g')}"

    lines = ["- the toy (test MSE, treated - base, paired by seed; lower is better):",
             f"  - zero-shot on theta0: {diff('theta0', 0, 'v', 'none')}"]
    lines += [f"  - -theta0, {most} shots: {diff('-theta0', most, t, b)}"
              for t, b in TOY_COMPARISONS]
    return "\n".join(lines)
