"""interp.tasks: determinism, held-out splits, answer correctness, vocabularies, loaders."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from itertools import permutations
from pathlib import Path

import pytest

from interp.tasks import (
    DataFileError,
    Example,
    KnowledgeBase,
    available_tasks,
    describe_tasks,
    few_shot,
    get_task,
    load_mmlu_csv,
    load_qqp_tsv,
    task_population,
    task_words,
)
from interp.tasks import arithmetic, icl, knowledge, paraphrase, rare
from interp.tasks.base import words_in

DATA = Path(__file__).resolve().parents[2] / "data"

FAMILY_WORDS = {
    "knowledge": knowledge.words,
    "arithmetic": arithmetic.words,
    "paraphrase": paraphrase.words,
    "icl": icl.words,
    "rare": rare.words,
}


def up_to(name: str, n: int) -> int | str:
    """``n``, or "all" where the task has fewer distinct test items."""
    population = task_population(name)
    return n if population is None or n < population else "all"


def emitted_words(example: Example) -> set[str]:
    texts = [example.prompt, example.answer, *(example.choices or ())]
    return {w for text in texts for w in words_in(text)}


# --- registry ------------------------------------------------------------------------------


def test_registry_lists_every_family_and_rare_copy():
    names = available_tasks()
    assert {"knowledge_mc", "arithmetic_mul", "qqp", "icl", "icl_heldout"} <= set(names)
    assert [n for n in names if n.startswith("rare_comparison_")] == [
        f"rare_comparison_{k}" for k in range(rare.DEFAULT_COPIES)
    ]
    assert "rare_modadd_7" in available_tasks(copies=8)
    assert list(describe_tasks()) == names
    assert all(describe_tasks().values())


def test_unknown_task_lists_names_and_a_close_match():
    with pytest.raises(ValueError, match="arithmetic_add") as info:
        get_task("arithmetic_ad")
    assert "Did you mean 'arithmetic_add'" in str(info.value)
    assert "rare_modadd_5" in str(info.value)
    with pytest.raises(ValueError, match="unknown task 'rare_modadd_6'"):
        get_task("rare_modadd_6")  # only copies 0..5 by default


def test_bad_sizes_and_parameters_are_refused():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        get_task("qqp", n=0)
    with pytest.raises(ValueError, match="split must be"):
        get_task("qqp", split="dev")
    with pytest.raises(TypeError, match="takes: digits"):
        get_task("arithmetic_add", shots=3)
    with pytest.raises(TypeError, match="unknown parameter"):
        task_words(digits=3)


@pytest.mark.parametrize("name", available_tasks())
def test_every_task_is_deterministic_in_its_seed(name):
    n = up_to(name, 40)
    first = get_task(name, n=n, seed=1)
    assert first.examples == get_task(name, n=n, seed=1).examples
    assert first.examples != get_task(name, n=n, seed=2).examples
    assert len(first) == min(40, task_population(name) or 40) and first.name == name


@pytest.mark.parametrize("name", available_tasks())
def test_every_emitted_word_is_in_the_family_vocabulary(name):
    task = get_task(name, n=up_to(name, 300))
    vocabulary = FAMILY_WORDS[task.kind]()
    emitted = {w for e in task for w in emitted_words(e)}
    assert emitted <= vocabulary, sorted(emitted - vocabulary)
    assert vocabulary <= task_words()
    for example in task:
        assert not example.prompt.endswith(" ")
        continuations = example.choices or (example.answer,)
        assert all(c.startswith(" ") and not c.startswith("  ") for c in continuations)


# --- arithmetic ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_arithmetic_answers_and_operand_sizes(op):
    task = arithmetic.arithmetic(op, n=300, digits=3, split="train")
    for e in task:
        a, b = e.metadata["a"], e.metadata["b"]
        assert e.prompt == f"{a} {arithmetic.SYMBOLS[op]} {b} ="
        assert int(e.answer) == {"add": a + b, "sub": a - b, "mul": a * b}[op]
        assert 100 <= a <= 999 and 100 <= b <= 999
    if op == "sub":
        assert all(int(e.answer) >= 0 for e in task)
        negative = arithmetic.arithmetic_sub(n=300, digits=2, allow_negative=True)
        assert any(int(e.answer) < 0 for e in negative)


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_arithmetic_train_and_test_pairs_are_disjoint(op):
    def pairs(split: str) -> set[tuple[int, int]]:
        task = arithmetic.arithmetic(op, n="all", digits=1, split=split)
        found = {(e.metadata["a"], e.metadata["b"]) for e in task}
        # Commutative operations: a test pair must not be trained on in either order.
        return found | {(b, a) for a, b in found} if op != "sub" else found

    train, test = pairs("train"), pairs("test")
    assert train and test and train.isdisjoint(test)


# --- knowledge -----------------------------------------------------------------------------


def test_knowledge_renderings_agree_with_the_facts():
    kb = KnowledgeBase(seed=3, n_entities=20)
    assert len(kb.statements()) == len(kb.facts) == 20 * len(knowledge.RELATIONS)
    assert len(set(kb.values("capital"))) == 20  # one capital per country
    fact = kb.facts[0]
    assert kb.statement(fact) == f"The capital of {fact.entity} is {fact.value}."
    assert kb.cloze(fact) == Example(
        f"The capital of {fact.entity} is", f" {fact.value}", metadata=kb.cloze(fact).metadata
    )
    qa = kb.qa(fact)
    assert qa.prompt == f"Question: What is the capital of {fact.entity}?\nAnswer:"
    for e in get_task("knowledge_cloze", n="all", kb_seed=3, n_entities=20):
        value = e.metadata["value"]
        assert e.answer == f" {value}"
        assert kb.statement(knowledge.Fact(e.metadata["entity"], e.metadata["relation"], value)) \
            == f"{e.prompt} {value}."


def test_knowledge_mc_letters_balanced_and_distractors_valid():
    kb = KnowledgeBase(seed=0)
    task = get_task("knowledge_mc", n="all")
    counts = Counter(e.answer for e in task)
    assert set(counts) == {" A", " B", " C", " D"}
    assert max(counts.values()) - min(counts.values()) <= 1
    for e in task:
        options = [line[3:] for line in e.prompt.split("\n")[1:5]]
        assert [line[:3] for line in e.prompt.split("\n")[1:5]] == ["A. ", "B. ", "C. ", "D. "]
        assert options["ABCD".index(e.answer.strip())] == e.metadata["value"]
        assert len(set(options)) == 4  # distractors distinct from the answer and each other
        assert set(options) <= set(kb.values(e.metadata["relation"]))
        assert e.prompt.endswith("\nAnswer:")


def test_knowledge_splits_partition_facts_and_corpus_methods():
    kb = KnowledgeBase()
    train, test = set(kb.facts_in("train")), set(kb.facts_in("test"))
    assert train and test and train.isdisjoint(test) and train | test == set(kb.facts)
    assert len(kb.qa_pairs("test")) == len(test)
    questions = kb.mc_questions(random.Random(0))
    assert len(questions) == len(kb.facts)
    sampled = {e.metadata["entity"] + e.metadata["relation"] for e in get_task("knowledge_qa")}
    assert sampled <= {f.entity + f.relation for f in test}
    assert KnowledgeBase(seed=1).entities != kb.entities


# --- paraphrase ----------------------------------------------------------------------------


def test_qqp_is_balanced_labelled_and_split():
    task = get_task("qqp", n=400)
    assert Counter(e.answer for e in task) == {" yes": 200, " no": 200}
    for e in task:
        assert e.choices == (" yes", " no")
        assert e.prompt.startswith("Question 1: ") and e.prompt.endswith("\nSame meaning?")
        same = len(set(e.metadata["intents"])) == 1 and len(set(e.metadata["topics"])) == 1
        assert same == (e.answer == " yes")
        q1, q2 = e.prompt.split("\n")[:2]
        assert q1[len("Question 1: "):] != q2[len("Question 2: "):]
    kinds = Counter(e.metadata["kind"] for e in task)
    assert kinds["changed_topic"] > 50 and kinds["changed_keyword"] > 50
    train = {e.prompt for e in get_task("qqp", n=1000, split="train")}
    assert train.isdisjoint(e.prompt for e in get_task("qqp", n=1000, split="test"))


# --- in-context learning ------------------------------------------------------------------


@pytest.mark.parametrize("query_shown", [True, False])
def test_icl_prompts_follow_their_mapping(query_shown):
    for e in get_task("icl", n=200, shots=6, query_shown=query_shown):
        mapping = e.metadata["mapping"]
        assert e.choices == tuple(f" {label}" for label in mapping.values())
        assert e.answer == f" {mapping[e.metadata['query_category']]}"
        *demos, query = e.prompt.split("\n")
        assert query == f"{e.metadata['query']} ->" and len(demos) == 6
        category_of = {w: c for c in mapping for w in icl.CATEGORIES[c]}
        for demo in demos:
            word, label = demo.split(" -> ")
            assert mapping[category_of[word]] == label
        shown = [d for d in demos if d.split(" -> ")[0] == e.metadata["query"]]
        # Exactly one demonstration shows the query word, with the answer's label, or none.
        assert shown == ([f"{e.metadata['query']} ->{e.answer}"] if query_shown else [])
        assert e.metadata["query_shown"] is query_shown
        assert Counter(d.split(" -> ")[1] for d in demos) == Counter(
            {label: 3 for label in mapping.values()}
        )


def test_icl_zero_shot_keeps_every_label_as_a_choice():
    task = get_task("icl", n=100, shots=0)
    for e in task:
        assert e.prompt == f"{e.metadata['query']} ->" and len(e.choices) == 2
    assert Counter(e.choices.index(e.answer) for e in task) == {0: 50, 1: 50}


def test_icl_heldout_families_and_query_splits_are_disjoint():
    heldout_words = {w for c in icl.HELDOUT_CATEGORIES for w in icl.CATEGORIES[c]}
    trained = get_task("icl", n=500, split="train")
    assert all(emitted_words(e).isdisjoint(heldout_words) for e in trained)
    assert {q for e in trained for q in [e.metadata["query"]]}.isdisjoint(
        e.metadata["query"] for e in get_task("icl", n=500, split="test")
    )
    for e in get_task("icl_heldout", n=100):
        assert set(e.metadata["categories"]) <= set(icl.HELDOUT_CATEGORIES)
    with pytest.raises(ValueError, match="only a 'test' split"):
        get_task("icl_heldout", split="train")


def demo_words(example: Example) -> list[str]:
    """The words the demonstrations of one ICL prompt show (the query line excluded)."""
    return [line.split(" -> ")[0] for line in example.prompt.split("\n")[:-1]]


@pytest.mark.parametrize("name", ["icl_fixed_unshown", "icl_fixed_flipped_unshown", "icl_unshown"])
@pytest.mark.parametrize("shots", [1, 2, 8])
def test_unshown_prompts_never_show_the_query_word(name, shots):
    task = get_task(name, n=60, shots=shots)
    for e in task:
        assert e.metadata["query"] not in demo_words(e) and len(demo_words(e)) == shots
        assert not e.metadata["query_shown"]


def test_shown_fixed_prompts_always_show_the_query_word_from_two_shots():
    # The artifact the unshown tasks remove: every shown prompt can be answered by lookup.
    for shots in (2, 8):
        assert all(e.metadata["query"] in demo_words(e)
                   for e in get_task("icl_fixed_flipped", n=60, shots=shots))


def demo_category(example: Example) -> str:
    word = demo_words(example)[0]
    return next(c for c in example.metadata["categories"] if word in icl.CATEGORIES[c])


@pytest.mark.parametrize("name", ["icl_fixed", "icl_fixed_flipped", "icl_fixed_flipped_unshown"])
def test_one_shot_demonstration_category_is_drawn_per_prompt_and_seed(name):
    by_seed = [[demo_category(e) for e in get_task(name, n=40, shots=1, seed=seed)]
               for seed in (0, 1)]
    for categories in by_seed:
        assert set(categories) == {"animals", "colors"}  # not always the first category
    assert by_seed[0] != by_seed[1]  # seeded: another seed draws other prompts
    # The ICL corpus's own draws are unchanged: a 1-shot `icl` prompt shows the family's first.
    assert all(demo_category(e) == e.metadata["categories"][0]
               for e in get_task("icl", n=40, shots=1))


def test_icl_other_avoids_the_fixed_family_and_icl_unshown_is_the_card_task():
    fixed = {w for c in icl.FIXED_CATEGORIES for w in icl.CATEGORIES[c]}
    for e in get_task("icl_other", n=200, shots=4):
        assert set(e.metadata["categories"]) <= set(icl.OTHER_CATEGORIES)
        assert emitted_words(e).isdisjoint(fixed)
    assert set(icl.OTHER_CATEGORIES) | set(icl.FIXED_CATEGORIES) == set(icl.TRAIN_CATEGORIES)
    unshown = get_task("icl_unshown", n=50, shots=8)
    same = get_task("icl", n=50, shots=8, query_shown=False)
    assert [e.prompt for e in unshown] == [e.prompt for e in same]


# --- rare tasks ----------------------------------------------------------------------------


def test_rare_token_sets_are_disjoint_from_each_other_and_other_families():
    sets = [set(rare.comparison_copy(k).tokens) for k in range(8)]
    sets += [set(rare.modadd_copy(k).tokens) for k in range(8)]
    assert sum(map(len, sets)) == len(set().union(*sets))
    others = set().union(*(f() for name, f in FAMILY_WORDS.items() if name != "rare"))
    others |= knowledge.words(kb_seed=7, n_entities=500)
    lowered = {w.lower() for w in others}
    assert lowered.isdisjoint(set().union(*sets))
    assert not any(w.endswith(("q", "j")) for w in lowered)  # the guarantee rare.py relies on


@pytest.mark.parametrize("copy", range(rare.DEFAULT_COPIES))
def test_rare_comparison_labels_form_a_hidden_total_order(copy):
    c = rare.comparison_copy(copy)
    more = {(a, b) for a, b in c.instances() if c.example(a, b).answer == " more"}
    assert len(more) == len(c.instances()) // 2  # antisymmetric: one of each pair
    for a, b, d in permutations(c.tokens, 3):
        if (a, b) in more and (b, d) in more:
            assert (a, d) in more
    assert Counter(e.answer for e in get_task(f"rare_comparison_{copy}", n="all")) == {
        " more": 33, " less": 33
    }


@pytest.mark.parametrize("copy", range(rare.DEFAULT_COPIES))
def test_rare_modadd_answers_recompute(copy):
    m = rare.modadd_copy(copy)
    for e in get_task(f"rare_modadd_{copy}", n="all", split="train"):
        a, b = e.metadata["a"], e.metadata["b"]
        assert e.prompt == f"{m.tokens[a]} {m.tokens[b]} ="
        assert e.answer == f" {m.tokens[(a + b) % 11]}"


@pytest.mark.parametrize("family", ["comparison", "modadd"])
def test_rare_splits_are_exact_halves_and_samples_respect_them(family):
    for copy in range(rare.DEFAULT_COPIES):
        c = rare.comparison_copy(copy) if family == "comparison" else rare.modadd_copy(copy)
        train, test = set(c.instances("train")), set(c.instances("test"))
        assert train.isdisjoint(test) and train | test == set(c.instances())
        assert abs(len(train) - len(test)) <= 1
        task = get_task(f"rare_{family}_{copy}", n="all", split="test")
        if family == "comparison":
            sampled = {(e.metadata["left"], e.metadata["right"]) for e in task}
        else:
            sampled = {(e.metadata["a"], e.metadata["b"]) for e in task}
        assert sampled == test


# --- few-shot ------------------------------------------------------------------------------


def test_few_shot_structure():
    pool = [Example(f"{i} + 1 =", f" {i + 1}") for i in range(5)]
    query = Example("7 + 1 =", " 8", choices=(" 8", " 9"), metadata={"op": "add"})
    shot = few_shot(pool, 2, query, separator="\n\n")
    assert shot.prompt == "0 + 1 = 1\n\n1 + 1 = 2\n\n7 + 1 ="
    assert (shot.answer, shot.choices) == (" 8", (" 8", " 9"))
    assert shot.metadata == {"op": "add", "shots": 2}
    drawn = few_shot(pool, 3, query, rng=random.Random(0))
    assert drawn == few_shot(pool, 3, query, rng=random.Random(0))
    assert few_shot(pool, 0, query).prompt == query.prompt
    assert few_shot(pool + [query], 5, query).prompt.count("7 + 1") == 1  # never itself
    with pytest.raises(ValueError, match="needs 6 demonstrations but only 5"):
        few_shot(pool, 6, query)


# --- loaders -------------------------------------------------------------------------------


def test_load_mmlu_directory_file_and_subjects():
    task = load_mmlu_csv(DATA / "mmlu")
    assert len(task) == 5 and task.scoring == "choice"
    first = task.examples[0]
    assert first.prompt == (
        "Question: Which planet is closest to the Sun?\nA. Venus\nB. Mercury\nC. Earth\n"
        "D. Mars\nAnswer:"
    )
    assert first.answer == " B" and first.metadata["subject"] == "astronomy"
    assert "Which of these\nspans two lines?" in task.examples[3].prompt  # quoted newline
    assert task.examples[4].metadata["line"] == 3  # the record after a two-line record
    only = load_mmlu_csv(DATA / "mmlu", subjects=["virology"])
    assert {e.metadata["subject"] for e in only} == {"virology"}
    assert len(load_mmlu_csv(DATA / "mmlu" / "astronomy_test.csv")) == 3
    with pytest.raises(ValueError, match="available: astronomy, virology"):
        load_mmlu_csv(DATA / "mmlu", subjects=["anatomy"])


def test_load_mmlu_bad_rows_and_missing_path(tmp_path):
    bad = tmp_path / "bad_test.csv"
    bad.write_text("Q1?,a,b,c,d,A\nQ2?,a,b,c,D\n")
    with pytest.raises(DataFileError, match=r"bad_test.csv, line 2: expected 6 columns"):
        load_mmlu_csv(bad)
    bad.write_text("Q1?,a,b,c,d,E\n")
    with pytest.raises(DataFileError, match="line 1: expected an answer letter"):
        load_mmlu_csv(bad)
    with pytest.raises(FileNotFoundError, match="hendrycks/test"):
        load_mmlu_csv(tmp_path / "nowhere")


def test_load_qqp_labels_and_errors(tmp_path):
    task = load_qqp_tsv(DATA / "qqp_dev.tsv")
    assert [e.answer for e in task] == [" yes", " no", " yes", " no", " yes"]
    assert task.examples[1].prompt == (
        "Question 1: How much does a laptop cost?\nQuestion 2: How much does a laptop weigh?"
        "\nSame meaning?"
    )
    with pytest.raises(DataFileError, match="no is_duplicate column.*no labels"):
        load_qqp_tsv(DATA / "qqp_test.tsv")
    broken = tmp_path / "train.tsv"
    shutil.copy(DATA / "qqp_dev.tsv", broken)
    with broken.open("a") as handle:
        handle.write("5\t11\tWas this row split by a newline?\t0\n")
    with pytest.raises(DataFileError, match=r"train.tsv, line 7: expected 6 tab-separated"):
        load_qqp_tsv(broken)
    assert len(load_qqp_tsv(broken, skip_malformed=True)) == 5
    broken.write_text((DATA / "qqp_dev.tsv").read_text().replace("\t1\n", "\tyes\n", 1))
    with pytest.raises(DataFileError, match="line 2: expected is_duplicate 0 or 1"):
        load_qqp_tsv(broken)
    with pytest.raises(FileNotFoundError, match="GLUE"):
        load_qqp_tsv(tmp_path / "missing.tsv")


@pytest.mark.parametrize("loader, name", [(load_mmlu_csv, "algebra_test.csv"), (load_qqp_tsv, "dev.tsv")])
def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path, loader, name):
    path = tmp_path / name
    header = b"" if loader is load_mmlu_csv else b"id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
    path.write_bytes(header + b"What is 1+1?,1,2,3,4,B\nCaf\xe9 question,1,2,3,4,A\n")
    with pytest.raises(DataFileError, match=rf"{name}, line {3 if header else 2}: not UTF-8 .*0xe9"):
        loader(path)
