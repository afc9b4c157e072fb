"""Background text: sentences from a small grammar, the bulk of the suite's corpus.

It plays the role web text plays for Pythia and OPT: frequent, easy-to-learn structure that
competes for capacity with the rarer tasks.
"""

from __future__ import annotations

import random

NOUNS = ("cat", "dog", "bird", "farmer", "child", "river", "garden", "house", "letter", "boat",
         "teacher", "window", "forest", "song", "road", "village", "storm", "lamp", "book", "bridge")
VERBS = ("sees", "finds", "likes", "carries", "follows", "paints", "builds", "hears", "opens",
         "keeps", "watches", "moves")
ADJECTIVES = ("old", "small", "bright", "quiet", "green", "heavy", "happy", "cold", "tall", "dark")
PLACES = ("near", "behind", "under", "beside", "across")
CONNECTIVES = ("then", "later", "so", "and", "but")


def sentence(rng: random.Random) -> str:
    """One grammatical sentence.

    >>> sentence(random.Random(0)).endswith(".")
    True
    """
    subject = f"the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}" if rng.random() < 0.5 else f"the {rng.choice(NOUNS)}"
    text = f"{subject} {rng.choice(VERBS)} the {rng.choice(NOUNS)}"
    if rng.random() < 0.4:
        text += f" {rng.choice(PLACES)} the {rng.choice(NOUNS)}"
    return text[0].upper() + text[1:] + "."


def paragraph(rng: random.Random, sentences: tuple[int, int] = (2, 5)) -> str:
    """A few sentences, sometimes joined by connectives.

    >>> len(paragraph(random.Random(1)).split(".")) > 2
    True
    """
    parts = []
    for i in range(rng.randint(*sentences)):
        s = sentence(rng)
        if i and rng.random() < 0.3:
            s = f"{rng.choice(CONNECTIVES).capitalize()} {s[0].lower()}{s[1:]}"
        parts.append(s)
    return " ".join(parts)


def words() -> set[str]:
    """Every word the grammar can emit, in both capitalisations it uses."""
    base = {"the", *NOUNS, *VERBS, *ADJECTIVES, *PLACES, *CONNECTIVES}
    return base | {w.capitalize() for w in base}
