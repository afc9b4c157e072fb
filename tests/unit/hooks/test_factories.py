"""Pure-tensor tests of the hook factories in ``hooks``: no model, a fake hook point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import hooks
from hooks import PatternError

REPO = Path(__file__).resolve().parents[3]
BATCH, HEADS, LEN, D_HEAD = 2, 3, 5, 4


def hook_at(layer: int = 1, point: str = "attn.hook_pattern") -> SimpleNamespace:
    return SimpleNamespace(name=f"blocks.{layer}.{point}")


def causal_pattern(*, query: int = LEN, key: int = LEN, seed: int = 0) -> torch.Tensor:
    """A softmax pattern with the causal mask, as the model makes it."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(BATCH, HEADS, query, key, generator=g)
    return scores.masked_fill(hooks.future_mask(query, key), float("-inf")).softmax(-1)


def head_activation(seed: int = 0) -> torch.Tensor:
    return torch.randn(BATCH, LEN, HEADS, D_HEAD, generator=torch.Generator().manual_seed(seed))


def assert_valid(pattern: torch.Tensor) -> None:
    query, key = pattern.shape[-2:]
    assert (pattern[..., hooks.future_mask(query, key)] == 0).all()
    torch.testing.assert_close(pattern.sum(-1), torch.ones(pattern.shape[:-1]))


# --- validation ---------------------------------------------------------------------------


def test_valid_patterns_pass():
    hooks.validate_pattern(causal_pattern())
    hooks.validate_pattern(causal_pattern(query=2, key=6))  # queries at the end of a KV cache
    hooks.validate_pattern(causal_pattern().half(), like=causal_pattern())


def test_left_padded_rows_pass():
    # Batch row 0 has 2 pad tokens: real queries see only real keys, pad queries see pad keys.
    pattern = causal_pattern()
    real = pattern[0, :, 2:, 2:].clone()
    pattern[0] = 0
    pattern[0, :, 2:, 2:] = real / real.sum(-1, keepdim=True)
    pattern[0, :, 0, 0] = 1
    pattern[0, :, 1, :2] = 0.5
    hooks.validate_pattern(pattern)


def test_fully_masked_padding_rows_are_skipped_given_the_live_pattern():
    # HF eager softmax spreads a fully masked (padding) query row over every key;
    # TransformerLens compatibility mode zeroes it instead.
    live = causal_pattern()
    live[0, :, 0] = 1 / LEN
    live[1, :, 0] = 0
    with pytest.raises(PatternError, match="not causal"):
        hooks.validate_pattern(live)
    hooks.validate_pattern(live, like=live)
    donor = causal_pattern(seed=1)
    donor[0, :, 0] = 1 / LEN
    hooks.validate_pattern(donor, like=live)
    # An earlier edit of one head at the same hook point does not hide the padding ...
    edited = live.clone()
    edited[:, 0] = causal_pattern(seed=2)[:, 0]
    hooks.validate_pattern(donor, like=edited)
    # ... and a scaled (un-normalised) head does not pass for padding.
    scaled = causal_pattern()
    scaled[:, 0] *= 2
    with pytest.raises(PatternError, match="not causal"):
        hooks.validate_pattern(donor, like=scaled)


def test_wrong_shape_names_both_shapes():
    both_shapes = r"shape \(2, 3, 5, 5\) but the live .* has \(2, 3, 6, 6\)"
    with pytest.raises(PatternError, match=both_shapes):
        hooks.validate_pattern(causal_pattern(), like=causal_pattern(query=6, key=6))
    with pytest.raises(PatternError, match=r"shape \(3, 5, 5\), expected 4 dims"):
        hooks.validate_pattern(causal_pattern()[0])


def test_more_queries_than_keys_is_refused():
    with pytest.raises(PatternError, match="at least as many keys"):
        hooks.validate_pattern(torch.ones(1, 1, 3, 2) / 2)


@pytest.mark.parametrize(
    ("bad", "message"), [(float("nan"), "1 NaN and 0 inf"), (float("inf"), "0 NaN and 1 inf")]
)
def test_non_finite_is_refused(bad, message):
    pattern = causal_pattern()
    pattern[1, 2, 3, 0] = bad
    with pytest.raises(PatternError, match=message) as err:
        hooks.validate_pattern(pattern)
    assert "batch 1, head 2, query 3" in str(err.value)


