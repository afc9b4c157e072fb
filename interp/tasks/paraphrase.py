"""QQP-style duplicate-question detection over synthetic questions (``qqp``, choice-scored).

Questions come from intents (``learn``: "How do I learn chess?") with aligned paraphrase
templates, a slot filled from the intent's topic list, and optional synonym swaps. Intents
come in contrast pairs that differ in one key word (learn / teach, cost / weight, ...).
- duplicate: one intent and topic, two different templates (reworded and reordered).
- not duplicate, changed topic: one intent, two different topics.
- not duplicate, changed key word: the contrast intent on the same topic, half the time in
  the very same template, so only the key word tells them apart.
Labels are exactly balanced; synonyms are swapped in either label alike, so wording
differences alone never give the answer away.

Held-out split by hash of the question pair (half "test"): a test pair is never a train pair.
Pairs are generated, so the space is effectively unbounded (``population`` is None and
``n="all"`` is refused); a task's prompts are distinct, redrawn on a repeat, unless drawn
with ``replace=True``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Mapping

from interp.tasks.base import (
    Count,
    Example,
    Split,
    Task,
    balanced_draws,
    check_split,
    draw_distinct,
    resolve_n,
    split_of,
    words_in,
)

TEST_FRACTION = 0.5
CHOICES = (" yes", " no")
FORMAT_WORDS = ("Question", "Same", "meaning", "yes", "no")
_MAX_MISSES = 10_000
_WORD = re.compile(r"[A-Za-z]+")

SKILLS = ("chess", "cooking", "guitar", "painting", "swimming", "drawing", "photography",
          "knitting", "dancing", "singing", "writing", "coding", "gardening", "sailing")
GOODS = ("laptop", "bicycle", "piano", "sofa", "camera", "phone", "tent", "kayak", "fridge",
         "printer", "mattress", "telescope", "drone", "scooter")
CITIES = ("Paris", "London", "Tokyo", "Rome", "Berlin", "Madrid", "Cairo", "Lima", "Oslo",
          "Dublin", "Vienna", "Prague", "Lisbon", "Seoul")
HABITS = ("coffee", "running", "yoga", "fasting", "meditation", "tea", "cycling", "napping",
          "hiking", "chocolate", "sauna", "juicing")
DEVICES = ("laptop", "keyboard", "bicycle", "car", "phone", "printer", "watch", "tablet",
           "dishwasher", "camera", "lamp", "guitar")


@dataclass(frozen=True)
class Intent:
    """What a question asks; ``templates`` align index by index with its contrast intent's."""

    name: str
    contrast: str
    topics: tuple[str, ...]
    templates: tuple[str, ...]


INTENTS: tuple[Intent, ...] = (
    Intent("learn", "teach", SKILLS, (
        "How do I learn {x}?",
        "What is the best way to learn {x}?",
        "How can I start learning {x}?",
        "What should I do to learn {x} quickly?",
    )),
    Intent("teach", "learn", SKILLS, (
        "How do I teach {x}?",
        "What is the best way to teach {x}?",
        "How can I start teaching {x}?",
        "What should I do to teach {x} quickly?",
    )),
    Intent("cost", "weight", GOODS, (
        "How much does a {x} cost?",
        "What is the price of a {x}?",
        "How expensive is a typical {x}?",
        "For a {x}, what is the usual price?",
    )),
    Intent("weight", "cost", GOODS, (
        "How much does a {x} weigh?",
        "What is the weight of a {x}?",
        "How heavy is a typical {x}?",
        "For a {x}, what is the usual weight?",
    )),
    Intent("visit", "live", CITIES, (
        "Is {x} a good place to visit?",
        "Would you recommend visiting {x}?",
        "Is it worth visiting {x}?",
        "In your opinion, is {x} good to visit?",
    )),
    Intent("live", "visit", CITIES, (
        "Is {x} a good place to live?",
        "Would you recommend living in {x}?",
        "Is it worth living in {x}?",
        "In your opinion, is {x} good to live in?",
    )),
    Intent("benefits", "risks", HABITS, (
        "What are the benefits of {x}?",
        "What are the advantages of {x}?",
        "Why is {x} good for you?",
        "Is {x} good for your health?",
    )),
    Intent("risks", "benefits", HABITS, (
        "What are the risks of {x}?",
        "What are the dangers of {x}?",
        "Why is {x} bad for you?",
        "Is {x} bad for your health?",
    )),
    Intent("fix", "clean", DEVICES, (
        "How do I fix my {x}?",
        "What is the easiest way to fix my {x}?",
        "How can I repair my {x} at home?",
        "My {x} is broken, how do I fix it?",
    )),
    Intent("clean", "fix", DEVICES, (
        "How do I clean my {x}?",
        "What is the easiest way to clean my {x}?",
        "How can I wash my {x} at home?",
        "My {x} is dirty, how do I clean it?",
    )),
)
_INTENT_BY_NAME = {i.name: i for i in INTENTS}

# Swaps that keep a question's meaning; each occurrence is swapped with probability 1/2.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "best": ("ideal",),
    "easiest": ("simplest",),
    "quickly": ("fast",),
    "recommend": ("suggest",),
    "typical": ("normal", "standard"),
    "usual": ("normal", "typical"),
    "worth": ("worthwhile",),
    "dangers": ("hazards",),
    "advantages": ("upsides",),
    "start": ("begin",),
    "price": ("cost",),
    "broken": ("damaged",),
}


