"""Value-vector patching: a recipient run with a donor's value vectors at chosen layers.

The value vectors are the output of the family's value module (``Arch.value_path``): OPT's
``v_proj``, or the V rows of GPT-NeoX's fused ``query_key_value`` (``Arch.value_rows``).
Forward hooks live for one forward only (``torch_hooks``); attention runs fused, the path of
``PatternSwap.base`` and of the transplant path, so a V patch and a Q/K patch compare against
the same base numbers.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from interp.arch import arch_of, value_module
from interp.attention import AttentionSlot, attention_modules, installed, plain_model, torch_hooks
from interp.types import Logits, Tokens


class ValueSwap(nn.Module):
    """A recipient whose value vectors at ``layers`` come from a donor on the same tokens:
    ``forward(tokens) -> logits`` (so ``interp.evaluate`` scores it).

    Two same-shape suite models stand in for a base model and its fine-tuned copy:

    >>> import interp
    >>> base = interp.load_hf_model("suite/pythia-s3")
    >>> tuned = interp.load_hf_model("suite/pythia-s3-seed1")
    >>> swap = ValueSwap(tuned, base, layers=[1])
    >>> tokens = tuned.tokenizer("2 + 3 =", return_tensors="pt").input_ids
    >>> swap(tokens).shape  # [batch, pos, vocab]
    torch.Size([1, 4, 801])
    >>> rows = interp.evaluate(swap, [interp.get_task("arithmetic_add", n=4)], condition="restore V L1")
    >>> rows.condition.tolist(), rows.n.tolist()
    (['restore V L1'], [4])
    """

    def __init__(self, recipient: nn.Module, donor: nn.Module, *, layers: Sequence[int]) -> None:
        super().__init__()
        self.tokenizer = getattr(recipient, "tokenizer", None)
        self.recipient_model = plain_model(recipient)
        self.donor_model = plain_model(donor)
        n_layers = self.recipient_model.config.num_hidden_layers
        self.layers = tuple(sorted(set(layers)))
        bad = [layer for layer in self.layers if not 0 <= layer < n_layers]
        if bad:
            raise ValueError(f"layers {bad} out of range: the recipient has {n_layers} layers")
        if self.donor_model.config.num_hidden_layers != n_layers:
            raise ValueError("value patching needs donor and recipient of the same shape")
        rows = arch_of(self.recipient_model).value_rows(self.recipient_model.config)
        self.features = None if rows is None else torch.tensor(rows)

    @torch.no_grad()
    def donor_values(self, tokens: Tokens) -> dict[int, Tensor]:
        """The donor's value-module outputs on ``tokens`` at the patched layers."""
        store: dict[int, Tensor] = {}
        keep = [(value_module(self.donor_model, layer), "forward",
                 lambda module, args, output, layer=layer: store.__setitem__(layer, output.detach()))
                for layer in self.layers]
        modules = attention_modules(self.donor_model)
        slots = [AttentionSlot(return_weights=False) for _ in modules]  # fused, as the recipient
        with torch_hooks(keep), installed(modules, slots):
            self.donor_model(input_ids=tokens, use_cache=False)
        return store

    def get_output_embeddings(self) -> nn.Module:
        """The recipient's output projection (see ``PatternSwap.get_output_embeddings``)."""
        return self.recipient_model.get_output_embeddings()

    def forward(self, tokens: Tokens) -> Logits:
        donor = self.donor_values(tokens)

        def replace(layer: int):
            def hook(module: nn.Module, args: Any, output: Tensor) -> Tensor:
                if self.features is None:
                    return donor[layer].to(output.dtype)
                patched = output.clone()
                index = self.features.to(output.device)
                patched[..., index] = donor[layer][..., index].to(output.dtype)
                return patched
            return hook

        replacements = [(value_module(self.recipient_model, layer), "forward", replace(layer))
                        for layer in self.layers]
        # Empty slots: fused attention whatever slot a module held, the path PatternSwap.base
        # runs, so a V patch and a QK patch are measured against the same unpatched numbers.
        modules = attention_modules(self.recipient_model)
        slots = [AttentionSlot(return_weights=False) for _ in modules]
        with torch_hooks(replacements), installed(modules, slots):
            return self.recipient_model(input_ids=tokens, use_cache=False).logits
