"""Make pattern and score hooks live on a TransformerBridge that interp.load_model did not create.

Kept apart from the factories: it needs interp's attention mechanism (and so transformers),
which ``import hooks`` alone never loads.
"""

from __future__ import annotations

from typing import Any


def make_patterns_live(bridge: Any, *, self_test: bool = True) -> Any:
    """Bind ``bridge`` so every ``hook_pattern`` / ``hook_attn_scores`` edit takes effect.

    On OPT, stock TransformerLens 4.3 discards these edits; after this call they change the
    output exactly as recomputing attention would, an 8-token self-test proves it, and hook
    points that never fire raise instead of silently doing nothing. Returns the bridge.

    >>> from transformer_lens.model_bridge import TransformerBridge
    >>> bridge = TransformerBridge.boot_transformers("facebook/opt-125m")  # doctest: +SKIP
    >>> hooks.make_patterns_live(bridge)  # doctest: +SKIP
    """
    from interp.attention import make_patterns_live as bind

    return bind(bridge, self_test=self_test)
