"""The one interface every task speaks: an `Example` is a prompt plus what should follow it.

A task is scored one of two ways, fixed by the task:
- ``"choice"``: the model's log-likelihood of each string in ``choices`` after ``prompt``;
  the highest wins, and the loss is the cross-entropy of ``answer`` (one of the choices).
- ``"exact"``: greedy continuation must reproduce ``answer`` token for token; the loss is
  the cross-entropy of ``answer``'s tokens.

Continuations carry their own leading space (``" 7"``, ``" B"``): BPE tokenizers (Pythia,
OPT) give a different token to ``"7"`` and ``" 7"``, and the prompt never ends in a space.

A task's examples are distinct items (no two share prompt, answer and choices) unless it was
drawn with ``replace=True``; the sampling helpers at the end of this module enforce that.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Sequence, TypeVar, Union

Scoring = Literal["choice", "exact"]
T = TypeVar("T")


@dataclass(frozen=True)
class Example:
    """One prompt and what should follow it.

    >>> Example(prompt="Q: 2 + 3 =", answer=" 5").answer
    ' 5'
    """

    prompt: str
    answer: str
    choices: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.choices is not None and self.answer not in self.choices:
            raise ValueError(
                f"answer {self.answer!r} is not among choices {self.choices!r}: "
                "a choice-scored example must list its answer as one of its choices"
            )


@dataclass(frozen=True)
class Task:
    """A named, fixed set of examples scored one way (``get_task`` fills it with distinct
    items unless asked for ``replace=True``; a hand-built Task may hold anything).

    >>> t = Task("toy", "arithmetic", "exact", (Example("1 + 1 =", " 2"),))
    >>> len(t)
    1
    """

    name: str
    kind: str
    scoring: Scoring
    examples: tuple[Example, ...]

    def __post_init__(self) -> None:
        if not self.examples:
            raise ValueError(
                f"task {self.name!r} has no examples: pass n >= 1, or check the file it was "
                "loaded from"
            )
        if self.scoring == "choice" and any(e.choices is None for e in self.examples):
            raise ValueError(f"task {self.name!r} is choice-scored but an example has no choices")

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self):
        return iter(self.examples)


# --- Helpers every family shares: word sets, sample sizes, and held-out splits. ---

Split = Literal["train", "test"]
SPLITS: tuple[Split, ...] = ("train", "test")
# A sample size: a number of examples, or "all" (every distinct item of a finite task).
Count = Union[int, Literal["all"]]
ALL = "all"
# Drawing distinct items by rejection gives up after this many repeats in a row.
MAX_REPEATS = 10_000

# What the suite's word-level tokenizer treats as one word: a run of letters. Digits are
# single-character tokens and punctuation its own tokens, so neither needs a words() entry.
_WORD = re.compile(r"[A-Za-z]+")


def words_in(text: str) -> list[str]:
    """The words of ``text`` as the suite's tokenizer sees them (digits and punctuation dropped).

    >>> words_in("Question 1: What is 37 + 45?\\nAnswer: kaq")
    ['Question', 'What', 'is', 'Answer', 'kaq']
    """
    return _WORD.findall(text)


def check_n(n: Count) -> None:
    """Refuse a sample size that would give an empty (or nonsensical) task; ``"all"`` passes.

    >>> check_n(10); check_n("all")
    """
    if isinstance(n, str) and n == ALL:
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(
            f"n must be a positive integer (the number of examples) or 'all', got {n!r}"
        )


def check_split(split: str) -> None:
    """Refuse anything but ``"train"`` or ``"test"``.

    >>> check_split("test")
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def split_of(key: str, *, test_fraction: float) -> Split:
    """Which split the item named by ``key`` belongs to: fixed by a hash, never by a seed.

    A content hash (not Python's per-process salted ``hash``) gives the same answer on every machine and run,
    so a test item can never turn up in a training corpus built elsewhere.

    >>> split_of("add:37,45", test_fraction=0.5) in ("train", "test")
    True
    """
    return "test" if hash_unit(key) < test_fraction else "train"


