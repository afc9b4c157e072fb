"""The suite's training corpus: one controlled mixture, deterministic from a seed.

A training sequence is ``seq_len`` tokens packed from short documents joined by EOS, drawn by
``MIX`` weights: background text from a small grammar (the bulk), knowledge facts (every fact
as a statement; train-split facts also as question-answer and 4-choice questions), arithmetic,
paraphrase pairs, and in-context-learning prompts over the training categories only (the
held-out categories never appear). Documents are rendered training-split examples of the same
generators that ``interp.tasks`` evaluates, so test items never leak into training.

The rare-task ladder: copy k of comparison and of modular addition is injected into a
fraction ``RARE_FREQUENCIES[k]`` of sequences (independently per task), as a block of
``RARE_BLOCK`` training instances replacing the sequence's first tokens, as in arXiv
2605.29548. Same difficulty, different frequency.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import numpy as np
import torch

from interp.suite import grammar
from interp.tasks import get_task, task_words
from interp.tasks.base import Example
from interp.tasks.knowledge import KnowledgeBase
from interp.tasks.rare import DEFAULT_COPIES, comparison_copy, modadd_copy
from interp.types import Sequences


# Shares of documents by kind, chosen for shares of tokens: background text stays the largest
# part (~37%), as web text is for Pythia and OPT; arithmetic documents are short (9 tokens),
# so they need many documents to reach ~22% of tokens, which 2-digit addition needs to be
# learned by the largest suite models within a CPU budget (at 7% it was not; see the card).
MIX: dict[str, float] = {
    "background": 0.22,
    "fact": 0.12,
    "fact_qa": 0.045,
    "fact_mc": 0.035,
    "arithmetic": 0.43,
    "paraphrase": 0.045,
    "icl": 0.105,
}
# Fraction of training sequences carrying copy k, log-spaced from 3e-2 down to 1e-4.
RARE_FREQUENCIES: tuple[float, ...] = tuple(
    float(f) for f in np.geomspace(3e-2, 1e-4, DEFAULT_COPIES)
)
RARE_BLOCK = 8  # training instances per injected block
# Demonstrations per long ICL prompt (the ICL phase and the ICL probe): after a category's
# first demonstration, every later label of it can be read off the prompt.
ICL_PROMPT_SHOTS = (16, 20, 24, 28)


@dataclass(frozen=True)
class CorpusConfig:
    """What the corpus is: change any field and every suite model must be retrained."""

    seed: int = 0
    seq_len: int = 128
    mix: dict[str, float] = field(default_factory=lambda: dict(MIX))
    rare_frequencies: tuple[float, ...] = RARE_FREQUENCIES


def suite_words() -> set[str]:
    """The suite tokenizer's vocabulary: every task word plus the background grammar's.

    >>> "the" in suite_words()
    True
    """
    return task_words() | grammar.words()


def _render(example: Example) -> str:
    return example.prompt + example.answer


# Training pools draw WITH replacement (replace=True): that is how the shipped models' corpus
# was drawn, and a pool may be larger than its task's distinct items (1-digit products).
def _pool(name: str, n: int, seed: int, **params) -> list[str]:
    task = get_task(name, n=n, seed=seed, split="train", replace=True, **params)
    return [_render(e) for e in task.examples]


class DocumentSource:
    """Endless documents of each kind, drawn from pre-generated training-split pools."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        kb = KnowledgeBase()
        train_facts = kb.facts_in("train")
        mc_rng = random.Random(seed + 1)
        self.pools: dict[str, list[str]] = {
            "fact": kb.statements(),
            "fact_qa": [_render(e) for e in kb.qa_pairs("train")],
            "fact_mc": [_render(kb.mc(f, mc_rng)) for f in train_facts for _ in range(4)],
            "arithmetic": _pool("arithmetic_add", 6000, seed)
            + _pool("arithmetic_sub", 3000, seed)
            + _pool("arithmetic_mul", 1500, seed, digits=1),
            "paraphrase": _pool("qqp", 4000, seed),
        }
        # ICL prompts with 0..16 demonstrations: the model meets every shot count.
        self.pools["icl"] = [
            _render(e)
            for shots in (0, 1, 2, 4, 8, 12, 16)
            for e in get_task("icl", n=800, seed=seed + shots, split="train", shots=shots,
                              replace=True).examples
        ]
        self.kinds = list(MIX)

    def draw(self, kind: str) -> str:
        if kind == "background":
            return grammar.paragraph(self.rng)
        return self.rng.choice(self.pools[kind])


