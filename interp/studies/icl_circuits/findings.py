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
from interp.studies.icl_circuits.claims import paper_claims, reading, short
from interp.studies.icl_circuits.config import Config
from interp.studies.icl_circuits.measures import CONSTANT, MIN_MARGIN, reason_text
from interp.studies.icl_circuits.tables import BASE, NO_PATCH

# Toy comparisons (treated, base), paired by seed, on the held-out -theta0 at the most shots:
# what keeps ICL (against the pretrained "none"), all against V-only, the few-shot loss.
TOY_COMPARISONS = (("all", "v"), ("q", "none"), ("k", "none"), ("kq", "none"), ("v", "none"),
                   ("all", "none"), ("q+fs", "q"), ("k+fs", "k"), ("kq+fs", "kq"),
                   ("v+fs", "v"), ("all+fs", "all"))


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
    """The markdown block: settings, the bases, what fine-tuning kept (chance-normalised, with
    each variant's reading: format collapse or not), the comparisons, the lr x steps grid,
    attribution over seeds, the toy and paper B's claims."""
    parts = [settings(tables["results"], config), bases(tables["items"], config),
             kept_table(tables["preserved"], config), comparisons(tables["comparisons"], config)]
    if "grid" in tables and not tables["grid"].empty:
        parts.append(grid_block(tables["grid"], config))
    if not tables["attribution"].empty:
        parts.append(attribution(tables["attribution_seeds"], config))
    if "toy_summary" in tables:
        parts.append(toy(tables["toy_summary"]))
    parts.append(paper_claims(tables, config))
    if "toy" in tables:
        parts.append(toy_claims(tables["toy"]))
    return "\n\n".join(parts) + "\n"


def settings(results: pd.DataFrame, config: Config) -> str:
    """What was run: models, seeds, shots, items per cell (the real n), chance, intervals."""
    sizes = results.drop_duplicates(["task", "shots"])
    usual = int(sizes.n.mode().iloc[0])
    small = sizes[sizes.n != usual]
    exceptions = "".join(
        f"; `{r.task}` at k = {r.shots}: all {r.n} distinct prompts" for r in small.itertuples())
    chances = sorted({config.chance(t) for t in config.tasks})
    control = ", ".join(f"`{t}`" for t in config.heldout_tasks if config.role(t) == "control")
    return (f"Settings: {', '.join(f'`{m}`' for m in config.models)}, each variant fine-tuned "
            f"{config.steps} steps at lr {config.lr:g} on `{config.target_task}` with "
            f"{config.seeds} seeds (`none`, the base, runs once); k = "
            f"{', '.join(map(str, config.shots))} demonstrations (a 1-shot prompt shows a drawn "
            f"category); n = {usual} distinct test prompts per (task, k){exceptions}. "
            f"No-ICL control: {control or 'none'} (the bases are at chance there). "
            f"Chance: {', '.join(f'{c:g}' for c in chances)} (two labels per prompt). "
            "Intervals are 95%: over seeds a t-interval (n - 1 df); over items Wilson for one "
            "accuracy, Tango (with exact McNemar p) for two variants on the same items. "
            "\"Few-shot\" pools the items of every k >= 1. Kept share is chance-normalised: "
            "(accuracy - chance) / (base - chance), 1 = all of the base's margin over chance, "
            f"0 = chance; not divided where the base is within {MIN_MARGIN:g} of chance or its "
            "Wilson interval reaches it.")


def bases(items: pd.DataFrame, config: Config) -> str:
    """Each base model's few-shot accuracy per task against chance (Wilson, exact p)."""
    plain = items[(items.patch == NO_PATCH) & (items.variant == BASE) & (items.shots > 0)]
    lines = ["**The bases** (few-shot accuracy, Wilson interval, one-sided exact test against "
             "chance):"]
    for model in config.models:
        mine = plain[plain.model == model]
        cells = [f"`{task}`{' (control)' if config.role(task) == 'control' else ''} "
                 f"{describe_vs_chance(outcomes, config.chance(task))} (n = {len(outcomes)})"
                 for task in config.tasks
                 for outcomes in [mine[mine.task == task].correct.to_numpy()]]
        lines.append(f"- {short(model)}: " + "; ".join(cells) + ".")
    return "\n".join(lines)


