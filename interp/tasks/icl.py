"""In-context learning of arbitrary labels for word categories (``icl``, ``icl_heldout``).

A family is a set of ``n_labels`` word categories (animals vs colors). Each prompt draws a
family and a fresh mapping from its categories to made-up label words, shows ``shots``
demonstrations and asks for the query's label:

    horse -> dax
    red -> wug
    horse ->            answer " dax", choices (" dax", " wug")

The labels mean nothing outside the prompt, so only the demonstrations tell the answer;
with ``shots=0`` the choices still hold every label, so chance is 1 / ``n_labels``.
Demonstration labels and query labels are each exactly balanced.

``query_shown`` (default True): one demonstration of the query's category uses the query
word itself, so the mapping can be read off the prompt by lookup (the Omniglot-style
setting of Chan et al. 2022, which small models learn through induction heads). With
``query_shown=False`` no demonstration uses the query word, and the answer needs the
category generalisation that only larger models show; our suite does not reach it.

Splits: ``icl`` uses families of the training categories; its "test" split asks only about
query words that a hash puts in "test" (half of each category), while demonstrations
may use any word of the family. ``icl_heldout`` uses families built only from the held-out
categories, whose words no ``icl`` prompt ever contains; it has no "train" split.

Prompts are generated, so the space is effectively unbounded (``population`` is None and
``n="all"`` is refused); a task's prompts are distinct, redrawn on a repeat, unless drawn
with ``replace=True``.
"""

from __future__ import annotations

import random
from itertools import combinations

from interp.tasks.base import (
    Count,
    Example,
    Split,
    Task,
    balanced_draws,
    check_split,
    draw_distinct,
    hash_halves,
    resolve_n,
)

CATEGORIES: dict[str, tuple[str, ...]] = {
    "animals": ("cat", "dog", "horse", "cow", "sheep", "goat", "pig", "rabbit", "mouse", "lion",
                "tiger", "bear", "wolf", "deer"),
    "colors": ("red", "blue", "green", "yellow", "orange", "purple", "pink", "brown", "black",
               "white", "gray"),
    "tools": ("hammer", "saw", "drill", "wrench", "chisel", "pliers", "shovel", "rake",
              "screwdriver", "ladder", "axe"),
    "fruits": ("apple", "banana", "cherry", "grape", "lemon", "mango", "peach", "pear", "plum",
               "melon", "kiwi", "lime"),
    "vehicles": ("car", "bus", "truck", "train", "bicycle", "boat", "plane", "tractor", "taxi",
                 "scooter", "van", "ship"),
    "body": ("hand", "foot", "arm", "leg", "nose", "ear", "eye", "knee", "elbow", "shoulder",
             "finger"),
    "clothing": ("shirt", "hat", "coat", "shoe", "sock", "scarf", "glove", "jacket", "dress",
                 "skirt", "boot"),
    "professions": ("doctor", "teacher", "farmer", "baker", "lawyer", "pilot", "nurse", "chef",
                    "painter", "soldier", "plumber"),
    "instruments": ("guitar", "piano", "violin", "drum", "flute", "trumpet", "harp", "cello",
                    "banjo", "clarinet"),
    "furniture": ("chair", "table", "sofa", "bed", "desk", "shelf", "stool", "bench", "dresser",
                  "cabinet"),
    "vegetables": ("carrot", "potato", "onion", "cabbage", "pea", "bean", "lettuce", "spinach",
                   "turnip", "celery"),
    "weather": ("rain", "snow", "wind", "fog", "storm", "hail", "thunder", "sunshine", "frost",
                "drizzle"),
}
HELDOUT_CATEGORIES = ("instruments", "furniture", "vegetables", "weather")
TRAIN_CATEGORIES = tuple(c for c in CATEGORIES if c not in HELDOUT_CATEGORIES)
# The family of the fixed mapping (``icl_fixed``), and the training categories outside it:
# ``icl_other`` asks in context about those, so a model fine-tuned on the fixed mapping
# meets categories it read in pretraining but was not fine-tuned on.
FIXED_CATEGORIES = ("animals", "colors")
OTHER_CATEGORIES = tuple(c for c in TRAIN_CATEGORIES if c not in FIXED_CATEGORIES)
# Made-up label words: no prior meaning, so a label is learnable only from the prompt.
LABEL_POOL = ("dax", "wug", "blick", "fep", "toma", "zup", "lorp", "mib", "kiki", "bouba",
              "gazzer", "tulver", "nork", "pim", "sarl", "vosk")
