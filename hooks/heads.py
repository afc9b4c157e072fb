"""Hook factories that ablate, patch, scale or permute attention heads.

They fit the per-head hook points, and the head axis comes from the hook name: axis 2 of
``hook_q/k/v/z`` [batch, pos, head, d_head] (also under a bridge's own names for them,
``attn.q/k/v.hook_out`` and ``attn.o.hook_in``), of ``hook_rot_q/k`` and ``hook_result``, and
axis 1 of ``hook_pattern`` and ``hook_attn_scores`` [batch, head, query, key]. Placed on any
other point (the residual stream, ``hook_attn_out``), their hook raises ``HookPlacementError``
at its first call, unless ``head_axis=...`` says where the heads are there. At
``hook_attn_scores`` an edit never unmasks the future: edited heads get ``finfo(dtype).min`` on
future keys (and keep the live value where it is masked), so a zeroed head attends uniformly.
``heads`` is a list of head indices for every hooked layer, or ``{layer: [heads]}``, where a
layer absent from the dict is left alone. Heads not selected come back bit-identical.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Optional, Union

import torch
from torch import Tensor

from .types import (
    HookFn,
    HookPointLike,
    Source,
    check_placement,
    generator_for,
    head_axis_of,
    hook_name,
    layer_of,
    source_for,
)
from .validate import future_mask, remask_scores, validate_pattern

HeadSelection = Union[Sequence[int], Mapping[int, Sequence[int]]]
"""Head indices for every hooked layer (``[0, 3]``), or per layer (``{2: [0, 3], 5: [1]}``)."""


def _checked_indices(heads: Sequence[int], what: str) -> list[int]:
    indices = list(heads)
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"{what} must be non-negative ints, got {index!r} in {heads!r}")
    return indices


def _checked_selection(heads: HeadSelection, layer: Optional[int]) -> HeadSelection:
    """Check a head selection when the factory is made, so mistakes surface before a forward."""
    if isinstance(heads, Mapping):
        if layer is not None:
            raise ValueError("give heads as {layer: [heads]} or as a list with layer=..., not both")
        return {int(k): _checked_indices(v, f"heads of layer {k}") for k, v in heads.items()}
    return _checked_indices(heads, "heads")


def _heads_here(heads: HeadSelection, layer: Optional[int], hook: HookPointLike) -> list[int]:
    """The heads selected at this hook point (empty: leave the tensor alone)."""
    if isinstance(heads, Mapping):
        return list(heads.get(layer_of(hook), []))
    if layer is not None and layer_of(hook) != layer:
        return []
    return list(heads)


def _placed(hook: HookPointLike, head_axis: Optional[int], factory: str) -> None:
    """Refuse a hook point without heads, unless ``head_axis`` says where they are."""
    if head_axis is None:
        check_placement(hook, "heads", factory)


def _kept_causal(edited: Tensor, live: Tensor, hook: HookPointLike) -> Tensor:
    """At ``hook_attn_scores``, ``edited`` re-masked so no edit unmasks the future."""
    name = getattr(hook, "name", None)
    if isinstance(name, str) and name.endswith("hook_attn_scores"):
        return remask_scores(edited, live)
    return edited


def _axis_here(tensor: Tensor, hook: HookPointLike, head_axis: Optional[int]) -> int:
    """The head axis of ``tensor``, from ``head_axis`` or else the hook's name."""
    if head_axis is None:
        # A flattened [batch, pos, head * d_head] has no head axis: refuse to guess one.
        if tensor.ndim != 4:
            raise ValueError(
                f"expected a 4-dim per-head tensor at {hook_name(hook)!r}, got shape "
                f"{tuple(tensor.shape)}; pass head_axis=... if the heads have an axis of their own"
            )
        return head_axis_of(hook)
    if not -tensor.ndim <= head_axis < tensor.ndim:
        raise ValueError(
            f"head_axis={head_axis} does not exist on the {tensor.ndim}-dim tensor at "
            f"{hook_name(hook)!r} (shape {tuple(tensor.shape)})"
        )
    return head_axis % tensor.ndim


