"""One FIXED label mapping for a family of categories (``icl_fixed``), and its reversal.

The in-context tasks of ``interp.tasks.icl`` draw a fresh mapping per prompt, so only the
demonstrations tell the label. Here the mapping is fixed (by default animals -> dax,
colors -> wug), so a model can learn it in its weights and answer with no demonstrations:

    horse ->            answer " dax", choices (" dax", " wug")

This is a zero-shot fine-tuning target for the ICL-preservation setting (arXiv 2602.23197),
the language analogue of fine-tuning on one regression vector theta0:
- ``icl_fixed``: demonstrations (``shots`` > 0) follow the same fixed mapping (theta0);
- ``icl_fixed_flipped``: demonstrations follow the reversed mapping (animals -> wug,
  colors -> dax), and the answer is the demonstrated one: the -theta0 test. A model that
  learned the fixed mapping in its weights and ignores the prompt fails it.
- ``icl_fixed_unshown`` / ``icl_fixed_flipped_unshown``: the same with ``query_shown=False``:
  no demonstration uses the query word, so the label cannot be copied off the prompt by
  lookup (from 2 shots on, the shown tasks always contain it).

Which category a demonstration shows is drawn: with fewer demonstrations than categories
(one shot) the demonstrated category is random per prompt (seeded), not always the first.

Splits as in ``icl``: queries of the "train" split use one half of each category's words, the
"test" split the other half (the same hash); demonstrations may use any word of the family.

Prompts are distinct unless drawn with ``replace=True``. With no demonstrations a prompt is
just ``"horse ->"``, so a split holds few distinct items: ``population`` counts them (as many
per category as the smallest category has query words, so labels stay exactly balanced) and
``n="all"`` takes them all. With demonstrations the space is effectively unbounded
(``population`` is None) and repeats are redrawn.
"""

from __future__ import annotations

import random

from interp.tasks.base import (
    Count,
    Split,
    Task,
    balanced_draws,
    check_split,
    draw_distinct,
    resolve_n,
)
from interp.tasks.icl import CATEGORIES, FIXED_CATEGORIES, LABEL_POOL, mapping_prompt, query_words

DEFAULT_CATEGORIES = FIXED_CATEGORIES
DEFAULT_LABELS = ("dax", "wug")


def icl_fixed(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    shots: int = 0,
    categories: tuple[str, ...] = DEFAULT_CATEGORIES,
    labels: tuple[str, ...] = DEFAULT_LABELS,
    query_shown: bool = True,
) -> Task:
    """Label a word's category with the fixed mapping ``categories[i] -> labels[i]``.

    >>> ex = icl_fixed(n=2, shots=0).examples[0]
    >>> ex.prompt.count("->"), ex.choices
    (1, (' dax', ' wug'))
    """
    return _task("icl_fixed", categories, labels, split, n=n, seed=seed, replace=replace,
                 shots=shots, flipped=False, query_shown=query_shown)


def icl_fixed_flipped(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    shots: int = 4,
    categories: tuple[str, ...] = DEFAULT_CATEGORIES,
    labels: tuple[str, ...] = DEFAULT_LABELS,
    query_shown: bool = True,
) -> Task:
    """The fixed family with its labels rotated by one (reversed for two): demonstrations
    show the rotated mapping, and the answer follows them.

    >>> ex = icl_fixed_flipped(n=1, shots=2).examples[0]
    >>> ex.metadata["mapping"]
    {'animals': 'wug', 'colors': 'dax'}
    """
    return _task("icl_fixed_flipped", categories, labels, split, n=n, seed=seed,
                 replace=replace, shots=shots, flipped=True, query_shown=query_shown)


def icl_fixed_unshown(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    shots: int = 0,
    categories: tuple[str, ...] = DEFAULT_CATEGORIES,
    labels: tuple[str, ...] = DEFAULT_LABELS,
) -> Task:
    """``icl_fixed`` with no demonstration showing the query word.

    >>> ex = icl_fixed_unshown(n=1, shots=4).examples[0]
    >>> ex.metadata["query_shown"], ex.prompt.count(ex.metadata["query"])
    (False, 1)
    """
    return _task("icl_fixed_unshown", categories, labels, split, n=n, seed=seed,
                 replace=replace, shots=shots, flipped=False, query_shown=False)