def test_negative_entries_are_refused():
    pattern = causal_pattern()
    pattern[0, 1, 4] = torch.tensor([-0.25, 1.25, 0.0, 0.0, 0.0])  # still sums to 1
    with pytest.raises(PatternError, match="negative entries") as err:
        hooks.validate_pattern(pattern)
    assert "batch 0, head 1, query 4" in str(err.value)


def test_future_weight_is_refused_with_the_key_offset():
    pattern = causal_pattern(query=2, key=4)
    hooks.validate_pattern(pattern)
    # Query 0 of 2 may see keys 0..2 of 4; key 3 is its future.
    pattern[1, 0, 0] = torch.tensor([0.25, 0.25, 0.25, 0.25])
    with pytest.raises(PatternError, match="not causal") as err:
        hooks.validate_pattern(pattern)
    assert "batch 1, head 0, query 0" in str(err.value)
    assert "weight 0.25" in str(err.value)


def test_unnormalised_rows_report_the_worst_sum():
    pattern = causal_pattern()
    pattern[0, 0, 2] *= 0.9
    pattern[1, 2, 3] *= 0.5
    with pytest.raises(PatternError, match="worst row sums to 0.5 at batch 1, head 2, query 3"):
        hooks.validate_pattern(pattern)
    pattern[1, 2, 3] *= 2
    pattern[0, 0, 2] /= 0.9
    hooks.validate_pattern(pattern)


def test_hook_without_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="has no layer"):
        hooks.layer_of(SimpleNamespace(name="hook_embed"))
    with pytest.raises(ValueError, match="has no name"):
        hooks.layer_of(SimpleNamespace(name=None))
    assert hooks.layer_of(hook_at(12)) == 12


def test_bridge_names_map_to_transformer_lens_names():
    # A TransformerBridge fires hook_z as blocks.L.attn.o.hook_in, and hook.name says so.
    assert hooks.hook_name(hook_at(3, "attn.o.hook_in")) == "blocks.3.attn.hook_z"
    assert hooks.hook_name(hook_at(0, "attn.q.hook_out")) == "blocks.0.attn.hook_q"
    assert hooks.hook_name(hook_at(0, "hook_in")) == "blocks.0.hook_in"
    assert hooks.head_axis_of(hook_at(0, "attn.v.hook_out")) == 2
    assert hooks.head_axis_of(hook_at(0, "attn.hook_attn_scores")) == 1


# --- pattern factories --------------------------------------------------------------------


def test_capture_stores_a_copy_and_keeps_the_tensor():
    store: dict = {}
    live = causal_pattern()
    assert hooks.capture(store)(live, hook_at(2)) is None
    hooks.capture(store, to=torch.float16)(live, hook_at(3))
    live.zero_()  # a later in-place edit at the same point
    assert torch.equal(store["blocks.2.attn.hook_pattern"], causal_pattern())
    assert store["blocks.3.attn.hook_pattern"].dtype == torch.float16
    hooks.capture(store)(head_activation(), hook_at(2, "attn.o.hook_in"))
    assert "blocks.2.attn.hook_z" in store


def test_replace_pattern_casts_validates_and_never_mutates():
    live, donor = causal_pattern(), causal_pattern(seed=1).double()
    before = live.clone()
    out = hooks.replace_pattern(donor)(live, hook_at())
    assert out.dtype == live.dtype and torch.equal(out, donor.float())
    assert torch.equal(live, before)
    same_dtype = causal_pattern(seed=2)
    hooks.replace_pattern(same_dtype)(live, hook_at()).zero_()  # a later in-place hook
    assert same_dtype.sum() > 0  # the returned tensor is never the caller's donor
    with pytest.raises(PatternError, match="not causal"):
        hooks.replace_pattern(torch.full_like(live, 1 / LEN))(live, hook_at())
    unchecked = hooks.replace_pattern(torch.full_like(live, 1 / LEN), validate=False)
    assert unchecked(live, hook_at()) is not None


def test_per_layer_dict_picks_the_hooks_layer():
    live = causal_pattern()
    by_layer = {0: causal_pattern(seed=10), 1: causal_pattern(seed=11)}
    assert torch.equal(hooks.replace_pattern(by_layer)(live, hook_at(1)), by_layer[1])
    by_name = {"blocks.0.attn.hook_pattern": by_layer[0]}
    assert torch.equal(hooks.replace_pattern(by_name)(live, hook_at(0)), by_layer[0])
    with pytest.raises(LookupError, match=r"layer 3 .*keys \[0, 1\]"):
        hooks.replace_pattern(by_layer)(live, hook_at(3))
    made = hooks.replace_pattern(lambda p, hook: by_layer[hooks.layer_of(hook)])(live, hook_at(0))
    assert torch.equal(made, by_layer[0])


