"""Tiny random-weight Pythia- and OPT-architecture checkpoints, for smoke runs and tests.

They use the real HF classes and are saved with ``save_pretrained``, so they load through
``interp.load_model`` exactly like a hub checkpoint. Their weights are random: they exercise
the machinery, not any capability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Literal, Optional

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, OPTConfig, OPTForCausalLM, PreTrainedModel

from interp.tokenizer import build_word_tokenizer

Family = Literal["pythia", "opt", "opt-post-ln"]
TOY_SHAPE = dict(hidden=32, layers=2, heads=4, ffn=64, positions=64)


def toy_model(
    family: Family, *, seed: int = 0, vocab_size: int, shape: Optional[dict] = None
) -> PreTrainedModel:
    """A random-weight GPTNeoXForCausalLM or OPTForCausalLM of a tiny shape.

    ``"opt-post-ln"`` is opt-350m's layout: post-LN, project_in/project_out, no final norm.

    >>> model = toy_model("pythia", vocab_size=100)
    >>> type(model).__name__
    'GPTNeoXForCausalLM'
    """
    s = {**TOY_SHAPE, **(shape or {})}
    torch.manual_seed(seed)
    special = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)
    if family == "pythia":
        config = GPTNeoXConfig(
            vocab_size=vocab_size, hidden_size=s["hidden"], num_hidden_layers=s["layers"],
            num_attention_heads=s["heads"], intermediate_size=s["ffn"],
            max_position_embeddings=s["positions"], rotary_pct=0.5, use_parallel_residual=True,
            initializer_range=0.2, **special,
        )
        return GPTNeoXForCausalLM(config).eval()
    if family not in ("opt", "opt-post-ln"):
        raise ValueError(f"unknown toy family {family!r}; use 'pythia', 'opt' or 'opt-post-ln'")
    post_ln = family == "opt-post-ln"
    config = OPTConfig(
        vocab_size=vocab_size, hidden_size=s["hidden"], num_hidden_layers=s["layers"],
        num_attention_heads=s["heads"], ffn_dim=s["ffn"], max_position_embeddings=s["positions"],
        word_embed_proj_dim=s["hidden"] // 2 if post_ln else s["hidden"],
        do_layer_norm_before=not post_ln, init_std=0.2, **special,
    )
    model = OPTForCausalLM(config).eval()
    # Random norm gains and biases, so a misplaced norm cannot hide behind identity norms.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def save_toy_checkpoint(
    directory: Path | str,
    family: Family,
    *,
    words: Iterable[str],
    seed: int = 0,
    shape: Optional[dict] = None,
) -> Path:
    """Write a toy model and a word-level tokenizer over ``words`` to ``directory``.

    >>> path = save_toy_checkpoint("/tmp/toy-pythia", "pythia", words=["cat", "sat"])
    >>> import interp; model = interp.load_model(path)  # doctest: +SKIP
    """
    directory = Path(directory)
    tokenizer = build_word_tokenizer(words)
    model = toy_model(family, seed=seed, vocab_size=len(tokenizer), shape=shape)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
