"""Attention-pattern and score edits that take effect on every family, proven at load time.

The mechanism, in ten lines:
1. transformers 5 lets a model run a registered attention function. We register one,
   ``"interp"``, with HF's eager mask builder, and select it on every model we load.
2. An HF attention module may carry an ``AttentionSlot`` (attribute ``interp_slot``): two
   callables, ``scores`` (pre-softmax, masked) and ``pattern`` (post-softmax). The function
   calls them mid-computation, so what they return is what the values are mixed with.
3. With no slot, or a slot whose hooks have nothing registered, it runs fused SDPA.
4. Inside a TransformerBridge on OPT the slot holds the Bridge's own ``hook_attn_scores`` and
   ``hook_pattern`` HookPoints, so the names users know become live, in-place edits included;
   the function then returns no weights, so the Bridge does not re-fire them after the fact.
5. GPT-NeoX bridges recompute attention themselves and fire those HookPoints live already.
6. A hook point that never fires, or a post-hoc firing that would drop an edit, raises.
7. ``self_test`` runs a few 8-token forwards proving edits move the output and identity doesn't.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
from jaxtyping import Float
from torch import Tensor, nn

from interp.bridge_fixes import fix_opt_post_ln_unflatten

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

ATTN_IMPLEMENTATION = "interp"

Pattern = Float[Tensor, "batch head query key"]
Scores = Float[Tensor, "batch head query key"]
TensorEdit = Callable[[Tensor], Tensor]

# HF module paths of the per-layer attention modules, by architecture. These two families are
# what the studies compare; adding one means adding its path and a test in tests/test_attention.py.
ATTENTION_PATHS: dict[str, str] = {
    "GPTNeoXForCausalLM": "gpt_neox.layers.{layer}.attention",
    "OPTForCausalLM": "model.decoder.layers.{layer}.self_attn",
}
SUPPORTED_ARCHITECTURES = tuple(ATTENTION_PATHS)


class DiscardedEditError(RuntimeError):
    """A hook returned or made an edit that the model would not use."""


class DeadHookError(ValueError):
    """A hook was added to a hook point that never fires on this model."""


class SelfTestError(RuntimeError):
    """The load-time proof that edits are live failed."""


@dataclass
class AttentionSlot:
    """What the ``interp`` attention function calls on one layer's scores and pattern.

    Each field is ``None`` or a callable ``tensor -> tensor`` (a TransformerLens HookPoint is
    one). ``given``, when set, supplies the pattern outright, called as ``given(query, key)``:
    the module's own scores and pattern are then never computed (a swap at alpha = 1 needs
    only the donor's). ``return_weights`` is False inside a Bridge, whose wrapper would
    otherwise fire its hooks a second time on the returned weights.

    >>> slot = AttentionSlot(pattern=lambda p: p)
    """

    scores: Optional[TensorEdit] = None
    pattern: Optional[TensorEdit] = None
    given: Optional[Callable[[Tensor, Tensor], Tensor]] = None
    return_weights: bool = True

    def is_active(self) -> bool:
        return self.given is not None or _wants_call(self.scores) or _wants_call(self.pattern)


def _wants_call(edit: Optional[TensorEdit]) -> bool:
    if edit is None:
        return False
    hooks = getattr(edit, "_forward_hooks", None)
    # A HookPoint with nothing registered is the identity: skip it and keep the fused path.
    return bool(hooks) if hooks is not None else True


def interp_attention_forward(
    module: nn.Module,
    query: Float[Tensor, "batch head query d_head"],
    key: Float[Tensor, "batch head key d_head"],
    value: Float[Tensor, "batch head key d_head"],
    attention_mask: Optional[Tensor],
    scaling: Optional[float] = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Float[Tensor, "batch query head d_head"], Optional[Pattern]]:
    """Eager attention that routes scores and pattern through the module's slot.

    Registered with transformers as ``"interp"``; select it with
    ``model.set_attn_implementation("interp")`` after ``import interp``.
    """
    slot: Optional[AttentionSlot] = getattr(module, "interp_slot", None)
    kwargs.pop("pattern_fn", None)  # the Bridge's own seam; the slot supersedes it
    if slot is None or not slot.is_active():
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    if slot.given is not None:
        pattern = slot.given(query, key).to(query.dtype)
    else:
        if scaling is None:  # OPT pre-scales queries and passes 1.0: never recompute it here
            scaling = query.shape[-1] ** -0.5
        scores = torch.matmul(query, key.transpose(-1, -2)) * scaling
        if attention_mask is not None:
            scores = scores + attention_mask[..., : key.shape[-2]]
        if _wants_call(slot.scores):
            scores = slot.scores(scores)
        pattern = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
        if _wants_call(slot.pattern):
            pattern = slot.pattern(pattern)
    mixed = nn.functional.dropout(pattern, p=dropout, training=module.training)
    out = torch.matmul(mixed, value).transpose(1, 2).contiguous()
    return out, (pattern if slot.return_weights else None)


def register_attention() -> None:
    """Register the ``interp`` attention function and its mask with transformers (idempotent).

    >>> register_attention()
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTN_IMPLEMENTATION, interp_attention_forward)
    # Without a registered mask builder HF builds no causal mask for a custom implementation.
    AttentionMaskInterface.register(ATTN_IMPLEMENTATION, eager_mask)


