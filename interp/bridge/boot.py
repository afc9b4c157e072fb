"""Booting a TransformerBridge around an HF model we loaded: its own tokenizer, live hooks."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from interp.bridge.live import make_patterns_live

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge


def boot_bridge(source: Any, hf_model: Any, tokenizer: Any, *, self_test: bool = True) -> "TransformerBridge":
    """A TransformerBridge around ``hf_model`` with live pattern hooks and its own tokenizer.

    ``source`` is the ``interp.sources.ModelSource`` the model came from (its ``location``
    is what TransformerLens reads the config from).
    """
    from transformer_lens.model_bridge import TransformerBridge

    # Boot on a copy: TransformerBridge rebuilds the tokenizer to prepend BOS.
    bridge = TransformerBridge.boot_transformers(source.location, hf_model=hf_model,
                                                 tokenizer=copy.deepcopy(tokenizer))
    keep_own_tokenizer(bridge, tokenizer)
    bridge.interp_source = source
    return make_patterns_live(bridge, self_test=self_test)


def keep_own_tokenizer(bridge: "TransformerBridge", tokenizer: Any) -> None:
    """Give ``bridge`` the model's own tokenizer: the tokens it was trained on.

    TransformerBridge swaps in a tokenizer that prepends BOS whether or not the model saw
    one in training. For the suite, whose ``<bos>`` was never trained, that silently broke
    results: opt-s5 adds 2-digit numbers at 0.99 without it and 0.02 with it. Here
    ``bridge.tokenizer``, ``to_tokens`` and ``interp.evaluate`` encode exactly as the HF
    tokenizer does (OPT's adds ``</s>``, Pythia's adds nothing); pass
    ``to_tokens(..., prepend_bos=True)`` for TransformerLens's convention.

    >>> import interp
    >>> model = interp.load_model("suite/opt-s1", self_test=False)
    >>> model.to_tokens("1 + 2 =").tolist() == [model.tokenizer("1 + 2 =").input_ids]
    True
    """
    from transformer_lens.model_bridge.sources._bridge_builder import detect_tokenizer_bos_eos

    # The setter would re-run TransformerLens's BOS wiring; set the field it guards.
    bridge._tokenizer = tokenizer
    driver = getattr(bridge, "_driver", None)
    if driver is not None and hasattr(driver, "tokenizer"):
        driver.tokenizer = tokenizer
    prepends, appends = detect_tokenizer_bos_eos(tokenizer)
    bridge.cfg.tokenizer_prepends_bos = prepends
    bridge.cfg.tokenizer_appends_eos = appends
    bridge.cfg.default_prepend_bos = prepends