DEFAULT_SHOTS = 4
DEFAULT_LABELS = 2


def icl(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    shots: int = DEFAULT_SHOTS,
    n_labels: int = DEFAULT_LABELS,
    query_shown: bool = True,
) -> Task:
    """Label-mapping prompts over the training categories.

    >>> ex = icl(n=1, shots=2).examples[0]
    >>> ex.prompt.count("->"), len(ex.choices)
    (3, 2)
    """
    check_split(split)
    return _task("icl", TRAIN_CATEGORIES, split, n=n, seed=seed, replace=replace, shots=shots,
                 n_labels=n_labels, query_shown=query_shown)


def icl_other(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    shots: int = DEFAULT_SHOTS,
    n_labels: int = DEFAULT_LABELS,
    query_shown: bool = True,
) -> Task:
    """``icl`` over the training categories other than the fixed mapping's (no animals, no
    colors): in-context learning that pretraining taught, away from the fine-tuned family.

    >>> set(icl_other(n=20).examples[0].metadata["categories"]) <= set(OTHER_CATEGORIES)
    True
    """
    check_split(split)
    return _task("icl_other", OTHER_CATEGORIES, split, n=n, seed=seed, replace=replace,
                 shots=shots, n_labels=n_labels, query_shown=query_shown)


def icl_unshown(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    shots: int = DEFAULT_SHOTS,
    n_labels: int = DEFAULT_LABELS,
) -> Task:
    """``icl`` with no demonstration showing the query word (the suite card's
    ``icl_unshown``): the label must come from another word of the query's category.

    >>> ex = icl_unshown(n=1, shots=4).examples[0]
    >>> ex.metadata["query"] in [line.split(" ->")[0] for line in ex.prompt.splitlines()[:-1]]
    False
    """
    check_split(split)
    return _task("icl_unshown", TRAIN_CATEGORIES, split, n=n, seed=seed, replace=replace,
                 shots=shots, n_labels=n_labels, query_shown=False)


def icl_heldout(
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    shots: int = DEFAULT_SHOTS,
    n_labels: int = DEFAULT_LABELS,
    query_shown: bool = True,
) -> Task:
    """Label-mapping prompts over held-out categories, never seen in any ``icl`` prompt.

    >>> icl_heldout(n=1).examples[0].metadata["categories"][0] in HELDOUT_CATEGORIES
    True
    """
    _check_heldout_split(split)
    return _task("icl_heldout", HELDOUT_CATEGORIES, None, n=n, seed=seed, replace=replace,
                 shots=shots, n_labels=n_labels, query_shown=query_shown)


def population(*, split: Split = "test", heldout: bool = False, **params: object) -> None:
    """None: ICL prompts are generated, so their space is effectively unbounded (``params``,
    the task's own, change nothing); only the split is checked.

    >>> population(split="train") is None
    True
    """
    (_check_heldout_split if heldout else check_split)(split)
    return None


def families(*, heldout: bool = False, n_labels: int = DEFAULT_LABELS) -> list[tuple[str, ...]]:
    """Every family (set of categories) a prompt of ``icl`` or ``icl_heldout`` can draw.

    >>> len(families(heldout=True))
    6
    """
    return list(combinations(HELDOUT_CATEGORIES if heldout else TRAIN_CATEGORIES, n_labels))


def query_words(category: str, split: Split | None) -> tuple[str, ...]:
    """The words of ``category`` a query may use in ``split`` (all of them with ``None``).

    >>> set(query_words("animals", "train")).isdisjoint(query_words("animals", "test"))
    True
    """
    words = CATEGORIES[category]
    if split is None:
        return words
    train, test = hash_halves(words, key=lambda word: f"icl/{word}")
    return tuple(train if split == "train" else test)


def words() -> set[str]:
    """Every word the ICL tasks can emit: the category words and the label pool.

    >>> {"cat", "dax"} <= words()
    True
    """
    return {w for category in CATEGORIES.values() for w in category} | set(LABEL_POOL)


def _check_heldout_split(split: str) -> None:
    check_split(split)
    if split != "test":
        raise ValueError(
            "icl_heldout has only a 'test' split: its categories are held out from training; "
            "train on 'icl' instead"
        )