def _head_mask(tensor: Tensor, axis: int, heads: list[int], hook: HookPointLike) -> Tensor:
    """A bool mask that is True on the selected heads, shaped to broadcast against ``tensor``."""
    n_heads = tensor.shape[axis]
    out_of_range = [h for h in heads if h >= n_heads]
    if out_of_range:
        raise IndexError(
            f"heads {out_of_range} out of range at {hook_name(hook)!r}: it has n_heads={n_heads} "
            f"(indices 0..{n_heads - 1}, axis {axis} of shape {tuple(tensor.shape)})"
        )
    mask = torch.zeros(n_heads, dtype=torch.bool, device=tensor.device)
    mask[heads] = True
    shape = [1] * tensor.ndim
    shape[axis] = n_heads
    return mask.view(shape)


def _batch_mean(tensor: Tensor, axis: int, hook: HookPointLike) -> Tensor:
    """The mean over every axis before ``axis``, kept as size-1 axes."""
    if axis == 0:
        raise ValueError("mean ablation averages over the axes before the head axis; 0 has none")
    # float64: a float32 sum of masked scores (finfo.min each) would overflow to -inf.
    mean = tensor.mean(dim=tuple(range(axis)), keepdim=True, dtype=torch.float64)
    if hook_name(hook).endswith("hook_pattern"):
        # Padded queries' rows spread weight over future keys; averaged with real rows they
        # would leak the future, so the mean is re-masked and renormalised (a no-op otherwise).
        query_len, key_len = tensor.shape[-2:]
        mean = mean.masked_fill(future_mask(query_len, key_len, tensor.device), 0)
        mean = mean / mean.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(mean.dtype).tiny)
    return mean.to(tensor.dtype)


def ablate_heads(
    heads: HeadSelection,
    *,
    mode: Literal["zero", "mean"] = "zero",
    layer: Optional[int] = None,
    head_axis: Optional[int] = None,
) -> HookFn:
    """Zero the selected heads, or set them to their mean over the live batch: over batch and
    position for q/k/v/z, over batch for patterns and scores (padding included).

    ``layer`` restricts a list of heads to one layer. A zeroed pattern head attends to nothing
    (its rows sum to 0), the same as zeroing its ``hook_z``; a zeroed score head attends
    uniformly to the keys it may see (future keys stay masked). A mean-ablated pattern head
    stays causal and normalised.

    Example::

        fn = hooks.ablate_heads([0, 3], mode="mean")
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.4.attn.hook_z", fn)])
    """
    if mode not in ("zero", "mean"):
        raise ValueError(f"mode must be 'zero' or 'mean', got {mode!r}")
    selection = _checked_selection(heads, layer)

    def ablate_heads_hook(tensor: Tensor, hook: HookPointLike) -> Optional[Tensor]:
        _placed(hook, head_axis, "ablate_heads(...)")
        selected = _heads_here(selection, layer, hook)
        if not selected:
            return None
        axis = _axis_here(tensor, hook, head_axis)
        mask = _head_mask(tensor, axis, selected, hook)
        if mode == "zero":
            return torch.where(mask, _kept_causal(torch.zeros_like(tensor), tensor, hook), tensor)
        return torch.where(mask, _batch_mean(tensor, axis, hook), tensor)

    return ablate_heads_hook


