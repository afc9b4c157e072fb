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
    ITEM_TABLE_COLUMNS,
    RESULT_COLUMNS,
    STUDY,
    Config,
    assert_self_swap_is_exact,
    paired_deltas,
)
from interp.studies.attention_swap.findings import delta_text

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "studies" / "attention_swap.py"
COMMITTED = ROOT / "figures" / "attention_swap"
SMALL = dict(models=("suite/pythia-s1", "suite/pythia-s2"), donors=("suite/opt-s2",),
             tasks=("arithmetic_add", "qqp"), n=12, batch_size=8)
TABLES = ["results", "items", "swap_vs_other_input", "scaling", "confidence_competence"]


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
            "swap:given", "alpha", "layer", "bottom-up", "top-down"} <= conditions


def test_items_hold_every_cell_and_give_its_accuracy(first_run):
    tables = load_tables(first_run, TABLES)
    results, items = tables["results"], tables["items"]
    assert list(items.columns) == ITEM_TABLE_COLUMNS
    keys = ["recipient", "donor", "condition", "layers", "alpha", "task"]
    assert not items.duplicated([*keys, "item"]).any()
    from_items = items.groupby(keys, sort=False).agg(n=("item", "size"),
                                                     accuracy=("correct", "mean"),
                                                     loss=("loss", "mean")).reset_index()
    joined = results.merge(from_items, on=keys, suffixes=("", "_items"), validate="1:1")
    assert len(joined) == len(results)
    assert (joined.n == joined.n_items).all() and (joined.n == SMALL["n"]).all()
    assert np.allclose(joined.accuracy, joined.accuracy_items)
    assert np.allclose(joined.loss, joined.loss_items)
    # Every cell of a task scored the same items: pairing is possible everywhere.
    for task, group in items.groupby("task"):
        item_sets = group.groupby(keys).item.apply(frozenset)
        assert item_sets.nunique() == 1, f"{task}: cells scored different items"


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
    assert scaling.loc[scaling.task == "arithmetic_add", "chance_loss"].isna().all()


def test_swap_against_another_input_is_the_paired_difference_of_the_two_rows(first_run):
    results = pd.read_csv(first_run / "results.csv")
    versus = pd.read_csv(first_run / "swap_vs_other_input.csv")
    swaps = results[results.condition.str.startswith("swap:")]
    assert list(versus.condition) == list(swaps.condition) and len(versus) == len(swaps)
    other = results[results.condition == "control:other_input"].set_index(["recipient", "task"])
    expected = (swaps.accuracy.to_numpy()
                - other.accuracy.loc[list(zip(swaps.recipient, swaps.task))].to_numpy())
    assert np.allclose(versus.delta_accuracy, expected)
    assert not versus[["delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p"]].isna().any().any()


def test_self_swap_is_exact_per_item_and_its_interval_is_narrow(first_run):
    tables = load_tables(first_run, TABLES)
    results, items = tables["results"], tables["items"]
    selfswap = items[items.condition == "control:self"]
    base = items[items.condition == "base"]
    paired = selfswap.merge(base, on=["recipient", "task", "item"], suffixes=("", "_base"))
    assert len(paired) == len(selfswap) == 2 * 2 * SMALL["n"]  # recipients x tasks x items
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
                      layers="all", alpha=1.0, task="t", item=f"i{k}", correct=c)
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
    assert "Chance accuracy: qqp 0.50; arithmetic_add 0 (exact match" in written
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
    # The corrections issue 19 asks for: chance named; MC/QQP loss read against ln(#choices).
    assert "chance 0.25" in text and "chance 0.50" in text
    assert "confidence without competence" not in text
    assert "do not show the paper's graceful degradation" not in text


def test_captions_name_every_output_with_numbers_from_the_tables(first_run):
    text = (first_run / "CAPTIONS.md").read_text()
    for name in ("scaling.png", "swap_heatmap.png", "layer_sensitivity.png", "alpha_curves.png",
                 "results.csv", "items.csv.gz", "swap_vs_other_input.csv", "scaling.csv",
                 "confidence_competence.csv"):
        assert f"## {name}" in text
    results = pd.read_csv(first_run / "results.csv")
    swaps = results[results.condition.str.startswith("swap:")]
    assert f"Largest swap drop: {delta_text(swaps.loc[swaps.delta_accuracy.idxmin()])}" in text
    assert f"The master table: {len(results)} rows" in text
    assert "Chance accuracy: qqp 0.50; arithmetic_add 0 (exact match" in text


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
    config = Config(**{**SMALL, "tasks": ("mmlu",), "n": 4}, out=tmp_path, mmlu=MMLU_DATA, mmlu_shots=0,
                    mmlu_subjects=("abstract_algebra", "elementary_mathematics"))
    outcome = run_study(STUDY, config, quiet=True)
    results, items = outcome.tables["results"], outcome.tables["items"]
    assert set(results.task) == {"mmlu/abstract_algebra", "mmlu/elementary_mathematics", "mmlu"}
    base = results[(results.condition == "base")
                   & (results.recipient == "suite/pythia-s2")].set_index("task")
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
