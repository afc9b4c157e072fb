"""Hook factories that capture, replace or rebuild attention patterns and scores.

The pattern factories fit only ``blocks.{L}.attn.hook_pattern`` (post-softmax) and
``replace_scores`` only ``blocks.{L}.attn.hook_attn_scores`` (pre-softmax, causally masked):
placed elsewhere, their hook raises ``HookPlacementError`` at its first call (a pattern written
into the scores would let queries see future tokens; into ``hook_z`` it would silently overwrite
it). ``capture`` only reads and fits any point. Each hook function builds a new tensor and never
edits the live one in place.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import Tensor

from .types import (
    HookFn,
    HookPointLike,
    Pattern,
    Scores,
    Source,
    check_placement,
    generator_for,
    hook_name,
    source_for,
)
from .validate import PatternError, future_mask, remask_scores, validate_pattern, validate_scores

DeviceOrDtype = Union[torch.device, str, torch.dtype, None]


def capture(store: dict, *, detach: bool = True, to: DeviceOrDtype = None) -> HookFn:
    """Copy each activation into ``store[hooks.hook_name(hook)]``; the model's tensor is kept.

    Keys are TransformerLens names, also for the per-head points a bridge fires under its own
    names (``hook_z`` is stored as ``blocks.L.attn.hook_z``, not ``blocks.L.attn.o.hook_in``).
    ``to`` is a device or dtype to move the copy to. Always a copy: a later in-place edit at
    the same hook point must not change what was captured. A point that fires twice
    (generation) keeps the last firing.

    Example::

        store = {}
        fwd_hooks = [("blocks.0.attn.hook_pattern", hooks.capture(store))]
        model.run_with_hooks(tokens, fwd_hooks=fwd_hooks)
        store["blocks.0.attn.hook_pattern"]  # [batch, head, query, key]
    """

    def capture_hook(tensor: Tensor, hook: HookPointLike) -> None:
        kept = tensor.detach() if detach else tensor
        store[hook_name(hook)] = kept.clone() if to is None else kept.to(to, copy=True)

    return capture_hook


def _replacement(
    source: Source, live: Tensor, hook: HookPointLike, what: str, *, copy: bool = False
) -> Tensor:
    """The source's tensor for this hook, on the live tensor's device and dtype."""
    found = source_for(source, live, hook, what=what)
    return found.to(device=live.device, dtype=live.dtype, copy=copy)


def replace_pattern(source: Source, *, validate: bool = True) -> HookFn:
    """Replace the attention pattern with ``source``: one tensor for every hooked layer, a
    ``{layer or hook name: tensor}`` dict (a ``capture`` store works), or
    ``fn(live_pattern, hook) -> tensor``.

    The replacement is cast to the live dtype and device and, with ``validate``, checked
    against the live pattern: shape, finite, non-negative, causal, rows summing to 1.

    Example::

        names = [f"blocks.{L}.attn.hook_pattern" for L in range(model.cfg.n_layers)]
        donor = {}
        model.run_with_hooks(other_tokens, fwd_hooks=[(n, hooks.capture(donor)) for n in names])
        model.run_with_hooks(tokens, fwd_hooks=[(n, hooks.replace_pattern(donor)) for n in names])
    """

    def replace_pattern_hook(pattern: Pattern, hook: HookPointLike) -> Pattern:
        check_placement(hook, "pattern", "replace_pattern(...)")
        # A copy even when the cast is a no-op: a later in-place hook at this point must not
        # reach the caller's donor tensor.
        replacement = _replacement(source, pattern, hook, "pattern", copy=True)
        if validate:
            validate_pattern(replacement, like=pattern)
        return replacement

    return replace_pattern_hook


def interpolate_pattern(donor: Source, alpha: float, *, validate: bool = True) -> HookFn:
    """Mix the live pattern toward ``donor``: ``(1 - alpha) * own + alpha * donor``.

    ``donor`` is a tensor, a ``{layer or hook name: tensor}`` dict, or a function, as in
    ``replace_pattern``, and is validated the same way. ``alpha`` 0 gives the model's own
    pattern and 1 the donor's, exactly.

    Example::

        fn = hooks.interpolate_pattern(donor, 0.5)
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.2.attn.hook_pattern", fn)])
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] so the mix stays a distribution, got {alpha}")

    def interpolate_pattern_hook(pattern: Pattern, hook: HookPointLike) -> Pattern:
        check_placement(hook, "pattern", "interpolate_pattern(...)")
        mixed_in = _replacement(donor, pattern, hook, "donor pattern")
        if validate:
            validate_pattern(mixed_in, like=pattern)
        # lerp computes from the nearer end, so alpha 0 and 1 give own and donor exactly.
        return torch.lerp(pattern, mixed_in, alpha)

    return interpolate_pattern_hook


