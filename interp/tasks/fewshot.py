"""Prefix a query with solved demonstrations: the standard few-shot prompt of any task."""

from __future__ import annotations

import random
from typing import Sequence

from interp.tasks.base import Example


def few_shot(
    examples: Sequence[Example],
    k: int,
    query: Example,
    *,
    rng: random.Random | None = None,
    separator: str = "\n",
) -> Example:
    """``query`` preceded by ``k`` demonstrations (prompt + answer) joined by ``separator``.

    Demonstrations are the first ``k`` of ``examples``, or ``k`` drawn without replacement
    by ``rng``; an example with the query's own prompt is never used (it would give the
    answer away). The result keeps the query's answer and choices; metadata gains "shots".

    >>> demos = [Example("1 + 1 =", " 2"), Example("2 + 2 =", " 4")]
    >>> print(few_shot(demos, 2, Example("3 + 3 =", " 6")).prompt)
    1 + 1 = 2
    2 + 2 = 4
    3 + 3 =
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    pool = [e for e in examples if e.prompt != query.prompt]
    if len(pool) < k:
        raise ValueError(
            f"few_shot needs {k} demonstrations but only {len(pool)} are available "
            f"({len(examples)} examples given, {len(examples) - len(pool)} of them the query)"
        )
    demonstrations = rng.sample(pool, k) if rng is not None else pool[:k]
    parts = [d.prompt + d.answer for d in demonstrations] + [query.prompt]
    return Example(
        prompt=separator.join(parts),
        answer=query.answer,
        choices=query.choices,
        metadata={**query.metadata, "shots": k},
    )
