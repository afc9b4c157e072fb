"""Masked fine-tuning: frozen tensors and frozen fused rows stay bit-identical; NaN stops the
run naming variant and step; saved variants are reused; the answer-only loss."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import interp
from interp.training.finetune import (
    FineTuneConfig,
    Variant,
    answer_loss,
    cell_key,
    encode_answers,
    fine_tune,
    fine_tuned,
    saved_meta,
    variants,
)
from interp.params import component_masks
from interp.runs.cache import ResultCache
from interp.tasks import get_task
from interp.training import NonFiniteLossError, Schedule, restrict_training, train_steps

TINY = FineTuneConfig(steps=4, batch_size=4, n_train=16, lr=1e-2, warmup=1)


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("model_name, trainable", [
    ("suite/pythia-s1", "v"), ("suite/pythia-s1", "qk"), ("suite/opt-s1", "qk"),
    ("suite/opt-s1", "o"), ("suite/pythia-s1", "q"), ("suite/pythia-s1", "k"),
    ("suite/opt-s1", "k"),
])
@pytest.mark.parametrize("few_shot", [False, True])
def test_frozen_elements_stay_bit_identical(model_name, trainable, few_shot):
    model = interp.load_hf_model(model_name)
    before = snapshot(model)
    variant = Variant(trainable, few_shot=few_shot)
    losses = fine_tune(model, variant, TINY)
    assert len(losses) == TINY.steps
    masks = component_masks(model, variant.components)
    moved = 0
    for name, p in model.named_parameters():
        mask = masks.get(name, torch.zeros_like(p, dtype=torch.bool))
        assert torch.equal(p[~mask], before[name][~mask]), f"frozen part of {name} moved"
        moved += int((p[mask] != before[name][mask]).sum())
    assert moved > 0, "the trainable elements must move"
    if model_name.startswith("suite/pythia") and trainable in ("v", "qk", "q", "k"):
        # The fused matrix is partly trained: frozen rows equal, trained rows changed.
        name = "gpt_neox.layers.0.attention.query_key_value.weight"
        rows = masks[name].all(1)
        assert torch.equal(model.get_parameter(name)[~rows], before[name][~rows])
        assert not torch.equal(model.get_parameter(name)[rows], before[name][rows])


def test_restrict_training_puts_everything_back():
    model = interp.load_hf_model("suite/pythia-s1")
    masks = component_masks(model, "v")
    with restrict_training(model, masks, weight_decay=0.1) as groups:
        trainable = {id(p) for g in groups for p in g["params"]}
        assert all(p.requires_grad == (id(p) in trainable) for p in model.parameters())
        assert [g["weight_decay"] for g in groups] == [0.0]  # only fused, partly masked tensors
    assert all(p.requires_grad for p in model.parameters())
    tokens = torch.tensor([[1, 5, 9, 14]])
    model(tokens, labels=tokens).loss.backward()
    qkv = model.get_parameter("gpt_neox.layers.0.attention.query_key_value.weight")
    # The gradient mask hook is gone: the Q and K rows get gradient again.
    assert qkv.grad[~masks["gpt_neox.layers.0.attention.query_key_value.weight"]].abs().sum() > 0


def test_nan_loss_names_variant_and_step():
    model = interp.load_hf_model("suite/pythia-s1")
    with torch.no_grad():
        model.get_parameter("gpt_neox.final_layer_norm.weight").fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"variant v\+fs \(seed 2\): loss is nan at step 0"):
        fine_tune(model, Variant("v", few_shot=True), TINY, seed=2)
    calls = []

    def loss_at(step):
        calls.append(step)
        return torch.tensor(float("nan") if step == 2 else 1.0, requires_grad=True)

    with pytest.raises(NonFiniteLossError, match="late: loss is nan at step 2"):
        train_steps(model, loss_at, Schedule(steps=5, warmup=1), trainable={}, label="late")
    assert calls == [0, 1, 2]


def test_saved_variants_are_reused_and_identical(tmp_path):
    variant = Variant("v")
    cache = ResultCache(tmp_path / "cells", study="finetune-test")

    def folder(config, seed=0):
        return cache.artifacts({**cache.model_key("suite/pythia-s1"),
                                **cell_key(variant, seed, config)})

    path = folder(TINY)
    first, reused = fine_tuned("suite/pythia-s1", variant, TINY, seed=0, path=path)
    assert not reused
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
    assert saved_meta(path)["variant"] == "v" and saved_meta(path)["seed"] == 0
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    again, reused = fine_tuned("suite/pythia-s1", variant, TINY, seed=0, path=path)
    assert reused
    for (name, a), (_, b) in zip(first.named_parameters(), again.named_parameters()):
        assert torch.equal(a, b), name
    base = interp.load_hf_model("suite/pythia-s1")
    assert any(not torch.equal(a, b) for a, b in zip(again.parameters(), base.parameters()))
    # Another configuration or seed is another cell; retraining the same one is deterministic.
    other = dataclasses.replace(TINY, steps=5)
    assert folder(other) != path and folder(TINY, seed=1) != path
    retrained, reused = fine_tuned("suite/pythia-s1", variant, TINY, seed=0, path=path,
                                   force=True)
    assert not reused
    assert not [p for p in path.parent.iterdir() if p.name.endswith((".tmp", ".old"))]
    for a, b in zip(first.parameters(), retrained.parameters()):
        assert torch.equal(a, b)


def test_answer_loss_scores_only_the_answer():
    model = interp.load_hf_model("suite/pythia-s1")
    task = get_task("icl_fixed", n=3, shots=2, split="train")
    batch = encode_answers(model.tokenizer, task)
    with torch.no_grad():
        loss = answer_loss(model, batch)
        manual = []
        for ids, start in batch:
            logits = model(torch.tensor([ids])).logits[0]
            logprobs = logits[start - 1 : len(ids) - 1].log_softmax(-1)
            manual += [-logprobs[i, t].item() for i, t in enumerate(ids[start:])]
    assert loss.item() == pytest.approx(sum(manual) / len(manual), rel=1e-5)


def test_variant_names_parse_and_list():
    assert [v.name for v in variants()] == ["all", "all+fs", "attn", "attn+fs", "qk", "qk+fs",
                                            "q", "q+fs", "k", "k+fs", "v", "v+fs", "o", "o+fs",
                                            "none"]
    assert Variant.parse("qk+fs") == Variant("qk", few_shot=True)
    with pytest.raises(ValueError, match="unknown trainable set 'kv'"):
        Variant.parse("kv")
    with pytest.raises(ValueError, match="only suffix"):
        Variant.parse("v+zs")


@pytest.mark.parametrize("model_name", ["suite/pythia-s1", "suite/opt-s1"])
def test_q_only_and_k_only_split_the_qk_set(model_name):
    # Paper B trains Q and K apart: their masks must be disjoint and together be Q/K's.
    model = interp.load_hf_model(model_name)
    q, k, qk = (component_masks(model, Variant(name).components) for name in ("q", "k", "qk"))
    assert set(q) | set(k) == set(qk)
    for name, mask in qk.items():
        one = q.get(name, torch.zeros_like(mask))
        other = k.get(name, torch.zeros_like(mask))
        assert not bool((one & other).any()), f"q and k both train part of {name}"
        assert torch.equal(one | other, mask)
    assert all(bool(m.any()) for m in q.values()) and q and k