def patch_heads(
    source: Source,
    heads: Optional[HeadSelection] = None,
    *,
    head_axis: Optional[int] = None,
    validate: bool = True,
) -> HookFn:
    """Copy the selected heads (all if ``heads`` is None) from ``source``: a tensor, a
    ``{layer or hook name: tensor}`` dict (a ``capture`` store works), or
    ``fn(live, hook) -> tensor``, as in ``replace_pattern``. The source must have the live
    shape. At ``hook_pattern`` the result is validated as in ``replace_pattern``.

    Example::

        clean, name = {}, "blocks.5.attn.hook_z"
        model.run_with_hooks(clean_tokens, fwd_hooks=[(name, hooks.capture(clean))])
        fn = hooks.patch_heads(clean, {5: [1]})  # head 5.1 from the clean run
        model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, fn)])
    """
    selection = None if heads is None else _checked_selection(heads, None)

    def patch_heads_hook(tensor: Tensor, hook: HookPointLike) -> Optional[Tensor]:
        _placed(hook, head_axis, "patch_heads(...)")
        axis = _axis_here(tensor, hook, head_axis)
        if selection is None:
            selected = list(range(tensor.shape[axis]))
        else:
            selected = _heads_here(selection, None, hook)
        if not selected:
            return None
        patch = source_for(source, tensor, hook, what="activation")
        if patch.shape != tensor.shape:
            raise ValueError(
                f"source at {hook_name(hook)!r} has shape {tuple(patch.shape)} but the live "
                f"tensor has {tuple(tensor.shape)}; capture it from inputs of the same shape"
            )
        patch = _kept_causal(patch.to(device=tensor.device, dtype=tensor.dtype), tensor, hook)
        patched = torch.where(_head_mask(tensor, axis, selected, hook), patch, tensor)
        if validate and hook_name(hook).endswith("hook_pattern"):
            validate_pattern(patched, like=tensor)
        return patched

    return patch_heads_hook


def scale_heads(
    heads: HeadSelection,
    factor: float,
    *,
    layer: Optional[int] = None,
    head_axis: Optional[int] = None,
) -> HookFn:
    """Multiply the selected heads by ``factor``. On ``hook_pattern`` this un-normalises the
    rows on purpose (the head's output scales by ``factor``) and is not validated.

    Example::

        fn = hooks.scale_heads({2: [7]}, 2.0)
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.2.attn.hook_z", fn)])
    """
    selection = _checked_selection(heads, layer)

    def scale_heads_hook(tensor: Tensor, hook: HookPointLike) -> Optional[Tensor]:
        _placed(hook, head_axis, "scale_heads(...)")
        selected = _heads_here(selection, layer, hook)
        if not selected:
            return None
        axis = _axis_here(tensor, hook, head_axis)
        scaled = _kept_causal(tensor * factor, tensor, hook)
        return torch.where(_head_mask(tensor, axis, selected, hook), scaled, tensor)

    return scale_heads_hook


def permute_heads(perm: Sequence[int], *, head_axis: Optional[int] = None) -> HookFn:
    """Reorder the heads: head ``i`` of the output is head ``perm[i]`` of the live tensor.

    Example::

        fn = hooks.permute_heads([1, 0, 2, 3])
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_pattern", fn)])
    """
    order = _checked_indices(perm, "perm")

    def permute_heads_hook(tensor: Tensor, hook: HookPointLike) -> Tensor:
        _placed(hook, head_axis, "permute_heads(...)")
        axis = _axis_here(tensor, hook, head_axis)
        n_heads = tensor.shape[axis]
        if sorted(order) != list(range(n_heads)):
            raise ValueError(
                f"perm {order} is not a permutation of the n_heads={n_heads} heads at "
                f"{hook_name(hook)!r}"
            )
        return tensor.index_select(axis, torch.tensor(order, device=tensor.device))

    return permute_heads_hook


def shuffle_heads(seed: int = 0, *, head_axis: Optional[int] = None) -> HookFn:
    """Reorder the heads at random, a control for head-specific effects. The permutation is
    fixed by ``seed`` and the hook's layer, and is never the identity when there are 2+ heads.

    Example::

        fn = hooks.shuffle_heads(seed=1)
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_pattern", fn)])
    """

    def shuffle_heads_hook(tensor: Tensor, hook: HookPointLike) -> Tensor:
        _placed(hook, head_axis, "shuffle_heads(...)")
        axis = _axis_here(tensor, hook, head_axis)
        n_heads = tensor.shape[axis]
        order = torch.randperm(n_heads, generator=generator_for(seed, hook))
        if n_heads > 1 and bool((order == torch.arange(n_heads)).all()):
            order = order.roll(1)  # an identity "shuffle" would make the control a no-op
        return tensor.index_select(axis, order.to(tensor.device))

    return shuffle_heads_hook
