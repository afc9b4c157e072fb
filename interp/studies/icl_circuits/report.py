"""What the ICL-circuits tables say: the printed summary, CAPTIONS.md and the run record."""

from __future__ import annotations

import pandas as pd

from interp.runs.study import Report, Tables
from interp.studies.icl_circuits.config import Config

TABLES = {
    "results": "the master table: accuracy and answer loss per model, variant (trainable set, "
               "few-shot loss), seed, task (role target or heldout) and shots",
    "preserved": "% of the base model's few-shot accuracy (mean over k >= 1) kept per model, "
                 "variant and task: mean and 95% t-interval over seeds, with zero-shot accuracy",
    "attribution": "per (variant, direction, site, layer, task, metric): patched accuracy and "
                   "loss, the base-vs-tuned gap and the fraction of it a patch restores or "
                   "reproduces",
    "icl_heads": "per (model state, task, layer, head): attention from the query to the "
                 "demonstrations' labels (label_attention) and to the answer's (answer_attention)",
    "toy": "the linear-attention toy: test MSE per seed, variant, task (theta0, -theta0) and shots",
    "finetunes": "one row per fine-tuned copy: whether this run trained its weights, loaded "
                 "them, or needed neither (cached results), and its first and last loss",
}


def report(tables: Tables, config: Config) -> Report:
    """The summary, the captions and what results.json records: the fine-tuning settings,
    the preserved table, and how many weights were trained or loaded."""
    empty = pd.DataFrame()
    trained, loaded = weight_counts(tables["finetunes"])
    text = summary(tables["results"], tables["preserved"], tables["attribution"],
                   tables["icl_heads"], tables.get("toy", empty), tables["finetunes"])
    record = dict(finetune=config.finetune.key(), preserved=tables["preserved"].to_dict("records"),
                  weights=dict(trained=trained, loaded=loaded))
    return Report(summary=text, captions=captions(tables, config), record=record)


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
    lines = ["## Tables (CSV)"]
    lines += [f"- `{name}.csv` ({len(table)} rows): {TABLES.get(name, '')}"
              for name, table in tables.items()]
    return "\n".join(lines)


def captions(tables: Tables, config: Config) -> str:
    """CAPTIONS.md: one paragraph per figure (for the README), then one line per table."""
    model = ", ".join(config.models)
    held = ", ".join(config.heldout_tasks)
    several = ("\nWith several models each model figure is saved once per model, its name as a "
               "suffix.\n" if len(config.models) > 1 else "")
    return f"""# Captions: figures/icl_circuits
{several}
**accuracy_vs_shots.png** - {model} fine-tuned zero-shot on `{config.target_task}` (one fixed
label mapping, learned in the weights) with different trainable sets: `all`, `attn` (q, k, v,
o), `qk`, `v`, `o`; `none` is the base model. Dashed lines add the few-shot loss (weight
annealed 1 -> 0). Each panel is k-shot accuracy on one task: the target (demonstrations agree
with the learned mapping) and held-out tasks ({held}). `icl_fixed_flipped` shows the reversed
mapping, so only a model that reads the demonstrations gets it right. Lines are means over
{config.seeds} fine-tuning seeds with +-1.96 standard-error bands; dotted line: chance.

**preserved.png** - Few-shot accuracy after fine-tuning as % of the base model's (mean over
k >= 1 shots), per variant and task; error bars are 95% t-intervals over {config.seeds} seeds.
Above 100% on the target means the learned mapping agrees with the demonstrations, not better
ICL.

**attribution_heatmap.png** - Patching between the base model and a fine-tuned variant
(seed 0) on `{config.heldout_tasks[0]}` at {config.attribution_shots} shots. Each cell patches one
layer's Q and K (= its attention pattern, for the same tokens) or its V activations.
`restore`: the fine-tuned model run with the base's activations, value = fraction of the
base-vs-tuned answer-loss gap closed; `break`: the base run with the fine-tuned activations,
value = fraction of the gap reproduced. Near 1: that site carries the change; near 0: it does
not. Panel titles give the gap (base minus tuned loss); a small gap makes fractions noisy.

**toy_mse_vs_shots.png** - The paper's setting: one linear-attention layer on tokens
[1, x, y], pretrained on in-context linear regression with random unit tasks theta, then
fine-tuned on theta0 training all / Q / K / V / KQ weights (solid: zero-shot loss; dashed:
plus the annealed few-shot loss); `none` is the pretrained model. Test MSE (log scale) vs
demonstrations on theta0 and on the held-out -theta0, mean and +-1.96 standard-error bands
over {config.toy_seeds} fine-tuning seeds of one pretrained model.

{tables_caption(tables)}
"""


def summary(results: pd.DataFrame, preserved: pd.DataFrame, attribution: pd.DataFrame,
            heads: pd.DataFrame, toy: pd.DataFrame, finetunes: pd.DataFrame) -> str:
    """Short text tables: preserved %, zero-shot target accuracy, attribution, ICL heads, toy;
    and how many fine-tuned weights were trained or loaded this run."""
    lines = ["% of base few-shot accuracy preserved (mean [95% t-interval] over seeds):"]
    cell = preserved.assign(shown=[f"{p:5.0f} [{lo:4.0f},{hi:4.0f}]" for p, lo, hi in
                                   zip(preserved.preserved, preserved.ci_low, preserved.ci_high)])
    lines.append(cell.pivot_table(index=["model", "variant"], columns="task", values="shown",
                                  aggfunc="first", sort=False).to_string())
    target = results[(results.role == "target") & (results.shots == 0)]
    zs = target.groupby(["model", "variant"], sort=False).accuracy.mean().round(2)
    lines += ["", "zero-shot accuracy on the target task (mean over seeds):", zs.to_string()]
    if not attribution.empty:
        part = attribution[attribution.metric == "loss"]
        grid = part.pivot_table(index=["variant", "direction", "site"], columns=["task", "layer"],
                                values="fraction", sort=False).round(2)
        lines += ["", "fraction of the loss gap per patched layer:", grid.to_string()]
    if not heads.empty:
        top = (heads.sort_values("answer_attention", ascending=False)
               .groupby(["model", "model_state", "task"], sort=False).head(3))
        top = top.assign(head=[f"L{l}H{h} {a:.2f}" for l, h, a in
                               zip(top["layer"], top["head"], top["answer_attention"])])
        shown = top.groupby(["model", "model_state", "task"], sort=False)["head"].agg(", ".join)
        lines += ["", "ICL heads: top attention from the query to the answer's demonstrated label:",
                  shown.unstack("task").to_string()]
    if not toy.empty:
        table = toy[toy.shots.isin([0, 1, 5, 20])].pivot_table(
            index="variant", columns=["task", "shots"], values="mse", sort=False).round(3)
        lines += ["", "toy test MSE (mean over seeds):", table.to_string()]
    trained, loaded = weight_counts(finetunes)
    lines += ["", f"fine-tuned weights: {trained} trained, {loaded} loaded"]
    return "\n".join(lines)
