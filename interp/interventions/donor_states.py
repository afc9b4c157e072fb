"""A donor's queries and keys kept across swap engines, so a sweep runs each donor forward once.

A sweep computes many cells that feed the same donor the same token tensors: a layer sweep
swaps one layer, then the bottom k, then the top k; an alpha curve mixes the same donor state
at several alphas. Each cell used to rerun the donor. ``DonorStates`` keeps, per donor and
per token tensor, every layer's ``DonorQK`` (``interp.attention.capture_qk``) from one fused
forward, and hands later engines the layers they ask for. The values are the tensors that
forward made, so results are bitwise what a fresh donor forward gives.

- A donor is known by its weights: the tensors' identities and version counters (an
  in-place update, such as an optimiser step, bumps them), so a changed model is never
  served a stale state, and a freed model's entries go with it.
- ``max_bytes`` bounds what is held; the least recently used entry goes first. An entry
  over the bound is used once and not kept, and after one the model's later forwards whose
  entry would be as large keep only the layers asked for, as a fresh engine would.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from typing import Iterable

import torch
from torch import nn

from interp.attention import DonorQK, attention_modules, capture_qk
from interp.types import Tokens

__all__ = ["DEFAULT_MAX_BYTES", "DonorStates"]

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB: a 70m-shape sweep's working set is ~0.3 GB at n = 40


class DonorStates:
    """Every layer's queries and keys of a donor on a token tensor, computed once.

    >>> import interp
    >>> from interp.attention import plain_model
    >>> donor = plain_model(interp.load_model("suite/opt-s2"))
    >>> states = DonorStates()
    >>> tokens = torch.tensor([[5, 6, 7]])
    >>> first = states.qk(donor, {0}, tokens)
    >>> again = states.qk(donor, {0, 1}, tokens)  # the same forward serves both
    >>> again[0] is first[0], states.forwards, states.hits
    (True, 1, 1)
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.forwards = 0  # donor forwards run
        self.hits = 0  # requests served from a kept forward
        self._entries: OrderedDict[tuple, tuple[dict[int, DonorQK], int]] = OrderedDict()
        self._watched: set[int] = set()
        self._bytes_per_token: dict[int, float] = {}  # per model (anchor id), from its first entry

    @property
    def nbytes(self) -> int:
        """Bytes held by the kept states."""
        return sum(size for _, size in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    @torch.no_grad()
    def qk(self, model: nn.Module, layers: Iterable[int], tokens: Tokens) -> dict[int, DonorQK]:
        """``capture_qk(model, layers, tokens)``, from a kept forward when there is one (a new
        forward keeps every layer, for the cells that ask for others)."""
        layers = sorted(set(layers))
        key = (_weights_key(model), tuple(tokens.shape), str(tokens.device), _digest(tokens))
        if key in self._entries:
            self._entries.move_to_end(key)
            self.hits += 1
            kept = self._entries[key][0]
        elif self._bytes_per_token.get(key[0][0], 0) * tokens.numel() > self.max_bytes:
            self.forwards += 1  # it would not be kept: compute only the layers asked for
            return capture_qk(model, layers, tokens)
        else:
            kept = capture_qk(model, range(len(attention_modules(model))), tokens)
            self.forwards += 1
            self._keep(model, key, kept, tokens.numel())
        return {layer: kept[layer] for layer in layers}

    def _keep(self, model: nn.Module, key: tuple, kept: dict[int, DonorQK], n_tokens: int) -> None:
        anchor = next(model.parameters())
        if id(anchor) not in self._watched:  # drop a freed model's states with it
            self._watched.add(id(anchor))
            weakref.finalize(anchor, self._forget, id(anchor))
        size = _bytes(kept)
        self._bytes_per_token[id(anchor)] = size / max(n_tokens, 1)
        if size > self.max_bytes:
            return
        self._entries[key] = (kept, size)
        while self.nbytes > self.max_bytes:
            self._entries.popitem(last=False)

    def _forget(self, anchor: int) -> None:
        self._watched.discard(anchor)
        self._bytes_per_token.pop(anchor, None)
        for key in [k for k in self._entries if k[0][0] == anchor]:
            del self._entries[key]


def _weights_key(model: nn.Module) -> tuple:
    """Which weights, in which state: the first parameter's identity (the finalizer's anchor)
    and every parameter's identity and in-place version."""
    params = list(model.parameters())
    return (id(params[0]), tuple((id(p), p._version) for p in params))


def _digest(tokens: Tokens) -> str:
    return hashlib.blake2b(tokens.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()


def _bytes(kept: dict[int, DonorQK]) -> int:
    storages = {}
    for state in kept.values():
        for tensor in (state.query, state.key):
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())