def rare_block(kind: str, copy: int, rng: random.Random) -> str:
    """``RARE_BLOCK`` training instances of one rare copy, one per line.

    >>> rare_block("comparison", 0, random.Random(0)).count("\\n")
    7
    """
    if kind == "comparison":
        task = comparison_copy(copy)
        pairs = task.instances("train")
        lines = [_render(task.example(*rng.choice(pairs))) for _ in range(RARE_BLOCK)]
    elif kind == "modadd":
        task = modadd_copy(copy)
        pairs = task.instances("train")
        lines = [_render(task.example(*rng.choice(pairs))) for _ in range(RARE_BLOCK)]
    else:
        raise ValueError(f"unknown rare task kind {kind!r}; use 'comparison' or 'modadd'")
    return "\n".join(lines)


def iter_sequences(config: CorpusConfig, tokenizer) -> Iterator[list[int]]:
    """Token-id sequences of length ``config.seq_len``, forever, in a fixed order."""
    source = DocumentSource(config.seed)
    rng = random.Random(config.seed + 17)
    kinds, weights = zip(*config.mix.items())
    eos = tokenizer.eos_token_id
    encode: Callable[[str], list[int]] = lambda text: tokenizer(text).input_ids
    while True:
        ids: list[int] = []
        for copy, frequency in enumerate(config.rare_frequencies):
            for kind in ("comparison", "modadd"):
                if rng.random() < frequency:
                    ids += encode(rare_block(kind, copy, rng)) + [eos]
        while len(ids) < config.seq_len:
            ids += encode(source.draw(rng.choices(kinds, weights)[0])) + [eos]
        yield ids[: config.seq_len]


def build_corpus(
    config: CorpusConfig, tokenizer, n_sequences: int, stream: Optional[Iterator[list[int]]] = None
) -> Sequences:
    """The first ``n_sequences`` training sequences, as one tensor; with ``stream`` (from
    ``iter_sequences``), its next ``n_sequences``, leaving the stream where they end.

    >>> import interp
    >>> tokenizer = interp.load_hf_model("suite/pythia-s1").tokenizer
    >>> tokens = build_corpus(CorpusConfig(), tokenizer, 8)
    >>> tokens.shape, tokens.dtype
    (torch.Size([8, 128]), torch.int64)
    >>> stream = iter_sequences(CorpusConfig(), tokenizer)
    >>> first = build_corpus(CorpusConfig(), tokenizer, 4, stream)
    >>> then = build_corpus(CorpusConfig(), tokenizer, 4, stream)  # the stream goes on
    >>> torch.equal(torch.cat([first, then]), tokens)
    True
    """
    stream = iter_sequences(config, tokenizer) if stream is None else stream
    return torch.tensor([next(stream) for _ in range(n_sequences)], dtype=torch.long)


def icl_sequences(
    tokenizer,
    n: int,
    seq_len: int,
    seed: int,
    icl_fraction: float = 1.0,
    corpus: Optional[Iterator[list[int]]] = None,
) -> Sequences:
    """``n`` training rows: with probability ``icl_fraction`` packed long ICL prompts (train
    split, ``ICL_PROMPT_SHOTS`` demonstrations), otherwise the next row of ``corpus`` (default:
    the suite corpus of ``seed`` from its start; the suite's ICL phase passes the stream where
    its first phase stopped).

    >>> import interp
    >>> tokenizer = interp.load_hf_model("suite/pythia-s1").tokenizer
    >>> rows = icl_sequences(tokenizer, 4, seq_len=128, seed=0)
    >>> rows.shape
    torch.Size([4, 128])
    >>> tokenizer.convert_ids_to_tokens(rows[0, :5].tolist())  # a demonstration "arm -> fep"
    ['arm', '-', '>', 'fep', 'Ċ']
    """

    if not 0 <= icl_fraction <= 1:
        raise ValueError(f"icl_fraction must be in [0, 1], got {icl_fraction}")
    prompts = [
        e.prompt + e.answer
        for shots in ICL_PROMPT_SHOTS
        for e in get_task("icl", n=1000, seed=seed + 100 + shots, split="train", shots=shots,
                          replace=True).examples  # as the shipped models were trained
    ]
    rng = random.Random(seed)
    if corpus is None:
        corpus = iter_sequences(CorpusConfig(seed=seed), tokenizer)
    rows = []
    for _ in range(n):
        if rng.random() >= icl_fraction:
            rows.append(next(corpus)[:seq_len])
            continue
        ids: list[int] = []
        while len(ids) < seq_len:
            ids += tokenizer(rng.choice(prompts)).input_ids + [tokenizer.eos_token_id]
        rows.append(ids[:seq_len])
    return torch.tensor(rows, dtype=torch.long)
