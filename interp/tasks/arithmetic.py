"""n-digit addition, subtraction and multiplication: ``"37 + 45 ="`` -> ``" 82"`` (exact).

Both operands have exactly ``digits`` digits (1-digit operands run 0..9). Subtraction puts
the larger operand first unless ``allow_negative`` is set.

Held-out split, by operand pair: a hash of the pair puts it in "test" with probability
``TEST_FRACTION``, on every machine and for every seed. For addition and multiplication the
pair is unordered, so ``45 + 37`` is never trained on when ``37 + 45`` is tested.
Samples are i.i.d. draws from the split's pairs (repeats possible on small spaces).
"""

from __future__ import annotations

import random
from typing import Literal

from interp.tasks.base import Example, Split, Task, check_n, check_split, split_of

Operation = Literal["add", "sub", "mul"]
SYMBOLS: dict[str, str] = {"add": "+", "sub": "-", "mul": "*"}
TEST_FRACTION = 0.2
DEFAULT_DIGITS = 2
# Rejection sampling gives up after this many draws in a row from the wrong split.
_MAX_MISSES = 10_000


def arithmetic(
    op: Operation,
    *,
    n: int = 200,
    seed: int = 0,
    split: Split = "test",
    digits: int = DEFAULT_DIGITS,
    allow_negative: bool = False,
) -> Task:
    """``n`` problems of one operation on ``digits``-digit operands.

    >>> ex = arithmetic("add", n=1, digits=2).examples[0]
    >>> int(ex.answer) == ex.metadata["a"] + ex.metadata["b"]
    True
    """
    if op not in SYMBOLS:
        raise ValueError(f"op must be one of {sorted(SYMBOLS)}, got {op!r}")
    check_n(n)
    check_split(split)
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be a positive integer, got {digits!r}")
    low, high = (0, 9) if digits == 1 else (10 ** (digits - 1), 10**digits - 1)
    rng = random.Random(seed)
    examples = []
    misses = 0
    while len(examples) < n:
        a, b = rng.randint(low, high), rng.randint(low, high)
        if op == "sub" and not allow_negative and a < b:
            a, b = b, a
        if split_of(_pair_key(op, a, b), test_fraction=TEST_FRACTION) != split:
            misses += 1
            if misses > _MAX_MISSES:
                raise ValueError(f"no {op} pairs of {digits} digits fall in split {split!r}")
            continue
        misses = 0
        examples.append(_example(op, a, b, digits))
    return Task(f"arithmetic_{op}", "arithmetic", "exact", tuple(examples))


def arithmetic_add(
    *, n: int = 200, seed: int = 0, split: Split = "test", digits: int = DEFAULT_DIGITS
) -> Task:
    """``"37 + 45 ="`` -> ``" 82"``.

    >>> arithmetic_add(n=2, digits=1).name
    'arithmetic_add'
    """
    return arithmetic("add", n=n, seed=seed, split=split, digits=digits)


def arithmetic_sub(
    *,
    n: int = 200,
    seed: int = 0,
    split: Split = "test",
    digits: int = DEFAULT_DIGITS,
    allow_negative: bool = False,
) -> Task:
    """``"45 - 37 ="`` -> ``" 8"``; never negative unless ``allow_negative``.

    >>> all(int(e.answer) >= 0 for e in arithmetic_sub(n=20))
    True
    """
    return arithmetic(
        "sub", n=n, seed=seed, split=split, digits=digits, allow_negative=allow_negative
    )


def arithmetic_mul(
    *, n: int = 200, seed: int = 0, split: Split = "test", digits: int = DEFAULT_DIGITS
) -> Task:
    """``"37 * 45 ="`` -> ``" 1665"``.

    >>> arithmetic_mul(n=2).examples[0].prompt.count("*")
    1
    """
    return arithmetic("mul", n=n, seed=seed, split=split, digits=digits)


def words() -> set[str]:
    """Arithmetic emits only digits and symbols, which the suite's tokenizer always has.

    >>> words()
    set()
    """
    return set()


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
