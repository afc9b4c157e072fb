"""The scoring engine: per-example correctness and answer-token cross-entropy, under any hooks.

What is run and read is decided in ``interp.scoring.requests`` (one forward per prompt when
the choices are single tokens, else one sequence per choice) and computed in
``interp.scoring.readout`` (logits only at the positions read). Sequences are right-padded,
so no real token ever sees a pad (attention is causal) and no attention mask or position
shift is needed on either family.
- choice tasks: the summed log-probability of each choice's tokens; the highest wins.
- exact tasks: teacher-forced greedy decoding: correct when the argmax at every answer
  position is the answer's token (what greedy generation of that many tokens would emit).
The loss is the mean cross-entropy over the correct answer's tokens.

A non-finite value is never scored: a NaN or infinite logit at an answer position (or a
non-finite loss) raises ``NonFiniteScoreError`` naming the model, the task and the example.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from torch import Tensor
from tqdm.auto import tqdm

from interp.scoring.readout import HookSpec, read_logits
from interp.scoring.requests import Continuation, ScoredSequence, task_sequences
from interp.tasks.base import Example, Task



class NonFiniteScoreError(FloatingPointError):
    """A logit read for scoring (or the loss) is NaN or infinite: there is no score to report.

    Scoring NaN would report a chance-level accuracy (ties go to the first choice) as if it
    were a result; the usual causes are NaN weights or a hook that writes NaN.
    """


@dataclass
class TaskScore:
    """Per-example results of one task, in example order: ``items`` (each example's
    ``item_id``), ``chosen`` (the winning choice, or the greedy continuation of an exact
    task), ``correct`` (bool) and ``loss`` (nats per answer token)."""

    task: str
    correct: np.ndarray
    loss: np.ndarray
    items: tuple[str, ...] = ()
    chosen: tuple[str, ...] = ()

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def mean_loss(self) -> float:
        return float(self.loss.mean())


def item_id(example: Example) -> str:
    """A stable id of ``example`` from its content (prompt, answer and choices): the same
    example gets the same id in every run and condition, so scores can be paired by it.

    >>> item_id(Example("2 + 3 =", " 5")) == item_id(Example("2 + 3 =", " 5"))
    True
    >>> item_id(Example("2 + 3 =", " 5")) == item_id(Example("2 + 4 =", " 6"))
    False
    """
    text = "\x1f".join([example.prompt, example.answer, *(example.choices or ())])
    return hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


def score_task(
    model: Any,
    task: Task,
    *,
    fwd_hooks: HookSpec = (),
    batch_size: int = 16,
    tokenizer: Any = None,
    progress: Optional[bool] = None,
) -> TaskScore:
    """Score one task: per-example correctness and answer-token loss.

    ``batch_size`` counts sequences per forward (``interp.scoring.requests``: one per
    example for single-token choices, else one per choice).

    >>> import interp
    >>> model = interp.load_model("suite/pythia-s1")
    >>> s = score_task(model, interp.tasks.get_task("arithmetic_add", n=8))
    >>> s.correct.shape, s.loss.shape, 0.0 <= s.accuracy <= 1.0, round(s.mean_loss, 1)
    ((8,), (8,), True, 2.4)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tokenizer = tokenizer or model.tokenizer
    sequences = task_sequences(tokenizer, task)
    _check_context(model, task, sequences)
    continuations = [c for seq in sequences for c in seq.continuations]
    index = {id(c): k for k, c in enumerate(continuations)}
    logprob = np.zeros(len(continuations))
    greedy: list[list[int]] = [[] for _ in continuations]  # argmax ids at the answer positions
    device, pad = _device_of(model), _pad_id(tokenizer)
    batches = _batches(sequences, batch_size)
    show = progress if progress is not None else len(batches) >= 20
    with torch.no_grad():
        for number, batch in enumerate(tqdm(batches, desc=task.name, disable=not show, leave=False)):
            rows = [sequences[j] for j in batch]
            tokens = torch.full((len(rows), max(len(r.ids) for r in rows)), pad, dtype=torch.long)
            for row, seq in enumerate(rows):
                tokens[row, : len(seq.ids)] = torch.tensor(seq.ids)
            where = [(row, p) for row, seq in enumerate(rows) for p in seq.read_positions]
            read = read_logits(model, tokens.to(device), torch.tensor([r for r, _ in where]),
                               torch.tensor([p for _, p in where]), fwd_hooks).float()
            _check_finite(read, where, rows, model, task, number)
            logprobs = read.log_softmax(-1)
            at = {key: i for i, key in enumerate(where)}
            for row, seq in enumerate(rows):
                for c in seq.continuations:
                    lines = torch.tensor([at[(row, p)] for p in c.positions])
                    targets = torch.tensor(c.tokens, device=read.device)
                    k = index[id(c)]
                    logprob[k] = logprobs[lines.to(read.device), targets].sum().item()
                    greedy[k] = read[lines.to(read.device)].argmax(-1).tolist()
    score = _collect(task, continuations, logprob, greedy)
    if task.scoring == "exact":
        # A hit reproduces the answer's own tokens, so it is reported as the answer's text; a
        # miss is decoded (a word-level tokenizer decodes " 58" as "5 8").
        score.chosen = tuple(example.answer if score.correct[c.example]
                             else tokenizer.decode(greedy[k])
                             for k, (c, example) in enumerate(zip(continuations, task.examples)))
    bad = np.flatnonzero(~np.isfinite(score.loss))
    if bad.size:
        example = int(bad[0])
        raise NonFiniteScoreError(
            f"{model_name(model)} on task {task.name!r}, example {example}: the answer loss is "
            f"{score.loss[example]} although its logits are finite (a log-probability underflowed); "
            "there is no score to report"
        )
    return score