def architecture_of(hf_model: nn.Module) -> str:
    """The HF architecture name of a model, checked against the supported ones.

    >>> architecture_of(bridge.original_model)  # doctest: +SKIP
    'GPTNeoXForCausalLM'
    """
    arch = type(hf_model).__name__
    if arch not in ATTENTION_PATHS:
        raise ValueError(
            f"unsupported architecture {arch!r}: interp supports {', '.join(SUPPORTED_ARCHITECTURES)}"
        )
    return arch


def attention_modules(hf_model: nn.Module) -> list[nn.Module]:
    """The HF attention module of every layer, in order.

    >>> mods = attention_modules(bridge.original_model)  # doctest: +SKIP
    """
    path = ATTENTION_PATHS[architecture_of(hf_model)]
    n_layers = hf_model.config.num_hidden_layers
    return [hf_model.get_submodule(path.format(layer=i)) for i in range(n_layers)]


def use_interp_attention(hf_model: nn.Module) -> None:
    """Switch a plain HF model to the ``interp`` attention function.

    >>> use_interp_attention(hf_model)  # doctest: +SKIP
    """
    architecture_of(hf_model)
    register_attention()
    hf_model.set_attn_implementation(ATTN_IMPLEMENTATION)


def make_patterns_live(bridge: "TransformerBridge", *, self_test: bool = True) -> "TransformerBridge":
    """Make every pattern and score edit on ``bridge`` take effect, and refuse dead hooks.

    For a bridge our loader did not create (``interp.load_model`` already calls it).
    Idempotent; returns the bridge.

    >>> from transformer_lens.model_bridge import TransformerBridge
    >>> bridge = TransformerBridge.boot_transformers(path, hf_model=hf, tokenizer=tok)  # doctest: +SKIP
    >>> make_patterns_live(bridge)  # doctest: +SKIP
    """
    hf_model = bridge.original_model
    arch = architecture_of(hf_model)
    # The Bridge forces eager at boot; choose ours afterwards.
    use_interp_attention(hf_model)
    if arch == "OPTForCausalLM":
        fix_opt_post_ln_unflatten(bridge)
    for block in bridge.blocks:
        attn_bridge = block.attn
        if arch == "OPTForCausalLM":
            attn_bridge.original_component.interp_slot = AttentionSlot(
                scores=attn_bridge.hook_attn_scores,
                pattern=attn_bridge.hook_pattern,
                return_weights=False,
            )
        _refuse_post_hoc_edits(attn_bridge)
    _refuse_dead_hooks(bridge)
    if self_test:
        run_self_test(bridge)
    return bridge


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
    handles = []
    for name, point in bridge.hook_dict.items():
        handles.append(point.register_forward_hook(lambda m, i, o, name=name: fired.add(name)))
    try:
        with torch.no_grad():
            bridge(_probe_tokens(bridge, 4))
    finally:
        for handle in handles:
            handle.remove()
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


def _probe_tokens(bridge: "TransformerBridge", length: int) -> Tensor:
    device = next(bridge.original_model.parameters()).device
    vocab = bridge.cfg.d_vocab
    # Deterministic, non-repeating ids away from the special tokens at the start of the vocab.
    ids = (torch.arange(length) * 7 + 5) % max(vocab - 1, 1) + 1
    return ids.unsqueeze(0).to(device)


def run_self_test(bridge: "TransformerBridge", length: int = 8) -> None:
    """Prove on an 8-token input that pattern and score edits are live on every layer.

    Checks: an identity hook (returning a clone) leaves logits unchanged; an in-place edit of
    the pattern changes them; a returned score edit changes them. Raises ``SelfTestError``.

    >>> run_self_test(model)  # doctest: +SKIP
    """
    tokens = _probe_tokens(bridge, length)
    names = [f"blocks.{i}.attn.hook_pattern" for i in range(bridge.cfg.n_layers)]
    score_names = [f"blocks.{i}.attn.hook_attn_scores" for i in range(bridge.cfg.n_layers)]

    def clone(t, hook):
        return t.clone()

    def attend_first_in_place(t, hook):
        t.zero_()
        t[..., 0] = 1.0

    def attend_first_by_scores(t, hook):
        edited = torch.full_like(t, torch.finfo(t.dtype).min)
        edited[..., 0] = 0.0
        return edited

    where = f"{type(bridge.original_model).__name__} ({bridge.cfg.n_layers} layers)"
    try:
        with torch.no_grad():
            base = bridge(tokens).float()
            same = bridge.run_with_hooks(tokens, fwd_hooks=[(n, clone) for n in names]).float()
            moved = bridge.run_with_hooks(
                tokens, fwd_hooks=[(n, attend_first_in_place) for n in names]
            ).float()
            by_scores = bridge.run_with_hooks(
                tokens, fwd_hooks=[(n, attend_first_by_scores) for n in score_names]
            ).float()
    except DiscardedEditError as error:
        raise SelfTestError(f"pattern edits are discarded on {where}: {error}") from error
    scale = base.abs().max().clamp_min(1e-6)
    if not torch.allclose(same, base, atol=1e-4 * scale, rtol=0):
        raise SelfTestError(f"identity pattern hooks changed the logits of {where}")
    # Position 0 attends only to itself either way; later positions must move.
    if torch.allclose(moved[:, 1:], base[:, 1:], atol=1e-6 * scale, rtol=0):
        raise SelfTestError(f"an in-place hook_pattern edit did not change the logits of {where}")
    if not torch.allclose(moved, by_scores, atol=1e-4 * scale, rtol=0):
        raise SelfTestError(
            f"hook_attn_scores and hook_pattern edits meaning the same attention gave different "
            f"logits on {where}"
        )


