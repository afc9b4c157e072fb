"""The attention-swap study end to end on small suite models: outputs, controls, resume, errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from interp.runs.study import run_study
from interp.studies.attention_swap import STUDY, Config

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "studies" / "attention_swap.py"
SMALL = dict(models=("suite/pythia-s1", "suite/pythia-s2"), donors=("suite/opt-s2",),
             tasks=("arithmetic_add", "qqp"), n=12, batch_size=8)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("swap")
    run_study(STUDY, Config(**SMALL, out=out), quiet=True)
    return out


def test_outputs_and_columns(first_run):
    results = pd.read_csv(first_run / "results.csv")
    assert list(results.columns) == ["recipient", "donor", "condition", "layers", "alpha", "task",
                                     "n", "accuracy", "loss", "delta_accuracy",
                                     "delta_accuracy_ci95", "delta_loss"]
    for stem in ("scaling", "swap_heatmap", "layer_sensitivity", "alpha_curves"):
        assert (first_run / f"{stem}.png").stat().st_size > 10_000
        assert (first_run / f"{stem}.pdf").is_file()
    for table in ("scaling", "confidence_competence"):
        assert not pd.read_csv(first_run / f"{table}.csv").empty
    record = json.loads((first_run / "results.json").read_text())
    assert record["config"]["n"] == 12 and "torch" in record["versions"]
    assert record["ladder"] == list(SMALL["models"]) and len(record["pairs"]) == 2
    conditions = set(results.condition)
    assert {"control:self", "control:other_input", "control:uniform", "control:shuffle_heads",
            "swap:given", "alpha", "layer", "bottom-up", "top-down"} <= conditions


def test_captions_name_every_output_with_numbers_from_the_tables(first_run):
    text = (first_run / "CAPTIONS.md").read_text()
    for name in ("scaling.png", "swap_heatmap.png", "layer_sensitivity.png", "alpha_curves.png",
                 "results.csv", "scaling.csv", "confidence_competence.csv"):
        assert f"## {name}" in text
    results = pd.read_csv(first_run / "results.csv")
    swaps = results[results.condition.str.startswith("swap:")]
    assert f"Largest swap drop: {swaps.delta_accuracy.min():+.2f}" in text
    assert f"The master table: {len(results)} rows" in text


def test_self_swap_is_exactly_zero_and_alpha_zero_is_the_base(first_run):
    results = pd.read_csv(first_run / "results.csv")
    selfswap = results[results.condition == "control:self"]
    assert len(selfswap) == 2 * 2  # two recipients x two tasks
    assert (selfswap[["delta_accuracy", "delta_loss"]] == 0).all().all()
    alpha0 = results[(results.condition == "alpha") & (results.alpha == 0)]
    assert (alpha0.delta_loss == 0).all()
    uniform = results[results.condition == "control:uniform"]
    assert (uniform.delta_loss != 0).all(), "uniform attention must move the loss"
    # The interval is zero only where both accuracies are 0 or 1, and shrinks with n.
    inside = results[(results.accuracy > 0) & (results.accuracy < 1)]
    assert (inside.delta_accuracy_ci95 > 0).all()
    assert (results.delta_accuracy_ci95 <= 1.96 * (0.5 / results.n) ** 0.5 + 1e-12).all()


def test_rerun_resumes_and_reproduces(first_run, tmp_path, capsys):
    before = pd.read_csv(first_run / "results.csv")
    run_study(STUDY, Config(**SMALL, out=first_run))
    assert " 0 cells computed" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(first_run / "results.csv"), before)
    # A fresh folder recomputes every cell and gets the same numbers (deterministic on CPU).
    run_study(STUDY, Config(**SMALL, out=tmp_path), quiet=True)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "results.csv"), before)


@pytest.mark.parametrize("settings, message", [
    (dict(models=("suite/pythia-s3",), donors=("suite/pythia-s2",), heads="index"), "--heads mean|match"),
    (dict(models=("suite/pythia-s1",), donors=("suite/opt-s1",), tasks=("arithmetc",)), "arithmetic"),
    (dict(models=("suite/pythia-s1",)), "give both --models and --donors"),
    (dict(models=("suite/pythia-s1",), donors=("suite/pythia-s1",)), "no swap pairs"),
    (dict(mmlu=Path("no/such/mmlu")), "--mmlu no/such/mmlu does not exist"),
    (dict(n=1), "the other_input control needs another example"),
    (dict(batch_size=1), "leaves a batch of one sequence"),
])
def test_bad_input_is_refused_before_results_are_written(settings, message, tmp_path):
    with pytest.raises((ValueError, OSError), match=re.escape(message)):
        run_study(STUDY, Config(**{"n": 4, "out": tmp_path, **settings}), quiet=True)
    assert not list(tmp_path.glob("*.csv"))


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
