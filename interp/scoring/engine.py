"""The scoring engine: per-example correctness and answer-token cross-entropy, under any hooks.

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

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch

from torch import Tensor
from tqdm.auto import tqdm

from interp.tasks.base import Example, Task
from interp.types import Logits, Tokens

FwdHooks = Sequence[tuple[Any, Callable]]
# A fixed hook list, or one made per batch from its tokens (e.g. a donor's patterns for them).
HookSpec = Union[FwdHooks, Callable[[Tokens], FwdHooks]]


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
    greedy: list[list[int]] = [[] for _ in sequences]  # argmax ids at the answer positions
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
                predicted = span.argmax(-1)
                answer_hits[j] = bool((predicted == targets).all())
                greedy[j] = predicted.tolist()
            # One check per batch, on the answer positions only.
            if not bool(torch.stack(finite).all()):
                row = next(r for r, ok in enumerate(finite) if not bool(ok))
                seq = sequences[batch[row]]
                span = logits[row, seq.answer_start - 1 : len(seq.ids) - 1]
                raise _non_finite(model, task, seq, f"{_describe(span)} among its answer logits",
                                  batch=index)
    score = _collect(task, sequences, answer_logprob, answer_hits, answer_len)
    if task.scoring == "exact":
        # A hit reproduces the answer's own tokens, so it is reported as the answer's text; a
        # miss is decoded (a word-level tokenizer decodes " 58" as "5 8").
        by_example = {seq.example: greedy[j] for j, seq in enumerate(sequences)}
        score.chosen = tuple(example.answer if score.correct[i] else tokenizer.decode(by_example[i])
                             for i, example in enumerate(task.examples))
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
    items = _unique_ids([item_id(example) for example in task.examples])
    correct = np.zeros(n, dtype=bool)
    loss = np.zeros(n)
    if task.scoring == "exact":
        for j, seq in enumerate(sequences):
            correct[seq.example] = hits[j]
            loss[seq.example] = -logprob[j] / lengths[j]
        return TaskScore(task.name, correct, loss, items)
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
