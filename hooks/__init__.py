"""Hook factories: small functions that build TransformerLens forward hooks.

A hook factory takes the settings of an intervention (a donor pattern, heads to ablate, a seed)
and returns ``fn(tensor, hook) -> tensor | None``, the hook ``run_with_hooks`` calls at a hook
point: a tensor it returns replaces the activation, ``None`` keeps it. Hooks never edit in place.
They read only ``hook.name`` (its layer selects per-layer data), so they work on any
TransformerBridge with the standard names: ``blocks.{L}.attn.hook_pattern`` and
``hook_attn_scores`` [batch, head, query, key], ``hook_q/k/v/z`` [batch, pos, head, d_head].
Replacements are checked (shape, causal, normalised, finite) unless ``validate=False``.

Placement: every factory knows the hook points it fits (one table, ``hooks.types.PLACEMENT``;
ask ``hooks.fits(name, kind)``). Pattern factories (``replace_pattern``, ``interpolate_pattern``,
``uniform_pattern``, ``random_pattern``) fit only ``hook_pattern``; ``replace_scores`` only
``hook_attn_scores``; head factories (``ablate_heads``, ``patch_heads``, ``scale_heads``,
``permute_heads``, ``shuffle_heads``) only per-head points (``hook_q/k/v/z`` and a bridge's
aliases for them, ``hook_pattern``, ``hook_attn_scores``, ``hook_rot_q/k``, ``hook_result``) unless
``head_axis=...`` names the head axis elsewhere; ``capture`` only reads and fits any point. Placed
elsewhere, a hook raises ``HookPlacementError`` (a ``ValueError``) at its first call, naming the
point and the factories that fit there, instead of letting queries see future tokens (a pattern
on the scores) or silently overwriting an activation. No score edit unmasks the future: future
keys stay at ``finfo(dtype).min``.
Pattern and score edits need a bridge that runs them live: ``interp.load_model`` makes one, and
``interp.make_patterns_live(bridge)`` binds a bridge you booted yourself (``hooks`` itself
imports nothing from interp, so it stays importable without transformers).

    import hooks
    store = {}
    names = [f"blocks.{L}.attn.hook_pattern" for L in range(model.cfg.n_layers)]
    model.run_with_hooks(clean, fwd_hooks=[(n, hooks.capture(store)) for n in names])
    model.run_with_hooks(corrupt, fwd_hooks=[(n, hooks.replace_pattern(store)) for n in names])
    model.run_with_hooks(clean, fwd_hooks=[("blocks.3.attn.hook_z", hooks.ablate_heads([0, 5]))])
"""

from .heads import (
    HeadSelection,
    ablate_heads,
    patch_heads,
    permute_heads,
    scale_heads,
    shuffle_heads,
)
from .patterns import (
    capture,
    interpolate_pattern,
    random_pattern,
    replace_pattern,
    replace_scores,
    uniform_pattern,
)
from .types import (
    PLACEMENT,
    HeadActivation,
    HookFn,
    HookPlacementError,
    HookPointLike,
    Pattern,
    Scores,
    Source,
    check_placement,
    fits,
    head_axis_of,
    hook_name,
    layer_of,
)
from .validate import PatternError, future_mask, validate_pattern, validate_scores

__all__ = [
    # types
    "HeadActivation",
    "HeadSelection",
    "HookFn",
    "HookPointLike",
    "Pattern",
    "Scores",
    "Source",
    "head_axis_of",
    "hook_name",
    "layer_of",
    # placement
    "PLACEMENT",
    "HookPlacementError",
    "check_placement",
    "fits",
    # validation
    "PatternError",
    "future_mask",
    "validate_pattern",
    "validate_scores",
    # pattern and score factories
    "capture",
    "interpolate_pattern",
    "random_pattern",
    "replace_pattern",
    "replace_scores",
    "uniform_pattern",
    # head factories
    "ablate_heads",
    "patch_heads",
    "permute_heads",
    "scale_heads",
    "shuffle_heads",
]


def __getattr__(name: str):
    # hooks imports nothing from interp, so the binder of foreign bridges lives there now.
    if name == "make_patterns_live":
        raise AttributeError("hooks.make_patterns_live moved to interp.make_patterns_live(bridge) "
                             "(hooks imports nothing from interp)")
    raise AttributeError(f"module 'hooks' has no attribute {name!r}")
