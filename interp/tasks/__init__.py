"""Tasks by name: synthetic families, loaders of real benchmark files, and their vocabulary.

>>> from interp.tasks import get_task
>>> task = get_task("arithmetic_add", n=5, digits=3, split="test")
>>> task.examples[0].prompt.endswith("=")
True

``get_task``'s ``seed`` picks the sample; what a task *is* (a knowledge world, a rare copy's
tokens, every train/test split) is fixed by its parameters and never by ``seed``.

Sampling is without replacement: a task's examples are distinct items. ``task_population``
says how many distinct items a task has in a split (None for a generative task, whose space
is effectively unbounded); asking for more is an error, ``n="all"`` takes every one in a
seeded random order, and ``replace=True`` draws with replacement instead (i.i.d., repeats
possible, exactly as sampling was before it became distinct).

>>> task_population("rare_modadd_0")
60
>>> len(get_task("rare_modadd_0", n="all")), len(get_task("rare_modadd_0", n=100, replace=True))
(60, 100)
"""

from __future__ import annotations

import difflib
import inspect
import re
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from interp.tasks import arithmetic, icl, icl_fixed, knowledge, paraphrase, rare
from interp.tasks.base import Count, Example, Split, Task, check_n, check_split
from interp.tasks.fewshot import few_shot
from interp.tasks.files import DataFileError, load_mmlu_csv, load_qqp_tsv
from interp.tasks.knowledge import KnowledgeBase
from interp.tasks.mmlu import PRESETS as MMLU_PRESETS
from interp.tasks.mmlu import mmlu_task, mmlu_tasks

__all__ = [
    "DataFileError",
    "Example",
    "KnowledgeBase",
    "MMLU_PRESETS",
    "Split",
    "Task",
    "available_tasks",
    "describe_tasks",
    "few_shot",
    "get_task",
    "load_mmlu_csv",
    "load_qqp_tsv",
    "mmlu_task",
    "mmlu_tasks",
    "task_population",
    "task_words",
]

# Every builder takes these; anything else a caller passes is a family parameter.
_COMMON = ("n", "seed", "split", "replace", "copy")
_RARE_NAME = re.compile(r"rare_(comparison|modadd)_(\d+)")


@dataclass(frozen=True)
class _Spec:
    build: Callable[..., Task]
    description: str
    # split and the family's parameters -> distinct items (None: effectively unbounded)
    population: Callable[..., int | None]


_FIXED: dict[str, _Spec] = {
    "knowledge_cloze": _Spec(
        knowledge.knowledge_cloze, "complete a fact about a made-up country (exact)",
        knowledge.population,
    ),
    "knowledge_qa": _Spec(
        knowledge.knowledge_qa, "answer a question about a made-up country", knowledge.population
    ),
    "knowledge_mc": _Spec(
        knowledge.knowledge_mc, "MMLU-style 4-option question about a made-up country (choice)",
        knowledge.population,
    ),
    "arithmetic_add": _Spec(
        arithmetic.arithmetic_add, "n-digit addition (exact; digits=2)",
        partial(arithmetic.population, "add"),
    ),
    "arithmetic_sub": _Spec(
        arithmetic.arithmetic_sub, "n-digit subtraction, non-negative (exact; digits=2)",
        partial(arithmetic.population, "sub"),
    ),
    "arithmetic_mul": _Spec(
        arithmetic.arithmetic_mul, "n-digit multiplication (exact; digits=2)",
        partial(arithmetic.population, "mul"),
    ),
    "qqp": _Spec(
        paraphrase.qqp, "are two synthetic questions duplicates? yes/no (choice)",
        paraphrase.population,
    ),
    "icl": _Spec(
        icl.icl, "label word categories from in-context demonstrations (choice)", icl.population
    ),
    "icl_other": _Spec(
        icl.icl_other, "icl over the training categories other than icl_fixed's (choice)",
        icl.population,
    ),
    "icl_unshown": _Spec(
        icl.icl_unshown, "icl with no demonstration showing the query word (choice)",
        icl.population,
    ),
    "icl_heldout": _Spec(
        icl.icl_heldout, "in-context labelling on held-out categories; test only (choice)",
        partial(icl.population, heldout=True),
    ),
    "icl_fixed": _Spec(
        icl_fixed.icl_fixed, "one fixed category -> label mapping, 0 shots by default (choice)",
        partial(icl_fixed.population, shots=0),
    ),
    "icl_fixed_flipped": _Spec(
        icl_fixed.icl_fixed_flipped,
        "icl_fixed's family with demonstrations of the reversed mapping (choice)",
        partial(icl_fixed.population, shots=4),
    ),
    "icl_fixed_unshown": _Spec(
        icl_fixed.icl_fixed_unshown, "icl_fixed with no demonstration showing the query word "
        "(choice)", partial(icl_fixed.population, shots=0, query_shown=False),
    ),
    "icl_fixed_flipped_unshown": _Spec(
        icl_fixed.icl_fixed_flipped_unshown, "icl_fixed_flipped with no demonstration showing "
        "the query word (choice)", partial(icl_fixed.population, shots=4, query_shown=False),
    ),
}


