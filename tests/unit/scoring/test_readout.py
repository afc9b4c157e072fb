"""Logits only where read, one forward per prompt for single-token choices: same answers and
losses as full per-choice forwards, on both families, plain, under hooks and in engines."""

from __future__ import annotations

import pytest
import torch

import hooks
import interp
from interp.attention import torch_hooks
from interp.interventions import PatternSwap
from interp.scoring import encode_pair, output_projection, read_logits, score_task, task_sequences
from interp.tasks.base import Example, Task

LETTERS = (" w30", " w31", " w32", " w33")


def letter_task() -> Task:
    prompts = [f"w{i} w{(3 * i) % 17} w{(5 * i) % 13}" for i in range(10)]
    return Task("toy-letters", "toy", "choice",
                tuple(Example(p, LETTERS[i % 4], LETTERS) for i, p in enumerate(prompts)))


def full_logprob(model, prompt, continuation, fwd_hooks=()):
    """The reference: prompt + choice as one sequence, full logits, read by hand."""
    prompt_ids, answer_ids = encode_pair(model.tokenizer, prompt, continuation)
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        out = model.run_with_hooks(ids, fwd_hooks=list(fwd_hooks)) if fwd_hooks else model(ids)
    logprobs = out[0].log_softmax(-1)
    return sum(logprobs[len(prompt_ids) - 1 + i, t].item() for i, t in enumerate(answer_ids))


def logit_shapes(model):
    """Every output shape the model's output projection produces inside the block."""
    shapes = []
    return shapes, torch_hooks([(output_projection(model), "forward",
                                 lambda m, i, o: shapes.append(tuple(o.shape)))])


@pytest.mark.parametrize("hooked", [False, True])
def test_single_token_choices_read_once_and_agree_with_full_forwards(bridges, family, hooked):
    model, task = bridges[family], letter_task()
    fwd_hooks = [("blocks.0.attn.hook_pattern", hooks.uniform_pattern())] if hooked else []
    sequences = task_sequences(model.tokenizer, task)
    assert len(sequences) == len(task.examples)  # one forward row per prompt, not per choice
    shapes, watch = logit_shapes(model)
    with watch:
        score = score_task(model, task, fwd_hooks=fwd_hooks, batch_size=4)
    # Batches of 4, 4 and 2 prompts, one read each: logits [1, reads, vocab], never [batch, pos, vocab].
    assert [s[:2] for s in shapes] == [(1, 4), (1, 4), (1, 2)]
    for i, example in enumerate(task.examples):
        reference = [full_logprob(model, example.prompt, c, fwd_hooks) for c in LETTERS]
        best = max(range(4), key=reference.__getitem__)
        assert score.chosen[i] == LETTERS[best]
        assert score.loss[i] == pytest.approx(-reference[LETTERS.index(example.answer)], abs=1e-4)


def test_multi_token_choices_run_one_sequence_each_and_read_only_their_positions(bridges):
    model = bridges["opt"]
    task = Task("toy-multi", "toy", "choice",
                (Example("w1 w2", " w3 w4", (" w3 w4", " w5")), Example("w6", " w7", (" w7", " w8 w9"))))
    sequences = task_sequences(model.tokenizer, task)
    assert len(sequences) == 4
    assert [s.read_positions for s in sequences] == [(1, 2), (1,), (0,), (0, 1)]


@pytest.mark.parametrize("name", ["pythia", "opt"])
def test_engine_reads_are_gathered_and_exact(name):
    recipient = interp.load_model(f"suite/{name}-s2", self_test=False)
    engine = PatternSwap(recipient, interp.load_model(f"suite/{name}-s2@step2000", self_test=False))
    tokens = recipient.to_tokens(["2 + 3 = 5 and 7", "4 + 4 ="])
    rows, positions = torch.tensor([0, 0, 1]), torch.tensor([2, 6, 3])
    shapes, watch = logit_shapes(engine)
    with watch:
        read = read_logits(engine, tokens, rows, positions)
    assert shapes == [(1, 3, read.shape[-1])]
    full = engine(tokens)[rows, positions]
    assert torch.allclose(read, full, atol=1e-5)


def test_a_hook_on_the_logits_sees_every_position(bridges):
    model = bridges["neox"]
    seen = []
    tokens = model.to_tokens(["w1 w2 w3", "w4 w5 w6"])
    read = read_logits(model, tokens, torch.tensor([1]), torch.tensor([2]),
                       [("unembed.hook_out", lambda t, hook: seen.append(t.shape) or t)])
    assert seen and seen[0][:2] == tokens.shape  # not gathered: the hook asked for all logits
    assert torch.allclose(read[0], model(tokens)[1, 2], atol=1e-5)


def test_hooks_attached_to_the_bridge_are_honoured(bridges, family):
    # add_hook puts a hook on the Bridge itself, not in fwd_hooks: scoring must not take the
    # plain-HF shortcut around it, or the hook would silently do nothing.
    model, task = bridges[family], letter_task()
    plain = score_task(model, task, batch_size=4)
    fwd = score_task(model, task, batch_size=4,
                     fwd_hooks=[("blocks.0.attn.hook_pattern", hooks.uniform_pattern())])
    model.add_hook("blocks.0.attn.hook_pattern", hooks.uniform_pattern())
    try:
        attached = score_task(model, task, batch_size=4)
    finally:
        model.reset_hooks()
    assert (attached.loss != plain.loss).any()
    assert attached.loss == pytest.approx(fwd.loss, abs=1e-5)
    assert score_task(model, task, batch_size=4).loss == pytest.approx(plain.loss, abs=1e-6)
