"""Experiment 2: rare-task gradients against the frequent tasks' and the mixture's, the token
split of a mixed batch's gradient, and the Fisher overlap of the most important parameters."""

from __future__ import annotations

import random
from typing import Optional, Sequence

import pandas as pd
from torch import Tensor, nn

from interp.analysis import gradients as G
from interp.studies.task_interference.facts import check_tasks, model_facts
from interp.studies.task_interference.mixture import inject_blocks
from interp.tasks.base import Task
from interp.types import Sequences


def gradient_interference(
    name: str,
    model: nn.Module,
    frequent: Sequence[Task],
    rare: Sequence[Task],
    *,
    mixture: Sequences,
    fisher_n: int = 16,
    top_fraction: float = 0.01,
    groups: Optional[Sequence[str]] = None,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Gradient cosines, token-split cosines and Fisher overlaps of one model.

    ``mixture``: mixture sequences without the rare copies; its two halves are two batches.
    References for the rare direction g_r: each frequent task, their mean ("frequent") and
    the mixture's LM gradient ("mixture"). Token split: a mixture batch with one rare block
    injected; g = g_task + g_other; each part's cosine to g_r.

    Noise floor (``noise_floor``): each task's instances split into two disjoint halves
    (``split_halves``), the cosine between the halves' gradients, and for a rare task each
    half's cosine to the frequent tasks' mean gradient, so a rare-vs-frequent cosine can be
    read against how much it moves when the instances change.

    Returns tables ``cosines``, ``token_split``, ``fisher`` and ``noise_floor``.

    >>> import interp
    >>> from interp.studies.task_interference.mixture import mixture_sequences
    >>> m = interp.load_hf_model("suite/pythia-s1", dtype="float32")
    >>> f, r = interp.get_task("arithmetic_add", n=4), interp.get_task("rare_comparison_4", n=4)
    >>> seqs = mixture_sequences("suite/pythia-s1", m.tokenizer, 4, seed=0)
    >>> out = gradient_interference("suite/pythia-s1", m, [f], [r], mixture=seqs, fisher_n=2)
    >>> sorted(out), sorted(out["cosines"].reference.unique())
    (['cosines', 'fisher', 'noise_floor', 'token_split'], ['arithmetic_add', 'frequent', 'mixture'])
    >>> bool(out["cosines"].cosine.between(-1, 1).all())
    True
    """
    check_tasks(frequent, "frequent tasks")
    check_tasks(rare, "rare tasks")
    facts = model_facts(name, model)
    if groups is not None:
        G.check_groups(model, groups)  # a missing group fails before any gradient is spent

    def vectors(gradient: G.Gradient) -> dict[str, Tensor]:
        return G.group_vectors(model, gradient, groups)

    frequent_grads = {t.name: G.task_gradient(model, t) for t in frequent}
    references = {name: vectors(g) for name, g in frequent_grads.items()}
    references["frequent"] = vectors(G.mean_gradient(list(frequent_grads.values())))
    half = mixture.shape[0] // 2
    batches = [mixture[:half], mixture[half : 2 * half]] if half else [mixture]
    references["mixture"] = vectors(G.lm_gradient(model, batches[0]))

    cosines, split, fisher_rows = [], [], []
    frequent_fisher = G.diagonal_fisher(model, [_head(t, fisher_n) for t in frequent])
    for task in rare:
        g_rare = vectors(G.task_gradient(model, task))
        for ref, v_ref in references.items():
            table = G.vector_cosines(g_rare, v_ref)
            cosines += [dict(facts, rare_task=task.name, reference=ref, group=r["group"],
                             cosine=r["cosine"]) for r in table.to_dict("records")]
        split += _split_rows(model, facts, task, batches, g_rare, vectors, seed)
        rare_fisher = G.diagonal_fisher(model, _head(task, fisher_n))
        table = G.fisher_overlap(model, rare_fisher, frequent_fisher,
                                 top_fraction=top_fraction, groups=groups)
        fisher_rows += [dict(facts, rare_task=task.name, reference="frequent", **r)
                        for r in table.to_dict("records")]
    floor = _noise_floor(model, facts, frequent, rare, references["frequent"], vectors)
    return dict(cosines=pd.DataFrame(cosines), token_split=pd.DataFrame(split),
                fisher=pd.DataFrame(fisher_rows), noise_floor=floor)


def split_halves(task: Task) -> tuple[Task, Task]:
    """Two disjoint halves of ``task``'s instances (even and odd positions), together all.

    >>> import interp
    >>> a, b = split_halves(interp.get_task("rare_comparison_0", n=5))
    >>> len(a), len(b), {e.prompt for e in a.examples} & {e.prompt for e in b.examples}
    (3, 2, set())
    """
    if len(task.examples) < 2:
        raise ValueError(f"task {task.name!r} has {len(task.examples)} instance(s): a split-half "
                         "noise floor needs at least 2 (raise --grad-n)")
    return (Task(task.name, task.kind, task.scoring, task.examples[0::2]),
            Task(task.name, task.kind, task.scoring, task.examples[1::2]))


def _noise_floor(model, facts, frequent, rare, v_frequent, vectors) -> pd.DataFrame:
    """Per task: the cosine between the gradients of its two halves (all parameters); for a
    rare task also each half's cosine to the frequent tasks' mean gradient."""
    rows = []
    for kind, tasks in (("rare", rare), ("frequent", frequent)):
        for task in tasks:
            half_a, half_b = split_halves(task)
            va = vectors(G.task_gradient(model, half_a))
            vb = vectors(G.task_gradient(model, half_b))
            row = dict(facts, task=task.name, kind=kind, n_a=len(half_a), n_b=len(half_b),
                       halves=G.cosine(va[G.ALL], vb[G.ALL]))
            if kind == "rare":
                row.update(a_vs_frequent=G.cosine(va[G.ALL], v_frequent[G.ALL]),
                           b_vs_frequent=G.cosine(vb[G.ALL], v_frequent[G.ALL]))
            rows.append(row)
    return pd.DataFrame(rows)


def _split_rows(model, facts, task, batches, g_rare, vectors, seed) -> list[dict]:
    """Each mixture batch with one rare block: cosines of g, g_task and g_other to g_r."""
    rows = []
    for b, batch in enumerate(batches):
        rng = random.Random(f"{seed}/split/{task.name}/{b}")
        tokens, mask = inject_blocks(batch, task.name, 1, model.tokenizer, rng)
        g_task, g_other = G.token_split_gradient(model, tokens, mask)
        for part, g in (("batch", G.add(g_task, g_other)), ("task_tokens", g_task),
                        ("other_tokens", g_other)):
            table = G.vector_cosines(vectors(g), g_rare)
            rows += [dict(facts, rare_task=task.name, batch=b, part=part, group=r["group"],
                          cosine=r["cosine"], norm=r["norm_a"])
                     for r in table.to_dict("records")]
    return rows


def _head(task: Task, n: int) -> Task:
    return Task(task.name, task.kind, task.scoring, task.examples[: max(1, n)])
