"""studies/attention_swap.py end to end on small suite models: outputs, controls, resume, errors."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "studies" / "attention_swap.py"
SMALL = ["--models", "suite/pythia-s1", "suite/pythia-s2", "--donors", "suite/opt-s2",
         "--tasks", "arithmetic_add", "qqp", "--n", "12", "--batch-size", "8"]


def study():
    spec = importlib.util.spec_from_file_location("attention_swap", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("swap")
    assert study().main(SMALL + ["--out", str(out)]) == 0
    return out


def test_outputs_and_columns(first_run):
    results = pd.read_csv(first_run / "results.csv")
    assert list(results.columns) == ["recipient", "donor", "condition", "layers", "alpha", "task",
                                     "n", "accuracy", "loss", "delta_accuracy",
                                     "delta_accuracy_ci95", "delta_loss"]
    for stem in ("scaling", "swap_heatmap", "layer_sensitivity", "alpha_curves"):
        assert (first_run / f"{stem}.png").stat().st_size > 10_000
        assert (first_run / f"{stem}.pdf").is_file()
    record = json.loads((first_run / "results.json").read_text())
    assert record["config"]["n"] == 12 and "torch" in record["versions"]
    conditions = set(results.condition)
    assert {"control:self", "control:other_input", "control:uniform", "control:shuffle_heads",
            "swap:given", "alpha", "layer", "bottom-up", "top-down"} <= conditions


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


def test_rerun_resumes_and_reproduces(first_run, tmp_path):
    before = pd.read_csv(first_run / "results.csv")
    out = subprocess.run([sys.executable, str(SCRIPT), *SMALL, "--out", str(first_run)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    assert " 0 cells computed" in out.stdout
    pd.testing.assert_frame_equal(pd.read_csv(first_run / "results.csv"), before)
    # A fresh folder recomputes every cell and gets the same numbers (deterministic on CPU).
    assert study().main(SMALL + ["--out", str(tmp_path)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "results.csv"), before)


@pytest.mark.parametrize("flags, message", [
    (["--models", "suite/pythia-s3", "--donors", "suite/pythia-s2", "--heads", "index"], "--heads mean|match"),
    (["--models", "suite/pythia-s1", "--donors", "EleutherAI/pythia-70m"], "three ways"),
    (["--models", "suite/pythia-s1"], "give both --models and --donors"),
    (["--models", "suite/pythia-s1", "--donors", "suite/opt-s1", "--tasks", "arithmetc"], "arithmetic"),
])
def test_bad_input_is_one_line_not_a_traceback(flags, message, tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), *flags, "--n", "4", "--out", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and message in out.stderr
    assert out.stderr.strip().count("\n") == 0 or out.stderr.strip().splitlines()[-1].startswith("error:")