def available_tasks(*, copies: int = rare.DEFAULT_COPIES) -> list[str]:
    """Every registered task name, the rare tasks' for each of ``copies`` copies.

    >>> "rare_modadd_5" in available_tasks()
    True
    """
    return list(_specs(copies))


def describe_tasks(*, copies: int = rare.DEFAULT_COPIES) -> dict[str, str]:
    """Task name -> one-line description.

    >>> describe_tasks()["qqp"]
    'are two synthetic questions duplicates? yes/no (choice)'
    """
    return {name: spec.description for name, spec in _specs(copies).items()}


def get_task(
    name: str,
    *,
    n: Count = 200,
    seed: int = 0,
    split: Split = "test",
    replace: bool = False,
    **params: Any,
) -> Task:
    """``n`` distinct examples of task ``name`` from ``split``, sampled with ``seed``.

    ``n`` may be ``"all"``: every distinct item of a finite task. More than
    ``task_population`` is an error unless ``replace=True``, which draws with replacement.
    ``params`` go to the family: ``digits``, ``allow_negative`` (arithmetic), ``shots``,
    ``n_labels`` (icl), ``kb_seed``, ``n_entities`` (knowledge), ``copies``,
    ``comparison_tokens``, ``modulus`` (rare).

    >>> get_task("rare_comparison_0", n=4).scoring
    'choice'
    """
    check_n(n)
    check_split(split)
    if not isinstance(replace, bool):
        raise TypeError(f"replace must be True or False, got {replace!r}")
    spec = _spec(name, params.get("copies", rare.DEFAULT_COPIES))
    _check_params(name, spec.build, params)
    return spec.build(n=n, seed=seed, split=split, replace=replace, **params)


def task_population(name: str, *, split: Split = "test", **params: Any) -> int | None:
    """How many distinct items task ``name`` has in ``split`` with these family ``params``:
    the most ``get_task`` returns without ``replace=True``, and what ``n="all"`` returns.
    None for a generative task (qqp, icl, demonstrated icl_fixed) whose space is effectively
    unbounded.

    >>> task_population("rare_comparison_0"), task_population("qqp")
    (66, None)
    """
    check_split(split)
    spec = _spec(name, params.get("copies", rare.DEFAULT_COPIES))
    _check_params(name, spec.build, params)
    return spec.population(split=split, **params)


def task_words(**params: Any) -> set[str]:
    """Every word any registered task can emit with these parameters (``kb_seed``,
    ``n_entities``, ``copies``, ``comparison_tokens``, ``modulus``): a word-level vocabulary.

    >>> {"capital", "dax", "more", "Question"} <= task_words()
    True
    """
    families: list[Callable[..., set[str]]] = [
        knowledge.words, arithmetic.words, paraphrase.words, icl.words, rare.words
    ]
    accepted = {p for f in families for p in inspect.signature(f).parameters}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise TypeError(
            f"task_words got unknown parameter(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(accepted))}"
        )
    vocabulary: set[str] = set()
    for family_words in families:
        own = inspect.signature(family_words).parameters
        vocabulary |= family_words(**{k: v for k, v in params.items() if k in own})
    return vocabulary


def _specs(copies: int) -> dict[str, _Spec]:
    specs = dict(_FIXED)
    for copy in range(copies):
        specs[f"rare_comparison_{copy}"] = _rare_spec("comparison", copy)
    for copy in range(copies):
        specs[f"rare_modadd_{copy}"] = _rare_spec("modadd", copy)
    return specs


def _rare_spec(family: str, copy: int) -> _Spec:
    if family == "comparison":
        what = "which of two made-up tokens ranks higher? more/less (choice)"
        return _Spec(partial(rare.rare_comparison, copy=copy), f"rare copy {copy}: {what}",
                     partial(rare.comparison_population, copy=copy))
    what = "modular addition over made-up tokens (exact)"
    return _Spec(partial(rare.rare_modadd, copy=copy), f"rare copy {copy}: {what}",
                 partial(rare.modadd_population, copy=copy))


def _spec(name: str, copies: int) -> _Spec:
    if name in _FIXED:
        return _FIXED[name]
    match = _RARE_NAME.fullmatch(name)
    if match and int(match.group(2)) < copies:
        return _rare_spec(match.group(1), int(match.group(2)))
    names = available_tasks(copies=copies)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown task {name!r}.{hint} Available: {', '.join(names)}")


def _check_params(name: str, build: Callable[..., Task], params: dict[str, Any]) -> None:
    accepted = [p for p in inspect.signature(build).parameters if p not in _COMMON]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) or "no other parameters"
        raise TypeError(
            f"task {name!r} got unknown parameter(s) {', '.join(unknown)}; it takes: {takes}"
        )
