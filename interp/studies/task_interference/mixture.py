"""A model's own training mixture, and rare-task blocks injected into its batches."""

from __future__ import annotations

import random
from typing import Any, Sequence

import torch
from jaxtyping import Bool
from torch import Tensor

from interp.studies.task_interference.facts import corpus_config, rare_copy
from interp.suite.corpus import CorpusConfig, build_corpus, rare_block
from interp.types import Sequences

BlockMask = Bool[Tensor, "sequence pos"]
"""True at the tokens of an injected rare block."""


def mixture_sequences(name: str, tokenizer: Any, n: int, *, seed: int,
                      exclude: Sequence[str] = ()) -> Sequences:
    """``n`` sequences of the model's own mixture, the ``exclude``d rare copies never injected.

    Excluding the copy under study leaves it to the experiment's own injections, so every
    block the model sees is one the experiment planned. The corpus gives copy k of both
    kinds one frequency, so excluding ``rare_comparison_4`` also drops ``rare_modadd_4``.

    >>> import interp
    >>> tok = interp.load_hf_model("suite/pythia-s1").tokenizer
    >>> mixture_sequences("suite/pythia-s1", tok, 4, seed=1).shape[0]
    4
    """
    config = corpus_config(name, seed=seed)
    frequencies = list(config.rare_frequencies)
    for task_name in exclude:
        frequencies[rare_copy(task_name)[1]] = 0.0
    config = CorpusConfig(seed=config.seed, seq_len=config.seq_len, mix=config.mix,
                          rare_frequencies=tuple(frequencies))
    return build_corpus(config, tokenizer, n)


def inject_blocks(tokens: Sequences, task_name: str, rows: int, tokenizer: Any,
                  rng: random.Random) -> tuple[Sequences, BlockMask]:
    """Replace the first tokens of the first ``rows`` sequences with a rare block (+ EOS).

    As the suite's corpus injects them (``interp.suite.corpus.rare_block``). The mask marks
    the block's tokens.

    >>> import interp
    >>> tok = interp.load_hf_model("suite/pythia-s1").tokenizer
    >>> zeros = torch.zeros(4, 64, dtype=torch.long)
    >>> t, mask = inject_blocks(zeros, "rare_comparison_0", 2, tok, random.Random(0))
    >>> mask.any(1).tolist()
    [True, True, False, False]
    """
    kind, copy = rare_copy(task_name)
    if rows > tokens.shape[0]:
        raise ValueError(f"cannot inject {rows} blocks into a batch of {tokens.shape[0]} "
                         "sequences: use a larger batch or fewer instances per injection")
    tokens = tokens.clone()
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    for row in range(rows):
        ids = tokenizer(rare_block(kind, copy, rng)).input_ids + [tokenizer.eos_token_id]
        ids = ids[: tokens.shape[1]]
        tokens[row, : len(ids)] = torch.tensor(ids)
        mask[row, : len(ids)] = True
    return tokens, mask
