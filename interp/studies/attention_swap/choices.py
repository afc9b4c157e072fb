"""Two readings of a choice task the scoring engine does not give: the answer's loss with the
probability renormalised over the choices only, and which example the other-input control
borrows its patterns from.

The full-vocabulary answer loss falls as a model learns that an answer is one of the letters
(or yes/no), whether or not it learns which one; the choice-restricted loss
``-log p(answer) + log sum_c p(c)`` moves only when the model prefers one choice to the others
(ln #choices for an even spread). The other-input control rolls the batch by one, so it reads
another example's patterns only when each example is one sequence of its batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from interp.scoring import item_id, read_logits, task_sequences
from interp.scoring.engine import _batches
from interp.tasks.base import Task


def choice_loss_items(model: Any, task: Task, *, batch_size: int = 16) -> pd.DataFrame:
    """Per example of a choice task: ``item`` and ``choice_loss``, the answer's loss over the
    choices only (nats; a choice's log-probability is the sum over its tokens).

    >>> import interp
    >>> model = interp.load_model("suite/pythia-s1")
    >>> rows = choice_loss_items(model, interp.get_task("knowledge_mc", n=4))
    >>> len(rows), bool((rows.choice_loss > 0).all())
    (4, True)
    """
    if task.scoring != "choice":
        raise ValueError(f"task {task.name!r} is scored by exact match: it has no choices to "
                         "restrict the loss to")
    sequences = task_sequences(model.tokenizer, task)
    logprob: dict[tuple[int, int], float] = {}
    pad = model.tokenizer.pad_token_id or model.tokenizer.eos_token_id or 0
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(sequences), batch_size):
            rows = sequences[start:start + batch_size]
            tokens = torch.full((len(rows), max(len(r.ids) for r in rows)), pad, dtype=torch.long)
            for row, seq in enumerate(rows):
                tokens[row, : len(seq.ids)] = torch.tensor(seq.ids)
            where = [(row, p) for row, seq in enumerate(rows) for p in seq.read_positions]
            read = read_logits(model, tokens.to(device), torch.tensor([r for r, _ in where]),
                               torch.tensor([p for _, p in where])).float().log_softmax(-1)
            at = {key: i for i, key in enumerate(where)}
            for row, seq in enumerate(rows):
                for c in seq.continuations:
                    lines = [at[(row, p)] for p in c.positions]
                    logprob[(c.example, c.choice)] = float(
                        read[lines, list(c.tokens)].sum().item())
    losses = []
    for i, example in enumerate(task.examples):
        scores = np.array([logprob[(i, c)] for c in range(len(example.choices))])
        answer = scores[list(example.choices).index(example.answer)]
        top = scores.max()
        losses.append(float(top + np.log(np.exp(scores - top).sum()) - answer))
    if not np.isfinite(losses).all():
        raise ValueError(f"task {task.name!r}: a choice-restricted loss is not finite")
    return pd.DataFrame(dict(item=[item_id(e) for e in task.examples], choice_loss=losses))


def other_input_neighbours(tokenizer: Any, task: Task, batch_size: int) -> dict[str, int]:
    """How the other-input control pairs sequences on ``task``: ``sequences``;
    ``same_example``, how many would borrow patterns from a sequence of their own example
    (the batch rolled by one, batches as the scoring engine forms them); ``same_tokens``, how
    many from a sequence with the very same tokens (no other input at all).

    >>> import interp
    >>> model = interp.load_model("suite/pythia-s1")
    >>> other_input_neighbours(model.tokenizer, interp.get_task("knowledge_mc", n=8), 4)
    {'sequences': 8, 'same_example': 0, 'same_tokens': 0}
    """
    sequences = task_sequences(tokenizer, task)
    owner = [seq.continuations[0].example for seq in sequences]
    same = same_tokens = 0
    for batch in _batches(sequences, batch_size):
        rolled = batch[-1:] + batch[:-1]  # what roll(1, dims=0) hands row i: row i - 1
        same += sum(owner[j] == owner[k] for j, k in zip(batch, rolled))
        same_tokens += sum(sequences[j].ids == sequences[k].ids for j, k in zip(batch, rolled))
    return dict(sequences=len(sequences), same_example=int(same), same_tokens=int(same_tokens))