def hash_unit(key: str) -> float:
    """A stable pseudo-random number in [0, 1) for ``key``.

    >>> 0.0 <= hash_unit("anything") < 1.0
    True
    """
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def balanced_draws(n: int, k: int, rng: random.Random) -> list[int]:
    """``n`` draws from ``range(k)``, each value as often as possible (counts differ by <= 1),
    in a random order: exact balance, where i.i.d. draws would leave chance a little off 1/k.

    >>> sorted(balanced_draws(6, 3, random.Random(0)))
    [0, 0, 1, 1, 2, 2]
    """
    draws = [i % k for i in range(n)]
    rng.shuffle(draws)
    return draws


def hash_halves(items: Sequence[T], key: Callable[[T], str]) -> tuple[list[T], list[T]]:
    """``items`` cut into (train, test) halves by the rank of each item's key hash.

    An exact half where an independent hash per item would leave small sets lopsided; an odd
    item out goes to train. Which half an item lands in depends only on the item set.

    >>> train, test = hash_halves(["a", "b", "c", "d"], key=str)
    >>> len(train), len(test), sorted(train + test)
    (2, 2, ['a', 'b', 'c', 'd'])
    """
    ranked = sorted(items, key=lambda item: hash_unit(key(item)))
    cut = len(ranked) // 2
    return ranked[cut:], ranked[:cut]


# --- Sampling: distinct items by default, with replacement only when asked. ---


def resolve_n(n: Count, population: int | None, *, name: str, split: str, replace: bool) -> int:
    """How many examples to draw: ``n``, checked against the task's ``population`` (its number
    of distinct items in ``split``; ``None`` for a generative task), or all of them for "all".

    >>> resolve_n("all", 51, name="toy", split="test", replace=False)
    51
    >>> resolve_n(60, 51, name="toy", split="test", replace=True)
    60
    """
    check_n(n)
    if isinstance(n, str):  # "all"
        if replace:
            raise ValueError(
                f"task {name!r}: n='all' takes every distinct item once, so it cannot be "
                "combined with replace=True; ask for a number of examples instead"
            )
        if population is None:
            raise ValueError(
                f"task {name!r} is generative (its {split!r} items are effectively unbounded), "
                "so n='all' has no meaning; ask for a number of examples"
            )
        return population
    if not replace and population is not None and n > population:
        raise ValueError(
            f"task {name!r} has {population} distinct {split!r} items; ask for "
            f"n <= {population}, n='all', or pass replace=True to draw with replacement"
        )
    return n


def sample(items: Sequence[T], n: int, rng: random.Random, *, replace: bool) -> list[T]:
    """``n`` of ``items``: distinct ones in a random order, or i.i.d. draws with ``replace``.

    >>> sorted(sample("abcd", 4, random.Random(0), replace=False))
    ['a', 'b', 'c', 'd']
    """
    if replace:
        return [rng.choice(items) for _ in range(n)]
    return rng.sample(list(items), n)


def example_key(example: Example) -> tuple[str, str, tuple[str, ...] | None]:
    """What makes two examples the same item to a model: prompt, answer and choices.

    >>> example_key(Example("1 + 1 =", " 2", metadata={"a": 1}))
    ('1 + 1 =', ' 2', None)
    """
    return example.prompt, example.answer, example.choices


def draw_distinct(
    draw: Callable[[], Example], seen: set | None, *, name: str, max_repeats: int = MAX_REPEATS
) -> Example:
    """``draw()``, redrawn while it repeats an example already in ``seen`` (which it joins);
    with ``seen=None`` (sampling with replacement) the first draw, whatever it is.

    A generative task draws distinct prompts this way; ``max_repeats`` repeats in a row mean
    its space is (nearly) used up, which is an error, never a silent repeat.

    >>> rng, seen = random.Random(0), set()
    >>> coin = lambda: Example(rng.choice(["heads", "tails"]), " 1")
    >>> sorted(draw_distinct(coin, seen, name="coin").prompt for _ in range(2))
    ['heads', 'tails']
    """
    for _ in range(max_repeats):
        example = draw()
        if seen is None:
            return example
        key = example_key(example)
        if key not in seen:
            seen.add(key)
            return example
    raise ValueError(
        f"task {name!r} ran out of distinct prompts: {max_repeats} draws in a row repeated one "
        f"of the {len(seen)} already drawn; ask for fewer examples or pass replace=True to "
        "draw with replacement"
    )