def test_interpolate_endpoints_are_exact_and_half_is_the_mean():
    live, donor = causal_pattern(), causal_pattern(seed=1)
    assert torch.equal(hooks.interpolate_pattern(donor, 0.0)(live, hook_at()), live)
    assert torch.equal(hooks.interpolate_pattern({1: donor}, 1.0)(live, hook_at()), donor)
    halfway = hooks.interpolate_pattern(donor, 0.5)(live, hook_at())
    torch.testing.assert_close(halfway, (live + donor) / 2)
    for alpha in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
            hooks.interpolate_pattern(donor, alpha)


def test_uniform_pattern_is_causal_normalised_and_uniform():
    live = causal_pattern(query=3, key=5).double()
    out = hooks.uniform_pattern()(live, hook_at())
    assert out.shape == live.shape and out.dtype == live.dtype and out.is_contiguous()
    assert_valid(out.float())
    third = 1 / 3  # query 0 of 3 sees keys 0..2 of 5
    assert torch.equal(out[0, 0, 0], torch.tensor([third, third, third, 0, 0], dtype=torch.float64))


def test_random_pattern_is_valid_and_deterministic_per_seed_and_layer():
    live = causal_pattern(query=4, key=6)
    draw = lambda seed, layer: hooks.random_pattern(seed)(live, hook_at(layer))  # noqa: E731
    assert_valid(draw(0, 1))
    hooks.validate_pattern(draw(0, 1), like=live)
    assert torch.equal(draw(0, 1), draw(0, 1))
    assert not torch.equal(draw(0, 1), draw(0, 2))
    assert not torch.equal(draw(0, 1), draw(1, 1))


def test_replace_scores_remasks_the_future_and_keeps_padding_masked():
    big = torch.finfo(torch.float32).min
    live = torch.randn(BATCH, HEADS, LEN, LEN).masked_fill(hooks.future_mask(LEN, LEN), big)
    live[0, :, :, 0] = float("-inf")  # a padding key, masked as in compatibility mode
    scores_hook = hook_at(point="attn.hook_attn_scores")
    out = hooks.replace_scores(torch.full_like(live, 7.0))(live, scores_hook)
    future = hooks.future_mask(LEN, LEN)
    assert (out[..., future] == big).all()
    assert (out[0, :, :, 0] == float("-inf")).all()
    assert (out[1][..., ~future] == 7.0).all()
    assert (out[0, :, :, 1:][..., ~future[:, 1:]] == 7.0).all()
    unmasked_live = torch.randn(BATCH, HEADS, LEN, LEN)  # even if the live scores leak the future
    out = hooks.replace_scores(torch.zeros_like(live))(unmasked_live, scores_hook)
    assert (out[..., future] == big).all() and (out[..., ~future] == 0).all()
    with pytest.raises(PatternError, match="NaN or \\+inf"):
        hooks.replace_scores(torch.full_like(live, float("nan")))(live, scores_hook)


# --- head factories -----------------------------------------------------------------------


def test_ablate_touches_only_the_named_heads():
    z = head_activation()
    zeroed = hooks.ablate_heads([1])(z, hook_at(point="attn.hook_z"))
    assert (zeroed[:, :, 1] == 0).all()
    assert torch.equal(zeroed[:, :, [0, 2]], z[:, :, [0, 2]])
    meaned = hooks.ablate_heads({4: [2]}, mode="mean")(z, hook_at(4, "attn.hook_z"))
    assert torch.allclose(meaned[:, :, 2], z[:, :, 2].mean(dim=(0, 1)).expand(BATCH, LEN, D_HEAD))
    assert torch.equal(meaned[:, :, :2], z[:, :, :2])
    assert hooks.ablate_heads({4: [2]})(z, hook_at(3, "attn.hook_z")) is None
    assert hooks.ablate_heads([2], layer=4)(z, hook_at(3, "attn.hook_z")) is None


def test_ablate_on_patterns_uses_the_head_axis_and_stays_valid():
    live = causal_pattern()
    out = hooks.ablate_heads([0], mode="mean")(live, hook_at())
    torch.testing.assert_close(out[:, 0], live[:, 0].mean(0).expand(BATCH, LEN, LEN))
    assert torch.equal(out[:, 1:], live[:, 1:])
    hooks.validate_pattern(out, like=live)


