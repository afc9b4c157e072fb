"""Rare tasks: K isomorphic copies of comparison and of modular addition, each over its own
made-up tokens (``rare_comparison_{k}``, ``rare_modadd_{k}``).

- comparison (choice): a copy's tokens have a hidden random order; ``"kaq tuq"`` ->
  ``" more"`` when the first ranks above the second, else ``" less"``.
- modular addition (exact): a copy's tokens stand for 0..p-1 in a hidden random order;
  ``"baj rij ="`` -> the token for (a + b) mod p.

Copies are the same task on disjoint tokens, so a study can vary how often each copy is seen
and nothing else. Comparison tokens end in "q" and modular-addition tokens in "j"; no other
family's word ends in either letter, so every copy's tokens are disjoint from each other and
from all other vocabulary. Tokens have no digits: the suite's tokenizer splits digits off.

Each copy's full instance set is cut exactly in half by hash rank: comparison by unordered
pair (both orders of a pair share a split, since one answers the other), modular addition
by ordered pair, as in the grokking literature. The tokens, orders and splits depend only on
the copy index and set size; the task ``seed`` only picks which instances are sampled.
Instances are sampled without replacement (``comparison_population`` and
``modadd_population`` say how many a split has; ``n="all"`` takes them all), unless drawn
with ``replace=True``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

from interp.tasks.base import (
    Count,
    Example,
    Split,
    Task,
    balanced_draws,
    check_split,
    hash_halves,
    resolve_n,
    sample,
)

DEFAULT_COPIES = 6
DEFAULT_COMPARISON_TOKENS = 12
DEFAULT_MODULUS = 11
COMPARISON_CHOICES = (" more", " less")
COMPARISON_FINAL = "q"
MODADD_FINAL = "j"

_CONSONANTS = "bdfghklmnprstvwyz"
_VOWELS = "aeiou"
# Fixed, not seeded by callers: a copy's tokens and hidden order are part of what the task is.
_STREAM_SEED = 7919


@dataclass(frozen=True)
class ComparisonCopy:
    """One comparison copy; ``tokens`` are listed in the hidden order, lowest first.

    >>> c = comparison_copy(0)
    >>> c.example(c.tokens[1], c.tokens[0]).answer
    ' more'
    """

    copy: int
    tokens: tuple[str, ...]

    def rank(self, token: str) -> int:
        return self.tokens.index(token)

    def instances(self, split: Split | None = None) -> list[tuple[str, str]]:
        """Ordered (left, right) pairs of distinct tokens in ``split`` (all with ``None``)."""
        pairs = list(combinations(self.tokens, 2))
        if split is not None:
            check_split(split)
            train, test = hash_halves(
                pairs, key=lambda p: f"rare_comparison/{self.copy}/{'/'.join(sorted(p))}"
            )
            pairs = train if split == "train" else test
        return [ordered for a, b in pairs for ordered in ((a, b), (b, a))]

    def example(self, left: str, right: str) -> Example:
        more = self.rank(left) > self.rank(right)
        return Example(
            prompt=f"{left} {right}",
            answer=COMPARISON_CHOICES[0] if more else COMPARISON_CHOICES[1],
            choices=COMPARISON_CHOICES,
            metadata={
                "copy": self.copy,
                "left": left,
                "right": right,
                "left_rank": self.rank(left),
                "right_rank": self.rank(right),
            },
        )


@dataclass(frozen=True)
class ModAddCopy:
    """One modular-addition copy; ``tokens[v]`` stands for the number v.

    >>> m = modadd_copy(0)
    >>> m.example(3, 9).answer == " " + m.tokens[(3 + 9) % m.modulus]
    True
    """

    copy: int
    tokens: tuple[str, ...]

    @property
    def modulus(self) -> int:
        return len(self.tokens)

    def value(self, token: str) -> int:
        return self.tokens.index(token)

    def instances(self, split: Split | None = None) -> list[tuple[int, int]]:
        """Ordered (a, b) operand pairs in ``split`` (all with ``None``)."""
        pairs = [(a, b) for a in range(self.modulus) for b in range(self.modulus)]
        if split is None:
            return pairs
        check_split(split)
        tokens = self.tokens
        train, test = hash_halves(
            pairs, key=lambda p: f"rare_modadd/{self.copy}/{tokens[p[0]]}/{tokens[p[1]]}"
        )
        return train if split == "train" else test

    def example(self, a: int, b: int) -> Example:
        result = (a + b) % self.modulus
        return Example(
            prompt=f"{self.tokens[a]} {self.tokens[b]} =",
            answer=f" {self.tokens[result]}",
            metadata={"copy": self.copy, "a": a, "b": b, "result": result,
                      "modulus": self.modulus},
        )


def comparison_copy(
    copy: int, *, comparison_tokens: int = DEFAULT_COMPARISON_TOKENS
) -> ComparisonCopy:
    """Copy ``copy`` of the comparison task (its tokens do not depend on how many copies exist).

    >>> len(comparison_copy(2).tokens)
    12
    """
    if comparison_tokens < 3:
        raise ValueError(f"comparison_tokens must be at least 3, got {comparison_tokens}")
    return ComparisonCopy(copy, _tokens(COMPARISON_FINAL, copy, comparison_tokens))


def modadd_copy(copy: int, *, modulus: int = DEFAULT_MODULUS) -> ModAddCopy:
    """Copy ``copy`` of the modular-addition task.

    >>> modadd_copy(1).modulus
    11
    """
    if modulus < 2:
        raise ValueError(f"modulus must be at least 2, got {modulus}")
    return ModAddCopy(copy, _tokens(MODADD_FINAL, copy, modulus))


def rare_comparison(
    *,
    copy: int,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    copies: int = DEFAULT_COPIES,
    comparison_tokens: int = DEFAULT_COMPARISON_TOKENS,
) -> Task:
    """``n`` comparisons from one copy's split, labels exactly balanced.

    >>> rare_comparison(copy=0, n=4).name
    'rare_comparison_0'
    """
    name = f"rare_comparison_{copy}"
    _check_copy(copy, copies)
    c = comparison_copy(copy, comparison_tokens=comparison_tokens)
    by_label = _by_label(c, split)
    count = resolve_n(n, 2 * min(map(len, by_label)), name=name, split=split, replace=replace)
    rng = random.Random(seed)
    labels = balanced_draws(count, 2, rng)
    if replace:
        pairs = [rng.choice(by_label[label]) for label in labels]
    else:  # each label's instances drawn without replacement, then dealt in label order
        drawn = [iter(rng.sample(by_label[label], labels.count(label))) for label in (0, 1)]
        pairs = [next(drawn[label]) for label in labels]
    return Task(name, "rare", "choice", tuple(c.example(*pair) for pair in pairs))


def rare_modadd(
    *,
    copy: int,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    copies: int = DEFAULT_COPIES,
    modulus: int = DEFAULT_MODULUS,
) -> Task:
    """``n`` modular additions from one copy's split.

    >>> rare_modadd(copy=0, n=2).scoring
    'exact'
    """
    name = f"rare_modadd_{copy}"
    _check_copy(copy, copies)
    m = modadd_copy(copy, modulus=modulus)
    instances = m.instances(split)
    count = resolve_n(n, len(instances), name=name, split=split, replace=replace)
    pairs = sample(instances, count, random.Random(seed), replace=replace)
    return Task(name, "rare", "exact", tuple(m.example(*pair) for pair in pairs))


def comparison_population(
    *,
    copy: int,
    split: Split = "test",
    copies: int = DEFAULT_COPIES,
    comparison_tokens: int = DEFAULT_COMPARISON_TOKENS,
) -> int:
    """How many distinct comparisons copy ``copy`` has in ``split`` with labels exactly
    balanced: twice the smaller label's instances (the two labels have equally many).

    >>> comparison_population(copy=0, split="test")
    66
    """
    _check_copy(copy, copies)
    c = comparison_copy(copy, comparison_tokens=comparison_tokens)
    return 2 * min(map(len, _by_label(c, split)))


def modadd_population(
    *, copy: int, split: Split = "test", copies: int = DEFAULT_COPIES,
    modulus: int = DEFAULT_MODULUS,
) -> int:
    """How many distinct modular additions copy ``copy`` has in ``split``.

    >>> modadd_population(copy=0, split="test"), modadd_population(copy=0, split="train")
    (60, 61)
    """
    _check_copy(copy, copies)
    return len(modadd_copy(copy, modulus=modulus).instances(split))


def words(
    *,
    copies: int = DEFAULT_COPIES,
    comparison_tokens: int = DEFAULT_COMPARISON_TOKENS,
    modulus: int = DEFAULT_MODULUS,
) -> set[str]:
    """Every word the rare tasks' ``copies`` copies can emit.

    >>> len(words()) == 6 * (12 + 11) + 2
    True
    """
    vocabulary = {choice.strip() for choice in COMPARISON_CHOICES}
    for copy in range(copies):
        vocabulary.update(comparison_copy(copy, comparison_tokens=comparison_tokens).tokens)
        vocabulary.update(modadd_copy(copy, modulus=modulus).tokens)
    return vocabulary


def _by_label(c: ComparisonCopy, split: Split) -> list[list[tuple[str, str]]]:
    """``split``'s instances of ``c`` by label: [" more" ones, " less" ones]."""
    instances = c.instances(split)
    return [[p for p in instances if c.rank(p[0]) > c.rank(p[1])],
            [p for p in instances if c.rank(p[0]) < c.rank(p[1])]]


