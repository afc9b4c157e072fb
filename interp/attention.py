"""The slot mechanism: attention-pattern and score edits that take effect on every family.

The mechanism, in eleven lines:
1. transformers 5 lets a model run a registered attention function. We register one,
   ``"interp"``, with HF's SDPA mask builder, and select it on every model we load.
2. An HF attention module may carry an ``AttentionSlot`` (attribute ``interp_slot``): two
   callables, ``scores`` (pre-softmax, masked) and ``pattern`` (post-softmax). The function
   calls them mid-computation, so what they return is what the values are mixed with.
3. With no slot, or a slot whose hooks have nothing registered, it runs fused SDPA.
4. A slot's ``attend`` replaces the computation outright: the transplant path runs fused SDPA
   on a donor's queries and keys (``capture_qk`` keeps them; ``interventions.transplant``).
5. ``installed(modules, slots)`` puts slots on for one forward and restores what was there;
   ``torch_hooks(...)`` does the same for raw torch hooks. No hook outlives its block.
6. ``plain_model`` gives a Bridge's HF model as a structural twin (shared weights) that runs
   HF's own layers on these slots, with no Bridge in between: the path fast engines take.
7. Inside a TransformerBridge the slots hold the Bridge's own HookPoints (``interp.bridge``).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import torch
from torch import Tensor, nn

from interp.arch import arch_of, attention_modules
from interp.types import HeadActivation, HeadStates, Pattern, Tokens

ATTN_IMPLEMENTATION = "interp"
TensorEdit = Callable[[Tensor], Tensor]
_UNSET = object()

__all__ = ["ATTN_IMPLEMENTATION", "AttentionSlot", "attention_modules", "capture_patterns",
           "installed", "interp_attention_forward", "plain_model", "register_attention",
           "torch_hooks", "use_interp_attention"]


class _Done(Exception):
    """Raised by the last capture slot to stop a forward once every pattern is kept."""


@dataclass
class AttentionSlot:
    """What the ``interp`` attention function calls on one layer's scores and pattern.

    Each field is ``None`` or a callable ``tensor -> tensor`` (a TransformerLens HookPoint is
    one). ``given``, when set, supplies the pattern outright, called as ``given(query, key)``:
    the module's own scores and pattern are then never computed (a swap at alpha = 1 needs
    only the donor's). ``attend``, when set, replaces the whole computation: it is called as
    ``attend(module, query, key, value, attention_mask, scaling, dropout, **kwargs)`` and
    returns the output ``[b, pos, head, d_head]``; no pattern exists (the transplant path,
    which calls ``fused_attention`` itself). ``return_weights`` is False inside a Bridge,
    whose wrapper would otherwise fire its hooks a second time on the returned weights.
    ``AttentionSlot()`` (nothing set) runs fused SDPA, whatever slot the module held before.

    >>> slot = AttentionSlot(pattern=lambda p: p)
    """

    scores: Optional[TensorEdit] = None
    pattern: Optional[TensorEdit] = None
    given: Optional[Callable[[Tensor, Tensor], Tensor]] = None
    attend: Optional[Callable[..., HeadActivation]] = None
    return_weights: bool = True

    def is_active(self) -> bool:
        return (self.given is not None or self.attend is not None
                or _wants_call(self.scores) or _wants_call(self.pattern))


def _wants_call(edit: Optional[TensorEdit]) -> bool:
    if edit is None:
        return False
    hooks = getattr(edit, "_forward_hooks", None)
    # A HookPoint with nothing registered is the identity: skip it and keep the fused path.
    return bool(hooks) if hooks is not None else True


def interp_attention_forward(
    module: nn.Module,
    query: HeadStates,
    key: HeadStates,
    value: HeadStates,
    attention_mask: Optional[Tensor],
    scaling: Optional[float] = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[HeadActivation, Optional[Pattern]]:
    """Eager attention that routes scores and pattern through the module's slot.

    Registered with transformers as ``"interp"``; select it with
    ``model.set_attn_implementation("interp")`` after ``import interp``.
    """
    slot: Optional[AttentionSlot] = getattr(module, "interp_slot", None)
    kwargs.pop("pattern_fn", None)  # the Bridge's own seam; the slot supersedes it
    if slot is None or not slot.is_active():
        return fused_attention(module, query, key, value, attention_mask, scaling, dropout, **kwargs), None
    if slot.attend is not None:
        return slot.attend(module, query, key, value, attention_mask, scaling, dropout, **kwargs), None
    if slot.given is not None:
        pattern = slot.given(query, key).to(query.dtype)
    else:
        if scaling is None:  # OPT pre-scales queries and passes 1.0: never recompute it here
            scaling = query.shape[-1] ** -0.5
        scores = _masked(torch.matmul(query, key.transpose(-1, -2)) * scaling, attention_mask)
        if _wants_call(slot.scores):
            scores = slot.scores(scores)
        pattern = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
        if _wants_call(slot.pattern):
            pattern = slot.pattern(pattern)
    mixed = nn.functional.dropout(pattern, p=dropout, training=module.training)
    out = torch.matmul(mixed, value).transpose(1, 2).contiguous()
    return out, (pattern if slot.return_weights else None)


def _masked(scores: Tensor, attention_mask: Optional[Tensor]) -> Tensor:
    """Scores with masked keys at the dtype's minimum. HF hands over SDPA's mask: ``None`` for
    plain causal attention (so fused layers run ``is_causal``), else a bool mask (True: attend),
    or an additive float one from callers that build their own."""
    query_len, key_len = scores.shape[-2:]
    if attention_mask is None:
        visible = torch.ones(query_len, key_len, dtype=torch.bool, device=scores.device)
        attention_mask = visible.tril(key_len - query_len)
    attention_mask = attention_mask[..., :key_len]
    if attention_mask.dtype != torch.bool:
        return scores + attention_mask
    return scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)


def fused_attention(
    module: nn.Module, query: HeadStates, key: HeadStates, value: HeadStates,
    attention_mask: Optional[Tensor], scaling: Optional[float], dropout: float = 0.0, **kwargs: Any,
) -> HeadActivation:
    """transformers' SDPA attention, output only ``[b, pos, head, d_value]``: the one fused
    call every unedited layer and every transplanted layer makes, so a self-swap is bitwise
    the model's own fused forward. ``value`` may have another ``d_head`` than ``query``.

    >>> q = torch.randn(1, 2, 3, 4)
    >>> fused_attention(nn.Module(), q, q, torch.randn(1, 2, 3, 6), None, 0.5).shape
    torch.Size([1, 3, 2, 6])
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
    )[0]


