"""studies/task_interference.py end to end on the smallest suite models: outputs, resume,
determinism, continued training with injections, and one-line errors."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import interp
from interp import interference as I
from interp.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "studies" / "task_interference.py"
SMALL = ["--models", "suite/pythia-s1", "suite/pythia-s2", "--checkpoints", "none",
         "--train-models", "suite/pythia-s1", "--recovery-models", "suite/pythia-s1",
         "--rare-tasks", "rare_comparison_0", "rare_comparison_4", "rare_modadd_0",
         "--n", "12", "--grad-n", "8", "--fisher-n", "3", "--gaps", "0", "4",
         "--train-steps", "16", "--burn-in", "4", "--recovery-steps", "12", "--factors", "1", "64",
         "--eval-n", "12", "--train-batch", "8"]


def study():
    spec = importlib.util.spec_from_file_location("task_interference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("interference")
    assert study().main(SMALL + ["--out", str(out)]) == 0
    return out


def test_outputs_tables_and_figures(first_run):
    for stem in ("ladder_heatmap", "gradient_cosines_groups", "gradient_cosines_size",
                 "token_split", "fisher_overlap", "update_forget", "recovery"):
        assert (first_run / f"{stem}.png").stat().st_size > 10_000, stem
        assert (first_run / f"{stem}.pdf").is_file()
    ladder = pd.read_csv(first_run / "ladder.csv")
    assert set(ladder.task) == {"rare_comparison_0", "rare_comparison_4", "rare_modadd_0"}
    assert ladder.groupby("model").frequency.apply(
        lambda f: f.iloc[0] > f.iloc[1]).all(), "copy 0 is the most frequent"
    cosines = pd.read_csv(first_run / "cosines.csv")
    s2 = cosines[cosines.model == "suite/pythia-s2"]
    assert {"embed", "L0.attn_qkv", "L1.mlp_out", "all"} <= set(s2.group)
    assert set(cosines.reference) == {"arithmetic_add", "knowledge_cloze", "icl", "frequent",
                                      "mixture"}
    split = pd.read_csv(first_run / "token_split.csv")
    assert set(split.part) == {"batch", "task_tokens", "other_tokens"}
    assert split.cosine.between(-1, 1).all()
    forget = pd.read_csv(first_run / "forget.csv")
    assert set(forget.variant) == {0, 4}
    assert forget[forget.variant == 0].injected.sum() == 0
    # 4 blocks every 4 steps from step 4 of 16: injections before steps 5, 9, 13.
    assert forget[(forget.variant == 4) & (forget.injected > 0)].step.tolist() == [5, 9, 13]
    assert forget.rare_loss.notna().all()  # traced after every step
    record = json.loads((first_run / "results.json").read_text())
    assert record["config"]["grad_n"] == 8 and "torch" in record["versions"]
    assert "recovery_final_accuracy" in record["summary"]


def test_rerun_resumes_and_reproduces(first_run, tmp_path, capsys):
    tables = ["ladder", "cosines", "token_split", "fisher", "forget", "recovery"]
    before = {t: pd.read_csv(first_run / f"{t}.csv") for t in tables}
    capsys.readouterr()
    assert study().main(SMALL + ["--out", str(first_run)]) == 0
    assert " 0 cells computed" in capsys.readouterr().out
    for t in tables:
        pd.testing.assert_frame_equal(pd.read_csv(first_run / f"{t}.csv"), before[t])
    # A fresh folder recomputes every cell and gets the same numbers (deterministic on CPU).
    fresh = SMALL + ["--out", str(tmp_path), "--experiments", "gradients", "forget",
                     "--models", "suite/pythia-s1"]
    assert study().main(fresh) == 0
    assert " 0 reused" in capsys.readouterr().out
    for t in ("cosines", "token_split", "forget"):
        expected = before[t][before[t].model == "suite/pythia-s1"].reset_index(drop=True)
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"{t}.csv"), expected)


def _continue(steps, plan, state_dir=None, save_every=25):
    model = interp.load_hf_model("suite/pythia-s1")
    focus = get_task("rare_comparison_4", n=16, seed=0, split="train")
    seqs = I.mixture_sequences("suite/pythia-s1", model.tokenizer, steps * 8, seed=1,
                               exclude=["rare_comparison_4"])
    config = I.ContinuedTraining(steps=steps, batch_size=8, lr=3e-3, warmup=2,
                                 save_every=save_every)
    return I.continue_training(model, seqs, plan, "rare_comparison_4", focus, config,
                               state_dir=state_dir, progress=False)


def test_interrupted_training_resumes_to_the_same_numbers(tmp_path):
    plan = {3: 8}
    reference = _continue(10, plan)
    _continue(10, plan, state_dir=tmp_path, save_every=5)  # leaves the state of step 5
    state = torch.load(tmp_path / "state.pt", weights_only=False)
    assert state["step"] == 5 and len(state["rows"]) == 6
    state["rows"][0]["train_loss"] = 123.0  # a marker: a resumed run keeps the saved rows
    torch.save(state, tmp_path / "state.pt")
    resumed = _continue(10, plan, state_dir=tmp_path, save_every=5)
    assert resumed.train_loss.iloc[0] == 123.0
    pd.testing.assert_frame_equal(resumed.iloc[1:], reference.iloc[1:])


def test_an_injection_lowers_the_loss_on_its_instances():
    """Eight blocks of the task's training instances in one batch: its training-split loss
    right after that update is below the same run without the injection."""
    injected = _continue(6, {2: 8}).set_index("step")
    control = _continue(6, {}).set_index("step")
    assert injected.loc[2, "rare_loss"] == control.loc[2, "rare_loss"]  # same run until then
    assert injected.loc[3, "rare_loss"] < control.loc[3, "rare_loss"] - 0.05


def test_injection_effects_measure_drop_and_half_life():
    trace = pd.DataFrame(dict(step=range(10),
                              rare_loss=[2.0, 2.0, 1.0, 1.2, 1.6, 2.0, 2.0, 1.5, 1.5, 1.5]))
    effects = I.injection_effects(trace, {1: 4, 6: 4}).set_index("injection_step")
    assert effects.loc[1, "drop"] == 1.0 and effects.loc[1, "half_life"] == pytest.approx(1.75)
    assert effects.loc[6, "censored"] and pd.isna(effects.loc[6, "half_life"])


def test_plans():
    assert I.matched_frequency_plan(12, 4, start=2) == {2: 4, 6: 4, 10: 4}
    assert I.matched_frequency_plan(12, 0) == {}
    low = I.upsampled_plan(400, 16, 0.001, 1)
    high = I.upsampled_plan(400, 16, 0.001, 64)
    assert sum(high.values()) > 10 * max(1, sum(low.values()))
    assert I.upsampled_plan(400, 16, 0.001, 64) == high  # seeded: the same plan every time


@pytest.mark.parametrize("flags, message", [
    (["--rare-tasks", "arithmetic_add"], "not a rare ladder task"),
    (["--focus-task", "qqp"], "not a rare ladder task"),
    (["--models", "suite/pythia-s1", "--experiments", "gradients", "--groups", "L3.mlp_in"],
     "has no parameter group 'L3.mlp_in'"),
    (["--models", "suite/pythia-s9"], "unknown suite model"),
    (["--tasks", "rare_comparison_0"], "--tasks needs both kinds"),
    (["--gaps", "32"], "--gaps must be between 0 and --train-batch"),
    (["--n", "0"], "--n must be at least 1"),
    (["--train-models", "{neox}", "--experiments", "forget"], "pass --lr"),
])
def test_bad_input_is_one_line_not_a_traceback(flags, message, tmp_path, checkpoint_dirs,
                                               capsys):
    flags = [f.format(neox=checkpoint_dirs["neox"]) for f in flags]
    with pytest.raises(SystemExit) as exit_info:
        study().main(flags + ["--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]


def test_a_bad_flag_in_a_fresh_process_prints_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--rare-tasks", "qqp", "--out",
                          str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "not a rare ladder task" in out.stderr
