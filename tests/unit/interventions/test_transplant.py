"""The transplant path: exact against the materialised path and the tests' own reference forward.

The reference (``checkpoints.reference_logits_live``) computes every pattern from the weights
with its own rotary and scaling code, and applies each swap's definition to patterns: the
donor's (mapped, rolled), uniform, head-shuffled own, mixed with the own pattern by alpha.
"""

from __future__ import annotations

import pytest
import torch

import hooks
import interp
from interp.attention import (AttentionSlot, attention_modules, capture_patterns, capture_qk, fused_attention,
                              installed, plain_model)
from interp.interventions import PatternSwap
from interp.interventions.head_maps import HeadMap, head_map
from interp.interventions.transplant import Transplant, causal_running_mean
from tests import checkpoints

TOKENS = torch.tensor([
    [5, 9, 14, 22, 31, 40, 17, 8, 26, 12, 33, 4],
    [7, 7, 19, 41, 23, 11, 30, 6, 25, 9, 3, 18],
    [3, 18, 27, 41, 33, 15, 20, 29, 10, 42, 5, 5],
])
# name: (recipient, donor) builders; "cross-size" differs in d_head (16 vs 32) and layer count.
PAIRS = {
    "pythia": (dict(family="pythia", seed=0, d_model=64), dict(family="pythia", seed=1, d_model=64)),
    "opt": (dict(family="opt", seed=0), dict(family="opt", seed=1)),
    "cross-size": (dict(family="pythia", seed=0, d_model=64),
                   dict(family="pythia", seed=2, d_model=128, layers=3)),
    "cross-family": (dict(family="pythia", seed=0, d_model=64), dict(family="opt", seed=3, d_model=64)),
}
CONTROLS = [None, "other_input", "uniform", "shuffle_heads"]


@pytest.fixture(scope="module")
def models():
    return {name: tuple(checkpoints.tiny_model(**spec) for spec in pair) for name, pair in PAIRS.items()}


def run(model, tokens=TOKENS):
    with torch.no_grad():
        out = model(tokens)
    return getattr(out, "logits", out)


def reference(swap: PatternSwap, recipient, donor, tokens=TOKENS):
    """The swap's definition applied to reference patterns, in a reference forward."""
    donor_patterns = checkpoints.reference_patterns(donor, tokens)

    def edit(layer: int, own: torch.Tensor) -> torch.Tensor:
        if layer not in swap.layers:
            return own
        if swap.control == "uniform":
            new = hooks.uniform_pattern()(own, None)
        elif swap.control == "shuffle_heads":
            new = own[:, swap.permutations[layer]]
        else:
            new = donor_patterns[swap.layer_map[layer]][:, list(swap._fixed_maps[layer].assignment)]
            if swap.control == "other_input":
                new = new.roll(1, dims=0)
        return torch.lerp(own, new, swap.alpha)

    return checkpoints.reference_logits_live(recipient, tokens, edit)


def both_paths(recipient, donor, **settings):
    fast = PatternSwap(recipient, donor, **settings)
    slow = PatternSwap(recipient, donor, path="materialised", **settings)
    assert fast.path == "transplant" and slow.path == "materialised"
    return fast, slow


@pytest.mark.parametrize("pair", list(PAIRS))
@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_transplant_matches_materialised_and_reference(models, pair, control, alpha):
    recipient, donor = models[pair]
    fast, slow = both_paths(recipient, donor, alpha=alpha, control=control, seed=5)
    got = run(fast)
    torch.testing.assert_close(got, run(slow), atol=1e-5, rtol=0)
    torch.testing.assert_close(got, reference(fast, recipient, donor), atol=1e-5, rtol=0)
    base = run(PatternSwap.base(recipient))
    if alpha == 0.0:
        assert torch.equal(got, base), "alpha 0 must be the fused base, bitwise"
    else:
        assert not torch.allclose(got, base, atol=1e-3), "the swap must move the logits"
    assert fast.paths_taken == {"transplant": 1}


@pytest.mark.parametrize("pair", ["pythia", "opt"])
def test_single_layer_swap(models, pair):
    recipient, donor = models[pair]
    fast, slow = both_paths(recipient, donor, layers=[1], alpha=0.3)
    got = run(fast)
    torch.testing.assert_close(got, run(slow), atol=1e-5, rtol=0)
    torch.testing.assert_close(got, reference(fast, recipient, donor), atol=1e-5, rtol=0)
    assert not torch.allclose(got, run(PatternSwap(recipient, donor, alpha=0.3)), atol=1e-3)


