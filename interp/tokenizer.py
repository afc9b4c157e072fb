"""A word-level HF tokenizer over a closed vocabulary, with digits split one per token.

The embedded suite and the test checkpoints use it: a closed vocabulary keeps tiny models'
embedding tables small, and single-digit tokens make arithmetic a procedure over digits
rather than a lookup of whole numbers. Saved with ``save_pretrained`` it loads back through
``AutoTokenizer`` like any Pythia or OPT tokenizer.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
DIGITS = tuple("0123456789")
PUNCTUATION = tuple(".,:;?!()+-*=%<>/'\"")
# Newlines carry structure (demonstration lines, answer options): they become a visible token,
# as GPT-2-style BPE vocabularies write them.
NEWLINE = "\u010a"


def build_word_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerFast:
    """A tokenizer whose vocabulary is the special tokens, digits, punctuation and ``words``.

    Text splits on whitespace, then into words (a letter, then letters or digits), single
    digits, single punctuation marks and newlines; anything not in the vocabulary maps to ``<unk>``.
    No BOS is added (as with Pythia's tokenizer). Ids are stable for a given word set (sorted order).

    >>> tok = build_word_tokenizer({"cat", "sat"})
    >>> tok.convert_ids_to_tokens(tok("the cat sat 12.").input_ids)
    ['<unk>', 'cat', 'sat', '1', '2', '.']
    """
    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *DIGITS, *PUNCTUATION, NEWLINE, *sorted(set(words))):
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Replace("\n", f" {NEWLINE} ")
    # A word may hold digits ("ka3"); a bare number splits into single digits.
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(r"[A-Za-z_][A-Za-z0-9_]*|\d|[^A-Za-z0-9_]"), "isolated"),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
    )