def _task(
    name: str,
    categories: tuple[str, ...],
    query_split: Split | None,
    *,
    n: Count,
    seed: int,
    replace: bool,
    shots: int,
    n_labels: int,
    query_shown: bool,
) -> Task:
    count = resolve_n(n, None, name=name, split=query_split or "test", replace=replace)
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 0:
        raise ValueError(f"shots must be a non-negative integer, got {shots!r}")
    most = min(len(categories), len(LABEL_POOL))
    if not 2 <= n_labels <= most:
        raise ValueError(f"{name}: n_labels must be between 2 and {most}, got {n_labels}")
    rng = random.Random(seed)
    queries = {c: query_words(c, query_split) for c in categories}
    seen = None if replace else set()
    examples = tuple(
        draw_distinct(
            lambda: _prompt(rng, categories, queries, shots, n_labels, slot, query_shown),
            seen, name=name,
        )
        for slot in balanced_draws(count, n_labels, rng)
    )
    return Task(name, "icl", "choice", examples)


def _prompt(
    rng: random.Random,
    categories: tuple[str, ...],
    queries: dict[str, tuple[str, ...]],
    shots: int,
    n_labels: int,
    answer_slot: int,
    query_shown: bool,
) -> Example:
    family = tuple(rng.sample(categories, n_labels))
    labels = tuple(rng.sample(LABEL_POOL, n_labels))
    return mapping_prompt(rng, family, dict(zip(family, labels)), queries, shots, answer_slot,
                          query_shown, labels)


def demo_slots(shots: int, k: int, rng: random.Random, spread: bool) -> list[int]:
    """The category slot of each of ``shots`` demonstrations over ``k`` categories, balanced
    (counts differ by <= 1). With ``spread`` the categories that get one more are a random
    rotation, drawn only when there is a remainder (so balanced prompts keep their draws).

    >>> {demo_slots(1, 2, random.Random(s), True)[0] for s in range(8)}
    {0, 1}
    >>> demo_slots(1, 2, random.Random(0), False)
    [0]
    """
    if not spread or shots % k == 0:
        return balanced_draws(shots, k, rng)
    offset = rng.randrange(k)
    draws = [(i + offset) % k for i in range(shots)]
    rng.shuffle(draws)
    return draws


def mapping_prompt(
    rng: random.Random,
    family: tuple[str, ...],
    mapping: dict[str, str],
    queries: dict[str, tuple[str, ...]],
    shots: int,
    answer_slot: int,
    query_shown: bool,
    labels: tuple[str, ...],
    spread: bool = False,
) -> Example:
    """One prompt: ``shots`` demonstrations of ``mapping`` (category -> label) over ``family``,
    then a query word of ``family[answer_slot]``; choices are ``labels`` in order.

    ``spread`` (``demo_slots``): when ``shots`` is no multiple of the family size, which
    categories get the extra demonstrations is drawn; without it they are the first ones
    (a 1-shot prompt always shows ``family[0]``: the ICL corpus's draws, kept as they are).

    >>> ex = mapping_prompt(random.Random(0), ("animals", "colors"), {"animals": "dax",
    ...     "colors": "wug"}, {"animals": ("cat",), "colors": ("red",)}, 2, 0, True, ("dax", "wug"))
    >>> ex.prompt.splitlines()[-1], ex.answer
    ('cat ->', ' dax')
    """
    query_category = family[answer_slot]
    query = rng.choice(queries[query_category])
    slots = demo_slots(shots, len(family), rng, spread)
    # Which demonstration shows the query word itself (one of its category's, if any).
    shown_at = [i for i, slot in enumerate(slots) if slot == answer_slot]
    shown = rng.choice(shown_at) if query_shown and shown_at else None
    lines = []
    for i, slot in enumerate(slots):
        word = query
        while word == query and i != shown:  # other demonstrations never repeat the query
            word = rng.choice(CATEGORIES[family[slot]])
        lines.append(f"{word} -> {mapping[family[slot]]}")
    lines.append(f"{query} ->")
    return Example(
        prompt="\n".join(lines),
        answer=f" {mapping[query_category]}",
        choices=tuple(f" {label}" for label in labels),
        metadata={
            "family": "/".join(sorted(family)),
            "categories": tuple(family),
            "mapping": dict(mapping),
            "query": query,
            "query_category": query_category,
            "shots": shots,
            "query_shown": shown is not None,
        },
    )
