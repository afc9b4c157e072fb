"""Scoring agrees with a direct, unbatched computation, under hooks too."""

from __future__ import annotations

import pytest
import torch

import interp
from interp.scoring import encode_pair, score_task
from interp.tasks.base import Example, Task

PROMPTS = ["w1 w2 w3", "w4 w5", "w6 w7 w8 w9 w10 w11", "w12", "w13 w14 w15 w16"]
CHOICES = (" w20", " w21", " w22 w23")


def choice_task() -> Task:
    return Task("toy-choice", "toy", "choice",
                tuple(Example(p, CHOICES[i % 3], CHOICES) for i, p in enumerate(PROMPTS)))


def direct_logprob(model, prompt, continuation):
    prompt_ids, answer_ids = encode_pair(model.tokenizer, prompt, continuation)
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        logprobs = model(ids)[0].log_softmax(-1)
    return sum(logprobs[len(prompt_ids) - 1 + i, t].item() for i, t in enumerate(answer_ids))


def greedy(model, prompt, n):
    ids = model.tokenizer(prompt).input_ids
    with torch.no_grad():
        for _ in range(n):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return ids[-n:]


def test_choice_scoring_matches_direct_computation(bridges, family):
    model = bridges[family]
    task = choice_task()
    score = score_task(model, task, batch_size=2)
    for i, ex in enumerate(task.examples):
        logprobs = [direct_logprob(model, ex.prompt, c) for c in ex.choices]
        n_answer = len(encode_pair(model.tokenizer, ex.prompt, ex.answer)[1])
        assert score.loss[i] == pytest.approx(-logprobs[ex.choices.index(ex.answer)] / n_answer, abs=1e-4)
        assert score.correct[i] == (ex.choices[max(range(3), key=logprobs.__getitem__)] == ex.answer)


