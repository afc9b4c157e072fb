"""What a hook may hand the model in place of an attention pattern or score tensor.

A replacement pattern must have the live shape, be finite and non-negative, put no weight on
future keys, and have rows that sum to 1. Checks are vectorised and read back one small
tensor, so they cost a few elementwise passes and a single device sync.

Left padding: the model itself produces rows that are not causal distributions for padded
queries (fully masked rows, which softmax spreads over every key, or which TransformerLens
compatibility mode zeroes). Given ``like`` (the live pattern), those query rows are found there
and not checked for causality or normalisation.

A replacement score tensor must have the live shape, no NaN or +inf, and every future key
masked (at or below ``finfo(dtype).min``): a score edit must never let a query see later keys.
"""

from __future__ import annotations

from typing import Optional

import torch
from jaxtyping import Bool
from torch import Tensor

from .types import Pattern, Scores


class PatternError(ValueError):
    """An attention pattern or score tensor that a hook must not hand to the model."""


def future_mask(
    query_len: int, key_len: int, device: torch.device | str | None = None
) -> Bool[Tensor, "query key"]:
    """True where a key is in a query's future: key ``j > i + (key_len - query_len)``.

    The offset places the queries at the end of the keys, as with a KV cache.

    Example::

        hooks.future_mask(2, 3)  # [[False, False, True], [False, False, False]]
    """
    allowed = torch.ones(query_len, key_len, dtype=torch.bool, device=device)
    return ~torch.tril(allowed, diagonal=key_len - query_len)


def _check_layout(tensor: Tensor, like: Optional[Tensor], what: str) -> None:
    if not torch.is_floating_point(tensor):
        raise PatternError(f"{what} must be floating point, got {tensor.dtype}; use .float()")
    if tensor.ndim != 4:
        raise PatternError(
            f"{what} has shape {tuple(tensor.shape)}, expected 4 dims [batch, head, query, key]; "
            "add the missing axes (e.g. .unsqueeze(0) for batch) before using it"
        )
    if like is not None and tensor.shape != like.shape:
        raise PatternError(
            f"replacement {what} has shape {tuple(tensor.shape)} but the live {what} it replaces "
            f"has {tuple(like.shape)} [batch, head, query, key]; build it from the same batch "
            "and sequence length (or .expand() a batch-1 tensor to the live batch)"
        )
    query_len, key_len = tensor.shape[-2:]
    if key_len < query_len:
        raise PatternError(
            f"{what} has {key_len} keys for {query_len} queries; causal self-attention has at "
            "least as many keys as queries (the [..., query, key] axes may be swapped)"
        )


def _first(rows: Tensor) -> tuple[int, ...]:
    """Index of the first True entry of a mask."""
    return tuple(int(i) for i in torch.nonzero(rows)[0])


def _where(rows: Bool[Tensor, "batch head query"]) -> str:
    """'batch 0, head 2, query 5' for the first True row."""
    b, h, q = _first(rows)
    return f"batch {b}, head {h}, query {q}"


def _padding_rows(like: Tensor, future: Tensor) -> Bool[Tensor, "batch 1 query"]:
    """Query rows the model left padding: fully masked, so softmax spread them over every key
    (some head weighs the future) or compatibility mode zeroed them (every head is 0).

    Per query, not per head, so an earlier edit of some heads at this hook point does not hide
    the padding, and an un-normalising one (a scaled head) does not pass for padding.
    """
    leaks = ((like != 0) & future).any(dim=-1).any(dim=1, keepdim=True)
    empty = (like == 0).all(dim=-1).all(dim=1, keepdim=True)
    return leaks | empty


