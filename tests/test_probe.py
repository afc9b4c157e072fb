"""The induction-plateau probe measures what it says: loss on the second copy of a span."""

from __future__ import annotations

import math
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


def test_plotting_without_probe_runs_names_the_command(tmp_path):
    from interp.suite.probe import plot_probes

    with pytest.raises(FileNotFoundError, match="python -m interp.suite probe"):
        plot_probes(tmp_path)