def test_exact_scoring_is_greedy_decoding(bridges, family):
    model = bridges[family]
    tok = model.tokenizer
    examples = []
    for i in range(40):
        prompt = f"w{i} w{(7 * i) % 40}"
        ids = greedy(model, prompt, 2)
        right = " " + " ".join(tok.convert_ids_to_tokens(ids))
        if encode_pair(tok, prompt, right)[1] != ids:
            continue  # a special token does not round-trip through text
        wrong = " " + " ".join(tok.convert_ids_to_tokens([ids[0], tok.convert_tokens_to_ids("w39")
                                                          if ids[1] != tok.convert_tokens_to_ids("w39")
                                                          else tok.convert_tokens_to_ids("w38")]))
        examples += [Example(prompt, right), Example(prompt, wrong)]
    assert len(examples) >= 6, "too few greedy continuations round-trip through text to test with"
    score = score_task(model, Task("toy-exact", "toy", "exact", tuple(examples)), batch_size=3)
    assert score.correct.tolist() == [True, False] * (len(examples) // 2)


def test_batch_size_does_not_change_results(bridges):
    model = bridges["opt"]
    one = score_task(model, choice_task(), batch_size=1)
    many = score_task(model, choice_task(), batch_size=4)
    assert (one.correct == many.correct).all()
    assert one.loss == pytest.approx(many.loss, abs=1e-5)


def test_rows_are_tidy_and_hooks_apply(bridges):
    model = bridges["neox"]

    def uniform(t, hook):
        tri = torch.tril(torch.ones_like(t))
        return tri / tri.sum(-1, keepdim=True)

    names = [f"blocks.{i}.attn.hook_pattern" for i in range(2)]
    base = interp.evaluate(model, [choice_task()], condition="base")
    hooked = interp.evaluate(model, [choice_task()], fwd_hooks=[(n, uniform) for n in names], condition="uniform")
    per_batch = interp.evaluate(
        model, [choice_task()], fwd_hooks=lambda tokens: [(n, uniform) for n in names], condition="uniform"
    )
    assert list(base.columns) == ["model", "task", "condition", "n", "accuracy", "loss"]
    assert base.loc[0, "n"] == len(PROMPTS) and hooked.loc[0, "condition"] == "uniform"
    assert base.loc[0, "loss"] != pytest.approx(hooked.loc[0, "loss"], abs=1e-4)
    assert per_batch.loc[0, "loss"] == pytest.approx(hooked.loc[0, "loss"], abs=1e-6)


def test_bad_input_is_named(bridges):
    with pytest.raises(ValueError, match="no tasks"):
        interp.evaluate(bridges["opt"], [])
    with pytest.raises(ValueError, match="no examples"):
        Task("empty", "toy", "exact", ())
    with pytest.raises(ValueError, match="not among choices"):
        Example("w1", " w2", (" w3", " w4"))
    with pytest.raises(ValueError, match="batch_size"):
        score_task(bridges["opt"], choice_task(), batch_size=0)


# --- Non-finite values are never scored; hooked rows are labelled by their hooks. ---------

from interp.scoring import NonFiniteScoreError, hooks_label  # noqa: E402
from interp.tasks import get_task  # noqa: E402


def test_nan_weights_raise_instead_of_a_chance_score():
    """A NaN weight used to give knowledge_mc accuracy 0.25 with loss NaN."""
    model = interp.load_hf_model("suite/pythia-s1")
    with torch.no_grad():
        model.gpt_neox.final_layer_norm.weight[0] = float("nan")
    with pytest.raises(NonFiniteScoreError, match=r"suite/pythia-s1 on task 'knowledge_mc', "
                                                  r"example \d+, batch 0: \d+ NaN"):  # one read, all choices
        interp.evaluate(model, ["knowledge_mc"])
    assert issubclass(NonFiniteScoreError, FloatingPointError)


class _Poisoned(torch.nn.Module):
    """The HF model, with one logit set to ``value`` at a position chosen per row."""

    def __init__(self, inner, position, value=float("nan"), only_ids=None):
        super().__init__()
        self.inner, self.tokenizer = inner, inner.tokenizer
        self.interp_source = inner.interp_source
        self.position, self.value, self.only_ids = position, value, only_ids

    def forward(self, tokens):
        logits = self.inner(tokens).logits.clone()
        for row in range(tokens.shape[0]):
            ids = tokens[row].tolist()
            if self.only_ids is None or ids[: len(self.only_ids)] == list(self.only_ids):
                logits[row, self.position(ids), 5] = self.value
        return logits


def test_the_error_names_the_example_and_only_answer_logits_are_read():
    model = interp.load_hf_model("suite/pythia-s1")
    task = get_task("arithmetic_add", n=12, seed=3)
    # The same wrapper with nothing poisoned (no row starts with id -1): the same full-logits
    # path as the poisoned runs, so scores can be compared bit for bit.
    base = score_task(_Poisoned(model, lambda ids: 0, only_ids=(-1,)), task, batch_size=4)
    # A NaN at the first (prompt) position is never read: scores stay identical.
    prompt_nan = score_task(_Poisoned(model, lambda ids: 0), task, batch_size=4)
    assert (prompt_nan.correct == base.correct).all() and (prompt_nan.loss == base.loss).all()
    # An inf at example 7's first answer position is read: the error names example 7.
    ex = task.examples[7]
    prompt_ids, _ = encode_pair(model.tokenizer, ex.prompt, ex.answer)
    poisoned = _Poisoned(model, lambda ids: len(prompt_ids) - 1, float("inf"), prompt_ids)
    assert sum(e.prompt == ex.prompt for e in task.examples) == 1
    with pytest.raises(NonFiniteScoreError, match=r"'arithmetic_add', example 7, batch \d+: 1 inf"):
        score_task(poisoned, task, batch_size=4)


def test_hooked_rows_are_labelled_by_their_hooks(bridges):
    model = bridges["neox"]

    def uniform(t, hook):
        tri = torch.tril(torch.ones_like(t))
        return tri / tri.sum(-1, keepdim=True)

    names = [f"blocks.{i}.attn.hook_pattern" for i in range(2)]
    hooks = [(n, uniform) for n in names]

    def per_batch(tokens):
        return hooks

    assert interp.evaluate(model, [choice_task()]).condition[0] == "base"
    listed = interp.evaluate(model, [choice_task()], fwd_hooks=hooks)
    assert listed.condition[0] == "hooks: blocks.0.attn.hook_pattern, blocks.1.attn.hook_pattern"
    made = interp.evaluate(model, [choice_task()], fwd_hooks=per_batch)
    assert made.condition[0] == "hooks: per_batch"
    assert made.loss[0] == pytest.approx(listed.loss[0], abs=1e-6)
    named = interp.evaluate(model, [choice_task()], fwd_hooks=hooks, condition="uniform")
    assert named.condition[0] == "uniform"
    assert interp.evaluate(model, [choice_task()], condition="base").condition[0] == "base"
    assert hooks_label(lambda tokens: hooks) == "hooks: <lambda>"