@torch.no_grad()
def validate_pattern(
    pattern: Pattern, *, like: Optional[Tensor] = None, atol: float = 1e-4
) -> None:
    """Raise ``PatternError`` unless ``pattern`` is a usable post-softmax attention pattern.

    Checks, in order: floating [batch, head, query, key] with ``like``'s shape; finite;
    non-negative; exactly zero on future keys (``key > query + key_len - query_len``); rows
    summing to 1 within ``atol`` (widened to the dtype's eps for half precision). With
    ``like`` (the live pattern), query rows the model left padded skip the last two checks.

    Example::

        uniform = torch.tril(torch.ones(1, 1, 3, 3)) / torch.arange(1, 4).view(3, 1)
        hooks.validate_pattern(uniform)  # passes
        hooks.validate_pattern(torch.full((1, 1, 3, 3), 1 / 3))  # PatternError: not causal
    """
    _check_layout(pattern, like, "pattern")
    query_len, key_len = pattern.shape[-2:]
    future = future_mask(query_len, key_len, pattern.device)
    # Rounding a row of probabilities to half precision can move its sum by up to the eps.
    tol = max(atol, torch.finfo(pattern.dtype).eps)

    checked = torch.ones(pattern.shape[:-1], dtype=torch.bool, device=pattern.device)
    if like is not None:
        padding = _padding_rows(like, future.to(like.device)).to(pattern.device)
        checked = (~padding).expand(pattern.shape[:-1])

    not_finite = ~torch.isfinite(pattern)
    negative = pattern < 0
    leaking = ((pattern != 0) & future).any(dim=-1) & checked
    row_sums = pattern.sum(dim=-1, dtype=torch.float32)
    sum_error = torch.where(checked, (row_sums - 1).abs(), torch.zeros_like(row_sums))
    worst_error = sum_error.amax()
    # One read-back for all four verdicts: each .item() would be a device sync of its own.
    n_bad, n_negative, n_leaking, worst = torch.stack(
        [not_finite.sum().float(), negative.sum().float(), leaking.sum().float(), worst_error]
    ).tolist()

    if n_bad:
        n_nan = int(torch.isnan(pattern).sum())
        raise PatternError(
            f"pattern has {n_nan} NaN and {int(n_bad) - n_nan} inf entries (first at "
            f"{_where(not_finite.any(dim=-1))}); a hook must not feed them to the model. Check "
            "the run or function that built it (half-precision overflow, 0/0 when renormalising)"
        )
    if n_negative:
        raise PatternError(
            f"pattern has {int(n_negative)} negative entries (min {pattern.min().item():.3g}, "
            f"first at {_where(negative.any(dim=-1))}); attention weights are probabilities. "
            "Build patterns with softmax, or .clamp(min=0) and renormalise"
        )
    if n_leaking:
        leaked = torch.where(future, pattern, torch.zeros_like(pattern)).sum(dim=-1)
        raise PatternError(
            f"pattern is not causal: {int(n_leaking)} rows put weight on future keys (first at "
            f"{_where(leaking)}, weight {leaked[_first(leaking)].item():.3g}); query i must give "
            f"key j weight 0 when j > i + {key_len - query_len}. Zero them with "
            "pattern.masked_fill(hooks.future_mask(query_len, key_len), 0) and renormalise. "
            "If that query is left padding, pass like=<live pattern> so padding rows are skipped"
        )
    if worst > tol:
        worst_row = sum_error == worst_error
        raise PatternError(
            f"pattern rows must sum to 1 (±{tol:.1g}); the worst row sums to "
            f"{row_sums[_first(worst_row)].item():.6g} at {_where(worst_row)}. "
            "Renormalise: pattern / pattern.sum(-1, keepdim=True)"
        )


def _masked(scores: Tensor) -> Tensor:
    """True where a score is masked: at or below ``finfo(dtype).min`` (``-inf`` included)."""
    return scores <= torch.finfo(scores.dtype).min


@torch.no_grad()
def validate_scores(scores: Scores, *, like: Optional[Tensor] = None, causal: bool = True) -> None:
    """Raise ``PatternError`` unless ``scores`` can replace pre-softmax attention scores.

    Checks a floating [batch, head, query, key] tensor with ``like``'s shape, no NaN or +inf,
    and, with ``causal``, every future key masked: at or below ``finfo(dtype).min`` (``-inf``
    is allowed: models mask with it, TransformerLens compatibility mode does). A score edit must
    never let a query see later keys; ``replace_scores`` re-masks them for you.

    Example::

        masked = torch.zeros(1, 2, 3, 3).masked_fill(hooks.future_mask(3, 3), float("-inf"))
        hooks.validate_scores(masked)  # passes
        hooks.validate_scores(torch.zeros(1, 2, 3, 3))  # PatternError: future keys visible
    """
    _check_layout(scores, like, "scores")
    bad = torch.isnan(scores) | (scores == float("inf"))
    if bool(bad.any()):
        raise PatternError(
            f"scores have {int(bad.sum())} NaN or +inf entries (first at "
            f"{_where(bad.any(dim=-1))}); softmax of them is NaN. Mask with "
            "torch.finfo(dtype).min rather than dividing by zero or overflowing half precision"
        )
    if not causal:
        return
    query_len, key_len = scores.shape[-2:]
    visible_future = future_mask(query_len, key_len, scores.device) & ~_masked(scores)
    if bool(visible_future.any()):
        b, h, q, k = _first(visible_future)
        raise PatternError(
            f"scores are not causal: {int(visible_future.sum())} future keys are left visible "
            f"(first at batch {b}, head {h}, query {q}, key {k}, score "
            f"{scores[b, h, q, k].item():.3g}); query i may see key j only when "
            f"j <= i + {key_len - query_len}. Set them to torch.finfo(dtype).min with "
            "scores.masked_fill(hooks.future_mask(query_len, key_len), torch.finfo(dtype).min), "
            "or use hooks.replace_scores, which re-masks them"
        )


def remask_scores(new: Scores, live: Scores) -> Scores:
    """``new`` with every future key set to ``finfo(dtype).min`` and every entry the live scores
    already mask (padding, ``-inf`` in compatibility mode) kept as it is live, so a score edit
    can never unmask the future or a padding key.

    Example::

        hooks.validate.remask_scores(torch.zeros_like(live), live)  # uniform causal attention
    """
    query_len, key_len = live.shape[-2:]
    future = future_mask(query_len, key_len, live.device)
    return torch.where(_masked(live), live, new.masked_fill(future, torch.finfo(live.dtype).min))
