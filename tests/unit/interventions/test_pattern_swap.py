"""interp.swap: self-swaps are bitwise the base, and every swap matches the Bridge route."""

from __future__ import annotations

import pytest
import torch
from tokenizers import processors
from transformers import AutoModelForCausalLM

import hooks
import interp
import interp.interventions.head_maps as head_maps_module
from interp.attention import AttentionSlot, attention_modules, use_interp_attention
from interp.interventions.pattern_swap import (
    PatternSwap,
    ShapeMismatchError,
    TokenizerMismatchError,
    check_same_tokens,
    head_map,
    layer_map,
)
from interp.tasks.base import Example, Task
from interp.toy import save_toy_checkpoint
from tests import checkpoints

TOKENS = torch.tensor([
    [5, 9, 14, 22, 31, 40, 17, 8, 26, 12],
    [7, 7, 19, 44, 23, 11, 30, 6, 25, 9],
    [3, 18, 27, 41, 33, 15, 20, 29, 10, 42],
])
ALL = range(checkpoints.SHAPE["layers"])
CROSS = ["neox", "opt"]


def _pattern(layer: int) -> str:
    return f"blocks.{layer}.attn.hook_pattern"


@pytest.fixture(scope="module")
def donors(tmp_path_factory):
    """Same-shape donors with other weights (seed 1), and a 3-layer, 2-head Pythia donor."""
    root = tmp_path_factory.mktemp("swap-donors")
    make = lambda name, family, **kw: interp.load_model(  # noqa: E731
        save_toy_checkpoint(root / name, family, words=checkpoints.WORDS, **kw), self_test=False
    )
    return {
        "neox": make("neox", "pythia", seed=1),
        "opt": make("opt", "opt", seed=1),
        "3x2": make("3x2", "pythia", seed=2, shape=dict(layers=3, heads=2)),
    }


def run(model, tokens=TOKENS):
    with torch.no_grad():
        return model(tokens)


def patterns(bridge, tokens=TOKENS):
    with torch.no_grad():
        return bridge.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))[1]


def bridge_route(recipient, donor, layers, *, edit=lambda donor, own: donor, lmap=None):
    """Independent reference: the donor Bridge's cached patterns, hooked into the recipient."""
    lmap = lmap or list(ALL)
    cache = patterns(donor)

    def replace(own, hook):
        return edit(cache[_pattern(lmap[int(hook.name.split(".")[1])])], own)

    with torch.no_grad():
        return recipient.run_with_hooks(TOKENS, fwd_hooks=[(_pattern(L), replace) for L in layers])


def test_self_swap_is_bitwise_base(bridges, family):
    base = run(PatternSwap.base(bridges[family]))
    torch.testing.assert_close(base, run(bridges[family]), atol=1e-5, rtol=0)
    assert torch.equal(run(PatternSwap(bridges[family])), base)
    assert torch.equal(run(PatternSwap(bridges[family], layers=[1])), base)


@pytest.mark.parametrize("name", CROSS)
def test_alpha_zero_is_bitwise_base(bridges, donors, name):
    base = run(PatternSwap.base(bridges[name]))
    assert torch.equal(run(PatternSwap(bridges[name], donors[name], alpha=0.0)), base)


@pytest.mark.parametrize("name", CROSS)
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_cross_model_swap_matches_bridge_route(bridges, donors, name, alpha):
    swapped = run(PatternSwap(bridges[name], donors[name], alpha=alpha))
    mix = lambda d, own: torch.lerp(own, d, alpha)  # noqa: E731
    torch.testing.assert_close(
        swapped, bridge_route(bridges[name], donors[name], ALL, edit=mix), atol=1e-5, rtol=0
    )
    assert not torch.allclose(swapped, run(bridges[name]), atol=1e-3), "a swap must move logits"