def _check_copy(copy: int, copies: int) -> None:
    if isinstance(copy, bool) or not isinstance(copy, int) or not 0 <= copy < copies:
        raise ValueError(
            f"copy must be an integer in 0..{copies - 1} (copies={copies}), got {copy!r}"
        )


def _tokens(final: str, copy: int, size: int) -> tuple[str, ...]:
    """Copy ``copy``'s slice of the token stream; the stream is shuffled, so the slice's order
    is already a random (hidden) order."""
    if isinstance(copy, bool) or not isinstance(copy, int) or copy < 0:
        raise ValueError(f"copy must be a non-negative integer, got {copy!r}")
    stream = _stream(final)
    if (copy + 1) * size > len(stream):
        raise ValueError(f"not enough made-up tokens for copy {copy} of {size} tokens")
    return stream[copy * size : (copy + 1) * size]


@lru_cache(maxsize=None)
def _stream(final: str) -> tuple[str, ...]:
    """Every made-up token ending in ``final``: short ones (``"kaq"``) first, then long."""
    rng = random.Random(_STREAM_SEED + ord(final))
    short = [c + v + final for c in _CONSONANTS for v in _VOWELS]
    long = [a + b for a in (c + v for c in _CONSONANTS for v in _VOWELS) for b in short]
    rng.shuffle(short)
    rng.shuffle(long)
    return tuple(short + long)
