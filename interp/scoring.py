"""Accuracy and answer-token cross-entropy per task, under any hooks, as tidy rows.

Each (prompt, continuation) pair is one sequence: the prompt's tokens, then the
continuation's. Sequences are right-padded, so no real token ever sees a pad (attention is
causal) and no attention mask or position shift is needed on either family.
- choice tasks: the summed log-probability of each choice's tokens; the highest wins.
- exact tasks: teacher-forced greedy decoding: correct when the argmax at every answer
  position is the answer's token (what greedy generation of that many tokens would emit).
The loss is the mean cross-entropy over the correct answer's tokens.

A non-finite value is never scored: a NaN or infinite logit at an answer position (or a
non-finite loss) raises ``NonFiniteScoreError`` naming the model, the task and the example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch

from torch import Tensor
from tqdm.auto import tqdm

from interp.tasks import get_task
from interp.tasks.base import Example, Task
from interp.types import Logits, Tokens

FwdHooks = Sequence[tuple[Any, Callable]]
# A fixed hook list, or one made per batch from its tokens (e.g. a donor's patterns for them).
HookSpec = Union[FwdHooks, Callable[[Tokens], FwdHooks]]

COLUMNS = ["model", "task", "condition", "n", "accuracy", "loss"]


class NonFiniteScoreError(FloatingPointError):
    """A logit read for scoring (or the loss) is NaN or infinite: there is no score to report.

    Scoring NaN would report a chance-level accuracy (ties go to the first choice) as if it
    were a result; the usual causes are NaN weights or a hook that writes NaN.
    """


@dataclass(frozen=True)
class ScoredSequence:
    example: int
    choice: int  # index into the example's choices; 0 for exact tasks
    ids: tuple[int, ...]
    answer_start: int  # position of the first continuation token


@dataclass
class TaskScore:
    """Per-example results of one task: ``correct`` (bool) and ``loss`` (nats per answer token)."""

    task: str
    correct: np.ndarray
    loss: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def mean_loss(self) -> float:
        return float(self.loss.mean())


def encode_pair(tokenizer: Any, prompt: str, continuation: str) -> tuple[list[int], list[int]]:
    """Token ids of a prompt and of its continuation, as the model would see them joined.

    >>> import interp
    >>> model = interp.load_model("suite/pythia-s1")
    >>> prompt_ids, answer_ids = encode_pair(model.tokenizer, "2 + 3 =", " 5")
    >>> len(answer_ids), prompt_ids + answer_ids == model.tokenizer("2 + 3 = 5").input_ids
    (1, True)
    """
    prompt_ids = tokenizer(prompt).input_ids
    joined = tokenizer(prompt + continuation).input_ids
    if joined[: len(prompt_ids)] == prompt_ids and len(joined) > len(prompt_ids):
        return prompt_ids, joined[len(prompt_ids):]
    # A merge across the boundary: fall back to encoding the continuation on its own.
    answer_ids = tokenizer(continuation, add_special_tokens=False).input_ids
    if not answer_ids:
        raise ValueError(f"continuation {continuation!r} encodes to no tokens")
    return prompt_ids, answer_ids


def _sequences(tokenizer: Any, task: Task) -> list[ScoredSequence]:
    out = []
    for i, example in enumerate(task.examples):
        continuations = example.choices if task.scoring == "choice" else (example.answer,)
        for c, continuation in enumerate(continuations):
            prompt_ids, answer_ids = encode_pair(tokenizer, example.prompt, continuation)
            out.append(ScoredSequence(i, c, tuple(prompt_ids + answer_ids), len(prompt_ids)))
    return out


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


def forward_logits(model: Any, tokens: Tokens, fwd_hooks: HookSpec = ()) -> Logits:
    """Logits of a Bridge (under ``fwd_hooks``) or of a plain HF causal LM.

    >>> import interp, hooks
    >>> model = interp.load_model("suite/pythia-s1")
    >>> tokens = model.to_tokens("2 + 3 =")
    >>> forward_logits(model, tokens).shape  # [batch, pos, d_vocab]
    torch.Size([1, 4, 801])
    >>> uniform = [("blocks.0.attn.hook_pattern", hooks.uniform_pattern())]
    >>> bool((forward_logits(model, tokens, uniform) != forward_logits(model, tokens)).any())
    True
    """
    hooks = fwd_hooks(tokens) if callable(fwd_hooks) else fwd_hooks
    if hooks:
        if not hasattr(model, "run_with_hooks"):
            raise TypeError("fwd_hooks need a TransformerBridge (interp.load_model returns one)")
        out = model.run_with_hooks(tokens, fwd_hooks=list(hooks))
    else:
        out = model(tokens)
    return out.logits if hasattr(out, "logits") else out


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

    >>> import interp
    >>> model = interp.load_model("suite/pythia-s1")
    >>> s = score_task(model, interp.tasks.get_task("arithmetic_add", n=8))
    >>> s.correct.shape, s.loss.shape, 0.0 <= s.accuracy <= 1.0, round(s.mean_loss, 1)
    ((8,), (8,), True, 2.4)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tokenizer = tokenizer or model.tokenizer
    sequences = _sequences(tokenizer, task)
    # Length-sorted batches waste little padding; results are put back in example order.
    order = sorted(range(len(sequences)), key=lambda j: len(sequences[j].ids))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        # No batch of one: controls that borrow another example's activations need two.
        last = batches.pop()
        batches[-1] = batches[-1] + last
    answer_logprob = np.zeros(len(sequences))
    answer_hits = np.zeros(len(sequences), dtype=bool)
    answer_len = np.array([len(s.ids) - s.answer_start for s in sequences])
    device, pad = _device_of(model), _pad_id(tokenizer)
    show = progress if progress is not None else len(batches) >= 20
    with torch.no_grad():
        for index, batch in enumerate(tqdm(batches, desc=task.name, disable=not show, leave=False)):
            width = max(len(sequences[j].ids) for j in batch)
            tokens = torch.full((len(batch), width), pad, dtype=torch.long)
            for row, j in enumerate(batch):
                tokens[row, : len(sequences[j].ids)] = torch.tensor(sequences[j].ids)
            logits = forward_logits(model, tokens.to(device), fwd_hooks)
            finite = []  # per row: are all the logits read for scoring finite?
            for row, j in enumerate(batch):
                seq = sequences[j]
                # Logits at position t predict token t + 1.
                span = logits[row, seq.answer_start - 1 : len(seq.ids) - 1].float()
                finite.append(torch.isfinite(span).all())
                targets = torch.tensor(seq.ids[seq.answer_start :], device=span.device)
                logprobs = span.log_softmax(-1)
                answer_logprob[j] = logprobs.gather(-1, targets[:, None]).sum().item()
                answer_hits[j] = bool((span.argmax(-1) == targets).all())
            # One check per batch, on the answer positions only.
            if not bool(torch.stack(finite).all()):
                row = next(r for r, ok in enumerate(finite) if not bool(ok))
                seq = sequences[batch[row]]
                span = logits[row, seq.answer_start - 1 : len(seq.ids) - 1]
                raise _non_finite(model, task, seq, f"{_describe(span)} among its answer logits",
                                  batch=index)
    score = _collect(task, sequences, answer_logprob, answer_hits, answer_len)
    bad = np.flatnonzero(~np.isfinite(score.loss))
    if bad.size:
        example = int(bad[0])
        raise NonFiniteScoreError(
            f"{model_name(model)} on task {task.name!r}, example {example}: the answer loss is "
            f"{score.loss[example]} although its logits are finite (a log-probability underflowed); "
            "there is no score to report"
        )
    return score


def _describe(values: Tensor) -> str:
    nan = int(torch.isnan(values).sum())
    inf = int(torch.isinf(values).sum())
    return ", ".join(part for part in (f"{nan} NaN" if nan else "", f"{inf} inf" if inf else "")
                     if part) or "non-finite values"


def _non_finite(model: Any, task: Task, seq: ScoredSequence, what: str, *, batch: int):
    choice = f" (choice {seq.choice})" if task.scoring == "choice" else ""
    return NonFiniteScoreError(
        f"{model_name(model)} on task {task.name!r}, example {seq.example}{choice}, batch {batch}: "
        f"{what}, so there is no score to report (a chance-level accuracy would be a fake one). "
        "Check the weights (interp.load_model rejects NaN weights unless check_finite=False) "
        "and any fwd_hooks for an edit that writes NaN or inf"
    )


def _collect(task: Task, sequences, logprob, hits, lengths) -> TaskScore:
    n = len(task.examples)
    correct = np.zeros(n, dtype=bool)
    loss = np.zeros(n)
    if task.scoring == "exact":
        for j, seq in enumerate(sequences):
            correct[seq.example] = hits[j]
            loss[seq.example] = -logprob[j] / lengths[j]
        return TaskScore(task.name, correct, loss)
    best = np.full(n, -np.inf)
    chosen = np.zeros(n, dtype=int)
    for j, seq in enumerate(sequences):
        example: Example = task.examples[seq.example]
        if logprob[j] > best[seq.example]:
            best[seq.example], chosen[seq.example] = logprob[j], seq.choice
        if example.choices[seq.choice] == example.answer:
            loss[seq.example] = -logprob[j] / lengths[j]
    for i, example in enumerate(task.examples):
        correct[i] = example.choices[chosen[i]] == example.answer
    return TaskScore(task.name, correct, loss)


def _as_tasks(tasks: Union[Task, str, Iterable[Union[Task, str]]]) -> list[Task]:

    if isinstance(tasks, (Task, str)):
        tasks = [tasks]
    resolved = [get_task(t) if isinstance(t, str) else t for t in tasks]
    if not resolved:
        raise ValueError("no tasks to evaluate: pass at least one Task or task name")
    return resolved


def model_name(model: Any) -> str:
    """The name a model was loaded under (``interp.load_model`` records it)."""
    source = getattr(model, "interp_source", None)
    if source is not None:
        return source.name
    return getattr(getattr(model, "cfg", None), "model_name", None) or type(model).__name__


def hooks_label(fwd_hooks: HookSpec) -> str:
    """The condition ``evaluate`` writes for hooked rows when none is given.

    >>> hooks_label([("blocks.0.attn.hook_pattern", None), ("blocks.1.attn.hook_pattern", None)])
    'hooks: blocks.0.attn.hook_pattern, blocks.1.attn.hook_pattern'
    >>> def donor_patterns(tokens): ...
    >>> hooks_label(donor_patterns)
    'hooks: donor_patterns'
    >>> hooks_label(())
    'base'
    """
    if callable(fwd_hooks):
        return f"hooks: {_callable_name(fwd_hooks)}"
    if not fwd_hooks:
        return "base"
    names = [point if isinstance(point, str) else _callable_name(point) for point, _ in fwd_hooks]
    return "hooks: " + ", ".join(names)


def _callable_name(fn: Any) -> str:
    fn = getattr(fn, "func", fn)  # functools.partial
    return getattr(fn, "__name__", None) or type(fn).__name__


def evaluate(
    model: Any,
    tasks: Union[Task, str, Iterable[Union[Task, str]]],
    *,
    fwd_hooks: HookSpec = (),
    condition: Optional[str] = None,
    batch_size: int = 16,
    name: Optional[str] = None,
    progress: Optional[bool] = None,
) -> pd.DataFrame:
    """Tidy rows (model, task, condition, n, accuracy, loss), one per task.

    ``fwd_hooks`` is a TransformerLens hook list, or a function of each batch's tokens that
    returns one (for hooks that depend on the input, such as a donor's patterns).

    ``condition`` labels the rows; an explicit one always wins. Left unset, it is ``"base"``
    without hooks, and names the hooks with them, so hooked rows are never mistaken for base
    ones: ``"hooks: blocks.0.attn.hook_pattern, blocks.1.attn.hook_pattern"`` for a hook list,
    ``"hooks: <function name>"`` for a function of the batch (see ``hooks_label``).

    Raises ``NonFiniteScoreError`` (naming the model, task and example) when a logit read for
    scoring, or the loss, is NaN or infinite.

    >>> import interp, hooks
    >>> model = interp.load_model("suite/pythia-s1")
    >>> tasks = [interp.get_task("arithmetic_add", n=4), interp.get_task("knowledge_mc", n=4)]
    >>> rows = interp.evaluate(model, tasks,
    ...                        fwd_hooks=[("blocks.0.attn.hook_pattern", hooks.uniform_pattern())],
    ...                        condition="uniform-L0")
    >>> rows[["model", "task", "condition", "n"]]  # doctest: +NORMALIZE_WHITESPACE
                 model            task   condition  n
    0  suite/pythia-s1  arithmetic_add  uniform-L0  4
    1  suite/pythia-s1    knowledge_mc  uniform-L0  4
    >>> list(rows.columns) == COLUMNS
    True
    """
    label = name or model_name(model)
    if condition is None:
        condition = hooks_label(fwd_hooks)
    rows = []
    for task in _as_tasks(tasks):
        score = score_task(
            model, task, fwd_hooks=fwd_hooks, batch_size=batch_size, progress=progress
        )
        rows.append(
            dict(
                model=label,
                task=task.name,
                condition=condition,
                n=len(score.correct),
                accuracy=score.accuracy,
                loss=score.mean_loss,
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)
