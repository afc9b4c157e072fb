"""The induction-plateau probe measures what it says: loss on the second copy of a span."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pytest
import torch

from interp.suite.__main__ import main
from interp.suite.corpus import suite_words
from interp.suite.probe import held_out_spans, induction_probe, repeat_loss, repeat_sequences
from interp.tokenizer import build_word_tokenizer


@pytest.fixture(scope="module")
def tokenizer_and_words():
    words = sorted(suite_words())
    return build_word_tokenizer(set(words)), words


class LookBack(torch.nn.Module):
    """Predicts the token that followed the previous occurrence of the current token."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def forward(self, ids):
        logits = torch.zeros(*ids.shape, self.vocab)
        for b, row in enumerate(ids.tolist()):
            for t, token in enumerate(row):
                earlier = [i for i in range(t) if row[i] == token]
                if earlier:
                    logits[b, t, row[earlier[-1] + 1]] = 50.0
        return SimpleNamespace(logits=logits)


class Uniform(torch.nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def forward(self, ids):
        return SimpleNamespace(logits=torch.zeros(*ids.shape, self.vocab))


def test_repeat_loss_is_zero_for_a_lookback_and_ln_vocab_for_uniform(tokenizer_and_words):
    tokenizer, words = tokenizer_and_words
    spans = held_out_spans(tokenizer, words, 6, seed=3)
    half = spans.shape[1] // 2
    assert torch.equal(spans[:, :half], spans[:, half:]), "each row is one span written twice"
    loss, accuracy = repeat_loss(LookBack(len(tokenizer)), spans)
    assert loss < 1e-6 and accuracy == 1.0
    loss, _ = repeat_loss(Uniform(len(tokenizer)), spans)
    assert loss == pytest.approx(math.log(len(tokenizer)), abs=1e-5)


def test_training_sequences_are_packed_repeats(tokenizer_and_words):
    tokenizer, words = tokenizer_and_words
    sequences = repeat_sequences(tokenizer, words, 4, seq_len=64, seed=0)
    assert sequences.shape == (4, 64)
    assert torch.equal(sequences, repeat_sequences(tokenizer, words, 4, seq_len=64, seed=0))
    first_doc = sequences[0].tolist()
    first_doc = first_doc[: first_doc.index(tokenizer.eos_token_id)]
    span = len(set(first_doc))
    assert len(first_doc) in (2 * span, 3 * span)
    assert first_doc == first_doc[:span] * (len(first_doc) // span)


def test_an_untrained_shape_starts_at_the_no_lookback_loss():
    points = induction_probe("opt", "s1", steps=6, eval_every=3)
    assert [p.step for p in points] == [0, 3, 6]
    start = points[0]
    assert abs(start.repeat_loss - start.no_lookback_loss) < 0.3
    assert math.isnan(start.train_loss) and all(math.isfinite(p.train_loss) for p in points[1:])


def test_probe_cli_rejects_an_unknown_shape(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["probe", "--family", "gpt2"])
    assert exit_.value.code == 2
    assert "--family must be one of pythia, opt" in capsys.readouterr().err


def test_probe_cli_writes_the_points_and_the_figure(tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "induction_probe_pythia-s1.csv"
    assert main(["probe", "--size", "s1", "--steps", "4", "--eval-every", "2", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["step"].tolist() == [0, 2, 4]
    assert table["no_lookback_loss"].eq(round(math.log(len(suite_words())), 4)).all()
    assert "induction_probe.png" in capsys.readouterr().out


@pytest.mark.parametrize("plot, command", [
    ("plot_probes", "`python -m interp.suite probe`"),
    ("plot_icl_probes", "`python -m interp.suite probe --data icl`"),
])
def test_plotting_without_probe_runs_names_the_command(tmp_path, plot, command):
    from interp.suite import probe

    with pytest.raises(FileNotFoundError, match=re.escape(command)):
        getattr(probe, plot)(tmp_path)


class PromptLookBack(torch.nn.Module):
    """Reads an ICL prompt by lookup: after ``word - >`` (three tokens) predicts what followed
    the same three tokens earlier; with no earlier occurrence, nothing (all logits equal)."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.unused = torch.nn.Parameter(torch.zeros(1))  # score_task asks for a device

    def forward(self, ids):
        logits = torch.zeros(*ids.shape, self.vocab)
        for b, row in enumerate(ids.tolist()):
            for t in range(2, len(row)):
                earlier = [s for s in range(t - 2) if row[s:s + 3] == row[t - 2:t + 1]]
                if earlier:
                    logits[b, t, row[earlier[-1] + 3]] = 50.0
        return SimpleNamespace(logits=logits)


def test_icl_scores_give_a_lookup_reader_8_shots_right_and_chance_at_0(tokenizer_and_words):
    from interp.suite.probe import icl_scores

    tokenizer, _ = tokenizer_and_words
    zero, eight = icl_scores(PromptLookBack(len(tokenizer)), tokenizer, n=40)
    assert eight == 1.0, "every 8-shot prompt shows the query word once, so lookup answers it"
    assert zero == 0.5, "with nothing to look up, the reader cannot beat the balanced chance"


def test_icl_training_rows_are_long_prompts_or_the_suite_corpus(tokenizer_and_words):
    from interp.suite.corpus import CorpusConfig, iter_sequences
    from interp.suite.corpus import icl_sequences

    tokenizer, _ = tokenizer_and_words
    arrow = tokenizer.convert_tokens_to_ids(">")  # "->" is the two tokens "-" ">"
    rows = icl_sequences(tokenizer, 3, seq_len=128, seed=0)
    assert (rows == arrow).sum(1).min() >= 16, "one long prompt fills most of a row"
    corpus = iter_sequences(CorpusConfig(seed=0), tokenizer)
    expected = torch.tensor([next(corpus)[:128] for _ in range(3)])
    assert torch.equal(icl_sequences(tokenizer, 3, seq_len=128, seed=0, icl_fraction=0.0), expected)
    mixed = icl_sequences(tokenizer, 40, seq_len=128, seed=0, icl_fraction=0.5)
    prompts = int(((mixed == arrow).sum(1) >= 16).sum())
    assert 10 <= prompts <= 30, f"{prompts} of 40 rows are ICL prompts at icl_fraction 0.5"
    with pytest.raises(ValueError, match="icl_fraction"):
        icl_sequences(tokenizer, 1, seq_len=128, seed=0, icl_fraction=1.5)


def test_pythia_rotary_share_is_a_knob_and_opt_refuses_it():
    from interp.suite.models import SIZES, build_model

    head_dim = SIZES["s3"].d_model // SIZES["s3"].n_heads
    full = build_model("pythia", "s3", vocab_size=50, seed=0, special={}, rotary_pct=1.0)
    default = build_model("pythia", "s3", vocab_size=50, seed=0, special={})
    assert full.gpt_neox.rotary_emb.inv_freq.numel() == head_dim // 2
    assert default.gpt_neox.rotary_emb.inv_freq.numel() < head_dim // 2
    with pytest.raises(ValueError, match="pythia only"):
        build_model("opt", "s3", vocab_size=50, seed=0, special={}, rotary_pct=1.0)


def test_icl_probe_cli_writes_points_and_rejects_rotary_for_opt(tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "icl_probe_pythia-s1-rot1.csv"
    assert main(["probe", "--data", "icl", "--size", "s1", "--rotary-pct", "1", "--steps", "2",
                 "--eval-every", "1", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["step"].tolist() == [0, 1, 2]
    assert table[["icl_0shot", "icl_8shot"]].stack().between(0, 1).all()
    assert "icl_probe.png" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["probe", "--data", "icl", "--family", "opt", "--rotary-pct", "1"])
    assert exit_.value.code == 2
    assert "OPT has no rotary" in capsys.readouterr().err


def test_icl_probe_can_start_from_a_trained_model(monkeypatch, capsys):
    import interp.suite.probe as probe
    from interp.suite.probe import icl_probe, icl_scores

    loaded = []
    real = probe.load_hf_model
    monkeypatch.setattr(probe, "load_hf_model",
                        lambda name, **kw: loaded.append(real(name, **kw)) or loaded[-1])
    points = icl_probe("opt", "s5", steps=1, eval_every=1, n_eval=40, start="suite/pythia-s1")
    start = real("suite/pythia-s1")
    assert type(loaded[0]).__name__ == "GPTNeoXForCausalLM", "the start model, not a fresh opt-s5"
    assert (points[0].icl_0shot, points[0].icl_8shot) == icl_scores(start, start.tokenizer, n=40)
    with pytest.raises(ValueError, match="a start model keeps its own"):
        icl_probe("pythia", "s1", steps=1, rotary_pct=1.0, start="suite/pythia-s1")
    with pytest.raises(SystemExit):
        main(["probe", "--start", "suite/pythia-s1"])  # the induction probe has no start
    assert "--start needs --data icl" in capsys.readouterr().err