def kept_cell(row: pd.Series) -> str:
    """One preserved.csv row as a table cell: chance-normalised kept share [t over seeds],
    the seeds whose paired few-shot difference from the base excludes 0, constant answers."""
    if row.variant == BASE:
        return "base " + interval_text(row.base_few_shot, row.base_few_shot_lo,
                                       row.base_few_shot_hi)
    if reason_text(row.kept_normalised_reason):
        return "not divided: base too close to chance"
    text = interval_text(row.kept_normalised, row.kept_normalised_lo, row.kept_normalised_hi)
    marks = [f"{count}/{row.seeds} {side}" for count, side in
             ((row.seeds_below_base, "below"), (row.seeds_above_base, "above")) if count]
    if row.constant_answer_seeds:
        marks.append(f"constant label {row.constant_answer_seeds}/{row.seeds}")
    return text + (f"; {', '.join(marks)}" if marks else "; none differs")


def kept_table(preserved: pd.DataFrame, config: Config) -> str:
    """Chance-normalised kept share per model, variant and task, 0-shot target accuracy and
    each variant's reading (``claims.reading``)."""
    head = (f"**Kept share**, chance-normalised, of the base's few-shot accuracy (mean "
            f"[t-interval] over seeds), then how many seeds score below / above the base on "
            f"the same items (paired Tango interval excludes 0) and in how many seeds one "
            f"label answers >= {CONSTANT:g} of some demonstration prompt cell; 0-shot "
            f"`{config.target_task}` accuracy is the mean over seeds (n = "
            f"{_zero_n(preserved, config)} prompts each). Reading: format collapse where the "
            "variant keeps under half the base's margin on the target's own demonstration prompts "
            "or answers with a constant label; \"falls on the target's demonstrations too\" "
            "where that share's interval is below 1 but not that low; only otherwise can a "
            "held-out fall be lost ICL:")
    columns = ["model", "variant", f"0-shot `{config.target_task}`",
               *(f"`{t}`" for t in config.tasks), "reading"]
    lines = [head, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for (model, variant), group in preserved.groupby(["model", "variant"], sort=False):
        by_task = group.set_index("task")
        zero = by_task.loc[config.target_task].zero_shot_accuracy
        cells = [short(model), variant, f"{zero:.2f}",
                 *(kept_cell(by_task.loc[t]) for t in config.tasks),
                 reading(preserved, model, variant, config)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _zero_n(preserved: pd.DataFrame, config: Config) -> str:
    sizes = preserved[preserved.task == config.target_task].zero_shot_n.unique()
    return ", ".join(str(int(s)) for s in sorted(sizes))


def comparison_cell(row: pd.Series) -> str:
    """Δ chance-normalised kept share [t over seeds], bold when it excludes 0; then the seeds
    whose paired item-level interval lies below / above 0."""
    if reason_text(row.delta_normalised_reason):
        return "not divided: base too close to chance"
    text = interval_text(row.delta_normalised, row.delta_normalised_lo, row.delta_normalised_hi,
                         "+.2f")
    if excludes_zero(row.delta_normalised_lo, row.delta_normalised_hi):
        text = f"**{text}**"
    seeds = row.seeds
    return f"{text}; items: {row.seeds_below}/{seeds} below, {row.seeds_above}/{seeds} above"


def comparisons(table: pd.DataFrame, config: Config) -> str:
    """Variant against variant: Δ chance-normalised kept share on every task but the control."""
    tasks = [t for t in config.tasks if config.role(t) != "control"]
    head = ("**Variant against variant** (treated - base, difference of chance-normalised kept "
            "share: mean [t-interval] over seeds paired by index; **bold** where it excludes 0, "
            "else no detectable difference; then the seeds whose paired item-level Δ accuracy "
            "interval lies below / above 0):")
    if table.empty:
        return head.split(" (")[0] + ": none of the compared pairs was run."
    columns = ["model", "treated - base", *(f"`{t}`" for t in tasks)]
    lines = [head, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for (model, treated, base), group in table.groupby(["model", "treated", "base"], sort=False):
        indexed = group.set_index("task")
        cells = [comparison_cell(indexed.loc[t]) if t in indexed.index else "not run"
                 for t in tasks]
        lines.append(f"| {short(model)} | {treated} - {base} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def grid_block(grid: pd.DataFrame, config: Config) -> str:
    """The lr x steps grid: per model, variant and (lr, steps), the 0-shot target accuracy
    (how far the variant fitted the task) and the first held-out task's kept share, with the
    paired difference from the first grid variant at the same point."""
    task = config.heldout_tasks[0]
    rows = grid[grid.task == task]
    first = rows.versus.iloc[0]
    head = (f"**Learning rate x steps** (zero-shot loss only, seed(s) "
            f"{', '.join(map(str, sorted(rows.seed.unique())))}): 0-shot `{config.target_task}` "
            f"accuracy (how far each variant fitted the target), then `{task}` kept share "
            f"(chance-normalised; bounds from the Wilson interval of its {int(rows.n.iloc[0])} "
            f"few-shot items, the base held fixed) and the paired difference from `{first}` at "
            "the same point (Tango, accuracy), bold where it excludes 0; compare variants at "
            "points where both fit the target:")
    lines = [head, "", "| model | lr | steps | variant | 0-shot target | kept | vs "
             f"`{first}` |", "|---|---|---|---|---|---|---|"]
    for r in rows.itertuples():
        kept = ("not divided" if reason_text(r.kept_normalised_reason) else
                interval_text(r.kept_normalised, r.kept_normalised_lo, r.kept_normalised_hi))
        versus = "" if r.variant == first else interval_text(
            r.delta_versus, r.delta_versus_lo, r.delta_versus_hi, "+.2f")
        if versus and excludes_zero(r.delta_versus_lo, r.delta_versus_hi):
            versus = f"**{versus}**"
        lines.append(f"| {short(r.model)} | {r.lr:g} | {r.steps} | {r.variant} | "
                     f"{r.target_zero_shot:.2f} | {kept} | {versus} |")
    return "\n".join(lines)


def attribution(summary: pd.DataFrame, config: Config) -> str:
    """Per model and attributed variant, over seeds: the loss gap and, per site, the layer
    whose restore patch closes most of it (mean fraction over the seeds whose gap could be
    divided by)."""
    task = config.attribution_tasks[0]
    rows = summary[(summary.metric == "loss") & (summary.direction == "restore")
                   & (summary.task == task)]
    head = (f"**Attribution** (`{task}`, {config.attribution_shots} shots, over the "
            f"{config.seeds} fine-tuning seeds; restore: the fine-tuned model run with one "
            "layer's Q/K pattern or V from the base): the mean loss gap (base - tuned, nats) "
            "and, per site, the layer whose patch closes the largest mean fraction of it "
            "[t-interval over seeds], with how many seeds' gap was large enough to divide by "
            "(its between-item interval excludes 0); the others are left out:")
    lines = [head, "", "| model | variant | mean loss gap | Q/K | V |", "|---|---|---|---|---|"]
    for (model, variant), group in rows.groupby(["model", "variant"], sort=False):
        cells = [best_patch(group[group.site == site]) for site in ("qk", "v")]
        lines.append(f"| {short(model)} | {variant} | {group.gap.iloc[0]:+.2f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def best_patch(rows: pd.DataFrame) -> str:
    """``L2: 0.91 [0.80, 1.02] (3/3 seeds)`` for the layer with the largest mean fraction."""
    usable = rows.dropna(subset=["fraction"])
    if usable.empty:
        seeds = int(rows.seeds.max()) if not rows.empty else 0
        return f"no gap to divide by (0/{seeds} seeds)"
    row = usable.loc[usable.fraction.idxmax()]
    return (f"L{int(row.layer)}: {interval_text(row.fraction, row.fraction_lo, row.fraction_hi)} "
            f"({int(row.seeds_divisible)}/{int(row.seeds)} seeds)")


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

    lines = ["The toy's reading of the same claims (test MSE, treated - base, paired by seed; "
             "lower is better):",
             f"- zero-shot on theta0: {diff('theta0', 0, 'v', 'none')}"]
    lines += [f"- -theta0, {most} shots: {diff('-theta0', most, t, b)}"
              for t, b in TOY_COMPARISONS]
    return "\n".join(lines)
