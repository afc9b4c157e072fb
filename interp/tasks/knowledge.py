"""A synthetic world of made-up countries and facts about them, rendered four ways.

Every entity (``"Zorvia"``) has one value for each relation (capital, flag color, language,
founder, national animal); each relation draws from its own small value set, so a
multiple-choice question's distractors are plausible answers of the right type.

The four renderings:
- statement: ``"The capital of Zorvia is Velmar."`` (what a training corpus reads)
- cloze (exact): ``"The capital of Zorvia is"`` -> ``" Velmar"``
- question and answer (exact): ``"Question: What is the capital of Zorvia?\\nAnswer:"``
  -> ``" Velmar"``
- multiple choice (choice): the question, four lettered options, ``"Answer:"`` -> ``" B"``

Splits are per fact (entity, relation), by hash: half the facts are "test". A corpus that
reads every statement but question-and-answer pairs only for "train" facts lets a study ask
whether stored knowledge transfers to a new format for facts never asked about.

The world is fixed by ``kb_seed`` (and ``n_entities``); the task ``seed`` only picks which
facts are sampled, so two samples of one world can be compared. Facts are sampled without
replacement: a task holds at most ``population(split=...)`` examples (``n="all"`` for every
fact of the split), unless drawn with ``replace=True``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from interp.tasks.base import (
    Count,
    Example,
    Split,
    Task,
    balanced_draws,
    check_split,
    resolve_n,
    sample,
    split_of,
    words_in,
)

DEFAULT_ENTITIES = 100
TEST_FRACTION = 0.5
LETTERS = ("A", "B", "C", "D")

COLORS = ("red", "blue", "green", "yellow", "white", "black", "orange", "purple")
ANIMALS = ("owl", "eagle", "lion", "bear", "wolf", "tiger", "falcon", "deer", "horse", "fox")
N_LANGUAGES = 10
N_FOUNDERS = 16

# Made-up names: one syllable, an onset, then a suffix that says what kind of thing it is.
# No suffix ends in "q" or "j": the rare tasks' tokens do, which keeps the two disjoint.
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "th", "sh")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "", "r", "n", "l", "s")
_SUFFIXES = {
    "entity": ("ia", "ania", "ora", "uria", "esh"),
    "city": ("ar", "or", "en", "ium", "avel"),
    "person": ("a", "o", "ius", "ene", "ald"),
    "language": ("ish", "ic", "ese", "ian"),
}


@dataclass(frozen=True)
class Relation:
    """How one relation is said. ``statement`` ends in ``" {value}."``; cloze is its prefix."""

    name: str
    statement: str
    question: str

    def cloze(self, entity: str) -> str:
        return self.statement[: self.statement.index(" {value}")].format(entity=entity)


RELATIONS: tuple[Relation, ...] = (
    Relation("capital", "The capital of {entity} is {value}.", "What is the capital of {entity}?"),
    Relation("color", "The flag of {entity} is {value}.", "What color is the flag of {entity}?"),
    Relation(
        "language", "The language of {entity} is {value}.", "What language is spoken in {entity}?"
    ),
    Relation("founder", "The founder of {entity} is {value}.", "Who founded {entity}?"),
    Relation(
        "animal",
        "The national animal of {entity} is the {value}.",
        "What is the national animal of {entity}?",
    ),
)
_RELATION_BY_NAME = {r.name: r for r in RELATIONS}


@dataclass(frozen=True)
class Fact:
    """One (entity, relation, value) triple of the world."""

    entity: str
    relation: str
    value: str


def format_multiple_choice(
    question: str, options: Sequence[str], answer_index: int, metadata: Mapping[str, Any]
) -> Example:
    """The MMLU-style four-option rendering shared by ``knowledge_mc`` and the MMLU loader.

    >>> ex = format_multiple_choice("What is 2 + 2?", ["3", "4", "5", "6"], 1, {})
    >>> print(ex.prompt)
    Question: What is 2 + 2?
    A. 3
    B. 4
    C. 5
    D. 6
    Answer:
    >>> ex.answer
    ' B'
    """
    if len(options) != len(LETTERS):
        raise ValueError(f"a multiple-choice question needs 4 options, got {len(options)}")
    lines = [f"Question: {question}"]
    lines += [f"{letter}. {option}" for letter, option in zip(LETTERS, options)]
    lines.append("Answer:")
    return Example(
        prompt="\n".join(lines),
        answer=f" {LETTERS[answer_index]}",
        choices=tuple(f" {letter}" for letter in LETTERS),
        metadata=dict(metadata),
    )


class KnowledgeBase:
    """A made-up world: ``n_entities`` countries, each with one value per relation.

    >>> kb = KnowledgeBase(seed=0, n_entities=10)
    >>> len(kb.facts) == 10 * len(RELATIONS)
    True
    >>> kb.statements()[0].startswith("The capital of ")
    True
    """

    def __init__(self, seed: int = 0, n_entities: int = DEFAULT_ENTITIES) -> None:
        if n_entities < len(LETTERS):
            raise ValueError(
                f"n_entities must be at least {len(LETTERS)} (a capital question needs three "
                f"other capitals as distractors), got {n_entities}"
            )
        self.seed = seed
        rng = random.Random(seed)
        taken: set[str] = set()
        self.entities = tuple(_made_up_name(rng, "entity", taken) for _ in range(n_entities))
        capitals = tuple(_made_up_name(rng, "city", taken) for _ in range(n_entities))
        languages = tuple(_made_up_name(rng, "language", taken) for _ in range(N_LANGUAGES))
        founders = tuple(_made_up_name(rng, "person", taken) for _ in range(N_FOUNDERS))
        self._values: dict[str, tuple[str, ...]] = {
            "capital": capitals,
            "color": COLORS,
            "language": languages,
            "founder": founders,
            "animal": ANIMALS,
        }
        facts = []
        for i, entity in enumerate(self.entities):
            for relation in RELATIONS:
                # Capitals are one per country; every other relation's values are shared.
                if relation.name == "capital":
                    value = capitals[i]
                else:
                    value = rng.choice(self._values[relation.name])
                facts.append(Fact(entity, relation.name, value))
        self.facts: tuple[Fact, ...] = tuple(facts)

    def values(self, relation: str) -> tuple[str, ...]:
        """Every value ``relation`` can take in this world (its distractor pool)."""
        return self._values[relation]

    def facts_in(self, split: Split | None = None) -> tuple[Fact, ...]:
        """The facts of one split (by hash of entity and relation), or all with ``None``."""
        if split is None:
            return self.facts
        check_split(split)
        return tuple(f for f in self.facts if _split_of_fact(f) == split)

    def statement(self, fact: Fact) -> str:
        return _RELATION_BY_NAME[fact.relation].statement.format(
            entity=fact.entity, value=fact.value
        )

    def cloze(self, fact: Fact) -> Example:
        prompt = _RELATION_BY_NAME[fact.relation].cloze(fact.entity)
        return Example(prompt, f" {fact.value}", metadata=_fact_metadata(fact))

    def qa(self, fact: Fact) -> Example:
        question = _RELATION_BY_NAME[fact.relation].question.format(entity=fact.entity)
        prompt = f"Question: {question}\nAnswer:"
        return Example(prompt, f" {fact.value}", metadata=_fact_metadata(fact))

    def mc(self, fact: Fact, rng: random.Random, answer_index: int | None = None) -> Example:
        """``fact`` as a four-option question; distractors come from the relation's values."""
        if answer_index is None:
            answer_index = rng.randrange(len(LETTERS))
        pool = [v for v in self.values(fact.relation) if v != fact.value]
        options = rng.sample(pool, len(LETTERS) - 1)
        options.insert(answer_index, fact.value)
        question = _RELATION_BY_NAME[fact.relation].question.format(entity=fact.entity)
        return format_multiple_choice(question, options, answer_index, _fact_metadata(fact))

    def statements(self) -> list[str]:
        """One sentence per fact, every fact: what a training corpus reads."""
        return [self.statement(f) for f in self.facts]

    def qa_pairs(self, split: Split | None = None) -> list[Example]:
        """One question-and-answer example per fact (of ``split``, or all)."""
        return [self.qa(f) for f in self.facts_in(split)]

    def mc_questions(self, rng: random.Random, split: Split | None = None) -> list[Example]:
        """One multiple-choice example per fact (of ``split``, or all), letters balanced."""
        facts = self.facts_in(split)
        positions = balanced_draws(len(facts), len(LETTERS), rng)
        return [self.mc(f, rng, p) for f, p in zip(facts, positions)]

    def words(self) -> set[str]:
        """Every word any rendering of this world can emit."""
        vocabulary = {"Question", "Answer", *LETTERS, *self.entities}
        for relation in RELATIONS:
            vocabulary.update(words_in(relation.statement.format(entity="", value="")))
            vocabulary.update(words_in(relation.question.format(entity="")))
        for values in self._values.values():
            vocabulary.update(values)
        return vocabulary


