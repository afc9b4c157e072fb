"""interp.analysis.gradients on the smallest suite models: exact identities, group layout, errors."""

from __future__ import annotations

import random

import pytest
import torch

import interp
from interp.analysis import gradients as G
from interp.studies.task_interference import inject_blocks, mixture_sequences
from interp.params import group_slices
from interp.tasks import get_task
from interp.tasks.base import Task


@pytest.fixture(scope="module", params=["suite/pythia-s1", "suite/opt-s1"])
def model(request):
    return interp.load_hf_model(request.param)


@pytest.fixture(scope="module")
def rare_task():
    return get_task("rare_comparison_0", n=12, seed=0)


@pytest.fixture(scope="module")
def mixed_batch(model):
    name = model.interp_source.name
    batch = mixture_sequences(name, model.tokenizer, 4, seed=3, exclude=["rare_comparison_0"])
    return inject_blocks(batch, "rare_comparison_0", 1, model.tokenizer, random.Random(0))


def test_token_split_parts_sum_to_the_lm_gradient(model, mixed_batch):
    tokens, mask = mixed_batch
    g_task, g_other = G.token_split_gradient(model, tokens, mask)
    full = G.lm_gradient(model, tokens)
    for name, g in full.items():
        torch.testing.assert_close(g_task[name] + g_other[name], g, rtol=1e-4, atol=1e-7)
    # Both parts are real: neither is zero, and they are not the same direction.
    va, vb = G.group_vectors(model, g_task)["all"], G.group_vectors(model, g_other)["all"]
    assert va.norm() > 0 and vb.norm() > 0
    assert abs(G.cosine(va, vb)) < 0.99


def test_task_gradient_does_not_depend_on_batching(model, rare_task):
    one = G.task_gradient(model, rare_task, batch_size=64)
    chunked = G.task_gradient(model, rare_task, batch_size=5)
    for name in one:
        torch.testing.assert_close(one[name], chunked[name], rtol=1e-4, atol=1e-7)


def test_group_cosines_cover_every_group_and_self_is_one(model, rare_task):
    g = G.task_gradient(model, rare_task)
    table = G.group_cosines(model, g, g)
    assert list(table.group) == list(group_slices(model)) + ["all"]
    assert table.cosine.sub(1).abs().max() < 1e-6
    flipped = {n: -v for n, v in g.items()}
    assert G.group_cosines(model, g, flipped).cosine.add(1).abs().max() < 1e-6
    other = G.task_gradient(model, get_task("arithmetic_add", n=12, seed=0))
    cos = G.group_cosines(model, g, other).cosine
    assert cos.between(-1, 1).all() and (cos.abs() < 0.999).all()


def test_the_all_vector_is_every_grouped_element_once(model):
    g = {n: torch.randn_like(p) for n, p in model.named_parameters()}
    vectors = G.group_vectors(model, g)
    norms = sum(p.numel() for n, p in model.named_parameters() if "norm" not in n)
    assert vectors["all"].numel() == norms


def test_fused_qkv_gradient_lands_in_the_value_rows():
    """A gradient made only of V rows of the fused matrix is all in the group, all from V."""
    model = interp.load_hf_model("suite/pythia-s1")
    from interp.params import component_masks

    masks = component_masks(model, "v")
    name = "gpt_neox.layers.0.attention.query_key_value.weight"
    g = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    g[name] = masks[name].float()
    qkv = G.group_vectors(model, g, ["L0.attn_qkv"])["L0.attn_qkv"]
    assert qkv.sum().item() == masks[name].sum().item()
    # Real gradient: V rows of the fused weight do receive gradient through the HF model.
    task_grad = G.task_gradient(model, get_task("rare_comparison_0", n=8))[name]
    assert task_grad[masks[name].all(1)].abs().sum() > 0


def test_fisher_overlap_of_a_task_with_itself_is_total(model, rare_task):
    f = G.diagonal_fisher(model, rare_task)
    table = G.fisher_overlap(model, f, f, top_fraction=0.05)
    assert (table.jaccard == 1).all()
    assert (table.weighted_overlap.sub(1).abs() < 1e-9).all()
    other = G.diagonal_fisher(model, get_task("arithmetic_add", n=6, seed=0))
    cross = G.fisher_overlap(model, f, other, top_fraction=0.05).set_index("group")
    assert cross.loc["all", "jaccard"] < 1 and 0 < cross.loc["all", "weighted_overlap"] < 1


def test_clear_errors_for_missing_groups_and_empty_batches(model, rare_task):
    g = G.task_gradient(model, rare_task)
    with pytest.raises(ValueError, match="has no parameter group 'L7.mlp_in'"):
        G.group_cosines(model, g, g, ["L7.mlp_in"])
    tokens = torch.zeros(2, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="no task tokens"):
        G.token_split_gradient(model, tokens, torch.zeros(2, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="no gradients"):
        G.mean_gradient([])
    with pytest.raises(ValueError, match="top_fraction"):
        G.fisher_overlap(model, g, g, top_fraction=0)


def test_a_task_with_no_instances_is_refused(model):
    empty = Task.__new__(Task)  # bypass Task's own check: a loader could hand over anything
    object.__setattr__(empty, "name", "empty")
    object.__setattr__(empty, "examples", ())
    with pytest.raises(ValueError, match="no instances"):
        G.answer_batch(model.tokenizer, empty)
