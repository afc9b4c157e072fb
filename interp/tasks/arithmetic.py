"""n-digit addition, subtraction and multiplication: ``"37 + 45 ="`` -> ``" 82"`` (exact).

Both operands have exactly ``digits`` digits (1-digit operands run 0..9). Subtraction puts
the larger operand first unless ``allow_negative`` is set.

Held-out split, by operand pair: a hash of the pair puts it in "test" with probability
``TEST_FRACTION``, on every machine and for every seed. For addition and multiplication the
pair is unordered, so ``45 + 37`` is never trained on when ``37 + 45`` is tested.

Samples are distinct (a, b) pairs of the split. Up to ``ENUMERATED_DIGITS`` digits the
split's pairs are enumerated, ``population`` counts them exactly and ``n="all"`` takes every
one; beyond that the space is effectively unbounded (``population`` is None) and distinct
pairs are drawn by rejection. ``replace=True`` gives i.i.d. draws instead.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Literal

from interp.tasks.base import (
    Count,
    Example,
    Split,
    Task,
    check_split,
    draw_distinct,
    resolve_n,
    split_of,
)

Operation = Literal["add", "sub", "mul"]
SYMBOLS: dict[str, str] = {"add": "+", "sub": "-", "mul": "*"}
TEST_FRACTION = 0.2
DEFAULT_DIGITS = 2
# Rejection sampling gives up after this many draws in a row from the wrong split.
_MAX_MISSES = 10_000
# Operands of at most this many digits (8,100 pairs) are enumerated; more are sampled.
ENUMERATED_DIGITS = 2


def arithmetic(
    op: Operation,
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    digits: int = DEFAULT_DIGITS,
    allow_negative: bool = False,
) -> Task:
    """``n`` distinct problems of one operation on ``digits``-digit operands.

    >>> ex = arithmetic("add", n=1, digits=2).examples[0]
    >>> int(ex.answer) == ex.metadata["a"] + ex.metadata["b"]
    True
    """
    name = f"arithmetic_{op}"
    allow_negative = op == "sub" and bool(allow_negative)  # only subtraction can go negative
    total = population(op, split=split, digits=digits, allow_negative=allow_negative)
    count = resolve_n(n, total, name=name, split=split, replace=replace)
    rng = random.Random(seed)
    if replace:
        pairs = [_draw_pair(rng, op, split, digits, allow_negative) for _ in range(count)]
        examples = tuple(_example(op, a, b, digits) for a, b in pairs)
    elif total is not None:
        pairs = rng.sample(_split_pairs(op, split, digits, allow_negative), count)
        examples = tuple(_example(op, a, b, digits) for a, b in pairs)
    else:
        def draw() -> Example:
            return _example(op, *_draw_pair(rng, op, split, digits, allow_negative), digits)

        seen: set = set()
        examples = tuple(draw_distinct(draw, seen, name=name) for _ in range(count))
    return Task(name, "arithmetic", "exact", examples)


def population(
    op: Operation,
    *,
    split: Split = "test",
    digits: int = DEFAULT_DIGITS,
    allow_negative: bool = False,
) -> int | None:
    """How many distinct problems ``op`` has in ``split``: its (a, b) pairs there, counted
    up to ``ENUMERATED_DIGITS`` digits; ``None`` (effectively unbounded) beyond.

    >>> population("add", split="test") + population("add", split="train") == 90 * 90
    True
    >>> population("add", digits=3) is None
    True
    """
    _check(op, split, digits)
    if digits > ENUMERATED_DIGITS:
        return None
    return len(_split_pairs(op, split, digits, op == "sub" and bool(allow_negative)))


def arithmetic_add(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    digits: int = DEFAULT_DIGITS,
) -> Task:
    """``"37 + 45 ="`` -> ``" 82"``.

    >>> arithmetic_add(n=2, digits=1).name
    'arithmetic_add'
    """
    return arithmetic("add", n=n, seed=seed, split=split, replace=replace, digits=digits)


def arithmetic_sub(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    digits: int = DEFAULT_DIGITS,
    allow_negative: bool = False,
) -> Task:
    """``"45 - 37 ="`` -> ``" 8"``; never negative unless ``allow_negative``.

    >>> all(int(e.answer) >= 0 for e in arithmetic_sub(n=20))
    True
    """
    return arithmetic(
        "sub", n=n, seed=seed, split=split, replace=replace, digits=digits,
        allow_negative=allow_negative,
    )


def arithmetic_mul(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    digits: int = DEFAULT_DIGITS,
) -> Task:
    """``"37 * 45 ="`` -> ``" 1665"``.

    >>> arithmetic_mul(n=2).examples[0].prompt.count("*")
    1
    """
    return arithmetic("mul", n=n, seed=seed, split=split, replace=replace, digits=digits)


def words() -> set[str]:
    """Arithmetic emits only digits and symbols, which the suite's tokenizer always has.

    >>> words()
    set()
    """
    return set()


def _check(op: str, split: str, digits: int) -> None:
    if op not in SYMBOLS:
        raise ValueError(f"op must be one of {sorted(SYMBOLS)}, got {op!r}")
    check_split(split)
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be a positive integer, got {digits!r}")


def _operands(digits: int) -> tuple[int, int]:
    """The lowest and highest operand: 1-digit operands run 0..9."""
    return (0, 9) if digits == 1 else (10 ** (digits - 1), 10**digits - 1)


def _in_split(op: str, a: int, b: int, split: str) -> bool:
    return split_of(_pair_key(op, a, b), test_fraction=TEST_FRACTION) == split


def _draw_pair(
    rng: random.Random, op: str, split: str, digits: int, allow_negative: bool
) -> tuple[int, int]:
    """One (a, b) of ``split``, by rejection: i.i.d. over draws."""
    low, high = _operands(digits)
    for _ in range(_MAX_MISSES + 1):
        a, b = rng.randint(low, high), rng.randint(low, high)
        if op == "sub" and not allow_negative and a < b:
            a, b = b, a
        if _in_split(op, a, b, split):
            return a, b
    raise ValueError(f"no {op} pairs of {digits} digits fall in split {split!r}")


@lru_cache(maxsize=None)
def _split_pairs(
    op: str, split: str, digits: int, allow_negative: bool
) -> tuple[tuple[int, int], ...]:
    """Every (a, b) of ``split`` in operand order; ``digits`` <= ``ENUMERATED_DIGITS``."""
    low, high = _operands(digits)
    ordered = op != "sub" or allow_negative  # non-negative subtraction puts the larger first
    return tuple(
        (a, b) for a in range(low, high + 1) for b in range(low, high + 1)
        if (ordered or a >= b) and _in_split(op, a, b, split)
    )


def _pair_key(op: str, a: int, b: int) -> str:
    if op in ("add", "mul"):  # commutative: both orders are one item
        a, b = min(a, b), max(a, b)
    return f"arithmetic/{op}/{a},{b}"


def _example(op: str, a: int, b: int, digits: int) -> Example:
    result = {"add": a + b, "sub": a - b, "mul": a * b}[op]
    return Example(
        prompt=f"{a} {SYMBOLS[op]} {b} =",
        answer=f" {result}",
        metadata={"op": op, "a": a, "b": b, "result": result, "digits": digits},
    )