def knowledge_cloze(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    kb_seed: int = 0,
    n_entities: int = DEFAULT_ENTITIES,
) -> Task:
    """Complete a statement: ``"The capital of Zorvia is"`` -> ``" Velmar"`` (exact).

    >>> knowledge_cloze(n=3).scoring
    'exact'
    """
    kb, facts, rng, count = _sample_setup("knowledge_cloze", n, seed, split, replace, kb_seed,
                                          n_entities)
    examples = tuple(kb.cloze(f) for f in sample(facts, count, rng, replace=replace))
    return Task("knowledge_cloze", "knowledge", "exact", examples)


def knowledge_qa(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    kb_seed: int = 0,
    n_entities: int = DEFAULT_ENTITIES,
) -> Task:
    """Answer a question: ``"Question: What is the capital of Zorvia?\\nAnswer:"`` -> ``" Velmar"``.

    >>> knowledge_qa(n=3).examples[0].prompt.startswith("Question: ")
    True
    """
    kb, facts, rng, count = _sample_setup("knowledge_qa", n, seed, split, replace, kb_seed,
                                          n_entities)
    examples = tuple(kb.qa(f) for f in sample(facts, count, rng, replace=replace))
    return Task("knowledge_qa", "knowledge", "exact", examples)


def knowledge_mc(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    kb_seed: int = 0,
    n_entities: int = DEFAULT_ENTITIES,
) -> Task:
    """Four-option question with letter answers; answer letters exactly balanced, one
    question per fact.

    >>> knowledge_mc(n=4).examples[0].choices
    (' A', ' B', ' C', ' D')
    """
    kb, facts, rng, count = _sample_setup("knowledge_mc", n, seed, split, replace, kb_seed,
                                          n_entities)
    positions = balanced_draws(count, len(LETTERS), rng)
    if replace:  # one fact drawn per question, as the question is written
        examples = tuple(kb.mc(rng.choice(facts), rng, p) for p in positions)
    else:
        chosen = rng.sample(facts, count)
        examples = tuple(kb.mc(f, rng, p) for f, p in zip(chosen, positions))
    return Task("knowledge_mc", "knowledge", "choice", examples)


