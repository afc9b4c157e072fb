"""param_slices / component_masks on GPT-NeoX (fused QKV rows) and OPT (separate projections)."""

from __future__ import annotations

import pytest
import torch

import interp
from interp.params import COMPONENTS, component_masks, expand_components, param_slices

QKV = "gpt_neox.layers.{}.attention.query_key_value.weight"


@pytest.fixture(scope="module")
def pythia():
    return interp.load_hf_model("suite/pythia-s2")  # 2 layers, 2 heads, d_model 24


@pytest.fixture(scope="module")
def opt():
    return interp.load_hf_model("suite/opt-s2")


def test_fused_rows_follow_the_per_head_layout(pythia):
    n_heads = pythia.config.num_attention_heads
    d_head = pythia.config.hidden_size // n_heads
    weight = pythia.get_parameter(QKV.format(1))
    # The layout the HF forward uses: view(n_heads, 3 * d_head, hidden), then q | k | v.
    by_head = torch.arange(weight.shape[0]).view(n_heads, 3 * d_head)
    for i, component in enumerate(("q", "k", "v")):
        rows = component_masks(pythia, component)[QKV.format(1)].all(1).nonzero().flatten()
        expected = by_head[:, i * d_head : (i + 1) * d_head].flatten()
        assert rows.tolist() == expected.tolist(), component


def test_q_k_v_partition_the_fused_matrix_and_bias(pythia):
    for suffix in ("weight", "bias"):
        name = QKV.format(0).replace("weight", suffix)
        masks = [component_masks(pythia, c)[name] for c in ("q", "k", "v")]
        total = sum(m.long() for m in masks)
        assert (total == 1).all(), "every fused element belongs to exactly one of q, k, v"
        if suffix == "weight":  # a whole row is in or out: masks never split a row
            assert all(bool((m.all(-1) | ~m.any(-1)).all()) for m in masks)


def test_opt_projections_are_whole_tensors(opt):
    masks = component_masks(opt, "v")
    assert masks, "opt has value projections"
    assert all(".self_attn.v_proj." in name for name in masks)
    assert all(bool(m.all()) for m in masks.values())
    assert len(masks) == 2 * opt.config.num_hidden_layers  # weight and bias per layer
    qk = component_masks(opt, "qk")
    assert {n.split(".")[-2] for n in qk} == {"q_proj", "k_proj"}


def test_shorthands_layers_and_coverage(pythia, opt):
    assert component_masks(pythia, "none") == {}
    for model in (pythia, opt):
        everything = component_masks(model, "all")
        names = [n for n, _ in model.named_parameters()]
        assert sorted(everything) == sorted(names)
        assert all(bool(m.all()) for m in everything.values())
    layer1 = component_masks(pythia, "attn", layers=[1])
    assert layer1 and all(".layers.1." in name for name in layer1)
    assert expand_components("attn") == ("q", "k", "v", "o")
    assert {s.component for s in param_slices(opt)} == set(COMPONENTS)


def test_unknown_component_is_a_clear_error(pythia):
    with pytest.raises(ValueError, match="unknown parameter component 'values'"):
        component_masks(pythia, "values")


def test_value_rows_agree_with_the_patching_code(pythia):
    from interp.arch import arch_of

    rows = component_masks(pythia, "v")[QKV.format(0)].all(1).nonzero().flatten()
    assert rows.tolist() == list(arch_of(pythia).value_rows(pythia.config))
    # Per head [q, k, v]: head 0's V rows start after its q and k rows.
    d_head = pythia.config.hidden_size // pythia.config.num_attention_heads
    assert rows[0].item() == 2 * d_head