@pytest.mark.parametrize("name", CROSS)
def test_single_layer_swap_matches_bridge_route_for_that_layer(bridges, donors, name):
    swapped = run(PatternSwap(bridges[name], donors[name], layers=[1]))
    expected = bridge_route(bridges[name], donors[name], [1])
    torch.testing.assert_close(swapped, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(swapped, run(bridges[name]), atol=1e-3)
    assert not torch.allclose(swapped, bridge_route(bridges[name], donors[name], [0, 1]), atol=1e-3)


def test_cross_family_swap_matches_bridge_route(bridges):
    recipient, donor = bridges["neox"], bridges["opt"]
    swapped = run(PatternSwap(recipient, donor))
    expected = bridge_route(recipient, donor, ALL)
    torch.testing.assert_close(swapped, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(swapped, run(recipient), atol=1e-3)


@pytest.mark.parametrize("name", CROSS)
def test_controls(bridges, donors, name):
    recipient, donor = bridges[name], donors[name]
    uniform = run(PatternSwap(recipient, donor, layers=[0], control="uniform"))
    with torch.no_grad():
        fwd_hooks = [(_pattern(0), hooks.uniform_pattern())]
        expected = recipient.run_with_hooks(TOKENS, fwd_hooks=fwd_hooks)
    torch.testing.assert_close(uniform, expected, atol=1e-5, rtol=0)

    shuffled = PatternSwap(recipient, control="shuffle_heads", seed=3)
    assert all(order != sorted(order) for order in shuffled.permutations.values())
    with torch.no_grad():
        fwd_hooks = [(_pattern(L), hooks.shuffle_heads(3)) for L in ALL]
        expected = recipient.run_with_hooks(TOKENS, fwd_hooks=fwd_hooks)
    torch.testing.assert_close(run(shuffled), expected, atol=1e-5, rtol=0)
    assert not torch.allclose(run(shuffled), run(recipient), atol=1e-3)

    other = run(PatternSwap(recipient, donor, control="other_input"))
    rolled = bridge_route(recipient, donor, ALL, edit=lambda d, own: d.roll(1, dims=0))
    torch.testing.assert_close(other, rolled, atol=1e-5, rtol=0)
    assert not torch.allclose(other, run(PatternSwap(recipient, donor)), atol=1e-3)
    with pytest.raises(ValueError, match="batches of >= 2"):
        run(PatternSwap(recipient, control="other_input"), TOKENS[:1])


def test_layer_map():
    assert layer_map(2, 3) == [0, 2]
    assert layer_map(3, 2) == [0, 0, 1]  # round(0.5) == 0: Python's round, as documented
    assert layer_map(5, 5) == list(range(5))
    assert layer_map(1, 4) == [0] and layer_map(3, 1) == [0, 0, 0]
    with pytest.raises(ValueError):
        layer_map(0, 2)


def test_different_shapes(bridges, donors):
    recipient, donor = bridges["neox"], donors["3x2"]  # 2 layers x 4 heads <- 3 layers x 2 heads
    shapes = r"2 layers x 4 heads.*3 layers x 2 heads.*--heads mean\|match"
    with pytest.raises(ShapeMismatchError, match=shapes):
        PatternSwap(recipient, donor)
    mean = PatternSwap(recipient, donor, heads="mean")
    assert mean.layer_map == [0, 2]
    head_mean = lambda d, own: d.mean(1, keepdim=True).expand_as(own)  # noqa: E731
    expected = bridge_route(recipient, donor, ALL, lmap=[0, 2], edit=head_mean)
    torch.testing.assert_close(run(mean), expected, atol=1e-5, rtol=0)

    match = PatternSwap(recipient, donor, heads="match")
    logits = run(match)
    assert logits.shape == (*TOKENS.shape, recipient.cfg.d_vocab) and torch.isfinite(logits).all()
    for layer in ALL:
        (assignment,) = match.assignments[layer]  # one forward, one assignment per layer
        assert sorted(a for a in assignment if a is not None) == [0, 1]
        assert assignment.count(None) == 2


def test_calibrated_match_does_not_depend_on_batching(bridges, donors):
    """Fitted once, the match map is the same for every batch: a row's logits are the same
    alone or batched with others, and every forward used that one map."""
    recipient, donor = bridges["neox"], donors["3x2"]
    swap = PatternSwap(recipient, donor, heads="match")
    maps = swap.match_heads_on(TOKENS[:1])
    assert set(maps) == set(ALL) and all(m.how == "match" for m in maps.values())
    together = run(swap)
    alone = torch.cat([run(swap, TOKENS[i : i + 1]) for i in range(len(TOKENS))])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)
    assert all(len(swap.assignments[layer]) == 1 for layer in ALL)  # one map, every forward
    assert swap.match_heads_on(TOKENS[:1]) == maps  # deterministic


def test_head_map_index_needs_equal_heads():
    counts = r"recipient has 4 heads and the donor 2.*--heads mean\|match"
    with pytest.raises(ShapeMismatchError, match=counts):
        head_map(4, 2, "index")
    assert head_map(4, 4, "index").assignment == (0, 1, 2, 3)
    assert head_map(4, 2, "mean")(torch.rand(1, 2, 3, 3)).shape == (1, 4, 3, 3)


def test_match_recovers_a_known_permutation(bridges):
    cache = patterns(bridges["neox"])
    own = cache[_pattern(1)]
    perm = [2, 0, 3, 1]  # donor head j is own head perm[j]
    mapping = head_map(own, own[:, perm], "match")
    inverse = [perm.index(i) for i in range(len(perm))]
    assert mapping.assignment == tuple(inverse)
    assert torch.equal(mapping(own[:, perm]), own)
    assert sorted(head_map(own, cache[_pattern(0)], "match").assignment) == [0, 1, 2, 3]


def test_match_keeps_identical_heads_in_place(bridges):
    own = patterns(bridges["neox"])[_pattern(0)].clone()
    own[:, 2] = own[:, 1]  # a tie: two heads with the same pattern
    assert head_map(own, own, "match").assignment == (0, 1, 2, 3)
    # Matched per batch, on patterns: the materialised path, bitwise its own (eager) base.
    swap = PatternSwap(bridges["neox"], heads="match")
    assert swap.path == "materialised"
    assert torch.equal(run(swap), run(PatternSwap.base(bridges["neox"], path="materialised")))


def test_bad_arguments(bridges):
    for kwargs in (dict(alpha=1.5), dict(heads="first"), dict(control="noise"), dict(layers=[2])):
        with pytest.raises(ValueError):
            PatternSwap(bridges["neox"], **kwargs)


def test_tokenizer_mismatch(bridges, tmp_path):
    tok = checkpoints.build_tokenizer()
    other = interp.load_model(
        save_toy_checkpoint(tmp_path / "other", "pythia", words=["x", "y"]), self_test=False
    )
    why = r"into .*neox.*vocabularies differ.*identical token tensors"
    with pytest.raises(TokenizerMismatchError, match=why):
        PatternSwap(bridges["neox"], other)
    with_bos = checkpoints.build_tokenizer()
    with_bos.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", tok.bos_token_id)]
    )
    with pytest.raises(TokenizerMismatchError, match="BOS"):
        check_same_tokens(tok, with_bos, recipient="a", donor="b")
    check_same_tokens(tok, checkpoints.build_tokenizer())


