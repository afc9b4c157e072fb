"""What the ICL-circuits tables say: the printed summary, CAPTIONS.md, the run record and the
findings (FINDINGS.md, from ``findings``)."""

from __future__ import annotations

import pandas as pd

from interp.runs.findings import table_file
from interp.runs.study import Report, Tables
from interp.studies.icl_circuits.config import Config
from interp.studies.icl_circuits.findings import findings, interval_text

TABLES = {
    "results": "the master table: accuracy (Wilson interval), answer loss and the paired "
               "difference from the base on the same items (delta_accuracy, Tango interval, "
               "McNemar p) per model, variant (trainable set, few-shot loss), seed, task (role "
               "target, heldout or control: no ICL in the base) and shots; n = distinct items "
               "scored; beside each accuracy: chance, the base's accuracy, the chance-"
               "normalised kept share (kept_normalised, NaN with kept_normalised_reason where "
               "the base is too close to chance), the target's accuracy at the same k "
               "(target_accuracy), the most chosen label and its share, and constant_answer",
    "labels": "the output-label distribution: per model, variant, seed, task and shots, the "
              "share of prompts answered with each label (shares of a cell sum to 1)",
    "items": "one row per scored item: model, variant, seed, task, shots, patch (none for a "
             "plain evaluation, else the attribution patch or its unpatched ends base / "
             "tuned), item id, chosen label, correct, answer loss",
    "preserved": "% of the base model's few-shot accuracy (pooled over k >= 1) kept per model, "
                 "variant and task, and the chance-normalised kept share (kept_normalised, "
                 "with its reason where not divided): mean and t-interval over seeds, the "
                 "seeds with a constant answer on some demonstration prompt cell, the "
                 "base's accuracy with its Wilson interval, the seeds whose paired difference "
                 "from the base lies below / above 0, and zero-shot accuracy (zero_shot_n items "
                 "per seed)",
    "paired": "per (model, task, treated, base, seed): the paired few-shot accuracy difference "
              "on the same items (Tango interval, exact McNemar p, discordant counts)",
    "comparisons": "per (model, task) and variant pair: the difference of kept share (% of "
                   "the base, and chance-normalised: delta_normalised), mean and t-interval "
                   "over seeds paired by index, and the seeds whose paired item-level "
                   "interval lies below / above 0",
    "grid": "the lr x steps grid: per model, grid variant, lr, steps, seed and task, the "
            "0-shot target accuracy, few-shot accuracy (Wilson) and chance-normalised kept "
            "share, and the paired difference from the first grid variant on the same items",
    "attribution": "per (variant, seed, direction, site, layer, task, metric): patched "
                   "accuracy and loss, the base-vs-tuned gap and what the patch moved, each "
                   "with its between-item interval (loss: t over items; accuracy: Tango), and "
                   "the fraction of the gap a patch restores or reproduces (NaN, with "
                   "fraction_reason, where the gap's interval includes 0)",
    "attribution_seeds": "attribution over the seeds: per patch cell and metric, how many "
                         "seeds had a gap to divide by, the mean gap, and the fraction's mean "
                         "and t-interval over those seeds",
    "icl_heads": "per (model state, task, layer, head): attention from the query to the "
                 "demonstrations' labels (label_attention) and to the answer's (answer_attention)",
    "toy": "the linear-attention toy: test MSE per seed, variant, task (theta0, -theta0) and shots",
    "toy_summary": "the toy's test MSE per variant, task and shots: mean and t-interval over seeds",
    "finetunes": "one row per fine-tuned copy: whether this run trained its weights, loaded "
                 "them, or needed neither (cached results), and its first and last loss",
}


def report(tables: Tables, config: Config) -> Report:
    """The summary, the captions, the findings and what results.json records: the
    fine-tuning settings, the preserved table, and how many weights were trained or loaded."""
    trained, loaded = weight_counts(tables["finetunes"])
    record = dict(finetune=config.finetune.key(), preserved=tables["preserved"].to_dict("records"),
                  weights=dict(trained=trained, loaded=loaded))
    return Report(summary=summary(tables, config.target_task),
                  captions=captions(tables, config), record=record,
                  findings=findings(tables, config))


def weight_counts(finetunes: pd.DataFrame) -> tuple[int, int]:
    """(trained, loaded): fine-tuned copies whose weights this run trained / loaded.

    >>> weight_counts(pd.DataFrame({"weights": ["trained", "loaded", "not needed"]}))
    (1, 1)
    """
    if finetunes.empty:
        return 0, 0
    return int((finetunes.weights == "trained").sum()), int((finetunes.weights == "loaded").sum())


def tables_caption(tables: Tables) -> str:
    """One line per table the run wrote, with its row count."""
    lines = ["## Tables"]
    lines += [f"- `{table_file('', name).name}` ({len(table)} rows): {TABLES.get(name, '')}"
              for name, table in tables.items()]
    return "\n".join(lines)