def _check_context(model: Any, task: Task, sequences: list[ScoredSequence]) -> None:
    # A position past the model's context would index past its position embeddings (an
    # IndexError deep in torch) or silently extrapolate rotary: refuse it by name instead.
    limit = context_length(model)
    longest = max(sequences, key=lambda s: len(s.ids))
    if limit is not None and len(longest.ids) > limit:
        raise ValueError(
            f"task {task.name!r}, example {longest.continuations[0].example}: {len(longest.ids)} "
            f"tokens, more than {model_name(model)}'s context of {limit}; shorten the prompts "
            "(fewer shots, e.g. --mmlu-shots) or use a model with a longer context")


def context_length(model: Any) -> Optional[int]:
    """The most positions ``model`` takes (None when it does not say).

    >>> import interp
    >>> context_length(interp.load_model("suite/pythia-s1")) > 0
    True
    """
    for holder in (model, getattr(model, "recipient_model", None),
                   getattr(model, "original_model", None)):
        config = getattr(holder, "config", None)
        limit = getattr(config, "max_position_embeddings", None)
        if isinstance(limit, int):
            return limit
    n_ctx = getattr(getattr(model, "cfg", None), "n_ctx", None)
    return n_ctx if isinstance(n_ctx, int) else None


def _batches(sequences: list[ScoredSequence], batch_size: int) -> list[list[int]]:
    # Length-sorted batches waste little padding; results are put back in example order.
    order = sorted(range(len(sequences)), key=lambda j: len(sequences[j].ids))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        # No batch of one: controls that borrow another example's activations need two.
        last = batches.pop()
        batches[-1] = batches[-1] + last
    return batches


def _check_finite(read: Tensor, where: list, rows: list[ScoredSequence], model: Any, task: Task,
                  number: int) -> None:
    # One check per batch, on the logits read only.
    finite = torch.isfinite(read).all(-1)
    if bool(finite.all()):
        return
    first = int((~finite).nonzero()[0, 0])
    row = where[first][0]
    bad = read[[i for i, (r, _) in enumerate(where) if r == row]]
    raise _non_finite(model, task, rows[row], f"{_describe(bad)} among its answer logits",
                      batch=number)


def _describe(values: Tensor) -> str:
    nan = int(torch.isnan(values).sum())
    inf = int(torch.isinf(values).sum())
    return ", ".join(part for part in (f"{nan} NaN" if nan else "", f"{inf} inf" if inf else "")
                     if part) or "non-finite values"


def _non_finite(model: Any, task: Task, seq: ScoredSequence, what: str, *, batch: int):
    first = seq.continuations[0]
    shared = len(seq.continuations) > 1  # one forward read for every choice
    choice = f" (choice {first.choice})" if task.scoring == "choice" and not shared else ""
    return NonFiniteScoreError(
        f"{model_name(model)} on task {task.name!r}, example {first.example}{choice}, batch {batch}: "
        f"{what}, so there is no score to report (a chance-level accuracy would be a fake one). "
        "Check the weights (interp.load_model rejects NaN weights unless check_finite=False) "
        "and any fwd_hooks for an edit that writes NaN or inf"
    )


def _collect(task: Task, continuations: list[Continuation], logprob: np.ndarray,
             greedy: list[list[int]]) -> TaskScore:
    n = len(task.examples)
    items = _unique_ids([item_id(example) for example in task.examples])
    correct = np.zeros(n, dtype=bool)
    loss = np.zeros(n)
    if task.scoring == "exact":
        for k, c in enumerate(continuations):
            correct[c.example] = greedy[k] == list(c.tokens)
            loss[c.example] = -logprob[k] / len(c.tokens)
        return TaskScore(task.name, correct, loss, items)
    best = np.full(n, -np.inf)
    chosen = np.zeros(n, dtype=int)
    for k, c in enumerate(continuations):  # in choice order: a tie goes to the first choice
        example: Example = task.examples[c.example]
        if logprob[k] > best[c.example]:
            best[c.example], chosen[c.example] = logprob[k], c.choice
        if example.choices[c.choice] == example.answer:
            loss[c.example] = -logprob[k] / len(c.tokens)
    for i, example in enumerate(task.examples):
        correct[i] = example.choices[chosen[i]] == example.answer
    picked = tuple(example.choices[chosen[i]] for i, example in enumerate(task.examples))
    return TaskScore(task.name, correct, loss, items, picked)


def _unique_ids(ids: list[str]) -> tuple[str, ...]:
    # A task drawn with replacement may repeat an example: its k-th repeat is "<id>#k", so
    # ids stay unique and pair up between two runs of the same task.
    seen: dict[str, int] = {}
    out = []
    for base in ids:
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.append(base if count == 0 else f"{base}#{count}")
    return tuple(out)


def model_name(model: Any) -> str:
    """The name a model was loaded under (``interp.load_model`` records it)."""
    source = getattr(model, "interp_source", None)
    if source is not None:
        return source.name
    return getattr(getattr(model, "cfg", None), "model_name", None) or type(model).__name__