def _slots(modules):
    return [m.__dict__.get("interp_slot", "none") for m in modules]


def test_bridge_slots_survive_swaps_and_failures(bridges, donors, monkeypatch):
    bridge = bridges["opt"]
    bound = [block.attn.original_component.interp_slot for block in bridge.blocks]
    assert all(isinstance(slot.pattern, torch.nn.Module) for slot in bound)  # HookPoints
    swap = PatternSwap(bridge, donors["opt"], heads="match")
    run(swap)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(head_maps_module, "linear_sum_assignment", boom)  # fails inside a recipient slot
    with pytest.raises(RuntimeError, match="boom"):
        run(swap)
    with pytest.raises(IndexError):  # fails inside the donor forward
        run(swap, TOKENS + 10_000)
    for model in (swap.recipient_model, swap.donor_model):
        assert _slots(attention_modules(model)) == ["none"] * len(ALL)
    after = [block.attn.original_component.interp_slot for block in bridge.blocks]
    assert all(a is b for a, b in zip(after, bound))
    interp.run_self_test(bridge)


def test_plain_hf_model_slots_restored(checkpoint_dirs, monkeypatch):
    hf = AutoModelForCausalLM.from_pretrained(checkpoint_dirs["opt"]).eval()
    use_interp_attention(hf)
    mine = AttentionSlot(pattern=lambda p: p)
    modules = attention_modules(hf)
    modules[0].interp_slot = mine
    swap = PatternSwap(hf, control="shuffle_heads")
    assert swap.recipient_model is hf  # a plain model is used as is, not copied
    before = run(hf).logits
    assert not torch.allclose(run(swap), before, atol=1e-3)
    monkeypatch.setattr(hf.model.decoder.layers[1].fc1, "forward", lambda x: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run(swap)
    assert _slots(modules) == [mine, "none"]


def test_evaluate_accepts_a_swap(bridges, donors):
    task = Task(
        "toy",
        "arithmetic",
        "exact",
        (Example("w1 w2 w3", " w4"), Example("w5 w6", " w7 w8"), Example("w9 w1 w2 w3", " w0")),
    )
    base = interp.evaluate(bridges["neox"], [task])
    self_swap = interp.evaluate(PatternSwap(bridges["neox"]), [task], condition="self")
    assert self_swap.model[0] == base.model[0] and self_swap.condition[0] == "self"
    assert self_swap.loss[0] == pytest.approx(base.loss[0], abs=1e-5)
    assert self_swap.loss[0] == interp.evaluate(PatternSwap.base(bridges["neox"]), [task]).loss[0]
    swapped = interp.evaluate(PatternSwap(bridges["neox"], donors["neox"]), [task])
    assert swapped.loss[0] != pytest.approx(base.loss[0], abs=1e-4)
