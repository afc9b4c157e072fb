"""Logits only where they are read: the hidden states are gathered before the unembedding.

At pythia-70m's shape the unembedding is more than half of a forward's FLOPs, and scoring
reads a handful of positions per sequence. ``read_logits`` puts a forward-pre hook on the
model's output projection (the innermost ``nn.Linear`` of ``get_output_embeddings()``) that
replaces its input ``[batch, pos, d_model]`` by the rows read, ``[1, reads, d_model]``, so
the projection computes ``[reads, d_vocab]`` and no ``[batch, pos, d_vocab]`` tensor exists.
The hook lives for one forward (``interp.attention.torch_hooks``).

Routes:
- no hooks: the plain HF model (a Bridge's own HF modules, shared weights), skipping the
  Bridge's wrappers; unless hooks were attached to the Bridge itself (``add_hook``), which
  only the Bridge runs;
- TransformerLens hooks: through the Bridge's ``run_with_hooks``, as before; a hook on the
  unembedding or the logits themselves sees full logits (nothing is gathered then);
- an intervention engine (``PatternSwap``, ``ValueSwap``): its own forward, gathered the
  same way through its ``get_output_embeddings()``.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from interp.attention import plain_model, torch_hooks
from interp.bridge import user_hooks_attached
from interp.types import Logits, Tokens

FwdHooks = Sequence[tuple[Any, Callable]]
# A fixed hook list, or one made per batch from its tokens (e.g. a donor's patterns for them).
HookSpec = Union[FwdHooks, Callable[[Tokens], FwdHooks]]
# Hook points at or after the unembedding: they must see every position's logits.
_LOGIT_POINTS = ("unembed", "hook_logits")
_PLAIN_TWINS: "weakref.WeakKeyDictionary[nn.Module, nn.Module]" = weakref.WeakKeyDictionary()


def forward_logits(model: Any, tokens: Tokens, fwd_hooks: HookSpec = ()) -> Logits:
    """Full logits of a Bridge (under ``fwd_hooks``), an engine, or a plain HF causal LM.

    >>> import interp, hooks
    >>> model = interp.load_model("suite/pythia-s1")
    >>> tokens = model.to_tokens("2 + 3 =")
    >>> forward_logits(model, tokens).shape  # [batch, pos, d_vocab]
    torch.Size([1, 4, 801])
    >>> uniform = [("blocks.0.attn.hook_pattern", hooks.uniform_pattern())]
    >>> bool((forward_logits(model, tokens, uniform) != forward_logits(model, tokens)).any())
    True
    """
    hooks = fwd_hooks(tokens) if callable(fwd_hooks) else fwd_hooks
    return _run(model, tokens, list(hooks))


def read_logits(model: Any, tokens: Tokens, rows: Tensor, positions: Tensor,
                fwd_hooks: HookSpec = ()) -> Tensor:
    """Logits ``[reads, d_vocab]`` at ``(rows[i], positions[i])`` of ``tokens``, computed
    only there; equal to ``forward_logits(...)[rows, positions]``.

    >>> import interp
    >>> model = interp.load_model("suite/pythia-s1")
    >>> tokens = model.to_tokens(["2 + 3 =", "4 + 4 ="])
    >>> rows, positions = torch.tensor([0, 1]), torch.tensor([3, 1])
    >>> read = read_logits(model, tokens, rows, positions)
    >>> read.shape, torch.allclose(read, forward_logits(model, tokens)[rows, positions], atol=1e-5)
    (torch.Size([2, 801]), True)
    """
    hooks = list(fwd_hooks(tokens) if callable(fwd_hooks) else fwd_hooks)
    head = None if any(_reads_logits(point) for point, _ in hooks) else output_projection(model)
    if head is None:
        return _run(model, tokens, hooks)[rows, positions]
    rows, positions = rows.to(tokens.device), positions.to(tokens.device)

    def gather(module: nn.Module, args: tuple) -> tuple:
        hidden = args[0]
        return (hidden[rows, positions].unsqueeze(0), *args[1:])

    with torch_hooks([(head, "forward_pre", gather)]):
        logits = _run(model, tokens, hooks)
    if logits.shape[-2] != len(rows):
        raise RuntimeError(f"{type(model).__name__}: the output projection did not see the "
                           "gathered rows (its forward bypasses get_output_embeddings?)")
    return logits.reshape(len(rows), logits.shape[-1])


def output_projection(model: Any) -> Optional[nn.Linear]:
    """The ``nn.Linear`` that maps final hidden states to logits (None when ``model`` has
    none that we can find: then logits are read from a full forward).

    >>> import interp
    >>> output_projection(interp.load_model("suite/opt-s1")).out_features
    801
    """
    source = getattr(model, "original_model", model)
    if not hasattr(source, "get_output_embeddings"):
        return None
    head = source.get_output_embeddings()
    while head is not None and "_original_component" in head._modules:  # a Bridge wrapper
        head = head._modules["_original_component"]
    return head if isinstance(head, nn.Linear) else None


def _run(model: Any, tokens: Tokens, hooks: list) -> Tensor:
    if hooks:
        if not hasattr(model, "run_with_hooks"):
            raise TypeError("fwd_hooks need a TransformerBridge (interp.load_model returns one)")
        out = model.run_with_hooks(tokens, fwd_hooks=hooks)
    elif _is_bridge(model) and not user_hooks_attached(model):
        out = _plain(model)(input_ids=tokens, use_cache=False)
    else:
        out = model(tokens)
    return out.logits if hasattr(out, "logits") else out


def _plain(bridge: nn.Module) -> nn.Module:
    # One twin per Bridge: building it walks every module, which is not free per batch.
    twin = _PLAIN_TWINS.get(bridge)
    if twin is None:
        twin = _PLAIN_TWINS[bridge] = plain_model(bridge)
    return twin


def _is_bridge(model: Any) -> bool:
    return hasattr(model, "original_model") and hasattr(model, "run_with_hooks")


def _reads_logits(point: Any) -> bool:
    if callable(point) and not isinstance(point, str):  # a TransformerLens name filter
        return any(bool(point(name)) for name in ("unembed.hook_in", "unembed.hook_out"))
    name = point if isinstance(point, str) else getattr(point, "name", "") or ""
    return any(part in name for part in _LOGIT_POINTS)