def _permute_heads(model, order):
    """The same function with its heads renumbered: new head i is old head order[i]."""
    import copy

    twin = copy.deepcopy(model)
    n = twin.config.num_attention_heads
    d = twin.config.hidden_size // n
    index = torch.tensor(order)
    with torch.no_grad():
        for layer in attention_modules(twin):
            if hasattr(layer, "query_key_value"):
                fused = layer.query_key_value
                for p in (fused.weight, fused.bias):
                    p.copy_(p.view(n, 3 * d, -1)[index].reshape(p.shape) if p.dim() == 2
                            else p.view(n, 3 * d)[index].reshape(p.shape))
                out = layer.dense.weight
            else:
                for proj in (layer.q_proj, layer.k_proj, layer.v_proj):
                    proj.weight.copy_(proj.weight.view(n, d, -1)[index].reshape(proj.weight.shape))
                    proj.bias.copy_(proj.bias.view(n, d)[index].reshape(-1))
                out = layer.out_proj.weight
            out.copy_(out.view(out.shape[0], n, d)[:, index].reshape(out.shape))
    return twin


@pytest.mark.parametrize("pair", ["pythia", "opt"])
def test_match_map_recovers_permuted_heads(models, pair):
    """A donor that is the recipient with its heads renumbered: match finds the permutation,
    the transplant applies it to Q and K, and the swap gives back the recipient's logits."""
    recipient, _ = models[pair]
    order = [2, 0, 3, 1]
    donor = _permute_heads(recipient, order)
    torch.testing.assert_close(run(donor), run(recipient), atol=1e-5, rtol=0)
    swap = PatternSwap(recipient, donor, heads="match")
    assert swap.path == "materialised"  # not fitted yet: matched per batch, on patterns
    maps = swap.match_heads_on(TOKENS[:1])
    inverse = tuple(order.index(i) for i in range(4))
    assert all(m.assignment == inverse for m in maps.values())
    assert swap.path == "transplant"
    got = run(swap)
    torch.testing.assert_close(got, run(PatternSwap.base(recipient)), atol=1e-5, rtol=0)
    slow = PatternSwap(recipient, donor, heads="match", path="materialised")
    slow.match_heads_on(TOKENS[:1])
    torch.testing.assert_close(got, run(slow), atol=1e-5, rtol=0)
    torch.testing.assert_close(got, reference(swap, recipient, donor), atol=1e-5, rtol=0)


def test_head_counts_that_differ(models):
    """Fewer recipient heads: match selects donor heads (transplant). More: some take the
    donor's mean, which has no Q/K form (materialised fallback). mean: materialised."""
    recipient = checkpoints.tiny_model("pythia", seed=0, d_model=64, heads=2)
    donor = checkpoints.tiny_model("pythia", seed=1, d_model=64, heads=4)
    fewer = PatternSwap(recipient, donor, heads="match")
    fewer.match_heads_on(TOKENS[:1])
    assert fewer.path == "transplant"
    slow = PatternSwap(recipient, donor, heads="match", path="materialised")
    slow._fixed_maps = dict(fewer._fixed_maps)
    torch.testing.assert_close(run(fewer), run(slow), atol=1e-5, rtol=0)
    torch.testing.assert_close(run(fewer), reference(fewer, recipient, donor), atol=1e-5, rtol=0)
    more = PatternSwap(donor, recipient, heads="match")
    more.match_heads_on(TOKENS[:1])
    assert more.path == "materialised" and torch.isfinite(run(more)).all()
    assert PatternSwap(recipient, donor, heads="mean").path == "materialised"
    with pytest.raises(ValueError, match="heads='mean'"):
        PatternSwap(recipient, donor, heads="mean", path="transplant")
    with pytest.raises(ValueError, match="match_heads_on first"):
        run(PatternSwap(recipient, donor, heads="match", path="transplant"))
    with pytest.raises(ValueError, match="path must be one of"):
        PatternSwap(recipient, donor, path="fast")


def test_self_swap_is_bitwise_the_fused_forward(bridges, family):
    bridge = bridges[family]
    fused = run(plain_model(bridge))  # no slot: every layer fused SDPA
    base = PatternSwap.base(bridge)
    assert base.path == "transplant" and torch.equal(run(base), fused)
    assert torch.equal(run(PatternSwap(bridge)), fused)
    assert torch.equal(run(PatternSwap(bridge, layers=[1], alpha=0.3)), fused)
    matched = PatternSwap(bridge, heads="match")
    matched.match_heads_on(TOKENS[:1])
    assert matched.path == "transplant" and torch.equal(run(matched), fused)
    torch.testing.assert_close(fused, run(bridge), atol=1e-5, rtol=0)  # and the Bridge agrees
    slow_base = PatternSwap.base(bridge, path="materialised")
    assert torch.equal(run(PatternSwap(bridge, path="materialised")), run(slow_base))