def test_mean_ablated_pattern_stays_causal_under_left_padding():
    live = causal_pattern()
    live[0, :, 0] = 1 / LEN  # a padded query: the model spreads its row over every key
    out = hooks.ablate_heads([1], mode="mean")(live, hook_at())
    assert_valid(out[:, 1])
    assert torch.equal(out[:, [0, 2]], live[:, [0, 2]])


def test_mean_ablated_scores_do_not_overflow_to_minus_inf():
    masked = torch.finfo(torch.float32).min
    scores = torch.randn(BATCH, HEADS, LEN, LEN).masked_fill(hooks.future_mask(LEN, LEN), masked)
    out = hooks.ablate_heads([0], mode="mean")(scores, hook_at(point="attn.hook_attn_scores"))
    assert not torch.isinf(out).any()
    assert (out[:, 0][..., hooks.future_mask(LEN, LEN)] == masked).all()


def test_head_out_of_range_names_n_heads():
    with pytest.raises(IndexError, match="n_heads=3"):
        hooks.ablate_heads([3])(head_activation(), hook_at(point="attn.hook_z"))
    with pytest.raises(ValueError, match="no per-head axis"):
        hooks.ablate_heads([0])(head_activation(), hook_at(point="hook_resid_pre"))
    with pytest.raises(ValueError, match="expected a 4-dim per-head tensor"):
        hooks.ablate_heads([0])(head_activation().flatten(2), hook_at(point="attn.hook_z"))
    heads_first = head_activation().transpose(1, 2)  # [batch, head, pos, d_head], a custom point
    out = hooks.ablate_heads([0], head_axis=1)(heads_first, hook_at(point="my_heads"))
    assert out[:, 0].eq(0).all() and torch.equal(out[:, 1:], heads_first[:, 1:])


def test_patch_touches_only_the_named_heads():
    corrupt, clean = head_activation(), head_activation(seed=1)
    bridge_v = hook_at(point="attn.v.hook_out")  # how a bridge names hook_v
    out = hooks.patch_heads({"blocks.1.attn.hook_v": clean}, [0, 2])(corrupt, bridge_v)
    assert torch.equal(out[:, :, [0, 2]], clean[:, :, [0, 2]])
    assert torch.equal(out[:, :, 1], corrupt[:, :, 1])
    assert torch.equal(hooks.patch_heads(clean)(corrupt, hook_at(point="attn.hook_v")), clean)
    with pytest.raises(ValueError, match=r"shape \(1, 5, 3, 4\)"):
        hooks.patch_heads(clean[:1])(corrupt, hook_at(point="attn.hook_v"))


def test_patch_pattern_heads_is_validated():
    live = causal_pattern()
    bad = torch.full_like(live, 1 / LEN)
    with pytest.raises(PatternError, match="not causal"):
        hooks.patch_heads(bad, [1])(live, hook_at())


def test_scale_heads():
    z = head_activation()
    out = hooks.scale_heads({1: [2]}, 3.0)(z, hook_at(point="attn.hook_z"))
    assert torch.equal(out[:, :, 2], z[:, :, 2] * 3.0)
    assert torch.equal(out[:, :, :2], z[:, :, :2])


def test_shuffle_keeps_the_multiset_of_heads_and_permute_follows_perm():
    live = causal_pattern()
    shuffled = hooks.shuffle_heads(seed=0)(live, hook_at())
    assert not torch.equal(shuffled, live)
    originals = sorted(tuple(live[:, h].flatten().tolist()) for h in range(HEADS))
    assert sorted(tuple(shuffled[:, h].flatten().tolist()) for h in range(HEADS)) == originals
    two_heads = live[:, :2]
    for seed in range(6):  # half of all 2-head permutations are the identity; none may be used
        assert torch.equal(hooks.shuffle_heads(seed)(two_heads, hook_at()), two_heads.flip(1))
    permuted = hooks.permute_heads([2, 0, 1])(live, hook_at())
    assert torch.equal(permuted[:, 0], live[:, 2]) and torch.equal(permuted[:, 1], live[:, 0])
    with pytest.raises(ValueError, match="not a permutation of the n_heads=3"):
        hooks.permute_heads([0, 1])(live, hook_at())


# --- packaging ----------------------------------------------------------------------------


def test_import_hooks_pulls_in_neither_transformer_lens_nor_interp():
    code = (
        "import sys, hooks; "
        "heavy = ('transformer_lens', 'interp', 'transformers'); "
        "bad = [m for m in sys.modules if m.split('.')[0] in heavy]; "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
