"""interp.tasks sampling: distinct items by default, n="all", task_population, replace=True."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from interp.suite import corpus
from interp.tasks import available_tasks, get_task, task_population
from interp.tasks import rare
from interp.tasks.base import example_key


def splits(name: str) -> tuple[str, ...]:
    return ("test",) if name == "icl_heldout" else ("train", "test")


def distinct(task) -> int:
    return len({example_key(e) for e in task})


def items(task) -> int:
    """Distinct items: facts for knowledge (one fact drawn twice is one item, however its
    multiple-choice options are shuffled), prompt-answer-choices otherwise."""
    if task.kind == "knowledge":
        return len({(e.metadata["entity"], e.metadata["relation"]) for e in task})
    return distinct(task)


# Registered names at default parameters, and family parameters that change the population.
CASES = [(name, {}) for name in available_tasks()] + [
    ("arithmetic_add", {"digits": 1}),
    ("arithmetic_sub", {"digits": 1}),
    ("arithmetic_sub", {"allow_negative": True}),
    ("arithmetic_mul", {"digits": 1}),
    ("arithmetic_add", {"digits": 3}),
    ("knowledge_qa", {"kb_seed": 3, "n_entities": 20}),
    ("icl", {"shots": 0}),
    ("icl", {"shots": 8, "n_labels": 3, "query_shown": False}),
    ("icl_heldout", {"shots": 0}),
    ("icl_fixed", {"shots": 2}),
    ("icl_fixed_flipped", {"shots": 0}),
    ("rare_comparison_0", {"comparison_tokens": 5}),
    ("rare_modadd_0", {"modulus": 7}),
]
FINITE = [(name, params) for name, params in CASES if task_population(name, **params) is not None]
GENERATIVE = [(name, params) for name, params in CASES if (name, params) not in FINITE]


@pytest.mark.parametrize("name, params", CASES)
def test_every_task_draws_distinct_items_by_default(name, params):
    for split in splits(name):
        population = task_population(name, split=split, **params)
        n = 200 if population is None else min(200, population)
        task = get_task(name, n=n, split=split, **params)
        assert len(task) == n and distinct(task) == n


@pytest.mark.parametrize("name, params", FINITE)
def test_all_is_every_distinct_item_and_more_is_an_error(name, params):
    for split in splits(name):
        population = task_population(name, split=split, **params)
        every = get_task(name, n="all", split=split, **params)
        assert len(every) == population == distinct(every)
        reordered = get_task(name, n="all", seed=1, split=split, **params)
        assert every.examples != reordered.examples  # a seeded random order
        # The same items, all of them (not for icl_fixed, whose balanced "all" leaves some
        # words of the larger category out, nor knowledge_mc, whose options are shuffled).
        if every.kind != "icl" and name != "knowledge_mc":
            assert set(map(example_key, every)) == set(map(example_key, reordered))
        message = (rf"task '{name}' has {population} distinct '{split}' items; "
                   rf"ask for n <= {population}, n='all', or pass replace=True")
        with pytest.raises(ValueError, match=message):
            get_task(name, n=population + 1, split=split, **params)


@pytest.mark.parametrize("name, params", FINITE)
def test_replace_draws_with_replacement_beyond_the_population(name, params):
    population = task_population(name, **params)
    task = get_task(name, n=3 * population, replace=True, **params)
    assert len(task) == 3 * population and items(task) < len(task)


@pytest.mark.parametrize("name, params", GENERATIVE)
def test_a_generative_task_has_no_population_and_refuses_all(name, params):
    assert task_population(name, **params) is None
    with pytest.raises(ValueError, match=rf"task '{name}' is generative.*ask for a number"):
        get_task(name, n="all", **params)


def test_all_cannot_be_drawn_with_replacement_and_replace_must_be_a_bool():
    with pytest.raises(ValueError, match="n='all' takes every distinct item once"):
        get_task("rare_modadd_0", n="all", replace=True)
    with pytest.raises(TypeError, match="replace must be True or False"):
        get_task("rare_modadd_0", n=4, replace=1)
    with pytest.raises(ValueError, match="or 'all', got 'every'"):
        get_task("rare_modadd_0", n="every")


def test_a_used_up_generative_space_is_an_error_not_a_repeat():
    # qqp draws distinct prompts by rejection; asking for far more than exist must fail by
    # name, never repeat an item silently.
    with pytest.raises(ValueError, match="task 'qqp' ran out of distinct prompts"):
        get_task("qqp", n=200_000)


def test_one_shot_fixed_prompts_are_counted_exactly():
    # One demonstration of a drawn category: an animal query (7 test words) pairs with its own
    # word shown (1) or any color (11); a color query (5) with itself or any animal (14). Balanced
    # labels bound the task at 2 x min(7 * 12, 5 * 15) = 150.
    assert task_population("icl_fixed", shots=1) == 150
    with pytest.raises(ValueError, match="has 150 distinct 'test' items"):
        get_task("icl_fixed", n=200, shots=1)
    every = get_task("icl_fixed_flipped", n="all", shots=1)
    assert len({(e.prompt, e.answer) for e in every}) == len(every) == 150
    assert len(get_task("icl_fixed", n=200, shots=1, replace=True)) == 200
    # Without the query shown, an own-category demonstration is any other word of it.
    assert task_population("icl_fixed", shots=1, query_shown=False) == 240


def test_populations_at_default_parameters():
    assert {name: task_population(name) for name in ("knowledge_cloze", "arithmetic_add",
            "arithmetic_sub", "icl_fixed", "rare_comparison_0", "rare_modadd_0")} == {
        "knowledge_cloze": 254, "arithmetic_add": 1559, "arithmetic_sub": 800, "icl_fixed": 10,
        "rare_comparison_0": 66, "rare_modadd_0": 60}
    negative = task_population("arithmetic_sub", allow_negative=True)
    assert negative > task_population("arithmetic_sub")  # a < b pairs are not swapped away
    assert task_population("rare_modadd_0", split="train") == 61
    with pytest.raises(ValueError, match="only a 'test' split"):
        task_population("icl_heldout", split="train")
    with pytest.raises(TypeError, match="unknown parameter"):
        task_population("qqp", digits=2)


def test_distinct_samples_keep_labels_exactly_balanced():
    assert Counter(e.answer for e in get_task("icl_fixed", n="all")) == {" dax": 5, " wug": 5}
    assert Counter(e.answer for e in get_task("rare_comparison_3", n=65)).most_common() in (
        [(" more", 33), (" less", 32)], [(" less", 33), (" more", 32)])
    copy = rare.modadd_copy(2)
    assert {example_key(e) for e in get_task("rare_modadd_2", n="all", split="train")} == {
        example_key(copy.example(a, b)) for a, b in copy.instances("train")}


class _CharTokenizer:
    """Stands in for the suite tokenizer: one id per character, EOS 0."""

    eos_token_id = 0

    def __call__(self, text: str):
        return type("Encoded", (), {"input_ids": [ord(c) for c in text]})()


def test_the_training_corpus_is_unchanged_by_distinct_sampling():
    # Hard-coded digests, recorded before sampling became distinct: the shipped suite models
    # were trained on this corpus, so its pools (and the ICL phase's prompts) must stay byte
    # for byte what they were. They draw with replace=True; a change here retrains every model.
    pools = corpus.DocumentSource(seed=0).pools
    digest = hashlib.sha256(json.dumps(pools, sort_keys=True).encode()).hexdigest()
    assert digest == "886c594e72fad443b22e9cc8d91e0323471c21c80fe373bc611fe16eacfb23c8"
    rows = corpus.icl_sequences(_CharTokenizer(), 64, seq_len=128, seed=0)
    digest = hashlib.sha256(json.dumps(rows.tolist()).encode()).hexdigest()
    assert digest == "b8dab0f3ee6d9507f174fb24f803f69d2785f5476381e32f12f4684cd285e3a4"
