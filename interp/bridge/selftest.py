"""The load-time proof that pattern and score edits are live on every layer of a Bridge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from interp.bridge.errors import DiscardedEditError, SelfTestError

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge


def probe_tokens(bridge: "TransformerBridge", length: int) -> Tensor:
    device = next(bridge.original_model.parameters()).device
    vocab = bridge.cfg.d_vocab
    # Deterministic, non-repeating ids away from the special tokens at the start of the vocab.
    ids = (torch.arange(length) * 7 + 5) % max(vocab - 1, 1) + 1
    return ids.unsqueeze(0).to(device)


def run_self_test(bridge: "TransformerBridge", length: int = 8) -> None:
    """Prove on an 8-token input that pattern and score edits are live on every layer.

    Checks: an identity hook (returning a clone) leaves logits unchanged; an in-place edit of
    the pattern changes them; a returned score edit changes them. Raises ``SelfTestError``.

    >>> import interp
    >>> model = interp.load_model("suite/opt-s1", self_test=False)
    >>> run_self_test(model)  # passes silently
    >>> run_self_test(model, length=4)

    A bare TransformerBridge, not made live, fails it on OPT:

    >>> from transformer_lens.model_bridge import TransformerBridge
    >>> hf = interp.load_hf_model("suite/opt-s1")
    >>> bare = TransformerBridge.boot_transformers(
    ...     interp.resolve("suite/opt-s1").location, hf_model=hf, tokenizer=hf.tokenizer)
    >>> import warnings
    >>> with warnings.catch_warnings():  # the Bridge also warns that the edit was discarded
    ...     warnings.simplefilter("ignore")
    ...     run_self_test(bare)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    interp.bridge.errors.SelfTestError: an in-place hook_pattern edit did not change the logits of ... (1 layers)
    """
    tokens = probe_tokens(bridge, length)
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


