"""The transplant path: a swapped layer runs fused attention on the donor's queries and keys.

A swapped pattern is a function of the donor's queries and keys, so the recipient never needs
it materialised:

- ``softmax(scale_d * Q_d K_d^T + mask) @ V_r`` is exactly SDPA called with the donor's Q and
  K, the donor's scale and the recipient's V (``fused_attention``);
- at ``0 < alpha < 1``, attention output is linear in the pattern, so
  ``lerp(own, donor, alpha) @ V_r = lerp(SDPA(Q_r, K_r, V_r), SDPA(Q_d, K_d, V_r), alpha)``;
- head maps that select donor heads (index, or a match with no head-mean) select the donor's
  Q and K heads; the ``"mean"`` map averages patterns, which no mix of Q and K reproduces, so
  it stays on the materialised path (``PatternSwap`` falls back to it, and says so).

Controls: ``uniform`` is a causal running mean of V (what the uniform causal pattern mixes);
``shuffle_heads`` permutes the recipient's own Q and K heads; ``other_input`` rolls the donor's
Q and K along the batch, with the mask rows they were computed under. The donor state held per
layer is ``2 x [batch, head, pos, d_head]`` (``interp.attention.DonorQK``), not
``[batch, head, pos, pos]``; donor and recipient may differ in ``d_head``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor, nn

from interp.attention import AttentionSlot, DonorQK, fused_attention
from interp.interventions.head_maps import HeadMap, ShapeMismatchError
from interp.types import HeadActivation, HeadStates

__all__ = ["Transplant", "causal_running_mean"]


def causal_running_mean(value: HeadStates, query_len: int) -> HeadActivation:
    """Output of uniform causal attention: query ``i`` averages the values of keys
    ``0 .. i + key_len - query_len`` (as ``hooks.uniform_pattern``), ``[b, query, head, d]``.
    Summed in float32, so bf16 values lose nothing to a long cumulative sum.

    >>> value = torch.tensor([1.0, 3.0, 5.0]).view(1, 1, 3, 1)
    >>> causal_running_mean(value, 3).flatten().tolist()
    [1.0, 2.0, 3.0]
    """
    key_len = value.shape[2]
    sums = value.float().cumsum(2)[:, :, key_len - query_len :]
    counts = torch.arange(key_len - query_len + 1, key_len + 1, device=value.device, dtype=torch.float32)
    return (sums / counts[:, None]).to(value.dtype).transpose(1, 2).contiguous()


@dataclass(frozen=True)
class Transplant:
    """How one recipient layer attends on the transplant path; ``slot()`` installs it.

    Exactly one source: ``donor`` (a callable returning the donor layer's ``DonorQK``, called
    once per forward) with ``heads`` selecting its heads and ``roll`` for the other-input
    control; or ``permutation`` (the recipient's own heads reordered); or ``uniform``. The
    layer's output is ``lerp(own, swapped, alpha)``: at alpha 1 the own attention is never
    computed, at alpha 0 the swapped one is not.

    >>> q = torch.randn(2, 2, 3, 4)
    >>> attend = Transplant(alpha=1.0, permutation=(1, 0)).slot().attend
    >>> out = attend(nn.Module(), q, q, q, None, None, 0.0)
    >>> torch.equal(out, fused_attention(nn.Module(), q[:, [1, 0]], q[:, [1, 0]], q, None, None))
    True
    """

    alpha: float
    donor: Optional[Callable[[], DonorQK]] = None
    heads: Optional[HeadMap] = None
    roll: bool = False
    permutation: Optional[Sequence[int]] = None
    uniform: bool = False

    def __post_init__(self) -> None:
        sources = [self.donor is not None, self.permutation is not None, self.uniform]
        if sum(sources) != 1:
            raise ValueError("a Transplant takes exactly one of donor=, permutation=, uniform=True")
        if self.donor is not None and (self.heads is None or not self.heads.selects_heads):
            raise ValueError("a donor transplant needs a head map that selects donor heads "
                             "(index, or match without head-means); mean maps are materialised")

    def slot(self) -> AttentionSlot:
        """The attention slot that runs this layer's transplant (no pattern is returned)."""
        return AttentionSlot(attend=self.attend, return_weights=False)

    def attend(self, module: nn.Module, query: HeadStates, key: HeadStates, value: HeadStates,
               attention_mask: Optional[Tensor], scaling: Optional[float], dropout: float,
               **kwargs) -> HeadActivation:
        """The layer's attention output ``[b, pos, head, d_head]`` (``AttentionSlot.attend``)."""
        own = None
        if self.alpha < 1.0:
            own = fused_attention(module, query, key, value, attention_mask, scaling, dropout, **kwargs)
            if self.alpha == 0.0:
                return own
        if self.uniform:
            swapped = causal_running_mean(value, query.shape[2])
        else:
            q, k, scale, mask = self._queries_keys(query, key, scaling, attention_mask)
            swapped = fused_attention(module, q, k, value, mask, scale, dropout, **kwargs)
        return swapped if own is None else torch.lerp(own, swapped, self.alpha)

    def _queries_keys(self, query: HeadStates, key: HeadStates, scaling: Optional[float],
                      mask: Optional[Tensor]) -> tuple[HeadStates, HeadStates, Optional[float], Optional[Tensor]]:
        if self.permutation is not None:
            order = torch.tensor(list(self.permutation), device=query.device)
            return query.index_select(1, order), key.index_select(1, order), scaling, mask
        donor = self.donor()
        q, k = (self.heads.select(t).to(query.dtype) for t in (donor.query, donor.key))
        if q.shape[0] != query.shape[0] or q.shape[2] != query.shape[2] or k.shape[2] != key.shape[2]:
            raise ShapeMismatchError(
                f"donor queries are {tuple(q.shape)}, the recipient's {tuple(query.shape)}: a swap "
                "needs both models fed the same token tensor")
        if self.roll:  # the previous example's queries and keys, under the mask they were made with
            q, k = q.roll(1, dims=0), k.roll(1, dims=0)
            if mask is not None and mask.shape[0] > 1:
                mask = mask.roll(1, dims=0)
        return q, k, donor.scaling, mask