def register_attention() -> None:
    """Register the ``interp`` attention function and its mask with transformers (idempotent).

    >>> register_attention()
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTN_IMPLEMENTATION, interp_attention_forward)
    # Without a registered mask builder HF builds no causal mask for a custom implementation.
    # SDPA's builder returns None for unpadded causal batches: fused layers then run SDPA's
    # is_causal kernels (no [q, k] mask read), and the eager path builds the causal mask itself.
    AttentionMaskInterface.register(ATTN_IMPLEMENTATION, sdpa_mask)


def use_interp_attention(hf_model: nn.Module) -> None:
    """Switch a plain HF model to the ``interp`` attention function.

    >>> import interp
    >>> hf = interp.load_hf_model("suite/pythia-s1"); use_interp_attention(hf)
    >>> hf.config._attn_implementation
    'interp'
    """
    arch_of(hf_model)
    register_attention()
    hf_model.set_attn_implementation(ATTN_IMPLEMENTATION)


def _unwrap(module: nn.Module) -> nn.Module:
    """``module`` with every Bridge wrapper replaced by the module it wraps (shared weights)."""
    while "_original_component" in module._modules:
        module = module._modules["_original_component"]
    children = {k: c if c is None else _unwrap(c) for k, c in module._modules.items()}
    if all(children[k] is module._modules[k] for k in children):
        return module
    if "forward" in vars(module):
        raise ValueError(
            f"{type(module).__name__} has an instance-level forward (accelerate's device_map "
            "hooks?): PatternSwap cannot unwrap it; load the model with device= instead"
        )
    twin = copy.copy(module)
    twin._modules = children
    twin.__dict__.pop("interp_slot", None)  # the Bridge's HookPoints stay with the Bridge
    return twin


def plain_model(model: nn.Module) -> nn.Module:
    """The plain HF causal LM of a Bridge (or the model itself), on ``"interp"`` attention."""
    hf = _unwrap(getattr(model, "original_model", model))
    arch_of(hf)
    if hf.config._attn_implementation != "interp":
        use_interp_attention(hf)
    return hf


@contextmanager
def installed(modules: Sequence[nn.Module], slots: Sequence[AttentionSlot]) -> Iterator[None]:
    """Put ``slots`` on ``modules`` for the block; restore each module's own slot (or none)."""
    saved = [m.__dict__.get("interp_slot", _UNSET) for m in modules]
    try:
        for module, slot in zip(modules, slots):
            module.interp_slot = slot
        yield
    finally:
        for module, old in zip(modules, saved):
            if old is _UNSET:
                module.__dict__.pop("interp_slot", None)
            else:
                module.interp_slot = old