def test_right_padding_as_scoring_pads(models):
    """evaluate right-pads without a mask: real positions must not see the padding."""
    recipient, donor = models["pythia"]
    short = TOKENS[:2, :7]
    padded = torch.cat([short, torch.zeros(2, 5, dtype=short.dtype)], 1)
    for control in (None, "other_input", "uniform", "shuffle_heads"):
        swap = PatternSwap(recipient, donor, control=control, alpha=0.3)
        torch.testing.assert_close(run(swap, padded)[:, :7], run(swap, short), atol=1e-5, rtol=0)


@pytest.mark.parametrize("roll", [False, True])
def test_attend_keeps_the_mask_it_is_given(roll):
    """Left padding, as an additive mask: the transplant uses it (rolled with the donor's Q/K
    for other_input) exactly as eager attention on the swapped pattern would."""
    g = torch.Generator().manual_seed(0)
    q_r, k_r, v = (torch.randn(2, 3, 6, 8, generator=g) for _ in range(3))
    q_d, k_d = (torch.randn(2, 3, 6, 4, generator=g) for _ in range(2))  # another d_head
    keep = torch.ones(2, 6, dtype=torch.bool)
    keep[1, :2] = False  # left padding in row 1
    allowed = keep[:, None, None, :] & torch.ones(6, 6, dtype=torch.bool).tril()
    mask = torch.zeros(2, 1, 6, 6).masked_fill(~allowed, torch.finfo(torch.float32).min)
    donor = interp.attention.DonorQK(q_d, k_d, 0.7)
    attend = Transplant(0.3, donor=lambda: donor, heads=HeadMap("index", (0, 1, 2)), roll=roll).attend
    got = attend(torch.nn.Module(), q_r, k_r, v, mask, None, 0.0)

    def pattern(q, k, scale, m):
        return ((q @ k.transpose(-1, -2)) * scale + m).softmax(-1)

    donor_pattern = pattern(q_d, k_d, 0.7, mask)
    if roll:
        donor_pattern = donor_pattern.roll(1, dims=0)
    mixed = torch.lerp(pattern(q_r, k_r, 8**-0.5, mask), donor_pattern, 0.3)
    torch.testing.assert_close(got, (mixed @ v).transpose(1, 2), atol=1e-6, rtol=0)


def test_causal_running_mean_is_uniform_attention():
    value = torch.randn(2, 3, 5, 4)
    uniform = hooks.uniform_pattern()(torch.zeros(2, 3, 5, 5), None)
    torch.testing.assert_close(causal_running_mean(value, 5), (uniform @ value).transpose(1, 2),
                               atol=1e-6, rtol=0)


def test_transplant_takes_one_source():
    with pytest.raises(ValueError, match="exactly one"):
        Transplant(1.0, uniform=True, permutation=(1, 0))
    with pytest.raises(ValueError, match="selects donor heads"):
        Transplant(1.0, donor=lambda: None, heads=head_map(2, 2, "mean"))


def test_donor_state_grows_linearly_with_length(models):
    """Q/K held per layer double when the sequence doubles; patterns quadruple."""
    recipient, _ = models["pythia"]
    tokens = torch.randint(3, 40, (2, 32))
    qk = [capture_qk(recipient, {0, 1}, tokens[:, :s]) for s in (16, 32)]
    sizes = [state[0].nbytes for state in qk]
    assert sizes[1] == 2 * sizes[0]
    assert sizes[0] == 2 * 2 * 4 * 16 * 16 * 4  # 2 tensors x [2, 4, 16, d_head 16] fp32
    patterns = [capture_patterns(recipient, {0, 1}, tokens[:, :s])[0].nbytes for s in (16, 32)]
    assert patterns[1] == 4 * patterns[0]


def test_capture_keeps_what_attention_was_given(models):
    """The captured Q/K are the post-rotary (Pythia, 25% of d_head) and pre-scaled (OPT) ones:
    attending to them at the captured scale reproduces the layer's output."""
    for name in ("pythia", "opt"):
        recipient, _ = models[name]
        kept = capture_qk(recipient, {0}, TOKENS)[0]
        seen = {}

        def spy(module, query, key, value, attention_mask, scaling, dropout, **kwargs):
            seen.update(query=query, key=key, scaling=scaling)
            return fused_attention(module, query, key, value, attention_mask, scaling, dropout, **kwargs)

        module = attention_modules(recipient)[0]
        with installed([module], [AttentionSlot(attend=spy)]), torch.no_grad():
            recipient(TOKENS)
        assert torch.equal(kept.query, seen["query"]) and kept.scaling == seen["scaling"]
        assert kept.scaling == (1.0 if name == "opt" else kept.query.shape[-1] ** -0.5)
