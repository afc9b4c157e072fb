"""Kept donor states and reused head maps: bitwise what fresh forwards give, and never stale."""

from __future__ import annotations

import pytest
import torch

from interp.attention import capture_qk, plain_model
from interp.interventions import PatternSwap, check_same_tokens
from interp.interventions.donor_states import DonorStates
from tests import checkpoints

TOKENS = torch.tensor([
    [5, 9, 14, 22, 31, 40, 17, 8, 26, 12],
    [7, 7, 19, 41, 23, 11, 30, 6, 25, 9],
])
SETTINGS = [dict(layers=[0]), dict(layers=[1]), dict(layers=[0, 1], alpha=0.5),
            dict(layers=[1], control="other_input"), dict()]


@pytest.fixture(scope="module")
def pair():
    return (checkpoints.tiny_model(family="pythia", seed=0, d_model=64),
            checkpoints.tiny_model(family="opt", seed=3, d_model=64))


def logits(engine, tokens=TOKENS):
    with torch.no_grad():
        return engine(tokens)


@pytest.mark.parametrize("heads", ["index", "match"])
def test_shared_states_give_bitwise_the_fresh_result(pair, heads):
    recipient, donor = pair
    states = DonorStates()
    for setting in SETTINGS:
        fresh = PatternSwap(recipient, donor, heads=heads, **setting)
        kept = PatternSwap(recipient, donor, heads=heads, donor_states=states, **setting)
        if heads == "match":
            fresh.match_heads_on(TOKENS[:1])
            kept.match_heads_on(TOKENS[:1])
        assert kept.path == "transplant"
        assert torch.equal(logits(kept), logits(fresh)), setting
    # one donor forward served all five engines
    assert (states.forwards, states.hits) == (1, len(SETTINGS) - 1)


def test_another_token_tensor_is_another_forward(pair):
    recipient, donor = pair
    states = DonorStates()
    engine = PatternSwap(recipient, donor, donor_states=states)
    logits(engine)
    logits(engine, TOKENS.flip(0))
    logits(engine, TOKENS[:, :6])
    assert (states.forwards, states.hits, len(states)) == (3, 0, 3)


def test_an_in_place_weight_change_is_not_served_stale(pair):
    _, donor = pair
    hf = plain_model(donor)
    states = DonorStates()
    before = states.qk(hf, {1}, TOKENS)[1].query.clone()
    weight = hf.model.decoder.layers[1].self_attn.q_proj.weight
    saved = weight.detach().clone()
    try:
        with torch.no_grad():
            weight.mul_(2.0)  # bumps the tensor's version, as an optimiser step does
        after = states.qk(hf, {1}, TOKENS)[1].query
        assert states.forwards == 2
        assert not torch.equal(after, before)
        assert torch.equal(after, capture_qk(hf, {1}, TOKENS)[1].query)
    finally:
        with torch.no_grad():
            weight.copy_(saved)


def test_the_byte_bound_evicts_least_recently_used(pair):
    _, donor = pair
    hf = plain_model(donor)
    probe = DonorStates()
    one = probe.qk(hf, {0}, TOKENS)
    size = probe.nbytes  # the size of one entry
    assert size > 0
    states = DonorStates(max_bytes=int(size * 1.5))  # room for one entry, not two
    states.qk(hf, {0}, TOKENS)
    states.qk(hf, {0}, TOKENS.flip(0))
    assert len(states) == 1 and states.nbytes <= states.max_bytes
    states.qk(hf, {0}, TOKENS.flip(0))  # the newer one was kept
    assert states.hits == 1
    none = DonorStates(max_bytes=0)  # over the bound: used once, not kept
    assert torch.equal(none.qk(hf, {0}, TOKENS)[0].key, one[0].key)
    assert len(none) == 0


def test_after_an_entry_too_large_only_the_layers_asked_for_are_run(pair, monkeypatch):
    from interp.interventions import donor_states

    _, donor = pair
    hf = plain_model(donor)
    asked = []

    def recording(model, layers, tokens):
        asked.append(sorted(layers))
        return capture_qk(model, layers, tokens)

    monkeypatch.setattr(donor_states, "capture_qk", recording)
    none = DonorStates(max_bytes=0)
    none.qk(hf, {0}, TOKENS)  # the first forward keeps every layer, and learns the size
    kept = none.qk(hf, {0}, TOKENS.flip(0))
    assert asked == [[0, 1], [0]] and list(kept) == [0] and none.forwards == 2
    assert torch.equal(kept[0].query, capture_qk(hf, {0}, TOKENS.flip(0))[0].query)
    with pytest.raises(ValueError, match="max_bytes"):
        DonorStates(max_bytes=-1)


def test_a_freed_model_takes_its_states_with_it():
    import gc

    states = DonorStates()
    model = checkpoints.tiny_model(family="pythia", seed=5, d_model=64)
    states.qk(plain_model(model), {0}, TOKENS)
    assert len(states) == 1
    del model
    gc.collect()
    assert len(states) == 0


def test_reused_head_maps_equal_fitted_ones(pair):
    recipient, donor = pair
    every = PatternSwap(recipient, donor, heads="match")
    fitted = every.match_heads_on(TOKENS[:1])
    for layers in ([0], [1], [0, 1]):
        own = PatternSwap(recipient, donor, heads="match", layers=layers)
        reused = PatternSwap(recipient, donor, heads="match", layers=layers)
        reused.use_head_maps(fitted)
        assert own.match_heads_on(TOKENS[:1]) == {layer: fitted[layer] for layer in layers}
        assert torch.equal(logits(reused), logits(own))


def test_use_head_maps_refuses_what_it_cannot_serve(pair):
    recipient, donor = pair
    one = PatternSwap(recipient, donor, heads="match", layers=[1]).match_heads_on(TOKENS[:1])
    with pytest.raises(ValueError, match=r"lack layers \[0\]"):
        PatternSwap(recipient, donor, heads="match", layers=[0, 1]).use_head_maps(one)
    with pytest.raises(ValueError, match="heads='match'"):
        PatternSwap(recipient, donor, heads="index").use_head_maps(one)


def test_a_matched_tokenizer_pair_is_remembered_until_one_changes():
    first, second = checkpoints.build_tokenizer(), checkpoints.build_tokenizer()
    calls = []
    kind = type(second)
    original = kind.get_vocab

    def counting(self):
        calls.append(1)
        return original(self)

    kind.get_vocab = counting
    try:
        check_same_tokens(first, second)
        compared = len(calls)
        check_same_tokens(first, second)
        assert compared > 0 and len(calls) == compared  # the second check was remembered
        second.add_tokens(["<a-new-token>"])
        with pytest.raises(ValueError, match="vocabularies differ"):
            check_same_tokens(first, second)
    finally:
        kind.get_vocab = original