def icl_fixed_flipped_unshown(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    shots: int = 4,
    categories: tuple[str, ...] = DEFAULT_CATEGORIES,
    labels: tuple[str, ...] = DEFAULT_LABELS,
) -> Task:
    """``icl_fixed_flipped`` with no demonstration showing the query word: the rotated label
    must be read off another word of the query's category.

    >>> ex = icl_fixed_flipped_unshown(n=1, shots=2).examples[0]
    >>> ex.metadata["query_shown"], ex.prompt.count(ex.metadata["query"])
    (False, 1)
    """
    return _task("icl_fixed_flipped_unshown", categories, labels, split, n=n, seed=seed,
                 replace=replace, shots=shots, flipped=True, query_shown=False)


def population(
    *,
    split: Split = "test",
    shots: int = 0,
    categories: tuple[str, ...] = DEFAULT_CATEGORIES,
    labels: tuple[str, ...] = DEFAULT_LABELS,
    query_shown: bool = True,
) -> int | None:
    """How many distinct prompts the fixed family has in ``split``, labels exactly balanced
    (so the category with the fewest prompts bounds every label). With ``shots=0`` a prompt is
    its query word; with one shot, the query and the one demonstration (of a drawn category);
    with more, None (effectively unbounded: distinct prompts are drawn until enough are found).

    >>> population(split="test"), population(split="test", shots=1), population(shots=4)
    (10, 150, None)
    """
    categories, labels = _checked("icl_fixed", categories, labels, split, shots)
    if shots > 1:
        return None
    per_label = [len(query_words(c, split)) * _one_shot_demos(categories, slot, query_shown, shots)
                 for slot, c in enumerate(categories)]
    return len(categories) * min(per_label)


def _one_shot_demos(categories: tuple[str, ...], slot: int, query_shown: bool, shots: int) -> int:
    # How many demonstrations a query of categories[slot] can get. With one shot the single
    # demonstration shows a drawn category (mapping_prompt's spread): of the query's own, it
    # is the query word itself when query_shown, else any other word of it; of another
    # category, any of its words.
    if shots == 0:
        return 1
    own = 1 if query_shown else len(CATEGORIES[categories[slot]]) - 1
    return own + sum(len(CATEGORIES[c]) for i, c in enumerate(categories) if i != slot)


def _checked(
    name: str, categories: tuple[str, ...], labels: tuple[str, ...], split: Split, shots: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``categories`` and ``labels`` as tuples, after every argument is checked."""
    check_split(split)
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 0:
        raise ValueError(f"shots must be a non-negative integer, got {shots!r}")
    categories, labels = tuple(categories), tuple(labels)
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"{name}: unknown categories {unknown}; use some of {', '.join(CATEGORIES)}")
    if len(categories) < 2 or len(labels) != len(categories) or len(set(labels)) != len(labels):
        raise ValueError(
            f"{name}: give >= 2 categories and as many distinct labels, got {categories} and {labels}"
        )
    bad = [label for label in labels if label not in LABEL_POOL]
    if bad:
        raise ValueError(f"{name}: labels {bad} are not made-up labels; use some of {LABEL_POOL}")
    return categories, labels


def _task(
    name: str,
    categories: tuple[str, ...],
    labels: tuple[str, ...],
    split: Split,
    *,
    n: Count,
    seed: int,
    replace: bool,
    shots: int,
    flipped: bool,
    query_shown: bool,
) -> Task:
    categories, labels = _checked(name, categories, labels, split, shots)
    total = population(split=split, shots=shots, categories=categories, labels=labels,
                       query_shown=query_shown)
    count = resolve_n(n, total, name=name, split=split, replace=replace)
    # The flipped mapping rotates labels by one: every category gets another category's label.
    shown_labels = labels[1:] + labels[:1] if flipped else labels
    mapping = dict(zip(categories, shown_labels))
    rng = random.Random(seed)
    queries = {c: query_words(c, split) for c in categories}
    seen = None if replace else set()
    examples = tuple(
        draw_distinct(
            lambda: mapping_prompt(rng, categories, mapping, queries, shots, slot, query_shown,
                                   labels, spread=True),
            seen, name=name,
        )
        for slot in balanced_draws(count, len(categories), rng)
    )
    return Task(name, "icl", "choice", examples)
