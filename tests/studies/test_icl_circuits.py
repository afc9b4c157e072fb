"""studies/icl_circuits.py end to end on pythia-s1, the QK / V patching engines, and the toy."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

import interp
from interp.training.finetune import FineTuneConfig, Variant, fine_tune
from interp.analysis.patching import gap_fraction, icl_head_scores, patch_sweep
from interp.interventions import ValueSwap
from interp.interventions.pattern_swap import PatternSwap
from interp.tasks import get_task

SCRIPT = Path(__file__).resolve().parents[2] / "studies" / "icl_circuits.py"
SMALL = ["--models", "suite/pythia-s1", "--n", "8", "--seeds", "2", "--steps", "3",
         "--shots", "0", "2", "--variants", "v", "qk", "none", "--attribution", "v",
         "--toy-seeds", "2", "--toy-steps", "20", "5", "--toy-eval-prompts", "50"]
TINY = FineTuneConfig(steps=4, batch_size=4, n_train=16, lr=1e-2, warmup=1)
TOKENS = torch.tensor([[1, 5, 9, 14, 22, 30, 7], [1, 8, 8, 19, 4, 11, 6]])


def study():
    spec = importlib.util.spec_from_file_location("icl_circuits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("icl")
    assert study().main(SMALL + ["--out", str(out)]) == 0
    return out


def test_outputs_columns_and_captions(first_run):
    results = pd.read_csv(first_run / "results.csv")
    assert list(results.columns) == study().RESULT_COLUMNS
    # 4 trained variants x 2 seeds + the base copied to both seeds; 3 tasks x 2 shot counts.
    assert len(results) == (4 * 2 + 2) * 3 * 2
    assert set(results.role) == {"target", "heldout"}
    for stem in ("accuracy_vs_shots", "preserved", "attribution_heatmap", "toy_mse_vs_shots"):
        assert (first_run / f"{stem}.png").stat().st_size > 10_000
        assert (first_run / f"{stem}.pdf").is_file()
    captions = (first_run / "CAPTIONS.md").read_text()
    assert captions.count("**") == 8
    record = json.loads((first_run / "results.json").read_text())
    assert record["config"]["n"] == 8 and record["cells"]["weights_trained"] == 8
    weights = list((first_run / "cells" / "weights" / "suite--pythia-s1").iterdir())
    assert len(weights) == 8 and all((w / "config.json").is_file() for w in weights)


def test_preserved_is_relative_to_the_base(first_run):
    preserved = pd.read_csv(first_run / "preserved.csv")
    base = preserved[preserved.variant == "none"]
    assert (base.preserved == 100).all() and len(base) == 3
    results = pd.read_csv(first_run / "results.csv")
    row = preserved[(preserved.variant == "v") & (preserved.task == "icl_heldout")].iloc[0]
    cell = results[(results.variant == "v") & (results.task == "icl_heldout") & (results.shots > 0)]
    base_acc = results[(results.variant == "none") & (results.task == "icl_heldout")
                       & (results.shots > 0)].accuracy.mean()
    assert row.preserved == pytest.approx(100 * cell.accuracy.mean() / base_acc)
    assert row.ci_low <= row.preserved <= row.ci_high and row.seeds == 2


def test_attribution_and_toy_tables(first_run):
    attribution = pd.read_csv(first_run / "attribution.csv")
    assert set(attribution.direction) == {"restore", "break"}
    assert set(attribution.site) == {"qk", "v"} and set(attribution.metric) == {"loss", "accuracy"}
    # pythia-s1 has one layer and "v" trains only V: patching V back restores everything,
    # patching the (unchanged) pattern restores nothing.
    loss = attribution[(attribution.metric == "loss") & (attribution.gap.abs() > 1e-3)]
    assert not loss.empty
    assert loss[loss.site == "v"].fraction.to_numpy() == pytest.approx(1.0, abs=1e-3)
    assert loss[loss.site == "qk"].fraction.to_numpy() == pytest.approx(0.0, abs=1e-3)
    heads = pd.read_csv(first_run / "icl_heads.csv")
    assert set(heads.model_state) == {"base", "v"}
    assert ((heads.answer_attention <= heads.label_attention + 1e-9)
            & (heads.label_attention <= 1 + 1e-6)).all()
    toy = pd.read_csv(first_run / "toy.csv")
    assert set(toy.task) == {"theta0", "-theta0"} and toy.shots.max() == 20
    assert len(set(toy.variant)) == 11 and (toy.mse > 0).all()


def test_rerun_reuses_weights_and_cells_and_reproduces(first_run, capsys):
    before = {n: pd.read_csv(first_run / n) for n in ("results.csv", "attribution.csv")}
    capsys.readouterr()
    assert study().main(SMALL + ["--out", str(first_run)]) == 0
    assert "0 trained, 0 loaded; 0 cells computed" in capsys.readouterr().out
    for name, table in before.items():
        pd.testing.assert_frame_equal(pd.read_csv(first_run / name), table)
    # Without the result cells every number is recomputed from the saved weights (none
    # retrained) and comes out the same. (Retraining is bitwise deterministic too: see
    # tests/test_finetune.py::test_saved_variants_are_reused_and_identical.)
    for cell in (first_run / "cells").glob("*.json"):
        cell.unlink()
    capsys.readouterr()
    assert study().main(SMALL + ["--out", str(first_run)]) == 0
    assert "0 trained, 8 loaded; 11 cells computed" in capsys.readouterr().out
    for name, table in before.items():
        pd.testing.assert_frame_equal(pd.read_csv(first_run / name), table)


@pytest.mark.parametrize("flags, message", [
    (["--variants", "kv", "none"], "unknown trainable set 'kv'"),
    (["--variants", "v"], "must include 'none'"),
    (["--target-task", "icl_heldout"], "only a 'test' split"),
    (["--heldout-tasks", "icl_hedlout"], "icl_heldout"),
    (["--shots", "2", "4"], "--shots must include 0"),
    (["--tasks", "icl"], "takes --target-task"),
])
def test_bad_input_is_one_line(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study().main(["--models", "suite/pythia-s1", *flags, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and message in err


def test_nan_loss_stops_the_study_naming_variant_and_step(tmp_path, capsys):
    # A learning rate this large overflows the weights within a few steps.
    code = study().main(["--models", "suite/pythia-s1", "--n", "4", "--seeds", "1", "--steps",
                         "30", "--lr", "1e30", "--variants", "all", "none", "--toy-seeds", "0",
                         "--out", str(tmp_path)])
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert code == 2
    assert last.startswith("error: variant all (seed 0): loss is") and " at step " in last
    assert not list((tmp_path / "cells" / "weights").rglob("config.json")), "nothing saved"


@pytest.mark.parametrize("name", ["suite/pythia-s1", "suite/opt-s1"])
def test_patching_engines_are_exact_where_they_must_be(name):
    """One-layer models: V-only tuning changes only V, Q/K-only tuning only the pattern."""
    base = interp.load_hf_model(name)
    reference = PatternSwap.base(base)(TOKENS)
    assert torch.equal(ValueSwap(base, base, layers=[0])(TOKENS), reference)
    tuned_v = interp.load_hf_model(name)
    fine_tune(tuned_v, Variant("v"), TINY)
    tuned_logits = PatternSwap.base(tuned_v)(TOKENS)
    assert not torch.allclose(tuned_logits, reference, atol=1e-4)
    torch.testing.assert_close(ValueSwap(tuned_v, base, layers=[0])(TOKENS), reference,
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(PatternSwap(tuned_v, base, layers=[0])(TOKENS), tuned_logits,
                               atol=1e-5, rtol=0)
    tuned_qk = interp.load_hf_model(name)
    fine_tune(tuned_qk, Variant("qk"), TINY)
    torch.testing.assert_close(PatternSwap(tuned_qk, base, layers=[0])(TOKENS), reference,
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(ValueSwap(tuned_qk, base, layers=[0])(TOKENS),
                               PatternSwap.base(tuned_qk)(TOKENS), atol=1e-5, rtol=0)
    # Hooks are removed after use: the models run as before.
    assert not any(m._forward_hooks for m in tuned_v.modules())


def test_gap_fraction_and_head_scores_on_a_tuned_model():
    base = interp.load_hf_model("suite/pythia-s1")
    tuned = interp.load_hf_model("suite/pythia-s1")
    fine_tune(tuned, Variant("v"), TINY)
    task = get_task("icl_fixed_flipped", n=6, shots=4)
    sweep = patch_sweep(base, tuned, [task])
    cells = gap_fraction(sweep, "loss")
    assert len(cells) == 2 * 2 * 1  # directions x sites x layers
    restore_v = cells[(cells.direction == "restore") & (cells.site == "v")].iloc[0]
    assert restore_v.fraction == pytest.approx(1.0, abs=1e-4)
    scores = icl_head_scores(base, task)
    assert len(scores) == base.config.num_attention_heads
    assert ((scores.label_attention > 0) & (scores.label_attention <= 1 + 1e-6)).all()
    with pytest.raises(ValueError, match="shots >= 1"):
        icl_head_scores(base, get_task("icl_fixed_flipped", n=4, shots=0))
