"""End to end on a real TransformerBridge: a misplaced factory raises before it edits anything."""

from __future__ import annotations

import pytest
import torch

import hooks
from hooks import HookPlacementError

TOKENS = torch.tensor([[5, 9, 14, 22, 31, 40], [7, 7, 19, 44, 23, 11]])


@pytest.fixture(scope="module")
def bridge():
    import interp

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # toy-sized tensors: one thread avoids OpenMP contention
    yield interp.load_model("suite/pythia-s1")
    torch.set_num_threads(before)


def test_uniform_pattern_on_the_scores_raises(bridge):
    fwd_hooks = [("blocks.0.attn.hook_attn_scores", hooks.uniform_pattern())]
    with pytest.raises(HookPlacementError, match=r"for scores use replace_scores\(\.\.\.\)"):
        bridge.run_with_hooks(TOKENS, fwd_hooks=fwd_hooks)


def test_a_pattern_on_hook_z_raises_naming_the_bridge_alias(bridge):
    fwd_hooks = [("blocks.0.attn.hook_z", hooks.random_pattern())]
    with pytest.raises(HookPlacementError, match=r"not blocks\.0\.attn\.o\.hook_in \(a bridge's"):
        bridge.run_with_hooks(TOKENS, fwd_hooks=fwd_hooks)


def test_fitting_placements_run_and_leave_no_hooks(bridge):
    base = bridge(TOKENS)
    fwd_hooks = [
        ("blocks.0.attn.hook_pattern", hooks.uniform_pattern()),
        ("blocks.0.attn.hook_attn_scores", hooks.replace_scores(lambda s, hook: s * 0)),
        ("blocks.0.attn.hook_z", hooks.ablate_heads([0])),
    ]
    edited = bridge.run_with_hooks(TOKENS, fwd_hooks=fwd_hooks)
    assert torch.isfinite(edited).all() and not torch.equal(edited, base)
    torch.testing.assert_close(bridge(TOKENS), base)  # run_with_hooks removed them again


def test_a_score_edit_does_not_let_the_last_token_move_earlier_logits(bridge):
    # The symptom, for the fitting factory: changing only the last token must leave
    # every earlier position's logits as they were.
    fwd_hooks = [
        (f"blocks.{L}.attn.hook_attn_scores", hooks.replace_scores(lambda s, hook: s * 0))
        for L in range(bridge.cfg.n_layers)
    ]
    other = TOKENS.clone()
    other[:, -1] = 3
    a = bridge.run_with_hooks(TOKENS, fwd_hooks=fwd_hooks)
    b = bridge.run_with_hooks(other, fwd_hooks=fwd_hooks)
    torch.testing.assert_close(a[:, :-1], b[:, :-1])
