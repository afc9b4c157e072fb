"""The attention-swap study end to end on small suite models: outputs, per-item pairing,
intervals, generated findings, resume, errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interp.runs.findings import findings_from, load_tables
from interp.runs.study import run_study
from interp.studies.attention_swap import (
    CELL_KEYS,
    ITEM_TABLE_COLUMNS,
    RESULT_COLUMNS,
    STUDY,
    TABLES,
    Config,
    assert_self_swap_is_exact,
    paired_deltas,
)
from interp.studies.attention_swap.findings import delta_text

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "studies" / "attention_swap.py"
COMMITTED = ROOT / "figures" / "attention_swap"
# Recipients that solve cloze (so the replication and claims tables have cells), a choice
# task for the choice-restricted loss (scaling only), and two evaluation seeds.
SMALL = dict(models=("suite/pythia-s3", "suite/pythia-s4"), donors=("suite/opt-s3",),
             tasks=("knowledge_cloze", "qqp"), n=12, batch_size=8, seeds=(0, 1),
             swap_tasks=("knowledge_cloze",))
GRID_CELLS = 2 * 1 * 2  # recipients x swap tasks x seeds


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("swap")
    run_study(STUDY, Config(**SMALL, out=out), quiet=True)
    return out


def test_outputs_and_columns(first_run):
    results = pd.read_csv(first_run / "results.csv")
    assert list(results.columns) == RESULT_COLUMNS
    assert "delta_accuracy_ci95" not in results.columns  # the unpaired interval is gone
    for stem in ("scaling", "swap_heatmap", "layer_sensitivity", "alpha_curves"):
        assert (first_run / f"{stem}.png").stat().st_size > 10_000
        assert (first_run / f"{stem}.pdf").is_file()
    for table in ("scaling", "confidence_competence"):
        assert not pd.read_csv(first_run / f"{table}.csv").empty
    record = json.loads((first_run / "results.json").read_text())
    assert record["config"]["n"] == 12 and "torch" in record["versions"]
    assert record["ladder"] == list(SMALL["models"]) and len(record["pairs"]) == 2
    assert record["tables"] == TABLES
    conditions = set(results.condition)
    assert {"control:self", "control:other_input", "control:uniform", "control:shuffle_heads",
            "swap:given", "swap-other-input:given", "alpha", "layer", "bottom-up", "top-down",
            "alpha:other_input", "layer:other_input", "bottom-up:other_input",
            "top-down:other_input"} <= conditions
    # The grid runs on the swap task at both seeds, the scaling view on every task; sweeps
    # stay at the first seed.
    assert set(results.task) == {"knowledge_cloze"} and set(results.seed) == {0, 1}
    assert set(pd.read_csv(first_run / "scaling.csv").task) == {"knowledge_cloze", "qqp"}
    assert not results[results.seed == 1].condition.isin(["alpha", "layer"]).any()


def test_items_hold_every_cell_and_give_its_accuracy(first_run):
    tables = load_tables(first_run, TABLES)
    results, items = tables["results"], tables["items"]
    assert list(items.columns) == ITEM_TABLE_COLUMNS
    keys = CELL_KEYS
    assert not items.duplicated([*keys, "item"]).any()
    from_items = items.groupby(keys, sort=False).agg(n=("item", "size"),
                                                     accuracy=("correct", "mean"),
                                                     loss=("loss", "mean")).reset_index()
    joined = results.merge(from_items, on=keys, suffixes=("", "_items"), validate="1:1")
    assert len(joined) == len(results)
    assert (joined.n == joined.n_items).all() and (joined.n == SMALL["n"]).all()
    assert np.allclose(joined.accuracy, joined.accuracy_items)
    assert np.allclose(joined.loss, joined.loss_items)
    # Every cell of a task and seed scored the same items: pairing is possible everywhere;
    # another seed drew other items.
    sets = {}
    for (task, seed), group in items.groupby(["task", "seed"]):
        item_sets = group.groupby(keys).item.apply(frozenset)
        assert item_sets.nunique() == 1, f"{task} seed {seed}: cells scored different items"
        sets[(task, seed)] = item_sets.iloc[0]
    assert sets[("knowledge_cloze", 0)] != sets[("knowledge_cloze", 1)]


def test_every_row_has_paired_and_wilson_intervals(first_run):
    results = pd.read_csv(first_run / "results.csv")
    columns = ["accuracy_lo", "accuracy_hi", "delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p"]
    assert not results[columns].isna().any().any()
    assert (results.accuracy_lo <= results.accuracy).all()
    assert (results.accuracy <= results.accuracy_hi).all()
    assert (results.delta_accuracy_lo <= results.delta_accuracy).all()
    assert (results.delta_accuracy <= results.delta_accuracy_hi).all()
    assert (results.delta_accuracy_hi > results.delta_accuracy_lo).all(), "no degenerate interval"
    assert results.mcnemar_p.between(0, 1).all()
    # The discordant counts are what the Δ is made of.
    counts = (results.discordant_better - results.discordant_worse) / results.n
    assert np.allclose(counts, results.delta_accuracy)
    scaling = pd.read_csv(first_run / "scaling.csv")
    assert (scaling.accuracy_lo <= scaling.accuracy).all()
    assert (scaling.accuracy <= scaling.accuracy_hi).all()
    assert set(scaling.chance) == {0.0, 0.5}
    assert np.allclose(scaling.loc[scaling.task == "qqp", "chance_loss"], np.log(2))
    exact = scaling[scaling.task == "knowledge_cloze"]
    assert exact.chance_loss.isna().all() and exact.choice_loss.isna().all()
    # Renormalising over the choices can only raise the answer's probability.
    choice = scaling[scaling.task == "qqp"]
    assert (choice.choice_loss > 0).all() and (choice.choice_loss <= choice.loss + 1e-9).all()
    assert set(scaling.seed) == {0, 1} and set(scaling.phase) == {"final"}


def test_each_donor_cell_is_paired_with_its_matched_control(first_run):
    results = pd.read_csv(first_run / "results.csv")
    versus = pd.read_csv(first_run / "donor_vs_control.csv")
    donors = results[results.condition.str.startswith(("swap:", "swap-other-input:"))
                     | results.condition.isin(["alpha", "layer", "bottom-up", "top-down"])]
    assert len(versus) == len(donors)
    keyed = results.set_index(CELL_KEYS)
    for r in versus.itertuples():
        control = "control:other_input" if r.condition.startswith("swap") else f"{r.condition}:other_input"
        assert r.reference == control
        ref = keyed.loc[(r.recipient, r.recipient, control, r.layers, r.alpha, r.task, r.seed)]
        own = keyed.loc[(r.recipient, r.donor, r.condition, r.layers, r.alpha, r.task, r.seed)]
        assert np.isclose(r.delta_accuracy, own.accuracy - ref.accuracy)
    assert not versus[["delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p"]].isna().any().any()
    # At alpha 0 the blend is the recipient's own pattern for donor and control alike.
    zero = versus[(versus.condition == "alpha") & (versus.alpha == 0)]
    assert len(zero) and (zero.delta_accuracy == 0).all() and (zero.discordant_better == 0).all()


def test_replication_intervals_are_over_pairs_and_seeds(first_run):
    results = pd.read_csv(first_run / "results.csv")
    replication = pd.read_csv(first_run / "replication.csv")
    row = replication[(replication.condition == "swap:given") & (replication.task == "knowledge_cloze")
                      & (replication.measure == "delta_vs_base")].set_index("over")
    solved = results[(results.condition == "base") & (results.accuracy_lo > 0)
                     & (results.task == "knowledge_cloze")][["recipient", "seed"]]
    cells = results[(results.condition == "swap:given") & (results.task == "knowledge_cloze")].merge(solved)
    assert len(cells) == row.loc["pairs", "cells"] >= 2
    per_pair = cells.groupby(["recipient", "donor"]).delta_accuracy.mean()
    per_seed = cells.groupby("seed").delta_accuracy.mean()
    assert row.loc["pairs", "k"] == len(per_pair) and row.loc["seeds", "k"] == len(per_seed)
    assert np.isclose(row.loc["pairs", "mean"], per_pair.mean())
    assert np.isclose(row.loc["seeds", "mean"], per_seed.mean())
    for over in ("pairs", "seeds"):
        lo, mean, hi = row.loc[over, ["lo", "mean", "hi"]]
        assert lo < mean < hi or (len(per_pair if over == "pairs" else per_seed) == 1 and np.isnan(lo))
    assert row.loc["pairs", "cells_below"] == int((cells.delta_accuracy_hi < 0).sum())


def test_claims_carry_their_interval_and_a_verdict(first_run):
    claims = pd.read_csv(first_run / "claims.csv")
    assert set(claims.verdict) <= {"supported", "contradicted", "not shown", "cannot test"}
    swaps = claims[claims.claim.str.startswith("swapping patterns")]
    assert set(swaps.task) == {"knowledge_cloze"}
    finite = claims[np.isfinite(claims.lo)]
    assert (finite.lo <= finite.estimate).all() and (finite.estimate <= finite.hi).all()
    decided = finite[finite.verdict.isin(["supported", "contradicted"])]
    assert ((decided.lo > 0) | (decided.hi < 0) | decided.test.str.contains("chance")
            | decided.claim.str.startswith(("knowledge (MMLU", "the falling"))).all()


def test_self_swap_is_exact_per_item_and_its_interval_is_narrow(first_run):
    tables = load_tables(first_run, TABLES)
    results, items = tables["results"], tables["items"]
    selfswap = items[items.condition == "control:self"]
    base = items[items.condition == "base"]
    paired = selfswap.merge(base, on=["recipient", "task", "seed", "item"], suffixes=("", "_base"))
    assert len(paired) == len(selfswap) == GRID_CELLS * SMALL["n"]
    assert (paired.correct == paired.correct_base).all() and (paired.loss == paired.loss_base).all()
    rows = results[results.condition == "control:self"]
    assert (rows[["delta_accuracy", "delta_loss"]] == 0).all().all()
    assert ((rows.delta_accuracy_lo < 0) & (0 < rows.delta_accuracy_hi)).all()
    # No item changed: the narrowest interval any paired Δ can have at this n.
    width = rows.delta_accuracy_hi - rows.delta_accuracy_lo
    assert (width <= (results.delta_accuracy_hi - results.delta_accuracy_lo).min() + 1e-12).all()
    assert (rows.delta_accuracy_hi < 3.5 / SMALL["n"]).all()
    alpha0 = results[(results.condition == "alpha") & (results.alpha == 0)]
    assert (alpha0.delta_loss == 0).all()
    uniform = results[results.condition == "control:uniform"]
    assert (uniform.delta_loss != 0).all(), "uniform attention must move the loss"


def test_a_changed_self_swap_item_is_caught(first_run):
    items = load_tables(first_run, ["items"])["items"]
    broken = items.copy()
    first = broken.index[broken.condition == "control:self"][0]
    broken.loc[first, "loss"] += 1e-9
    with pytest.raises(AssertionError, match="self-swap changed 1 of"):
        assert_self_swap_is_exact(broken)


def _items(outcomes: dict[str, list[bool]]) -> pd.DataFrame:
    rows = []
    for condition, correct in outcomes.items():
        rows += [dict(recipient="m", donor="m" if condition == "base" else "d", condition=condition,
                      layers="all", alpha=1.0, task="t", seed=0, item=f"i{k}", correct=c)
                 for k, c in enumerate(correct)]
    return pd.DataFrame(rows)


def test_a_total_loss_has_a_non_degenerate_interval():
    # Δ = -1: base right on every item, the swap wrong on every item. Tango's interval stays
    # open on the side away from -1 (the old unpaired Wald interval was 0.00 wide here).
    n = 100
    row = paired_deltas(_items({"base": [True] * n, "swap": [False] * n})).set_index("condition").loc["swap"]
    assert row.delta_accuracy == -1 and row.delta_accuracy_lo == -1
    assert -1 < row.delta_accuracy_hi < -0.9
    assert row.mcnemar_p < 1e-20 and row.discordant_worse == n
    assert delta_text(row).startswith("-1.00 [-1.00, -0.9")


def test_pairing_refuses_mismatched_items():
    outcomes = _items({"base": [True, False, True], "swap": [False, False, True]})
    with pytest.raises(ValueError, match="scored on different items"):
        paired_deltas(outcomes.drop(index=5))  # the swap lost an item
    renamed = outcomes.copy()
    renamed.loc[5, "item"] = "other"
    with pytest.raises(ValueError, match="only in 'treated': \\['other'\\]"):
        paired_deltas(renamed)
    with pytest.raises(ValueError, match="no 'base' cell"):
        paired_deltas(outcomes[outcomes.condition != "base"])


def test_findings_are_regenerated_from_the_written_tables(first_run):
    written = (first_run / "FINDINGS.md").read_text()
    assert findings_from(STUDY, first_run).strip() == written.strip()
    assert "Chance accuracy: qqp 0.50; knowledge_cloze 0 (exact match" in written
    assert "± " not in written  # no unpaired ± intervals anywhere


def _table_values(folder: Path) -> list[float]:
    values = []
    names = json.loads((folder / "results.json").read_text())["tables"]
    for name in [n for n in names if n != "items"]:
        table = pd.read_csv(folder / f"{name}.csv")
        numbers = table.select_dtypes("number").to_numpy(dtype=float).ravel()
        values += [v for v in numbers if np.isfinite(v)]
    return values


def _numbers_not_in_tables(text: str, folder: Path) -> list[str]:
    """Every decimal number in ``text`` that no table value rounds to (arXiv ids aside)."""
    values = np.array(_table_values(folder))
    missing = []
    for token in re.findall(r"(?<![\w.])[+-]?\d+\.\d+", re.sub(r"arXiv \S+", "", text)):
        decimals = len(token.split(".")[1])
        target = float(token)
        close = np.abs(values - target) <= 0.5 * 10 ** -decimals + 1e-9
        if not close.any():
            missing.append(token)
    return missing


def test_every_number_in_the_findings_is_in_the_tables(first_run):
    assert _numbers_not_in_tables((first_run / "FINDINGS.md").read_text(), first_run) == []


@pytest.mark.skipif(not (COMMITTED / "results.json").is_file(), reason="no committed run")
def test_committed_findings_come_from_the_committed_tables():
    text = (COMMITTED / "FINDINGS.md").read_text()
    assert findings_from(STUDY, COMMITTED).strip() == text.strip()
    assert _numbers_not_in_tables(text, COMMITTED) == []
    # Chance named; every paper claim carries a verdict; the phase-1 ladder is labelled.
    assert "knowledge_mc 0.25" in text and "qqp 0.50" in text
    claims = pd.read_csv(COMMITTED / "claims.csv")
    assert claims.verdict.notna().all() and {"final", "phase-1"} <= {s.split()[0] for s in claims.subject}
    assert "confidence without competence" not in text


def test_captions_name_every_output_with_numbers_from_the_tables(first_run):
    text = (first_run / "CAPTIONS.md").read_text()
    for name in ("scaling.png", "swap_heatmap.png", "layer_sensitivity.png", "alpha_curves.png",
                 *(("items.csv.gz" if t == "items" else f"{t}.csv") for t in TABLES)):
        assert f"## {name}" in text
    results = pd.read_csv(first_run / "results.csv")
    assert f"The master table: {len(results)} rows" in text
    results = results[results.seed == 0]  # the figures' seed
    swaps = results[results.condition.str.startswith(("swap:", "swap-other-input:"))]
    assert f"Largest swap drop: {delta_text(swaps.loc[swaps.delta_accuracy.idxmin()])}" in text
    assert "Chance accuracy: qqp 0.50; knowledge_cloze 0 (exact match" in text


def test_rerun_resumes_and_reproduces(first_run, tmp_path, capsys):
    before = pd.read_csv(first_run / "results.csv")
    items_before = (first_run / "items.csv.gz").read_bytes()
    run_study(STUDY, Config(**SMALL, out=first_run))
    assert " 0 cells computed" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(first_run / "results.csv"), before)
    assert (first_run / "items.csv.gz").read_bytes() == items_before
    # A fresh folder recomputes every cell and gets the same numbers (deterministic on CPU).
    run_study(STUDY, Config(**SMALL, out=tmp_path), quiet=True)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "results.csv"), before)
    assert (tmp_path / "items.csv.gz").read_bytes() == items_before


@pytest.mark.parametrize("settings, message", [
    (dict(models=("suite/pythia-s3",), donors=("suite/pythia-s2",), heads="index"), "--heads mean|match"),
    (dict(models=("suite/pythia-s1",), donors=("suite/opt-s1",), tasks=("arithmetc",)), "arithmetic"),
    (dict(models=("suite/pythia-s1",)), "give both --models and --donors"),
    (dict(models=("suite/pythia-s1",), donors=("suite/pythia-s1",)), "no swap pairs"),
    (dict(mmlu=Path("no/such/mmlu")), "--mmlu no/such/mmlu does not exist"),
    (dict(n=1), "the other_input control needs another example"),
    (dict(batch_size=1), "leaves a batch of one sequence"),
    (dict(seeds=(0, 0)), "give one or more distinct evaluation seeds"),
    (dict(tasks=("arithmetic_add",), swap_tasks=("qqp",)), "--swap-tasks qqp is not in --tasks"),
    (dict(n=100_000, tasks=("knowledge_mc",)), "is more than task 'knowledge_mc' has distinct test items"),
])
def test_bad_input_is_refused_before_results_are_written(settings, message, tmp_path):
    with pytest.raises((ValueError, OSError), match=re.escape(message)):
        run_study(STUDY, Config(**{"n": 4, "out": tmp_path, **settings}), quiet=True)
    assert not list(tmp_path.glob("*.csv"))


def test_n_up_to_a_tasks_population_is_accepted(tmp_path):
    from interp.tasks import task_population
    population = task_population("knowledge_mc")
    assert Config(n=population, tasks=("knowledge_mc",), out=tmp_path).n == population


def test_cli_bad_input_is_one_line_not_a_traceback(tmp_path):
    flags = ["--models", "suite/pythia-s1", "--donors", "EleutherAI/pythia-70m"]
    out = subprocess.run([sys.executable, str(SCRIPT), *flags, "--n", "4", "--out", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "three ways" in out.stderr
    assert out.stderr.strip().count("\n") == 0 or out.stderr.strip().splitlines()[-1].startswith("error:")
    assert not list(tmp_path.glob("*.csv")), "a failed run must not write results"


def test_a_last_batch_of_one_is_not_refused(tmp_path):
    # Scoring joins a trailing single sequence to the batch before it, so 17 examples in
    # batches of 16 leave no sequence alone and must be accepted.
    assert Config(n=17, batch_size=16, out=tmp_path).n == 17


# --- MMLU the standard way: one row per subject plus the whole. ---------------------------

MMLU_DATA = Path(__file__).resolve().parents[1] / "data" / "mmlu-hendrycks" / "data"


def test_mmlu_rows_per_subject_and_the_whole(tmp_path):
    config = Config(**{**SMALL, "tasks": ("mmlu",), "n": 4, "seeds": None, "swap_tasks": None},
                    out=tmp_path, mmlu=MMLU_DATA, mmlu_shots=0,
                    mmlu_subjects=("abstract_algebra", "elementary_mathematics"))
    outcome = run_study(STUDY, config, quiet=True)
    results, items = outcome.tables["results"], outcome.tables["items"]
    assert set(results.task) == {"mmlu/abstract_algebra", "mmlu/elementary_mathematics", "mmlu"}
    base = results[(results.condition == "base")
                   & (results.recipient == SMALL["models"][1])].set_index("task")
    subjects = base.drop(index="mmlu")
    assert base.loc["mmlu", "n"] == subjects.n.sum()
    assert base.loc["mmlu", "accuracy"] == pytest.approx(
        (subjects.accuracy * subjects.n).sum() / subjects.n.sum())
    # The whole's interval is paired too, and its items are never stored twice.
    assert results[["delta_accuracy_lo", "delta_accuracy_hi"]].notna().all().all()
    assert not (items.task == "mmlu").any()
    scaling = outcome.tables["scaling"]  # (the protocol itself: tests/unit/tasks/test_mmlu.py)
    assert "mmlu" in set(scaling.task) and (scaling[scaling.task == "mmlu"].chance == 0.25).all()


def test_file_tasks_need_their_file():
    with pytest.raises(ValueError, match="--tasks mmlu reads its questions from a file: give --mmlu"):
        Config(out=Path("/tmp/x"), tasks=("mmlu",))
    with pytest.raises(ValueError, match="give --mmlu DIR too"):
        Config(out=Path("/tmp/x"), mmlu_shots=5)


# --- The other input, the choice-restricted loss and the verdicts, on their own. ----------

def test_other_input_borrows_from_another_question_on_every_default_task():
    import interp
    from interp.studies.attention_swap import DEFAULT_TASKS, build_tasks
    from interp.studies.attention_swap.choices import other_input_neighbours
    tokenizer = interp.load_model("suite/pythia-s1").tokenizer
    for task in build_tasks(list(DEFAULT_TASKS), n=100, seed=0):
        counts = other_input_neighbours(tokenizer, task, 16)
        assert counts == dict(sequences=100, same_example=0, same_tokens=0), task.name


def test_a_task_scored_one_sequence_per_choice_is_refused_for_the_other_input_control():
    import interp
    from interp.studies.attention_swap.choices import other_input_neighbours
    from interp.studies.attention_swap.experiment import _neighbours
    from interp.tasks.base import Example, Task
    tokenizer = interp.load_model("suite/pythia-s1").tokenizer
    # Two-token choices: one sequence per choice, so a question's choices sit side by side.
    examples = [Example(f"{a} + {a} =", f" {2 * a} 0", choices=(f" {2 * a} 0", f" {a} 1"))
                for a in range(1, 5)]
    task = Task("two_token_choices", "arithmetic", "choice", tuple(examples))
    counts = other_input_neighbours(tokenizer, task, 8)
    assert counts["sequences"] == 8 and counts["same_example"] > 0
    with pytest.raises(ValueError, match="patterns from their own example"):
        _neighbours(tokenizer, [task], 0, 8)


def test_choice_restricted_loss_agrees_with_the_scored_answer():
    import interp
    from interp.scoring import evaluate_items
    from interp.studies.attention_swap.choices import choice_loss_items
    model = interp.load_model("suite/pythia-s5")
    task = interp.get_task("knowledge_mc", n=40, seed=0)
    restricted = choice_loss_items(model, task).set_index("item").choice_loss
    scored = evaluate_items(model, task).set_index("item")
    assert list(restricted.index) == list(scored.index)
    assert (restricted <= scored.loss + 1e-6).all()  # a subset's renormalised probability
    # The chosen answer has the highest probability among the choices: >= 1/4 when correct.
    assert (restricted[scored.correct] <= np.log(4) + 1e-9).all()
    assert (restricted[~scored.correct] > np.log(2) - 1e-9).all()  # another choice beat it


def _replication(rows):
    from interp.studies.attention_swap.replication import REPLICATION_COLUMNS
    base = dict(task="t", over="pairs", k=3, cells=3, cells_below=0, cells_above=0)
    return pd.DataFrame([{**base, **r} for r in rows], columns=REPLICATION_COLUMNS)


def test_a_donor_effect_needs_an_interval_below_the_matched_control():
    from interp.studies.attention_swap.claims import swap_claims
    control_ok = dict(condition="control:other_input", measure="accuracy", mean=0.6, lo=0.5, hi=0.7)
    rows = [control_ok,
            dict(condition="swap:seed", measure="delta_vs_control", mean=-0.3, lo=-0.4, hi=-0.2),
            dict(condition="swap:size", measure="delta_vs_control", mean=-0.1, lo=-0.3, hi=0.1),
            dict(condition="swap:seed", measure="kept", mean=0.2, lo=0.1, hi=0.3),
            dict(condition="swap:size", measure="kept", mean=0.03, lo=-0.02, hi=0.08),
            dict(condition="swap:family", measure="kept", mean=0.2, lo=-0.2, hi=0.6)]
    verdicts = {(c["subject"], c["test"].split()[0]): c["verdict"]
                for c in swap_claims(_replication(rows), {"t": 0.0})}
    assert verdicts[("seed", "Δ")] == "supported" and verdicts[("size", "Δ")] == "not shown"
    assert verdicts[("seed", "share")] == "contradicted"  # it keeps some of its skill
    assert verdicts[("size", "share")] == "supported"  # all of its interval is near a complete loss
    # An interval that holds 0 but reaches far above it does not show a complete loss.
    assert verdicts[("family", "share")] == "not shown"
    # A control already at chance leaves nothing for a donor to remove.
    floor = dict(control_ok, mean=0.02, lo=-0.01, hi=0.05)
    floored = swap_claims(_replication([floor, rows[1]]), {"t": 0.0})
    assert [c["verdict"] for c in floored] == ["cannot test"]


def test_scaling_claims_read_flat_accuracy_and_the_loss_over_the_choices():
    from interp.studies.attention_swap.claims import scaling_claims
    fit = lambda measure, mean, lo, hi: dict(phase="final", family="f", task="knowledge_mc",
                                             measure=measure, seeds=3, mean=mean, lo=lo, hi=hi)
    fits = pd.DataFrame([fit("accuracy_slope", 0.01, -0.02, 0.04),
                         fit("loss_slope", -0.6, -0.8, -0.4),
                         fit("choice_loss_slope", 0.0, -0.01, 0.01),
                         fit("paper_gap", float("inf"), float("nan"), float("nan"))])
    verdicts = {c["test"].split(" (")[0]: c["verdict"] for c in scaling_claims(fits)}
    assert verdicts["accuracy slope per decade"] == "supported"  # flat: all within the margin
    assert verdicts["loss slope per decade"] == "supported"
    # The loss falls, but not among the choices: not confidence in an answer.
    assert verdicts["choice-restricted loss slope per decade"] == "contradicted"
    assert verdicts["-dL/dA"] == "cannot test"
    wide = fits.assign(lo=lambda f: f.lo.where(f.measure != "accuracy_slope", -0.2),
                       hi=lambda f: f.hi.where(f.measure != "accuracy_slope", 0.3))
    verdicts = {c["test"].split(" (")[0]: c["verdict"] for c in scaling_claims(wide)}
    assert verdicts["accuracy slope per decade"] == "not shown"  # holds 0, but too wide to call flat


def test_the_swap_grid_runs_on_the_solved_tasks_by_default_and_on_given_tasks_otherwise(tmp_path):
    from interp.studies.attention_swap import DEFAULT_TASKS
    default = Config(out=tmp_path)
    assert default.tasks == DEFAULT_TASKS
    assert default.grid_tasks == ("knowledge_cloze", "arithmetic_add")
    assert Config(out=tmp_path, tasks=("qqp", "arithmetic_sub")).grid_tasks == ("qqp", "arithmetic_sub")
    with pytest.raises(ValueError, match="--swap-tasks is empty"):
        Config(out=tmp_path, tasks=("qqp",), swap_tasks=())


def test_cells_sharing_donor_states_match_cells_that_recompute_them(tmp_path):
    from interp.interventions import DonorStates
    from interp.runs.cache import ResultCache
    from interp.studies.attention_swap.sweep import ModelPool, Sweep, build_tasks

    tasks = build_tasks(["knowledge_cloze", "arithmetic_add"], n=12, seed=0)
    tables = {}
    for name, states in (("shared", DonorStates()), ("recomputed", DonorStates(max_bytes=0))):
        sweep = Sweep(ModelPool(), tasks, ResultCache(tmp_path / name, study="attention_swap"),
                      batch_size=8, donor_states=states)
        sweep.alpha_curve("suite/pythia-s3", "suite/opt-s3", [0.5, 1.0])
        sweep.layer_sweeps("suite/pythia-s3", "suite/opt-s3")
        sweep.layer_sweeps("suite/pythia-s3", "suite/opt-s3", matched=True)
        tables[name] = (sweep.cell_items(), states)
    shared, recomputed = tables["shared"], tables["recomputed"]
    pd.testing.assert_frame_equal(shared[0], recomputed[0])
    # The same swap under two names is scored once. With 2 layers, per task: alpha 0.5, and
    # the swaps of layers {0} (layer 0, bottom-up 1), {1} (layer 1, top-down 1) and {0, 1}
    # (alpha 1, bottom-up 2, top-down 2); matched: {0}, {1}, {0, 1}. 7 of 14 cells.
    assert sweep.models.n_layers("suite/pythia-s3") == 2
    assert shared[0].groupby(["condition", "layers", "alpha", "task"]).ngroups == 28
    assert len(sweep.scored) == 14
    # 2 tasks x 2 batches x 2 donors (opt-s3, and the recipient for the matched control)
    assert shared[1].forwards == 8 and len(shared[1]) == 8
    # nothing kept: one donor forward per batch of every distinct swap
    assert recomputed[1].forwards == 2 * len(sweep.scored) and len(recomputed[1]) == 0
