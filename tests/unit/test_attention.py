"""Hook edits take effect on GPT-NeoX, OPT and opt-350m's post-LN layout, exactly."""

from __future__ import annotations

import warnings

import pytest
import torch
from transformers import AutoModelForCausalLM

import interp
from interp.attention import AttentionSlot, attention_modules, use_interp_attention
from tests import checkpoints

TOKENS = torch.tensor([[5, 9, 14, 22, 31, 40, 17, 8, 26, 12], [7, 7, 19, 44, 3 + 20, 11, 30, 6, 25, 9]])
N_LAYERS = checkpoints.SHAPE["layers"]
PATTERNS = [f"blocks.{i}.attn.hook_pattern" for i in range(N_LAYERS)]


def hf_eager(path):
    return AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager").eval()


def run(bridge, hooks=()):
    with torch.no_grad():
        return bridge.run_with_hooks(TOKENS, fwd_hooks=list(hooks)) if hooks else bridge(TOKENS)


def test_unhooked_logits_equal_hf_eager(bridges, checkpoint_dirs, family):
    expected = hf_eager(checkpoint_dirs[family])(TOKENS).logits
    torch.testing.assert_close(run(bridges[family]), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("point", ["hook_pattern", "hook_attn_scores", "hook_q", "hook_k", "hook_v", "hook_z"])
def test_identity_edits_reproduce_logits(bridges, family, point):
    bridge = bridges[family]
    base = run(bridge)
    names = [f"blocks.{i}.attn.{point}" for i in range(N_LAYERS)]
    returned = run(bridge, [(n, lambda t, hook: t.clone()) for n in names])
    torch.testing.assert_close(returned, base, atol=1e-5, rtol=0)


def test_cached_pattern_from_same_input_reproduces_logits(bridges, family):
    bridge = bridges[family]
    with torch.no_grad():
        base, cache = bridge.run_with_cache(TOKENS, names_filter=lambda n: n.endswith("hook_pattern"))
    patched = run(bridge, [(n, lambda t, hook: cache[hook.name]) for n in PATTERNS])
    torch.testing.assert_close(patched, base, atol=1e-5, rtol=0)


@pytest.mark.parametrize("in_place", [False, True])
def test_edited_pattern_matches_independent_reference(bridges, checkpoint_dirs, family, in_place):
    bridge = bridges[family]
    patterns = {
        i: checkpoints.random_causal_pattern(*TOKENS.shape[:1], checkpoints.SHAPE["heads"], TOKENS.shape[1], seed=i)
        for i in range(N_LAYERS)
    }

    def replace(t, hook):
        new = patterns[int(hook.name.split(".")[1])].to(t.dtype)
        if in_place:
            t.copy_(new)
            return None
        return new

    edited = run(bridge, [(n, replace) for n in PATTERNS])
    expected = checkpoints.reference_logits(hf_eager(checkpoint_dirs[family]), TOKENS, patterns)
    torch.testing.assert_close(edited, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(edited, run(bridge), atol=1e-3), "the edit must move the logits"


def test_scores_hook_carries_pre_softmax_scores(bridges, family):
    with torch.no_grad():
        _, cache = bridges[family].run_with_cache(TOKENS)
    for layer in range(N_LAYERS):
        scores = cache[f"blocks.{layer}.attn.hook_attn_scores"]
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
        torch.testing.assert_close(scores.softmax(-1), pattern, atol=1e-6, rtol=0)
        assert (scores[..., 0, 0] != pattern[..., 0, 0]).all(), "scores must not be the pattern"
        assert (scores[..., 0, 1:] < -1e30).all(), "the future is masked in the scores"


def test_score_edit_equals_pattern_edit(bridges, family):
    """Doubling q, k or the scores gives the same attention, hence the same logits."""
    bridge = bridges[family]

    def double_scores(t, hook):
        masked = t < -1e30
        return torch.where(masked, t, 2 * t)

    def double(t, hook):
        return 2 * t

    by_scores = run(bridge, [("blocks.0.attn.hook_attn_scores", double_scores)])
    assert not torch.allclose(by_scores, run(bridge), atol=1e-4)
    torch.testing.assert_close(run(bridge, [("blocks.0.attn.hook_q", double)]), by_scores, atol=1e-5, rtol=0)
    torch.testing.assert_close(run(bridge, [("blocks.0.attn.hook_k", double)]), by_scores, atol=1e-5, rtol=0)


@pytest.mark.parametrize("head", [0, 3])
def test_v_and_z_head_edits_are_live_and_agree(bridges, family, head):
    """z = pattern @ v per head, so scaling one head's v or z must change logits identically."""
    bridge = bridges[family]

    def scale_head(t, hook):
        t = t.clone()
        t[:, :, head] *= 3.0
        return t

    via_v = run(bridge, [("blocks.1.attn.hook_v", scale_head)])
    via_z = run(bridge, [("blocks.1.attn.hook_z", scale_head)])
    assert not torch.allclose(via_v, run(bridge), atol=1e-4)
    torch.testing.assert_close(via_v, via_z, atol=1e-5, rtol=0)


def test_transformer_lens_pattern_patching_is_not_a_no_op(bridges, family):
    from transformer_lens import patching

    bridge = bridges[family]
    clean, corrupted = TOKENS[:1], TOKENS[1:]
    with torch.no_grad():
        _, clean_cache = bridge.run_with_cache(clean)
        corrupted_logit = bridge(corrupted)[0, -1, 5].item()
        results = patching.get_act_patch_attn_head_pattern_all_pos(
            bridge, corrupted, clean_cache, lambda logits: logits[0, -1, 5]
        )
    assert results.shape == (N_LAYERS, checkpoints.SHAPE["heads"])
    assert (results - corrupted_logit).abs().max() > 1e-3, "every patch returned the unpatched metric"


def test_stock_bridge_discards_opt_pattern_edits_but_ours_do_not(checkpoint_dirs):
    """The bug we exist to fix, kept as a sentinel: if TransformerLens fixes it, we notice."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import AutoTokenizer

    path = checkpoint_dirs["opt"]
    stock = TransformerBridge.boot_transformers(
        str(path), hf_model=hf_eager(path), tokenizer=AutoTokenizer.from_pretrained(path)
    )
    uniform = lambda t, hook: torch.tril(torch.ones_like(t)) / torch.tril(torch.ones_like(t)).sum(-1, keepdim=True)
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        discarded = stock.run_with_hooks(TOKENS, fwd_hooks=[(PATTERNS[0], uniform)])
        base = stock(TOKENS)
    assert torch.equal(discarded, base)
    assert any("discarded" in str(w.message) for w in caught)
    interp.make_patterns_live(stock)
    with torch.no_grad():
        assert not torch.allclose(stock.run_with_hooks(TOKENS, fwd_hooks=[(PATTERNS[0], uniform)]), base, atol=1e-4)


def test_an_edit_that_would_be_discarded_raises(checkpoint_dirs):
    bridge = interp.load_model(checkpoint_dirs["opt"])
    # Undo the binding on layer 0 to recreate the after-the-fact firing the guard must catch.
    del bridge.blocks[0].attn.original_component.interp_slot
    bridge.original_model.set_attn_implementation("eager")
    with pytest.raises(interp.DiscardedEditError, match="blocks.0.attn.hook_pattern"):
        run(bridge, [(PATTERNS[0], lambda t, hook: t * 0.5)])
    with pytest.raises(interp.DiscardedEditError):
        run(bridge, [(PATTERNS[0], lambda t, hook: t.mul_(0.5))])  # in place, no return
    with pytest.raises(interp.SelfTestError):
        interp.run_self_test(bridge)


def test_hook_point_that_never_fires_is_refused(bridges):
    with pytest.raises(interp.DeadHookError, match="hook_rot_q never fires"):
        run(bridges["neox"], [("blocks.0.attn.hook_rot_q", lambda t, hook: t)])


def test_wrong_hook_name_is_an_error(bridges):
    with pytest.raises(KeyError, match="hook_patern"):
        run(bridges["opt"], [("blocks.0.attn.hook_patern", lambda t, hook: t)])


def test_fused_path_when_unhooked_eager_when_hooked(bridges, monkeypatch):
    import transformers.integrations.sdpa_attention as sdpa

    calls = []
    original = sdpa.sdpa_attention_forward
    monkeypatch.setattr(sdpa, "sdpa_attention_forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    bridge = bridges["opt"]
    run(bridge)
    assert len(calls) == N_LAYERS
    calls.clear()
    run(bridge, [(PATTERNS[0], lambda t, hook: t)])
    assert len(calls) == N_LAYERS - 1, "the hooked layer must run eager, the others fused"


def test_plain_hf_slot_with_left_padding_matches_eager(checkpoint_dirs, family):
    """The swap engine's path: plain HF with the interp function, a slot, and a padded batch."""
    model = hf_eager(checkpoint_dirs[family])
    mask = torch.ones_like(TOKENS)
    mask[1, :3] = 0  # left padding
    with torch.no_grad():
        expected = model(TOKENS, attention_mask=mask).logits
        use_interp_attention(model)
        seen = []
        for module in attention_modules(model):
            module.interp_slot = AttentionSlot(pattern=lambda p: seen.append(p.shape) or p)
        got = model(TOKENS, attention_mask=mask).logits
        for module in attention_modules(model):
            del module.interp_slot
    assert len(seen) == N_LAYERS
    keep = mask.bool()
    torch.testing.assert_close(got[keep], expected[keep], atol=1e-5, rtol=0)
