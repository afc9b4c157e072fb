"""Make pattern and score edits live on a TransformerBridge, and refuse hooks that would lie.

The seam, in a few lines (the rest of interp never touches a TransformerBridge internal):
1. The Bridge forces eager attention at boot: we select ``"interp"`` afterwards.
2. Where the Bridge calls HF's attention function (``Arch.bridge_binds_slots``, OPT), each
   layer's slot holds the Bridge's own ``hook_attn_scores`` / ``hook_pattern`` HookPoints, so
   the names users know run mid-computation, in-place edits included.
3. The Bridge's post-hoc firing (``_fire_post_hoc_hook``) would drop an edit: it now raises.
4. A hook point that never fires in a forward refuses hooks (``check_hooks_to_add``).
5. ``interp.bridge.selftest`` proves all of it on an 8-token input at load time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from interp.arch import arch_of
from interp.attention import AttentionSlot, torch_hooks, use_interp_attention
from interp.bridge.errors import DeadHookError, DiscardedEditError
from interp.bridge.fixes import apply_fixes
from interp.bridge.selftest import probe_tokens, run_self_test

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge


def make_patterns_live(bridge: "TransformerBridge", *, self_test: bool = True) -> "TransformerBridge":
    """Make every pattern and score edit on ``bridge`` take effect, and refuse dead hooks.

    For a bridge our loader did not create (``interp.load_model`` already calls it).
    Idempotent; returns the bridge.

    >>> import interp
    >>> from transformer_lens.model_bridge import TransformerBridge
    >>> path = interp.resolve("suite/pythia-s1").location  # a local folder
    >>> hf = interp.load_hf_model("suite/pythia-s1")
    >>> bridge = TransformerBridge.boot_transformers(path, hf_model=hf, tokenizer=hf.tokenizer)
    >>> make_patterns_live(bridge) is bridge  # self-tested on the way
    True
    >>> make_patterns_live(bridge) is bridge  # idempotent
    True
    """
    hf_model = bridge.original_model
    arch = arch_of(hf_model)
    # The Bridge forces eager at boot; choose ours afterwards.
    use_interp_attention(hf_model)
    apply_fixes(bridge, arch.bridge_fixes)
    for block in bridge.blocks:
        attn_bridge = block.attn
        if arch.bridge_binds_slots:  # the Bridge calls HF attention: bind its HookPoints in
            attn_bridge.original_component.interp_slot = AttentionSlot(
                scores=attn_bridge.hook_attn_scores,
                pattern=attn_bridge.hook_pattern,
                return_weights=False,
            )
        _refuse_post_hoc_edits(attn_bridge)
    _refuse_dead_hooks(bridge)
    if self_test:
        run_self_test(bridge)
    # The Bridge's own permanent hooks, so that any hook a user attaches later can be told
    # apart from them (user_hooks_attached).
    vars(bridge)["interp_own_hooks"] = frozenset(id(h) for h in _hook_handles(bridge))
    return bridge


def user_hooks_attached(bridge: nn.Module) -> bool:
    """Does any HookPoint of ``bridge`` hold a hook that was not there when interp made its
    patterns live (``add_hook``, a ``hooks()`` context)? Scoring then runs through the Bridge,
    never around it.

    >>> import interp
    >>> bridge = interp.load_model("suite/pythia-s1")
    >>> user_hooks_attached(bridge)
    False
    >>> bridge.add_hook("blocks.0.attn.hook_pattern", lambda t, hook: t)
    >>> user_hooks_attached(bridge)
    True
    >>> bridge.reset_hooks()
    """
    own = vars(bridge).get("interp_own_hooks", frozenset())
    return any(id(handle) not in own for handle in _hook_handles(bridge))


def _hook_handles(bridge: nn.Module) -> list:
    return [handle for point in bridge.hook_dict.values()
            for handle in (*getattr(point, "fwd_hooks", ()), *getattr(point, "bwd_hooks", ()))]


def _refuse_post_hoc_edits(attn_bridge: nn.Module) -> None:
    """Turn the Bridge's 'edit is discarded' warning into an error, in-place edits included."""
    if getattr(attn_bridge, "_interp_guarded", False):
        return

    def fire_or_refuse(hook: nn.Module, tensor: Tensor, hook_label: str) -> Tensor:
        if not getattr(hook, "_forward_hooks", None):
            return tensor
        before = tensor.detach().clone()
        result = hook(tensor)
        if not torch.equal(tensor, before) or (
            isinstance(result, Tensor) and result is not tensor and not torch.equal(result, before)
        ):
            raise DiscardedEditError(
                f"a hook on {hook.name} edited a tensor that {type(attn_bridge.original_component).__name__} "
                "has already consumed, so the edit cannot change the output. Load the model with "
                "interp.load_model (or call interp.make_patterns_live) so this hook point runs live."
            )
        return result

    attn_bridge._fire_post_hoc_hook = fire_or_refuse
    attn_bridge._interp_guarded = True


def _refuse_dead_hooks(bridge: "TransformerBridge") -> None:
    """Find the hook points that never fire in a forward, and make adding a hook there raise."""
    fired: set[str] = set()
    watchers = [(point, "forward", lambda m, i, o, name=name: fired.add(name))
                for name, point in bridge.hook_dict.items()]
    with torch_hooks(watchers), torch.no_grad():
        bridge(probe_tokens(bridge, 4))
    gated = {n for n in bridge.hook_dict if bridge._gated_hook_reason(n) is not None}
    dead = {n for n in bridge.hook_dict if n not in fired and n not in gated}
    bridge._interp_dead_hooks = frozenset(dead)
    if getattr(bridge, "_interp_check_installed", False):
        return
    original_check = bridge.check_hooks_to_add

    def check_hooks_to_add(hook_point, hook_point_name, hook, dir="fwd", **kwargs):
        original_check(hook_point, hook_point_name, hook, dir=dir, **kwargs)
        name = hook_point.name or hook_point_name
        if name in bridge._interp_dead_hooks:
            raise DeadHookError(
                f"{hook_point_name} never fires on {type(bridge.original_model).__name__}, so a hook "
                f"there would silently do nothing. Live neighbours: {_live_neighbours(bridge, name)}"
            )

    bridge.check_hooks_to_add = check_hooks_to_add
    bridge._interp_check_installed = True


def _live_neighbours(bridge: "TransformerBridge", name: str) -> str:
    prefix = name.rsplit(".", 1)[0] + "."
    live = sorted(
        n for n in bridge.hook_dict if n.startswith(prefix) and n not in bridge._interp_dead_hooks
    )
    return ", ".join(live[:8]) or "none"


