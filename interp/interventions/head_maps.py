"""Which donor layer and which donor heads feed each recipient layer and head.

``layer_map`` pairs layers by relative depth; ``head_map`` pairs heads by index, by the donor's
head-mean, or by a Hungarian match of their patterns. A ``HeadMap`` with no mean entries is a
selection of donor heads, so it applies to the donor's queries and keys as well as to its
patterns (``HeadMap.selects_heads``): the transplant path takes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, Optional, Union

import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from interp.types import DonorPattern, HeadStates, Pattern

HeadMapping = Literal["index", "mean", "match"]
HEAD_MAPPINGS = ("index", "mean", "match")
TIE_BONUS = 1e-9  # cosine margin within which heads="match" keeps head i on donor head i


class ShapeMismatchError(ValueError):
    """Donor and recipient shapes differ in a way the chosen mapping cannot bridge."""


def layer_map(n_recipient: int, n_donor: int) -> list[int]:
    """The donor layer feeding each recipient layer, by relative depth.

    Recipient layer ``i`` takes donor layer ``round(i * (n_donor - 1) / (n_recipient - 1))``
    (Python's round, computed exactly); a 1-layer recipient takes donor layer 0.

    >>> layer_map(2, 3)
    [0, 2]
    >>> layer_map(4, 2)
    [0, 0, 1, 1]
    """
    if n_recipient < 1 or n_donor < 1:
        raise ValueError(f"layer counts must be >= 1, got {n_recipient} and {n_donor}")
    if n_recipient == 1:
        return [0]
    return [round(Fraction(i * (n_donor - 1), n_recipient - 1)) for i in range(n_recipient)]


@dataclass(frozen=True)
class HeadMap:
    """Turns donor patterns [b, donor_head, q, k] into [b, head, q, k].

    ``assignment[i]`` is the donor head recipient head ``i`` takes, or ``None`` for the mean
    over the donor's heads.

    >>> HeadMap("mean", (None, None))(torch.ones(1, 3, 2, 2)).shape
    torch.Size([1, 2, 2, 2])
    """

    how: str
    assignment: tuple[Optional[int], ...]

    def __call__(self, donor: DonorPattern) -> Pattern:
        n_donor = donor.shape[1]
        if self.assignment == tuple(range(n_donor)):
            return donor
        if all(a is None for a in self.assignment):
            return donor.mean(1, keepdim=True).expand(-1, len(self.assignment), -1, -1)
        pool = donor
        if None in self.assignment:
            pool = torch.cat([donor, donor.mean(1, keepdim=True)], 1)
        index = [n_donor if a is None else a for a in self.assignment]
        return pool.index_select(1, torch.tensor(index, device=donor.device))

    @property
    def selects_heads(self) -> bool:
        """True when every recipient head takes one donor head (no head-means): the map is
        then a selection of donor heads, and applies to queries and keys as to patterns.

        >>> HeadMap("index", (0, 1)).selects_heads, HeadMap("match", (1, None)).selects_heads
        (True, False)
        """
        return None not in self.assignment

    def select(self, states: HeadStates) -> HeadStates:
        """The donor heads' queries or keys [b, donor_head, pos, d] as [b, head, pos, d].

        >>> HeadMap("match", (1, 0)).select(torch.arange(2.0).view(1, 2, 1, 1)).flatten().tolist()
        [1.0, 0.0]
        """
        if not self.selects_heads:
            raise ValueError(f"head map {self.assignment} averages donor heads: a mean of queries "
                             "and keys is not a mean of patterns; use the materialised path")
        if self.assignment == tuple(range(states.shape[1])):
            return states
        return states.index_select(1, torch.tensor(self.assignment, device=states.device))


def head_map(
    own: Union[Pattern, int], donor: Union[DonorPattern, int], how: HeadMapping
) -> HeadMap:
    """Map one layer's donor heads onto the recipient's (``own``: its patterns, or head count).

    - ``"index"``: head i takes donor head i; needs equal head counts.
    - ``"mean"``: every head takes the donor's head-mean.
    - ``"match"``: a Hungarian assignment (``scipy.optimize.linear_sum_assignment``) maximising
      the cosine similarity, over batch and positions, of each recipient head's own pattern and
      its donor head's (float64; within ``TIE_BONUS`` the index mapping wins). With fewer
      donor heads, the heads left over take the donor's mean. Needs both patterns as tensors.

    >>> own = torch.rand(1, 3, 4, 4)
    >>> head_map(own, own[:, [2, 0, 1]], "match").assignment
    (1, 2, 0)
    """
    n_own = own if isinstance(own, int) else own.shape[1]
    n_donor = donor if isinstance(donor, int) else donor.shape[1]
    if how == "index":
        if n_own != n_donor:
            raise ShapeMismatchError(
                f"heads='index' needs equal head counts, but the recipient has {n_own} heads and "
                f"the donor {n_donor}: map them with --heads mean|match (heads='mean' or 'match')"
            )
        return HeadMap(how, tuple(range(n_own)))
    if how == "mean":
        return HeadMap(how, (None,) * n_own)
    if how != "match":
        raise ValueError(f"heads must be one of {', '.join(HEAD_MAPPINGS)}, got {how!r}")
    if isinstance(own, int) or isinstance(donor, int):
        raise TypeError("heads='match' compares patterns: pass both as [b, head, q, k] tensors")
    o, d = (nn.functional.normalize(p.detach().transpose(0, 1).flatten(1).double(), dim=1)
            for p in (own, donor))
    similarity = o @ d.T
    if n_own == n_donor:  # ties go to the index mapping: a self-swap maps each head to itself
        similarity += TIE_BONUS * torch.eye(n_own, dtype=similarity.dtype, device=similarity.device)
    rows, cols = linear_sum_assignment(similarity.cpu().numpy(), maximize=True)
    assignment: list[Optional[int]] = [None] * n_own
    for r, c in zip(rows.tolist(), cols.tolist()):
        assignment[r] = c
    return HeadMap(how, tuple(assignment))