def paraphrase_example(
    question1: str, question2: str, duplicate: bool, metadata: Mapping[str, Any]
) -> Example:
    """The QQP rendering shared by ``qqp`` and the GLUE loader.

    >>> print(paraphrase_example("Why?", "How come?", True, {}).prompt)
    Question 1: Why?
    Question 2: How come?
    Same meaning?
    """
    return Example(
        prompt=f"Question 1: {question1}\nQuestion 2: {question2}\nSame meaning?",
        answer=CHOICES[0] if duplicate else CHOICES[1],
        choices=CHOICES,
        metadata={**metadata, "duplicate": duplicate},
    )


def qqp(*, n: Count = 200, seed: int = 0, split: Split = "test", replace: bool = False) -> Task:
    """``n`` distinct synthetic question pairs, exactly half duplicates.

    >>> t = qqp(n=10)
    >>> sum(e.answer == " yes" for e in t)
    5
    """
    count = resolve_n(n, population(split=split), name="qqp", split=split, replace=replace)
    rng = random.Random(seed)
    seen = None if replace else set()
    examples = tuple(
        draw_distinct(lambda: _draw_in_split(rng, bool(duplicate), split), seen, name="qqp")
        for duplicate in balanced_draws(count, 2, rng)
    )
    return Task("qqp", "paraphrase", "choice", examples)


def population(*, split: Split = "test") -> None:
    """None: question pairs are generated, so their space is effectively unbounded.

    >>> population(split="test") is None
    True
    """
    check_split(split)
    return None


def words() -> set[str]:
    """Every word ``qqp`` can emit.

    >>> {"Same", "meaning", "chess"} <= words()
    True
    """
    vocabulary = set(FORMAT_WORDS)
    for intent in INTENTS:
        vocabulary.update(intent.topics)
        for template in intent.templates:
            vocabulary.update(words_in(template.format(x="")))
    for alternatives in SYNONYMS.values():
        vocabulary.update(alternatives)
    return vocabulary


@dataclass(frozen=True)
class _Pair:
    """A question pair before wording: (intent, topic, template index) for each question."""

    duplicate: bool
    kind: str
    first: tuple[Intent, str, int]
    second: tuple[Intent, str, int]

    @property
    def key(self) -> str:
        # The split key ignores order and synonym swaps: a test pair's rewordings stay test.
        parts = sorted(f"{i.name}/{topic}/{t}" for i, topic, t in (self.first, self.second))
        return "qqp/" + "|".join(parts)

    def render(self, rng: random.Random) -> Example:
        shown = [self.first, self.second]
        rng.shuffle(shown)
        questions = [_render(*question, rng) for question in shown]
        metadata = {
            "kind": self.kind,
            "intents": tuple(intent.name for intent, _, _ in shown),
            "topics": tuple(topic for _, topic, _ in shown),
        }
        return paraphrase_example(questions[0], questions[1], self.duplicate, metadata)


def _draw_in_split(rng: random.Random, duplicate: bool, split: Split) -> Example:
    """One rendered pair of ``split``, by rejection on the pair's split."""
    for _ in range(_MAX_MISSES):
        pair = _draw_pair(rng, duplicate)
        if split_of(pair.key, test_fraction=TEST_FRACTION) == split:
            return pair.render(rng)
    raise ValueError(f"could not draw a question pair in split {split!r}")


def _draw_pair(rng: random.Random, duplicate: bool) -> _Pair:
    intent = rng.choice(INTENTS)
    topic = rng.choice(intent.topics)
    n_templates = len(intent.templates)
    first = rng.randrange(n_templates)
    if duplicate:
        kind, other_intent, other_topic = "duplicate", intent, topic
        second = (first + rng.randrange(1, n_templates)) % n_templates  # a different template
    elif rng.random() < 0.5:
        kind, other_intent = "changed_topic", intent
        other_topic = rng.choice([t for t in intent.topics if t != topic])
        second = rng.randrange(n_templates)
    else:
        kind, other_intent, other_topic = "changed_keyword", _INTENT_BY_NAME[intent.contrast], topic
        second = first if rng.random() < 0.5 else rng.randrange(n_templates)
    return _Pair(duplicate, kind, (intent, topic, first), (other_intent, other_topic, second))


def _render(intent: Intent, topic: str, template: int, rng: random.Random) -> str:
    pieces = []
    for literal, swappable in _PIECES[intent.templates[template]]:
        pieces.append(literal)
        if swappable is not None:
            alternatives = SYNONYMS[swappable]
            pieces.append(rng.choice(alternatives) if rng.random() < 0.5 else swappable)
    return "".join(pieces).format(x=topic)


def _split_at_synonyms(template: str) -> tuple[tuple[str, str | None], ...]:
    """``template`` as (literal text, swappable word or None) pieces, found once at import."""
    pieces: list[tuple[str, str | None]] = []
    last = 0
    for match in _WORD.finditer(template):
        if match.group() in SYNONYMS:
            pieces.append((template[last : match.start()], match.group()))
            last = match.end()
    pieces.append((template[last:], None))
    return tuple(pieces)


_PIECES = {t: _split_at_synonyms(t) for intent in INTENTS for t in intent.templates}
