"""A word-level HF tokenizer over a closed vocabulary, with digits split one per token.

The embedded suite and the test checkpoints use it: a closed vocabulary keeps tiny models'
embedding tables small, and single-digit tokens make arithmetic a procedure over digits
rather than a lookup of whole numbers. Saved with ``save_pretrained`` it loads back through
``AutoTokenizer`` like any Pythia or OPT tokenizer.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
DIGITS = tuple("0123456789")
PUNCTUATION = tuple(".,:;?!()+-*=%<>/'\"")


def build_word_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerFast:
    """A tokenizer whose vocabulary is the special tokens, digits, punctuation and ``words``.

    Words are split on whitespace and punctuation; every digit is its own token; anything
    else maps to ``<unk>``. Ids are stable for a given word set (sorted order).

    >>> tok = build_word_tokenizer({"cat", "sat"})
    >>> tok.convert_ids_to_tokens(tok("the cat sat 12").input_ids)
    ['<unk>', 'cat', 'sat', '1', '2']
    """
    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *DIGITS, *PUNCTUATION, *sorted(set(words))):
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Punctuation(),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
    )
