"""Per-item rows: one per example, ids that pair up, and a summary equal to evaluate's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hooks
import interp
from interp.scoring import (COLUMNS, ITEM_COLUMNS, evaluate, evaluate_items, item_id, score_task,
                            summarize)
from interp.tasks.base import Example, Task


@pytest.fixture(scope="module")
def model():
    return interp.load_model("suite/pythia-s2")


def test_items_pair_up_across_conditions(model):
    task = interp.get_task("knowledge_mc", n=12)
    base = evaluate_items(model, task)
    uniform = evaluate_items(model, task, condition="uniform",
                             fwd_hooks=[("blocks.0.attn.hook_pattern", hooks.uniform_pattern())])
    assert list(base.columns) == ITEM_COLUMNS
    assert base.item.tolist() == uniform.item.tolist() == [item_id(e) for e in task.examples]
    assert base.item.is_unique
    # chosen agrees with correct: the answer is chosen exactly when the item is right.
    answers = [e.answer for e in task.examples]
    assert ((base.chosen == answers) == base.correct).all()
    assert (base.loss != uniform.loss).any()  # the hook changed the scores it pairs with


def test_exact_chosen_is_the_greedy_continuation(model):
    task = interp.get_task("arithmetic_add", n=10)
    items = evaluate_items(model, task)
    answers = [e.answer for e in task.examples]
    assert ((items.chosen == answers) == items.correct).all()
    assert items.chosen.map(len).gt(0).all()


def test_summary_equals_evaluate_and_score_task(model):
    tasks = [interp.get_task("qqp", n=8), interp.get_task("arithmetic_add", n=8)]
    rows = evaluate(model, tasks)
    assert list(rows.columns) == COLUMNS
    pd.testing.assert_frame_equal(rows, summarize(evaluate_items(model, tasks)))
    score = score_task(model, tasks[1])
    assert rows.accuracy.iloc[1] == pytest.approx(score.accuracy)
    assert rows.loss.iloc[1] == pytest.approx(float(np.mean(score.loss)))


def test_repeated_examples_get_distinct_ids(model):
    example = Example("2 + 3 =", " 5")
    items = evaluate_items(model, Task("twice", "toy", "exact", (example, example)))
    assert items.item.tolist() == [item_id(example), item_id(example) + "#1"]
