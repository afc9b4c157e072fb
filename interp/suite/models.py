"""The suite's model ladder: one shape per size, built as GPT-NeoX (Pythia) or OPT.

Both families get the same shape at each size (width, depth, heads, MLP width, context), so
a cross-family pattern swap needs no mapping. Pythia keeps its rotary, parallel-residual
layout; OPT its learned positions, pre-LN and ReLU. Embeddings are untied in both, as in
Pythia, so parameter counts match closely.
"""

from __future__ import annotations

from dataclasses import dataclass

import inspect
from typing import Any

from interp.arch import arch_named

FAMILIES = ("pythia", "opt")


@dataclass(frozen=True)
class Shape:
    d_model: int
    n_layers: int
    n_heads: int
    d_mlp: int
    n_ctx: int = 128


SIZES: dict[str, Shape] = {
    "s1": Shape(d_model=8, n_layers=1, n_heads=2, d_mlp=32),
    "s2": Shape(d_model=24, n_layers=2, n_heads=2, d_mlp=96),
    "s3": Shape(d_model=48, n_layers=2, n_heads=4, d_mlp=192),
    "s4": Shape(d_model=96, n_layers=3, n_heads=4, d_mlp=384),
    "s5": Shape(d_model=160, n_layers=4, n_heads=5, d_mlp=640),
}


def model_name(family: str, size: str, seed: int = 0) -> str:
    """The suite name of a model: ``pythia-s3``, ``opt-s3-seed1``.

    >>> model_name("opt", "s3", seed=1)
    'opt-s3-seed1'
    """
    return f"{family}-{size}" + (f"-seed{seed}" if seed else "")


def build_model(
    family: str,
    size: str,
    *,
    vocab_size: int,
    seed: int,
    special: dict,
    rotary_pct: float | None = None,
) -> Any:
    """A freshly initialised suite model (``special``: pad/bos/eos token ids).

    ``rotary_pct`` (Pythia only): the share of each head's dimensions that rotary rotates;
    ``None`` keeps Pythia's 0.25, which the shipped suite uses. The probes vary it.

    >>> m = build_model("pythia", "s1", vocab_size=100, seed=0, special={})
    >>> m.config.hidden_size
    8
    """
    import torch

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; the suite has {', '.join(FAMILIES)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; the suite has {', '.join(SIZES)}")
    if rotary_pct is not None and "rotary_pct" not in inspect.signature(
            arch_named(family).new_config).parameters:
        raise ValueError(f"rotary_pct applies to pythia only: {family} has learned absolute "
                         "positions, not rotary; leave it None")
    s = SIZES[size]
    torch.manual_seed(seed)
    arch = arch_named(family)
    options: dict[str, Any] = dict(tie_embeddings=False, dropout=0.0)
    if rotary_pct is not None:  # otherwise the family's default: 0.25, as in every Pythia
        options["rotary_pct"] = rotary_pct
    config = arch.new_config(vocab_size=vocab_size, d_model=s.d_model, n_layers=s.n_layers,
                             n_heads=s.n_heads, d_mlp=s.d_mlp, n_ctx=s.n_ctx, special=special,
                             **options)
    return arch.new_model(config)