def captions(tables: Tables, config: Config) -> str:
    """CAPTIONS.md: one paragraph per figure (for the README), then one line per table."""
    model = ", ".join(config.models)
    held = ", ".join(config.heldout_tasks)
    chance = ", ".join(f"{c:g}" for c in sorted({config.chance(t) for t in config.tasks}))
    several = ("\nWith several models each model figure is saved once per model, its name as a "
               "suffix.\n" if len(config.models) > 1 else "")
    return f"""# Captions: figures/icl_circuits
{several}
**accuracy_vs_shots.png** - {model} fine-tuned zero-shot on `{config.target_task}` (one fixed
label mapping, learned in the weights) with different trainable sets (of `all`, `attn` =
q, k, v, o, `qk`, `q`, `k`, `v`, `o`: those run). Top row: zero-shot loss only; bottom row:
plus the few-shot loss (weight annealed 1 -> 0; only the sets in `--fs-variants`). Each
column is k-shot accuracy on one task: the target (demonstrations agree with the learned
mapping) and held-out tasks ({held}; the title says which is the no-ICL control).
`icl_fixed_flipped` shows the reversed mapping, so only a model that reads the demonstrations
gets it right; a variant that falls on the target's own demonstration prompts too has lost the
demonstration format, not ICL alone. Coloured lines: mean over
{config.seeds} fine-tuning seeds with 95% t-interval bands (n - 1 df), clipped to [0, 1].
Black: the base model (`none`, run once) with its 95% Wilson band over items. Dotted: chance
({chance}).

**preserved.png** - Few-shot accuracy (pooled over k >= 1 shots) after fine-tuning, per variant
and task: bars are means over {config.seeds} seeds with 95% t-interval error bars, clipped to
[0, 1]; black line and grey band: the base model's few-shot accuracy and its 95% Wilson
interval; dotted: chance ({chance}). The kept share in preserved.csv is a bar over the black
line. On the target, above the base means the learned mapping agrees with the
demonstrations, not better ICL.

**attribution_heatmap.png** - Patching between the base model and a fine-tuned variant
(mean over its {config.seeds} seeds whose gap can be divided by) on
`{config.attribution_tasks[0]}` at {config.attribution_shots} shots. Each cell patches one
layer's Q and K (= its attention pattern, for the same tokens) or its V activations.
`restore`: the fine-tuned model run with the base's activations, value = fraction of the
base-vs-tuned answer-loss gap closed; `break`: the base run with the fine-tuned activations,
value = fraction of the gap reproduced. Near 1: that site carries the change; near 0: it does
not. Colours centre on 0 (no effect). Hatched cells: the loss the patch moves has a 95%
t-interval over items that includes 0, or the gap's does, in some seed; panel titles give
the mean gap over seeds (base minus tuned loss, nats).

**toy_mse_vs_shots.png** - The paper's setting: one linear-attention layer on tokens
[1, x, y], pretrained on in-context linear regression with random unit tasks theta, then
fine-tuned on theta0 training all / Q / K / V / KQ weights (solid: zero-shot loss; dashed:
plus the annealed few-shot loss); black: `none`, the pretrained model. Test MSE (log scale)
vs demonstrations on theta0 and on the held-out -theta0, mean and 95% t-interval bands over
{config.toy_seeds} fine-tuning seeds of one pretrained model.

{tables_caption(tables)}
"""


def summary(tables: Tables, target: str) -> str:
    """Short text tables: preserved %, zero-shot target accuracy, attribution, ICL heads, toy;
    and how many fine-tuned weights were trained or loaded this run."""
    preserved = tables["preserved"]
    lines = ["% of base few-shot accuracy preserved (mean [95% t-interval] over seeds):"]
    cell = preserved.assign(shown=[interval_text(p, lo, hi, ".0f") for p, lo, hi in
                                   zip(preserved.preserved, preserved.preserved_lo,
                                       preserved.preserved_hi)])
    lines.append(cell.pivot_table(index=["model", "variant"], columns="task", values="shown",
                                  aggfunc="first", sort=False).to_string())
    zero = preserved[preserved.task == target].set_index(["model", "variant"])
    lines += ["", f"zero-shot accuracy on {target} (mean over seeds):",
              zero.zero_shot_accuracy.round(2).to_string()]
    attribution = tables["attribution"]
    if not attribution.empty:
        part = attribution[attribution.metric == "loss"]
        grid = part.pivot_table(index=["variant", "direction", "site"], columns=["task", "layer"],
                                values="fraction", sort=False).round(2)
        lines += ["", "fraction of the loss gap per patched layer:", grid.to_string()]
    heads = tables["icl_heads"]
    if not heads.empty:
        top = (heads.sort_values("answer_attention", ascending=False)
               .groupby(["model", "model_state", "task"], sort=False).head(3))
        top = top.assign(head=[f"L{l}H{h} {a:.2f}" for l, h, a in
                               zip(top["layer"], top["head"], top["answer_attention"])])
        shown = top.groupby(["model", "model_state", "task"], sort=False)["head"].agg(", ".join)
        lines += ["", "ICL heads: top attention from the query to the answer's demonstrated label:",
                  shown.unstack("task").to_string()]
    toy = tables.get("toy_summary", pd.DataFrame())
    if not toy.empty:
        table = toy[toy.shots.isin([0, 1, 5, 20])].pivot_table(
            index="variant", columns=["task", "shots"], values="mse", sort=False).round(3)
        lines += ["", "toy test MSE (mean over seeds):", table.to_string()]
    trained, loaded = weight_counts(tables["finetunes"])
    lines += ["", f"fine-tuned weights: {trained} trained, {loaded} loaded"]
    return "\n".join(lines)
