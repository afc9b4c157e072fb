"""``python -m interp.suite train``: two phases, checkpoints, and resuming without a trace."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from interp.suite.__main__ import main
from interp.suite.train import ICL_PHASE_LR_SCALE, PEAK_LR, train_suite

TINY = dict(families=("pythia",), sizes=("s1",), steps=3, icl_steps=2, batch_size=2)


def weights(directory) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "model.safetensors"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    assert train_suite(out, **TINY) == ["pythia-s1", "pythia-s1-seed1"]  # s1 has a sibling seed
    return out


def test_the_icl_phase_follows_phase_one_and_phase_one_is_kept(trained):
    model = trained / "pythia-s1"
    info = json.loads((model / "train_info.json").read_text())
    assert info["step"] == 5 and info["schedule"]["steps"] == 3
    assert info["tokens_seen"] == 5 * 2 * 128
    phase = info["icl_phase"]
    assert phase["starts_from"] == "step3" and phase["schedule"]["steps"] == 2
    assert phase["schedule"]["lr"] == pytest.approx(PEAK_LR["s1"] * ICL_PHASE_LR_SCALE)
    assert [point["step"] for point in phase["icl_curve"]] == [3, 5]
    assert all(0 <= point[k] <= 1 for point in phase["icl_curve"]
               for k in ("icl@0", "icl@8", "arithmetic_add", "knowledge_cloze"))
    before, after = weights(model / "checkpoints" / "step3"), weights(model)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before), "the ICL phase trained"
    assert not list(trained.glob(".*")), "no temporary or hidden folder is left behind"


def test_a_finished_model_is_skipped(trained):
    assert train_suite(trained, **TINY) == []


def test_resuming_after_phase_one_matches_an_uninterrupted_run(trained, tmp_path):
    # An interruption during the ICL phase leaves only the hidden checkpoints folder.
    shutil.copytree(trained / "pythia-s1" / "checkpoints", tmp_path / ".pythia-s1.checkpoints")
    assert train_suite(tmp_path, **TINY, only=["pythia-s1"]) == ["pythia-s1"]
    resumed, uninterrupted = weights(tmp_path / "pythia-s1"), weights(trained / "pythia-s1")
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


def test_without_the_icl_phase_the_model_is_phase_one(tmp_path):
    train_suite(tmp_path, **dict(TINY, icl_steps=0), only=["pythia-s1"])
    model = tmp_path / "pythia-s1"
    assert "icl_phase" not in json.loads((model / "train_info.json").read_text())
    before, after = weights(model / "checkpoints" / "step3"), weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("flags", [["--icl-steps", "-1"], ["--steps", "0"]])
def test_cli_rejects_bad_step_counts(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *flags])
    assert exit_info.value.code == 2
    assert "--icl-steps at least 0" in capsys.readouterr().err


def test_the_card_shows_both_phases(trained):
    from interp.suite.card import write_card

    card = write_card(trained, n=2).read_text()
    row = next(line for line in card.splitlines() if line.startswith("| pythia-s1 |"))
    assert "| 3 + 2 |" in row and f"| {PEAK_LR['s1']:g} + {PEAK_LR['s1'] * ICL_PHASE_LR_SCALE:g} |" in row
    assert "`@step3`" in card and "Training has two phases" in card
    curve = next(line for line in card.split("## ICL during the ICL phase")[1].splitlines()
                 if line.startswith("| pythia-s1 |"))
    assert len(curve.split("|")) == 2 + 1 + 2, "one column per measured step"


def test_sibling_seeds_differ_from_seed_0_and_are_planned_per_family(trained):
    from interp.suite.train import plan

    assert [j.name for j in plan(("pythia",), ("s1",))] == ["pythia-s1", "pythia-s1-seed1"]
    assert [j.name for j in plan(("opt",), ("s1",))] == ["opt-s1"]  # pythia only, at s1
    info = json.loads((trained / "pythia-s1-seed1" / "train_info.json").read_text())
    assert info["seed"] == 1 and info["name"] == "pythia-s1-seed1"
    a, b = weights(trained / "pythia-s1"), weights(trained / "pythia-s1-seed1")
    assert any(not torch.equal(a[k], b[k]) for k in a), "another initialisation"


def test_the_card_rescores_only_the_models_named(trained):
    from interp.suite.card import write_card

    write_card(trained, n=2)
    table = trained / "results.csv"
    rows = table.read_text().splitlines()
    # A marker in seed 0's rows: a rescore of only the sibling must leave them as they are.
    marked = [rows[0]] + [",".join(r.split(",")[:5] + ["0.123", "9.0"])
                          if r.startswith("pythia-s1,") else r for r in rows[1:]]
    table.write_text("\n".join(marked) + "\n")
    card = write_card(trained, n=2, only=["pythia-s1-seed1"]).read_text()
    kept = [r for r in table.read_text().splitlines() if r.startswith("pythia-s1,")]
    assert kept and all(r.endswith(",0.123,9.0") for r in kept), "the others' rows are kept"
    assert "Sibling seeds (`-seed1`" in card and "pythia s1" in card
    with pytest.raises(ValueError, match="scored with n = 2, not 3"):
        write_card(trained, n=3, only=["pythia-s1-seed1"])


def test_icl_phase_rows_take_the_corpus_where_phase_one_stopped():
    from interp.suite.corpus import CorpusConfig, iter_sequences, suite_words
    from interp.suite.train import ICL_PHASE_SEGMENTS, icl_phase_rows
    from interp.tokenizer import build_word_tokenizer

    tokenizer = build_word_tokenizer(suite_words())
    config = CorpusConfig(seed=0)
    stream, reference = iter_sequences(config, tokenizer), iter_sequences(config, tokenizer)
    for _ in range(5):  # phase 1 took five rows
        next(stream), next(reference)
    rows = icl_phase_rows(tokenizer, 40, config, stream).tolist()
    following = [next(reference) for _ in range(40)]
    pure = round(ICL_PHASE_SEGMENTS[0][0] * 40)
    assert not any(row in following for row in rows[:pure]), "the first segment is ICL prompts only"
    corpus_rows = [row for row in rows[pure:] if row in following]
    assert 0 < len(corpus_rows) < 40 - pure
    assert corpus_rows == following[:len(corpus_rows)], "the corpus rows that follow, in order"