def _visible_keys(live: Tensor) -> Tensor:
    """[query, key] 1.0 where a query may see a key, 0.0 in its future, in ``live``'s dtype."""
    query_len, key_len = live.shape[-2:]
    if key_len < query_len:
        raise PatternError(
            f"got {key_len} keys for {query_len} queries: not a causal [batch, head, query, key] "
            "pattern; hook these factories on blocks.{L}.attn.hook_pattern"
        )
    return (~future_mask(query_len, key_len, live.device)).to(live.dtype)


def uniform_pattern() -> HookFn:
    """Replace the pattern with uniform causal attention: query i weighs keys
    ``0 .. i + key_len - query_len`` equally.

    Example::

        fn = hooks.uniform_pattern()
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_pattern", fn)])
    """

    def uniform_pattern_hook(pattern: Pattern, hook: HookPointLike) -> Pattern:
        check_placement(hook, "pattern", "uniform_pattern()")
        visible = _visible_keys(pattern)
        uniform = visible / visible.sum(dim=-1, keepdim=True)
        # contiguous(): a stride-0 expanded view would break a later in-place hook.
        return uniform.expand(pattern.shape).contiguous()

    return uniform_pattern_hook


def random_pattern(seed: int = 0) -> HookFn:
    """Replace the pattern with random causal attention, each row drawn uniformly from the
    simplex over the keys it may see. The same ``seed`` and layer give the same pattern.

    Example::

        fn = hooks.random_pattern(seed=3)
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_pattern", fn)])
    """

    def random_pattern_hook(pattern: Pattern, hook: HookPointLike) -> Pattern:
        check_placement(hook, "pattern", "random_pattern(...)")
        # Drawn on CPU in float32 so a seed gives the same pattern on every device.
        draws = torch.empty(pattern.shape, dtype=torch.float32)
        draws.exponential_(generator=generator_for(seed, hook))
        # Normalised i.i.d. exponentials are uniform on the simplex (a flat Dirichlet).
        draws = draws * _visible_keys(draws)
        weights = draws / draws.sum(dim=-1, keepdim=True)
        return weights.to(device=pattern.device, dtype=pattern.dtype)

    return random_pattern_hook


def replace_scores(source: Source, *, validate: bool = True) -> HookFn:
    """Replace pre-softmax scores (``hook_attn_scores``) with ``source``, re-masking the
    future so a replacement can never let a query see later keys.

    ``source`` is a tensor, a ``{layer or hook name: tensor}`` dict, or a function, as in
    ``replace_pattern``; with ``validate`` it must have the live shape and no NaN or +inf.
    Future keys get ``finfo(dtype).min``. Entries the live scores already mask (at or below
    ``finfo.min``: padding, or ``-inf`` in compatibility mode) keep the live value, so padding
    stays masked too.

    Example::

        fn = hooks.replace_scores(lambda scores, hook: torch.zeros_like(scores))  # uniform
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_attn_scores", fn)])
    """

    def replace_scores_hook(scores: Scores, hook: HookPointLike) -> Scores:
        check_placement(hook, "scores", "replace_scores(...)")
        replacement = _replacement(source, scores, hook, "scores")
        if validate:
            # Not causal=True: future keys are re-masked below, whatever the source holds there.
            validate_scores(replacement, like=scores, causal=False)
        return remask_scores(replacement, scores)

    return replace_scores_hook
