"""Whether two tokenizers read one token tensor alike: a swap feeds both models the same ids."""

from __future__ import annotations

import weakref
from typing import Any, Optional

__all__ = ["PROBE_TEXT", "TokenizerMismatchError", "check_same_tokens"]

PROBE_TEXT = "The cat sat on the mat. 12 + 7 = 19"


class TokenizerMismatchError(ValueError):
    """Recipient and donor would not read the same token tensor as the same text."""


def check_same_tokens(
    recipient_tokenizer: Any, donor_tokenizer: Any, *,
    recipient: str = "recipient", donor: str = "donor",
) -> None:
    """Raise ``TokenizerMismatchError`` unless both tokenizers share a vocabulary and encode a
    probe string (BOS included) to the same ids.

    >>> import interp
    >>> pythia = interp.load_hf_model("suite/pythia-s1").tokenizer
    >>> check_same_tokens(pythia, interp.load_hf_model("suite/opt-s1").tokenizer)  # the suite shares one
    >>> class Other:  # stands in for a tokenizer with another vocabulary
    ...     def get_vocab(self):
    ...         return {"a": 0}
    >>> check_same_tokens(pythia, Other())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    interp.interventions.tokens.TokenizerMismatchError: cannot swap patterns from donor into recipient: their vocabularies differ. ...
    """
    why = _mismatch(recipient_tokenizer, donor_tokenizer)
    if why:
        raise TokenizerMismatchError(
            f"cannot swap patterns from {donor} into {recipient}: {why}. A swap feeds both models "
            "the same token tensor, so cross-tokenizer swaps need identical token tensors: use "
            "models that share a tokenizer"
        )


# Tokenizer pairs found to match, with their sizes then, so a sweep's many engines compare
# two 50k-entry vocabularies once; an added token changes a size and the pair is compared
# again. Weak keys: a freed tokenizer leaves, and no entry outlives its objects.
_MATCHED: "weakref.WeakKeyDictionary[Any, weakref.WeakKeyDictionary]" = weakref.WeakKeyDictionary()


def _mismatch(recipient_tokenizer: Any, donor_tokenizer: Any) -> Optional[str]:
    """Why the two tokenizers would not read one token tensor alike, or None."""
    if recipient_tokenizer is donor_tokenizer:
        return None
    sizes = (_size(recipient_tokenizer), _size(donor_tokenizer))
    try:
        if _MATCHED.get(recipient_tokenizer, {}).get(donor_tokenizer) == sizes:
            return None
    except TypeError:  # an object that takes no weak reference: compare it every time
        pass
    if recipient_tokenizer.get_vocab() != donor_tokenizer.get_vocab():
        return "their vocabularies differ"
    if recipient_tokenizer(PROBE_TEXT).input_ids != donor_tokenizer(PROBE_TEXT).input_ids:
        return f"they encode {PROBE_TEXT!r} differently (BOS or special-token behaviour differs)"
    try:
        _MATCHED.setdefault(recipient_tokenizer, weakref.WeakKeyDictionary())[donor_tokenizer] = sizes
    except TypeError:
        pass
    return None


def _size(tokenizer: Any) -> int:
    return len(tokenizer) if hasattr(tokenizer, "__len__") else len(tokenizer.get_vocab())
