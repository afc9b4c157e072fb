"""Repairs to TransformerBridge 4.3 behaviour that would make hooks crash or lie.

Each repair names its symptom and is applied by ``interp.bridge.make_patterns_live`` when the
family's ``Arch.bridge_fixes`` names it;
tests/unit/test_attention.py holds the test that fails without it.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def apply_fixes(bridge: Any, names: tuple[str, ...]) -> None:
    """Apply the named repairs (``Arch.bridge_fixes``) to ``bridge``."""
    for name in names:
        FIXES[name](bridge)


def fix_opt_post_ln_unflatten(bridge: Any) -> None:
    """opt-350m layout: hooks on ``ln2`` / ``hook_resid_mid`` crash or reshape the stream.

    OPT flattens hidden states to [batch*seq, d] around its MLP, and the Bridge unflattens
    them for hooks there, then flattens whatever the hook returns. On post-LN OPT the final
    LayerNorm runs on the already-3D stream, so the Bridge flattens a tensor it never
    unflattened, and the next layer receives [batch*seq, d]. The repair flattens back only
    what it unflattened.
    """
    from transformer_lens.model_bridge.supported_architectures.opt import _UnflattenTokens

    class UnflattenOnlyWhatWasFlat(_UnflattenTokens):
        def handle_conversion(self, input_value, *full_context):
            converted = super().handle_conversion(input_value, *full_context)
            self.converted = converted is not input_value
            return converted

        def revert(self, input_value, *full_context):
            if not getattr(self, "converted", False):
                return input_value
            return super().revert(input_value, *full_context)

    for block in bridge.blocks:
        for point in _hook_points(block):
            conversion = getattr(point, "hook_conversion", None)
            if type(conversion) is _UnflattenTokens:
                point.hook_conversion = UnflattenOnlyWhatWasFlat()


def _hook_points(module: nn.Module):
    from transformer_lens.hook_points import HookPoint

    return (m for m in module.modules() if isinstance(m, HookPoint))


FIXES = {"unflatten_post_ln": fix_opt_post_ln_unflatten}