def population(
    *, split: Split = "test", kb_seed: int = 0, n_entities: int = DEFAULT_ENTITIES
) -> int:
    """How many distinct examples a knowledge task has in ``split``: one per fact of it.

    >>> population(split="test") + population(split="train") == len(KnowledgeBase().facts)
    True
    """
    check_split(split)
    return len(KnowledgeBase(kb_seed, n_entities).facts_in(split))


def words(*, kb_seed: int = 0, n_entities: int = DEFAULT_ENTITIES) -> set[str]:
    """Every word the knowledge tasks of world ``kb_seed`` can emit.

    >>> "capital" in words()
    True
    """
    return KnowledgeBase(kb_seed, n_entities).words()


def _sample_setup(
    name: str, n: Count, seed: int, split: Split, replace: bool, kb_seed: int, n_entities: int
) -> tuple[KnowledgeBase, tuple[Fact, ...], random.Random, int]:
    kb = KnowledgeBase(kb_seed, n_entities)
    facts = kb.facts_in(split)
    if not facts:
        raise ValueError(
            f"the {split!r} split of a {n_entities}-entity world has no facts: use more entities"
        )
    count = resolve_n(n, len(facts), name=name, split=split, replace=replace)
    return kb, facts, random.Random(seed), count


def _split_of_fact(fact: Fact) -> Split:
    return split_of(f"knowledge/{fact.entity}/{fact.relation}", test_fraction=TEST_FRACTION)


def _fact_metadata(fact: Fact) -> dict[str, str]:
    return {"entity": fact.entity, "relation": fact.relation, "value": fact.value}


def _made_up_name(rng: random.Random, kind: str, taken: set[str]) -> str:
    # ~30k names per kind exist; a long run of collisions means the space is used up.
    for _ in range(10_000):
        syllable = rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
        name = (syllable + rng.choice(_ONSETS) + rng.choice(_SUFFIXES[kind])).capitalize()
        if name not in taken:
            taken.add(name)
            return name
    raise ValueError(f"ran out of made-up {kind} names after {len(taken)}: use fewer entities")
