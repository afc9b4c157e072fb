"""Tensor shapes, each named once. Every module that types a tensor imports its alias here.

The attention aliases come from ``hooks.types`` (``hooks`` imports nothing from interp, so
interp takes them from there rather than defining them twice).

>>> from interp.types import Tokens, Logits
>>> Tokens.dim_str, Logits.dim_str
('batch pos', 'batch pos vocab')
"""

from __future__ import annotations

from jaxtyping import Bool, Float, Int
from torch import Tensor

from hooks.types import HeadActivation, Pattern, Scores

Tokens = Int[Tensor, "batch pos"]
"""Token ids, one row per sequence (right-padded where sequences differ in length)."""

Logits = Float[Tensor, "batch pos vocab"]
"""Next-token logits at every position."""

Hidden = Float[Tensor, "batch pos d_model"]
"""The residual stream (or the final hidden state before the unembedding)."""

Sequences = Int[Tensor, "sequence pos"]
"""A training corpus: fixed-length token rows."""

TargetMask = Bool[Tensor, "batch pos"]
"""True at the positions whose next token is scored (answer tokens)."""

HeadStates = Float[Tensor, "batch head pos d_head"]
"""Queries, keys or values as HF attention functions take them (heads before positions)."""

DonorPattern = Float[Tensor, "batch donor_head query key"]
"""A donor layer's pattern, before its heads are mapped onto the recipient's."""

Values = Float[Tensor, "batch pos value_features"]
"""The value features of one layer's value projection output."""

ParamMask = Bool[Tensor, "..."]
"""True where a parameter tensor's entries train (or belong to a group)."""

__all__ = ["DonorPattern", "HeadActivation", "HeadStates", "Hidden", "Logits", "ParamMask", "Pattern",
           "Scores", "Sequences", "TargetMask", "Tokens", "Values"]
