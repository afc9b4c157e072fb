"""The task-interference study end to end on the smallest suite models, in process: outputs,
exhaustive rare-task scoring, intervals, generated findings, resume, determinism, continued
training with injections, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import interp
from interp.runs.findings import findings_from, load_tables, table_file
from interp.runs.study import run_study
from interp.scoring import item_id
from interp.studies.task_interference import (
    STUDY,
    Config,
    ContinuedTraining,
    continue_training,
    injection_effects,
    matched_frequency_plan,
    mixture_sequences,
    upsampled_plan,
)
from interp.studies.task_interference.findings import mean_step_sentence
from interp.studies.task_interference.gradients import split_halves
from interp.studies.task_interference.seeds import seed_steps
from interp.studies.task_interference.results import ITEMS_COLUMNS
from interp.tasks import get_task, task_population

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "studies" / "task_interference.py"
SMALL = dict(models=("suite/pythia-s1", "suite/pythia-s2"), checkpoints=("none",),
             phase1=("suite/pythia-s1@step2000",),
             train_models=("suite/pythia-s1",), recovery_models=("suite/pythia-s1",),
             rare_tasks=("rare_comparison_0", "rare_comparison_4", "rare_modadd_0"),
             n=100, grad_n=64, fisher_n=3, gaps=(0, 1, 4), train_steps=16, burn_in=4,
             recovery_steps=12, factors=(1, 64), eval_n=100, train_batch=8)
TABLES = ["ladder", "cosines", "token_split", "fisher", "forget", "recovery", "items", "results",
          "noise_floor", "controls", "matched_time", "seeds"]


def record(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("interference")
    run_study(STUDY, Config(out=out, **SMALL), quiet=True)
    return out


def test_outputs_tables_and_figures(first_run):
    for stem in ("ladder_heatmap", "ladder_steps", "gradient_cosines_groups", "gradient_cosines_size",
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
    assert "reference" not in split.columns  # a dict cell: no columns of the other tables
    forget = pd.read_csv(first_run / "forget.csv")
    assert set(forget.variant) == {0, 1, 4}
    assert forget[forget.variant == 0].injected.sum() == 0
    # 4 blocks every 4 steps from step 4 of 16: injections before steps 5, 9, 13.
    full = forget[forget.control == "none"]
    assert full[(full.variant == 4) & (full.injected > 0)].step.tolist() == [5, 9, 13]
    assert set(forget[forget.control != "none"].variant) == {4}  # the controls run at gap 4
    assert forget.rare_loss.notna().all()  # traced after every step
    found = record(first_run)
    assert found["config"]["grad_n"] == 64 and "torch" in found["versions"]
    assert "recovery_final_accuracy" in found["summary"]
    assert found["plan"]["gradient_tasks"] == ["rare_comparison_0", "rare_comparison_4",
                                               "rare_modadd_0"]


def test_master_table_and_captions_come_from_the_tables(first_run):
    results = pd.read_csv(first_run / "results.csv")
    assert set(results.experiment) == {"ladder", "ladder_steps", "gradients", "token_split",
                                       "fisher", "forget", "injections", "recovery",
                                       "forget_controls", "forget_matched_time", "ladder_pooled"}
    assert {"lo", "hi", "n", "p"} <= set(results.columns)
    ladder = pd.read_csv(first_run / "ladder.csv").set_index(["model", "task"])
    acc = results[(results.experiment == "ladder") & (results.measure == "accuracy")]
    for row in acc.itertuples():
        assert row.value == pytest.approx(ladder.loc[(row.model, row.task), "accuracy"])
    final = results[(results.experiment == "forget") & (results.condition == "gap 4")
                    & (results.measure == "final_rare_loss")]
    assert final.value.item() == pytest.approx(record(first_run)["summary"][
        "forget_final_rare_loss"]["suite/pythia-s1 gap 4"], abs=1e-4)
    text = (first_run / "CAPTIONS.md").read_text()
    for stem in ("ladder_heatmap", "ladder_steps", "gradient_cosines_groups", "token_split",
                 "fisher_overlap", "update_forget", "forgetting_summary", "recovery",
                 "results.csv", "items.csv.gz"):
        assert stem in text, stem
    assert "ci95" not in text and "±0.10" not in text  # no home-made normal interval


def test_rare_tasks_are_scored_exhaustively_on_distinct_items(first_run):
    # n = 100 asks for more than a copy has: every test instance is scored, once, and the
    # tables report the real n.
    ladder = pd.read_csv(first_run / "ladder.csv")
    items = load_tables(first_run, ["items"])["items"]
    assert list(items.columns) == ITEMS_COLUMNS
    for row in ladder.itertuples():
        population = task_population(row.task)
        assert row.n == population < SMALL["n"]
        scored = items[(items.experiment == "ladder") & (items.model == row.model)
                       & (items.task == row.task)]
        assert scored.item.is_unique and len(scored) == population
        expected = {item_id(e) for e in get_task(row.task, n="all").examples}
        assert set(scored.item) == expected
        assert scored.correct.mean() == pytest.approx(row.accuracy)
    # Continued training scores the focus task on every instance too, at its two ends.
    recovery = items[items.experiment == "recovery"]
    assert set(recovery.step) == {0, SMALL["recovery_steps"]}
    assert recovery.groupby(["condition", "step"]).item.nunique().eq(
        task_population("rare_comparison_4")).all()


def test_every_accuracy_has_an_interval_within_0_and_1(first_run):
    results = pd.read_csv(first_run / "results.csv")
    acc = results[results.measure.str.endswith("accuracy") & ~results.measure.str.startswith("delta")]
    assert len(acc) > 0 and acc[["lo", "hi", "n"]].notna().all().all()
    assert (acc.lo >= 0).all() and (acc.hi <= 1).all()
    assert ((acc.lo <= acc.value) & (acc.value <= acc.hi)).all()
    assert (acc.lo < acc.hi).all()  # never a zero-width interval
    deltas = results[results.measure.isin(["delta_accuracy", "delta_loss"])]
    assert {"ladder_steps", "recovery", "forget"} <= set(deltas.experiment)
    assert ((deltas.lo <= deltas.value) & (deltas.value <= deltas.hi)).all()
    paired = results[results.measure == "delta_accuracy"]
    assert paired.lo.between(-1, 1).all() and paired.hi.between(-1, 1).all()
    assert paired.p.between(0, 1).all()
    ladder = pd.read_csv(first_run / "ladder.csv")
    assert ladder.accuracy_lo.between(0, 1).all() and ladder.accuracy_hi.between(0, 1).all()
    # Recovery's effect is the end minus the start on the same items.
    rec = results[results.experiment == "recovery"].set_index(["condition", "measure"])
    effect = rec.loc[("x64, end vs start", "delta_accuracy"), "value"]
    assert effect == pytest.approx(rec.loc[("x64", "final_rare_accuracy"), "value"]
                                   - rec.loc[("x64", "start_rare_accuracy"), "value"])


def test_findings_regenerate_from_the_written_folder(first_run):
    written = (first_run / "FINDINGS.md").read_text()
    assert findings_from(STUDY, first_run).strip() == written.strip()
    assert "chance 1/11 = 0.09" in written and "chance 1/2 = 0.50" in written
    assert "What our runs show vs the paper" in written


def test_a_step_is_called_a_difference_only_when_its_interval_excludes_0(first_run):
    def step(condition, lo, hi):
        return dict(kind="comparison", task="comparison (all copies)", condition=condition,
                    delta_accuracy=(lo + hi) / 2, delta_accuracy_lo=lo, delta_accuracy_hi=hi,
                    mcnemar_p=0.001 if lo > 0 else 0.5, n=396, discordant_better=40,
                    discordant_worse=10)
    steps = pd.DataFrame([step("s2 vs s1", 0.02, 0.12), step("s3 vs s2", -0.02, 0.06)])
    text = mean_step_sentence(steps, "comparison")
    assert "s3 vs s2 no detectable difference (Δ = +0.02" in text
    assert "rises at s2 vs s1; no detectable difference at s3 vs s2" in text
    assert "every size step" not in text
    # The same rule in the run's findings: each pooled step reads as its interval says.
    results = pd.read_csv(first_run / "results.csv")
    written = (first_run / "FINDINGS.md").read_text()
    pooled = results[(results.experiment == "ladder_steps") & results.task.str.endswith("copies)")]
    assert len(pooled) > 0
    for row in pooled.itertuples():
        silent = row.lo <= 0 <= row.hi
        assert (f"{row.condition} no detectable difference" in written) == silent, row


def test_rerun_resumes_and_reproduces(first_run, tmp_path):
    before = {t: pd.read_csv(table_file(first_run, t)) for t in TABLES}
    findings = (first_run / "FINDINGS.md").read_text()
    run_study(STUDY, Config(out=first_run, **SMALL), quiet=True)
    assert record(first_run)["cells"]["computed"] == 0
    for t in TABLES:
        pd.testing.assert_frame_equal(pd.read_csv(table_file(first_run, t)), before[t])
    assert (first_run / "FINDINGS.md").read_text() == findings
    assert not [p for p in (first_run / "cells").iterdir() if p.is_dir()], "states are removed"
    # A fresh folder recomputes every cell and gets the same numbers (deterministic on CPU).
    fresh = Config(out=tmp_path, **{**SMALL, "models": ("suite/pythia-s1",), "phase1": ("none",)},
                   experiments=("gradients", "forget"))
    run_study(STUDY, fresh, quiet=True)
    assert record(tmp_path)["cells"]["reused"] == 0
    for t in ("cosines", "token_split", "forget"):
        expected = before[t][before[t].model == "suite/pythia-s1"].reset_index(drop=True)
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"{t}.csv"), expected)


def _continue(steps, plan, state_dir=None, save_every=25):
    model = interp.load_hf_model("suite/pythia-s1")
    focus = get_task("rare_comparison_4", n=16, seed=0, split="train")
    seqs = mixture_sequences("suite/pythia-s1", model.tokenizer, steps * 8, seed=1,
                             exclude=["rare_comparison_4"])
    config = ContinuedTraining(steps=steps, batch_size=8, lr=3e-3, warmup=2,
                               save_every=save_every)
    return continue_training(model, seqs, plan, "rare_comparison_4", focus, config,
                             state_dir=state_dir, progress=False)["rows"]


def test_interrupted_training_resumes_to_the_same_numbers(tmp_path):
    plan = {3: 8}
    reference = _continue(10, plan)
    _continue(10, plan, state_dir=tmp_path, save_every=5)  # leaves the state of step 5
    state = torch.load(tmp_path / "state.pt", weights_only=False)
    assert state["step"] == 5 and len(state["rows"]) == 6
    assert {r["step"] for r in state["items"]} == {0}  # the start's outcomes travel with it
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no temporary left behind
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
    effects = injection_effects(trace, {1: 4, 6: 4}).set_index("injection_step")
    assert effects.loc[1, "drop"] == 1.0 and effects.loc[1, "half_life"] == pytest.approx(1.75)
    assert effects.loc[6, "censored"] and pd.isna(effects.loc[6, "half_life"])


def test_plans():
    assert matched_frequency_plan(12, 4, start=2) == {2: 4, 6: 4, 10: 4}
    assert matched_frequency_plan(12, 0) == {}
    low = upsampled_plan(400, 16, 0.001, 1)
    high = upsampled_plan(400, 16, 0.001, 64)
    assert sum(high.values()) > 10 * max(1, sum(low.values()))
    assert upsampled_plan(400, 16, 0.001, 64) == high  # seeded: the same plan every time


@pytest.mark.parametrize("settings, message", [
    (dict(rare_tasks=("arithmetic_add",)), "not a rare ladder task"),
    (dict(focus_task="qqp"), "not a rare ladder task"),
    (dict(models=("suite/pythia-s9",)), "unknown suite model"),
    (dict(tasks=("rare_comparison_0",)), "--tasks needs both kinds"),
    (dict(tasks=("no_such_task", "rare_comparison_0")), "unknown task 'no_such_task'"),
    (dict(gaps=(32,)), "--gaps must be between 0 and --train-batch"),
    (dict(n=0), "n must be >= 1"),
    (dict(grad_n=0), "--grad-n must be at least 1"),
    (dict(train_models=("{neox}",), experiments=("forget",)), "pass --lr"),
])
def test_bad_settings_are_refused_before_any_work(settings, message, tmp_path, checkpoint_dirs):
    settings = {k: tuple(v.format(neox=checkpoint_dirs["neox"]) if isinstance(v, str) else v
                         for v in vals) if isinstance(vals, tuple) else vals
                for k, vals in settings.items()}
    with pytest.raises((ValueError, OSError), match=message) as error:
        Config(out=tmp_path, **settings)
    assert "\n" not in str(error.value)


def test_a_missing_parameter_group_fails_before_any_gradient(tmp_path):
    config = Config(out=tmp_path, models=("suite/pythia-s1",), experiments=("gradients",),
                    groups=("L3.mlp_in",))
    with pytest.raises(ValueError, match="has no parameter group 'L3.mlp_in'"):
        run_study(STUDY, config, quiet=True)
    assert not list(tmp_path.glob("*.csv"))


def test_a_bad_flag_in_a_fresh_process_prints_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--rare-tasks", "qqp", "--out",
                          str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "not a rare ladder task" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: ")


# --- issue 20 C: controls, noise floor, seeds, phase 1, the yardstick's training -------------

def _controlled(control, steps=6, plan=None):
    """pythia-s1 continued ``steps`` steps with one injection at batch 1, under ``control``;
    returns (rows, weights at the end)."""
    model = interp.load_hf_model("suite/pythia-s1")
    focus = get_task("rare_comparison_4", n=16, seed=0, split="train")
    seqs = mixture_sequences("suite/pythia-s1", model.tokenizer, 48, seed=1,
                             exclude=["rare_comparison_4"])  # the same batches at any length
    config = ContinuedTraining(steps=steps, batch_size=8, lr=3e-3, warmup=1)
    rows = continue_training(model, seqs, plan or {1: 4}, "rare_comparison_4", focus, config,
                             progress=False, control=control)["rows"]
    return rows, {k: v.clone() for k, v in model.state_dict().items()}


def test_freeze_control_takes_no_update_after_the_injection():
    frozen, end = _controlled("freeze", steps=6)
    _, after_injection = _controlled("none", steps=2)  # the same run, stopped after it
    assert all(torch.equal(end[k], after_injection[k]) for k in end)
    assert frozen.set_index("step").rare_loss.loc[2:].nunique() == 1
    assert frozen.set_index("step").train_loss.loc[3:].isna().all()


def test_rare_only_control_moves_on_momentum_alone():
    rare_only, end = _controlled("rare_only", steps=6)
    _, frozen = _controlled("freeze", steps=6)
    full, _ = _controlled("none", steps=6)
    assert any(not torch.equal(end[k], frozen[k]) for k in end)  # momentum still moves it
    rows = rare_only.set_index("step")
    assert rows.train_loss.loc[3:].isna().all() and rows.train_loss.loc[1:2].notna().all()
    # Its injection step trained on the 4 rare rows alone: another loss than the full batch's.
    assert rows.train_loss.loc[2] != full.set_index("step").train_loss.loc[2]


def test_controls_are_compared_at_matched_time_on_the_same_items(first_run):
    controls = pd.read_csv(first_run / "controls.csv")
    assert {"immediate (full)", "rise (full)", "rise (freeze)", "rise (rare_only)",
            "overwriting", "momentum"} <= set(controls.measure)
    # Frozen weights: the loss one step after an injection is the loss at the next one.
    frozen = controls[controls.measure == "rise (freeze)"]
    assert (frozen.value == 0).all() and len(frozen) == 3
    assert (controls.n == task_population("rare_comparison_4")).all()  # eval_n capped
    items = load_tables(first_run, ["items"])["items"]
    forget = items[items.experiment == "forget"]
    for row in controls[controls.measure == "overwriting"].itertuples():
        at = forget[forget.step == row.next_step].groupby("condition").loss.mean()
        assert row.value == pytest.approx(at["gap 4"] - at["gap 4 rare_only"], abs=1e-4)
    matched = pd.read_csv(first_run / "matched_time.csv")
    # One step after each gap's last injection: gap 1's at step 16, gap 4's at step 13.
    assert matched[["condition", "step_larger", "step_smaller"]].values.tolist() == [
        ["gap 4 vs gap 1", 13, 16]]


def test_noise_floor_comes_from_disjoint_halves(first_run):
    floor = pd.read_csv(first_run / "noise_floor.csv")
    assert set(floor.kind) == {"rare", "frequent"} and floor.halves.between(-1, 1).all()
    for row in floor[floor.kind == "rare"].itertuples():
        assert row.n_a + row.n_b == min(SMALL["grad_n"], task_population(row.task))
    task = get_task("rare_comparison_0", n="all")
    a, b = split_halves(task)
    ids_a, ids_b = {item_id(e) for e in a.examples}, {item_id(e) for e in b.examples}
    assert not ids_a & ids_b and ids_a | ids_b == {item_id(e) for e in task.examples}
    assert "Split-half noise floor" in (first_run / "FINDINGS.md").read_text()


def test_phase1_models_and_seeds_are_labelled(first_run):
    ladder = pd.read_csv(first_run / "ladder.csv").drop_duplicates("model").set_index("model")
    assert ladder.loc["suite/pythia-s1@step2000", "phase"] == "phase 1"
    assert ladder.loc["suite/pythia-s1", "phase"] == "ICL phase"
    assert (ladder.seed == 0).all()
    seeds = pd.read_csv(first_run / "seeds.csv")
    pooled = seeds[(seeds.model == "suite/pythia-s1") & (seeds.kind == "comparison")]
    items = load_tables(first_run, ["items"])["items"]
    mine = items[(items.experiment == "ladder") & (items.model == "suite/pythia-s1")
                 & items.task.str.startswith("rare_comparison")]
    assert pooled.accuracy.item() == pytest.approx(mine.correct.mean())
    assert "Phase-1 models" in (first_run / "FINDINGS.md").read_text()


def test_seed_steps_pair_seeds_and_call_no_trend_without_an_interval():
    rows = [dict(model=f"{s}-{k}", size=s, parameters=p, seed=k, kind="comparison", accuracy=a)
            for s, p, k, a in (("s1", 1, 0, 0.5), ("s1", 1, 1, 0.6), ("s2", 2, 0, 0.7),
                               ("s2", 2, 1, 0.72), ("s3", 3, 0, 0.9))]
    steps = seed_steps(pd.DataFrame(rows)).set_index("condition")
    assert steps.loc["s2 vs s1", "seeds"] == 2
    assert steps.loc["s2 vs s1", "delta"] == pytest.approx(0.16)
    assert steps.loc["s2 vs s1", "lo"] < 0.16 < steps.loc["s2 vs s1", "hi"]
    assert steps.loc["s3 vs s2", "seeds"] == 1 and pd.isna(steps.loc["s3 vs s2", "lo"])


def test_the_yardstick_gets_the_same_continued_training(first_run):
    recovery = pd.read_csv(first_run / "recovery.csv")
    reference = recovery[recovery.model == "suite/pythia-s2"]
    assert set(reference.variant) == {1} and reference.step.max() == SMALL["recovery_steps"]
    written = (first_run / "FINDINGS.md").read_text()
    assert "end vs pythia-s2 x1" in written
    assert any(v in written for v in ("**Supported**", "**Contradicted**", "**Cannot test**"))