@contextmanager
def torch_hooks(registrations: Iterable[tuple[Any, str, Callable]]) -> Iterator[None]:
    """Register raw torch hooks for the block only: ``(module_or_tensor, kind, fn)`` with
    ``kind`` one of ``forward``, ``forward_pre``, ``grad`` (a tensor's ``register_hook``).

    >>> layer = nn.Linear(2, 2)
    >>> with torch_hooks([(layer, "forward", lambda m, i, o: o * 0)]):
    ...     inside = layer(torch.ones(1, 2)).abs().sum().item()
    >>> inside, bool(layer._forward_hooks)
    (0.0, False)
    """
    register = {"forward": "register_forward_hook", "forward_pre": "register_forward_pre_hook",
                "grad": "register_hook"}
    handles = []
    try:
        for target, kind, fn in registrations:
            handles.append(getattr(target, register[kind])(fn))
        yield
    finally:
        for handle in handles:
            handle.remove()


def identity(pattern: Pattern) -> Pattern:
    """The slot edit that changes nothing (a layer on the eager path, unedited)."""
    return pattern


@torch.no_grad()
def capture_patterns(model: nn.Module, layers: Iterable[int], tokens: Tokens) -> dict[int, Pattern]:
    """``model``'s post-softmax patterns on ``tokens`` at ``layers`` (a plain HF model on
    ``"interp"`` attention); the forward stops right after the last layer needed.

    >>> import interp
    >>> hf = plain_model(interp.load_model("suite/pythia-s3", self_test=False))
    >>> capture_patterns(hf, {1}, torch.tensor([[5, 6, 7]]))[1].shape
    torch.Size([1, 4, 3, 3])
    """
    needed = sorted(layers)
    store: dict[int, Pattern] = {}

    def capture(layer: int):
        def capture_pattern(pattern: Pattern) -> Pattern:
            store[layer] = pattern
            if layer == needed[-1]:
                raise _Done
            return pattern
        return capture_pattern

    modules = attention_modules(model)[: needed[-1] + 1]
    edits = [capture(i) if i in needed else identity for i in range(len(modules))]
    _run_until_done(model, modules, [AttentionSlot(pattern=edit, return_weights=False) for edit in edits],
                    tokens)
    return store


@dataclass(frozen=True)
class DonorQK:
    """One layer's queries and keys as its attention function received them: after rotary
    (GPT-NeoX rotates the first ``rotary_pct`` of each head), OPT's queries pre-scaled;
    ``scaling`` is the scale that call used (``None``: SDPA's ``d_head ** -0.5``; OPT: 1.0).

    >>> DonorQK(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4), 0.5).nbytes
    192
    """

    query: HeadStates
    key: HeadStates
    scaling: Optional[float]

    @property
    def nbytes(self) -> int:
        """Bytes of storage held (the storages, not the views: what keeping it costs)."""
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in (self.query, self.key)}
        return sum(storages.values())


@torch.no_grad()
def capture_qk(model: nn.Module, layers: Iterable[int], tokens: Tokens) -> dict[int, DonorQK]:
    """``model``'s queries and keys on ``tokens`` at ``layers``, from a fused forward (a plain
    HF model on ``"interp"`` attention) that stops at the last layer needed: the donor state of
    the transplant path, ``2 x [b, head, pos, d_head]`` per layer instead of a pattern.

    >>> import interp
    >>> hf = plain_model(interp.load_model("suite/opt-s3", self_test=False))
    >>> kept = capture_qk(hf, {1}, torch.tensor([[5, 6, 7]]))[1]
    >>> kept.query.shape, kept.scaling  # OPT pre-scales its queries and attends at scale 1
    (torch.Size([1, 4, 3, 12]), 1.0)
    """
    needed = sorted(layers)
    store: dict[int, DonorQK] = {}
    arch = arch_of(model)

    def capture(layer: int):
        def keep(module, query, key, value, attention_mask, scaling, dropout, **kwargs):
            arch.check_attention_scaling(scaling, query.shape[-1])
            store[layer] = DonorQK(query, key, scaling)
            if layer == needed[-1]:
                raise _Done  # nothing after the last layer needed is computed
            return fused_attention(module, query, key, value, attention_mask, scaling, dropout, **kwargs)
        return keep

    modules = attention_modules(model)[: needed[-1] + 1]
    slots = [AttentionSlot(attend=capture(i), return_weights=False) if i in needed
             else AttentionSlot(return_weights=False) for i in range(len(modules))]
    _run_until_done(model, modules, slots, tokens)
    return store


def _run_until_done(model: nn.Module, modules: Sequence[nn.Module], slots: Sequence[AttentionSlot],
                    tokens: Tokens) -> None:
    """Run the base model under ``slots`` until the last needed layer raises ``_Done``: the
    layers after it, and the unembedding, never run."""
    with installed(modules, slots):
        try:
            model.base_model(input_ids=tokens, use_cache=False)
        except _Done:
            pass
