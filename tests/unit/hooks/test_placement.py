"""Every factory fits only its hook points: placed elsewhere, it raises HookPlacementError
naming the point and the factory that fits there; no score edit unmasks the future."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import hooks
from hooks import HookPlacementError, PatternError

BATCH, HEADS, LEN, D_HEAD = 2, 3, 5, 4
MASKED = torch.finfo(torch.float32).min
FUTURE = hooks.future_mask(LEN, LEN)


def at(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name)


def pattern() -> torch.Tensor:
    scores = torch.randn(BATCH, HEADS, LEN, LEN, generator=torch.Generator().manual_seed(0))
    return scores.masked_fill(FUTURE, float("-inf")).softmax(-1)


def scores() -> torch.Tensor:
    live = torch.randn(BATCH, HEADS, LEN, LEN, generator=torch.Generator().manual_seed(1))
    return live.masked_fill(FUTURE, MASKED)


def per_head() -> torch.Tensor:
    return torch.randn(BATCH, LEN, HEADS, D_HEAD, generator=torch.Generator().manual_seed(2))


def resid() -> torch.Tensor:
    return torch.randn(BATCH, LEN, 8, generator=torch.Generator().manual_seed(3))


PATTERN_POINT = "blocks.0.attn.hook_pattern"
SCORES_POINT = "blocks.0.attn.hook_attn_scores"
# TransformerLens names and the names a TransformerBridge fires them under.
HEAD_POINTS = [
    "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v", "blocks.0.attn.hook_z",
    "blocks.0.attn.q.hook_out", "blocks.0.attn.k.hook_out", "blocks.0.attn.v.hook_out",
    "blocks.0.attn.o.hook_in",
]
ELSEWHERE = [  # no factory edits these: residual stream (also as a bridge fires it), outputs
    "blocks.0.hook_resid_pre", "blocks.0.hook_in", "blocks.0.hook_attn_out",
    "blocks.0.attn.hook_out", "blocks.0.attn.qkv.hook_out", "blocks.0.mlp.hook_post",
]


def live_at(name: str) -> torch.Tensor:
    if name.endswith("hook_pattern"):
        return pattern()
    if name.endswith("hook_attn_scores"):
        return scores()
    if hooks.fits(name, "heads"):
        return per_head()
    return resid()


PATTERN_FACTORIES = {
    "replace_pattern": lambda: hooks.replace_pattern(pattern()),
    "interpolate_pattern": lambda: hooks.interpolate_pattern(pattern(), 0.5),
    "uniform_pattern": hooks.uniform_pattern,
    "random_pattern": lambda: hooks.random_pattern(1),
}
HEAD_FACTORIES = {
    "ablate_heads": lambda: hooks.ablate_heads([1]),
    "patch_heads": lambda: hooks.patch_heads(lambda live, hook: live.flip(0), [1]),
    "scale_heads": lambda: hooks.scale_heads([1], 2.0),
    "permute_heads": lambda: hooks.permute_heads([2, 0, 1]),
    "shuffle_heads": lambda: hooks.shuffle_heads(1),
}


# --- the one table ---------------------------------------------------------------------------


def test_fits_reads_the_one_table_and_maps_bridge_aliases():
    assert hooks.fits(PATTERN_POINT, "pattern") and hooks.fits(at(PATTERN_POINT), "heads")
    assert not hooks.fits(PATTERN_POINT, "scores")
    assert hooks.fits(SCORES_POINT, "scores") and hooks.fits(SCORES_POINT, "heads")
    assert not hooks.fits(SCORES_POINT, "pattern")
    for name in HEAD_POINTS:
        assert hooks.fits(name, "heads") and not hooks.fits(name, "pattern"), name
        assert not hooks.fits(name, "scores"), name
    for name in ELSEWHERE:
        assert not any(hooks.fits(name, kind) for kind in hooks.PLACEMENT), name
    assert set(hooks.PLACEMENT) == {"pattern", "scores", "heads"}
    with pytest.raises(ValueError, match="unknown kind"):
        hooks.fits(PATTERN_POINT, "patterns")
    assert issubclass(HookPlacementError, ValueError)


# --- pattern factories -----------------------------------------------------------------------


@pytest.mark.parametrize("factory", PATTERN_FACTORIES)
def test_pattern_factories_fit_hook_pattern_only(factory):
    out = PATTERN_FACTORIES[factory]()(pattern(), at(PATTERN_POINT))
    hooks.validate_pattern(out)
    for name in [SCORES_POINT, *HEAD_POINTS, *ELSEWHERE]:
        with pytest.raises(HookPlacementError) as err:
            PATTERN_FACTORIES[factory]()(live_at(name), at(name))
        message = str(err.value)
        assert message.startswith(f"{factory}(") and "is a pattern factory" in message
        assert "fits blocks.{L}.attn.hook_pattern" in message and f"not {name}" in message
        assert "\n" not in message


def test_a_pattern_on_the_scores_points_to_replace_scores():
    # The bug: uniform attention written into the pre-softmax scores lets queries see the future.
    with pytest.raises(HookPlacementError) as err:
        hooks.uniform_pattern()(scores(), at(SCORES_POINT))
    assert str(err.value).startswith(
        "uniform_pattern() is a pattern factory and fits blocks.{L}.attn.hook_pattern, "
        "not blocks.0.attn.hook_attn_scores; for scores use replace_scores(...)"
    )


def test_a_pattern_on_hook_z_names_the_alias_and_the_head_factories():
    with pytest.raises(HookPlacementError) as err:
        hooks.replace_pattern(pattern())(per_head(), at("blocks.3.attn.o.hook_in"))
    message = str(err.value)
    assert "not blocks.3.attn.o.hook_in (a bridge's blocks.3.attn.hook_z)" in message
    assert "for per-head edits use ablate_heads(...)" in message


def test_a_pattern_on_the_residual_stream_names_no_editing_factory():
    with pytest.raises(HookPlacementError, match="no factory in hooks edits that point"):
        hooks.random_pattern()(resid(), at("blocks.2.hook_resid_pre"))


def test_capture_fits_every_point():
    store: dict = {}
    for name in [PATTERN_POINT, SCORES_POINT, *HEAD_POINTS, *ELSEWHERE]:
        assert hooks.capture(store)(live_at(name), at(name)) is None
    assert "blocks.0.attn.hook_z" in store and "blocks.0.hook_resid_pre" in store


def test_a_direct_call_without_a_hook_point_is_not_a_placement():
    # interp's pattern swap calls uniform_pattern()(own, None) on a tensor, at no hook point.
    hooks.validate_pattern(hooks.uniform_pattern()(pattern(), None))


# --- score factory ---------------------------------------------------------------------------


def test_replace_scores_fits_hook_attn_scores_only():
    out = hooks.replace_scores(torch.zeros(BATCH, HEADS, LEN, LEN))(scores(), at(SCORES_POINT))
    assert (out[..., FUTURE] == MASKED).all() and (out[..., ~FUTURE] == 0).all()
    for name in [PATTERN_POINT, *HEAD_POINTS, *ELSEWHERE]:
        with pytest.raises(HookPlacementError) as err:
            hooks.replace_scores(torch.zeros(1))(live_at(name), at(name))
        message = str(err.value)
        assert message.startswith("replace_scores(...) is a score factory and fits ")
        assert "blocks.{L}.attn.hook_attn_scores" in message and f"not {name}" in message
    with pytest.raises(HookPlacementError, match="for patterns use replace_pattern"):
        hooks.replace_scores(torch.zeros(1))(pattern(), at(PATTERN_POINT))


def test_a_score_replacement_with_a_visible_future_is_refused():
    leaky = scores()
    leaky[1, 2, 0, 3] = 0.5  # query 0 sees key 3
    with pytest.raises(PatternError) as err:
        hooks.validate_scores(leaky, like=scores())
    message = str(err.value)
    assert "scores are not causal: 1 future keys are left visible" in message
    assert "batch 1, head 2, query 0, key 3, score 0.5" in message
    assert "finfo(dtype).min" in message and "replace_scores" in message
    hooks.validate_scores(scores())
    hooks.validate_scores(scores().masked_fill(FUTURE, float("-inf")))  # compatibility mode
    hooks.validate_scores(leaky, causal=False)
    # replace_scores accepts a future-visible source only because it re-masks it: its output
    # always passes the causal check, so a score edit can never unmask the future.
    out = hooks.replace_scores(torch.full_like(leaky, 3.0))(leaky, at(SCORES_POINT))
    hooks.validate_scores(out)
    assert (out[..., FUTURE] == MASKED).all()


# --- head factories --------------------------------------------------------------------------


@pytest.mark.parametrize("factory", HEAD_FACTORIES)
def test_head_factories_fit_per_head_points_only(factory):
    for name in [PATTERN_POINT, SCORES_POINT, *HEAD_POINTS]:
        live = live_at(name)
        out = HEAD_FACTORIES[factory]()(live, at(name))
        assert out is not None and out.shape == live.shape, name
    for name in ELSEWHERE:
        with pytest.raises(HookPlacementError) as err:
            HEAD_FACTORIES[factory]()(resid(), at(name))
        message = str(err.value)
        assert message.startswith(f"{factory}(") and "is a head factory" in message
        assert "blocks.{L}.attn.hook_q/k/v/z" in message and f"not {name}" in message
        assert "no per-head axis" in message and "head_axis=..." in message
        assert "\n" not in message


def test_placement_is_checked_before_the_layer_selection():
    # Heads for layer 4 only, placed on layer 3's residual stream: still a misplacement.
    with pytest.raises(HookPlacementError):
        hooks.ablate_heads({4: [0]})(resid(), at("blocks.3.hook_resid_pre"))
    assert hooks.ablate_heads({4: [0]})(per_head(), at("blocks.3.attn.hook_z")) is None


def test_head_axis_opts_in_to_any_point():
    heads_first = per_head().transpose(1, 2)
    out = hooks.scale_heads([0], 0.0, head_axis=1)(heads_first, at("blocks.0.my.heads"))
    assert (out[:, 0] == 0).all() and torch.equal(out[:, 1:], heads_first[:, 1:])


@pytest.mark.parametrize(
    "edit",
    [
        lambda: hooks.ablate_heads([1]),  # zeroed scores: uniform over the visible keys only
        lambda: hooks.scale_heads([1], 0.0),
        lambda: hooks.scale_heads([1], -1.0),  # -finfo.min would be finfo.max: the future
        lambda: hooks.patch_heads(torch.zeros(BATCH, HEADS, LEN, LEN), [1]),
    ],
)
def test_head_edits_of_scores_never_unmask_the_future(edit):
    live = scores()
    live[0, :, :, 0] = float("-inf")  # a padding key stays masked too
    out = edit()(live, at(SCORES_POINT))
    hooks.validate_scores(out, like=live)
    assert (out[0, 1, :, 0] == float("-inf")).all()
    assert torch.equal(out[:, [0, 2]], live[:, [0, 2]])  # heads not selected: bit-identical
    # Rows with a visible key put no weight on the future (query 0 of batch 0 sees only the
    # padding key: fully masked, the model's own softmax spreads it, as it does live).
    pattern_out = out.softmax(-1)
    assert (pattern_out[1][..., FUTURE] == 0).all()
    assert (pattern_out[0, :, 1:][..., FUTURE[1:]] == 0).all()


def test_the_moved_binder_says_where_it_went():
    import hooks

    with pytest.raises(AttributeError, match=r"interp\.make_patterns_live"):
        hooks.make_patterns_live  # noqa: B018
