"""What a task asks the model: token sequences, and which logits of each are read.

A ``Continuation`` is one scored string of one example (a choice, or an exact task's
answer): its tokens and the positions whose logits predict them. A ``ScoredSequence`` is one
row of a forward: its token ids and the continuations read from it.

- A choice task whose choices are each one token after the same prompt tokens (MMLU-style
  letters, yes/no) runs as ONE sequence per example, the prompt alone: every choice is read
  from the logits at the prompt's last position (what lm-eval-harness does for a shared
  context). Causal attention makes this exact: those logits depend on the prompt only.
- Any other choice task runs one sequence per choice (prompt + choice), read at the choice's
  positions only. Multi-token choices do not share the prompt's forward here: that would
  need a key/value cache under every hook and engine.
- An exact task runs one sequence per example (prompt + answer), read at the answer's
  positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from interp.tasks.base import Task


@dataclass(frozen=True)
class Continuation:
    """One scored string: ``tokens`` predicted by the logits at ``positions`` (one each)."""

    example: int
    choice: int  # index into the example's choices; 0 for exact tasks
    tokens: tuple[int, ...]
    positions: tuple[int, ...]


@dataclass(frozen=True)
class ScoredSequence:
    """One row of a forward: token ``ids`` and the continuations read from its logits."""

    ids: tuple[int, ...]
    continuations: tuple[Continuation, ...]

    @property
    def read_positions(self) -> tuple[int, ...]:
        """Every position whose logits are read, once each, in order."""
        return tuple(sorted({p for c in self.continuations for p in c.positions}))


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


def task_sequences(tokenizer: Any, task: Task) -> list[ScoredSequence]:
    """The sequences that score ``task``: one per example where its choices are single
    tokens after a shared prompt, else one per choice (see the module docstring).

    >>> import interp
    >>> model = interp.load_model("suite/pythia-s1")
    >>> mc = task_sequences(model.tokenizer, interp.get_task("knowledge_mc", n=3))
    >>> len(mc), [len(s.continuations) for s in mc], [len(s.read_positions) for s in mc]
    (3, [4, 4, 4], [1, 1, 1])
    """
    out = []
    for i, example in enumerate(task.examples):
        strings = example.choices if task.scoring == "choice" else (example.answer,)
        encoded = [encode_pair(tokenizer, example.prompt, s) for s in strings]
        prompts = {tuple(p) for p, _ in encoded}
        if task.scoring == "choice" and len(prompts) == 1 and all(len(a) == 1 for _, a in encoded):
            prompt = encoded[0][0]
            read = (len(prompt) - 1,)
            continuations = tuple(Continuation(i, c, tuple(a), read)
                                  for c, (_, a) in enumerate(encoded))
            out.append(ScoredSequence(tuple(prompt), continuations))
            continue
        for c, (prompt, answer) in enumerate(encoded):
            positions = tuple(range(len(prompt) - 1, len(prompt) + len(answer) - 1))
            out.append(ScoredSequence(tuple(prompt + answer),
                                      (Continuation(i, c, tuple(answer), positions),)))
    return out
