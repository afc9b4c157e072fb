"""Tiny random-weight Pythia- and OPT-architecture checkpoints, for smoke runs and tests.

They use the real HF classes and are saved with ``save_pretrained``, so they load through
``interp.load_model`` exactly like a hub checkpoint. Their weights are random: they exercise
the machinery, not any capability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Literal, Optional

import torch
from transformers import PreTrainedModel

from interp.arch import arch_named

from interp.tokenizer import build_word_tokenizer

Family = Literal["pythia", "opt", "opt-post-ln"]
TOY_SHAPE = dict(hidden=32, layers=2, heads=4, ffn=64, positions=64)
# Toy name -> (architecture family, its builder's options).
# OPT toys get random norm gains and biases, so a misplaced norm cannot hide behind identity
# norms (the tests' reference forward checks OPT's norm placement, pre- and post-LN).
TOY_OPTIONS: dict[str, tuple[str, dict, bool]] = {
    "pythia": ("pythia", dict(rotary_pct=0.5), False),
    "opt": ("opt", {}, True),
    "opt-post-ln": ("opt", dict(post_ln=True), True),
}


def toy_model(
    family: Family, *, seed: int = 0, vocab_size: int, shape: Optional[dict] = None
) -> PreTrainedModel:
    """A random-weight Pythia- or OPT-architecture model of a tiny shape.

    ``"opt-post-ln"`` is opt-350m's layout: post-LN, project_in/project_out, no final norm.

    >>> model = toy_model("pythia", vocab_size=100)
    >>> model.config.model_type
    'gpt_neox'
    """
    s = {**TOY_SHAPE, **(shape or {})}
    torch.manual_seed(seed)
    special = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)
    if family not in TOY_OPTIONS:
        raise ValueError(f"unknown toy family {family!r}; use one of {', '.join(map(repr, TOY_OPTIONS))}")
    arch_family, options, perturb_norms = TOY_OPTIONS[family]
    arch = arch_named(arch_family)
    config = arch.new_config(vocab_size=vocab_size, d_model=s["hidden"], n_layers=s["layers"],
                             n_heads=s["heads"], d_mlp=s["ffn"], n_ctx=s["positions"],
                             special=special, init_std=0.2, **options)
    model = arch.new_model(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if perturb_norms and "layer_norm" in name:
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
    >>> import interp; model = interp.load_model(path)
    >>> model.cfg.n_layers, model.to_tokens("cat sat").shape
    (2, torch.Size([1, 2]))
    """
    directory = Path(directory)
    tokenizer = build_word_tokenizer(words)
    model = toy_model(family, seed=seed, vocab_size=len(tokenizer), shape=shape)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
