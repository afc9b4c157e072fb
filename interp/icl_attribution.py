"""Attribution by patching between a base model and its fine-tuned copy: Q/K or V, per layer.

Two sites per layer, each patched in both directions (``restore``: the fine-tuned model run
with the base model's activations at one site; ``break``: the base model run with the
fine-tuned model's):
- ``qk``: the layer's attention pattern. For the same tokens the pattern is a function of
  that layer's Q and K only, so replacing the pattern is exactly patching Q and K
  (``interp.swap.PatternSwap`` does it on a plain HF model, through ``AttentionSlot``).
- ``v``: the value vectors: OPT's ``v_proj`` output, or the V rows of GPT-NeoX's fused
  ``query_key_value`` output (per head ``[q, k, v]``). ``ValueSwap`` registers forward hooks
  for one forward only and removes them after.

``patch_sweep`` scores every (direction, site, layer) cell on each task, and
``gap_fraction`` says what part of the base-vs-fine-tuned difference one cell accounts for.
``icl_head_scores`` measures, per head, how much attention the query position pays to the
demonstrations' label tokens: the heads that read the answer off the prompt.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from interp.attention import AttentionSlot, attention_modules
from interp.evaluate import encode_pair, score_task
from interp.swap import PatternSwap, installed, plain_model
from interp.tasks.base import Task

Tokens = Int[Tensor, "batch pos"]
Logits = Float[Tensor, "batch pos vocab"]
SITES = ("qk", "v")
DIRECTIONS = ("restore", "break")
PATCH_COLUMNS = ["direction", "site", "layer", "task", "n", "accuracy", "loss"]


def _identity(pattern: Tensor) -> Tensor:
    return pattern


def value_module(hf: nn.Module, layer: int) -> nn.Module:
    """The linear module whose output holds layer ``layer``'s value vectors.

    >>> value_module(interp.load_hf_model("suite/opt-s1"), 0).__class__.__name__  # doctest: +SKIP
    'Linear'
    """
    arch = type(hf).__name__
    if arch == "OPTForCausalLM":
        return hf.model.decoder.layers[layer].self_attn.v_proj
    if arch == "GPTNeoXForCausalLM":
        return hf.gpt_neox.layers[layer].attention.query_key_value
    raise ValueError(f"value patching knows GPTNeoXForCausalLM and OPTForCausalLM, not {arch}")


def value_features(hf: nn.Module) -> Optional[Tensor]:
    """Indices of the V features in ``value_module``'s output; None when it is all of them.

    GPT-NeoX lays the fused output out per head as ``[q, k, v]``, each ``d_head`` wide.

    >>> value_features(interp.load_hf_model("suite/pythia-s1")).tolist()  # doctest: +SKIP
    [8, 9, 10, 11, 20, 21, 22, 23]
    """
    if type(hf).__name__ != "GPTNeoXForCausalLM":
        return None
    n_heads = hf.config.num_attention_heads
    d_head = hf.config.hidden_size // n_heads
    return torch.tensor([h * 3 * d_head + 2 * d_head + r for h in range(n_heads)
                         for r in range(d_head)])


class ValueSwap(nn.Module):
    """A recipient whose value vectors at ``layers`` come from a donor on the same tokens:
    ``forward(tokens) -> logits`` (so ``interp.evaluate`` scores it).

    >>> swap = ValueSwap(tuned, base, layers=[1])  # doctest: +SKIP
    >>> interp.evaluate(swap, [task], condition="restore V L1")  # doctest: +SKIP
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
        self.features = value_features(self.recipient_model)

    @torch.no_grad()
    def donor_values(self, tokens: Tokens) -> dict[int, Tensor]:
        """The donor's value-module outputs on ``tokens`` at the patched layers."""
        store: dict[int, Tensor] = {}
        handles = [
            value_module(self.donor_model, layer).register_forward_hook(
                lambda module, args, output, layer=layer: store.__setitem__(layer, output.detach()))
            for layer in self.layers
        ]
        modules = attention_modules(self.donor_model)
        slots = [AttentionSlot(pattern=_identity, return_weights=False) for _ in modules]
        try:
            with installed(modules, slots):  # the eager path the recipient runs too
                self.donor_model(input_ids=tokens, use_cache=False)
        finally:
            for handle in handles:
                handle.remove()
        return store

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

        handles = [value_module(self.recipient_model, layer).register_forward_hook(replace(layer))
                   for layer in self.layers]
        # Identity slots: the same eager attention path as PatternSwap, so a V patch and a
        # QK patch are measured against the same unpatched numbers.
        modules = attention_modules(self.recipient_model)
        slots = [AttentionSlot(pattern=_identity, return_weights=False) for _ in modules]
        try:
            with installed(modules, slots):
                return self.recipient_model(input_ids=tokens, use_cache=False).logits
        finally:
            for handle in handles:
                handle.remove()


def patched(recipient: nn.Module, donor: nn.Module, site: str, layer: int) -> nn.Module:
    """``recipient`` with ``site`` ("qk" or "v") of ``layer`` taken from ``donor``.

    >>> model = patched(tuned, base, "qk", 0)  # doctest: +SKIP
    """
    if site == "qk":
        return PatternSwap(recipient, donor, layers=[layer])
    if site == "v":
        return ValueSwap(recipient, donor, layers=[layer])
    raise ValueError(f"site must be one of {SITES}, got {site!r}")


def patch_sweep(
    base: nn.Module,
    tuned: nn.Module,
    tasks: Iterable[Task],
    *,
    layers: Optional[Sequence[int]] = None,
    batch_size: int = 16,
) -> pd.DataFrame:
    """Accuracy and answer loss of every (direction, site, layer) cell on every task, plus
    the unpatched ends (``direction`` "base" and "tuned", site "none", layer -1).

    >>> rows = patch_sweep(base, tuned, [task])  # doctest: +SKIP
    """
    n_layers = plain_model(base).config.num_hidden_layers
    layers = range(n_layers) if layers is None else layers
    rows = []
    for task in tasks:
        for end, model in (("base", base), ("tuned", tuned)):
            rows.append(_row(end, "none", -1, task, PatternSwap.base(model), batch_size))
        for direction in DIRECTIONS:
            recipient, donor = (tuned, base) if direction == "restore" else (base, tuned)
            for site in SITES:
                for layer in layers:
                    engine = patched(recipient, donor, site, layer)
                    rows.append(_row(direction, site, layer, task, engine, batch_size))
    return pd.DataFrame(rows, columns=PATCH_COLUMNS)


def _row(direction: str, site: str, layer: int, task: Task, engine: nn.Module,
         batch_size: int) -> dict[str, Any]:
    score = score_task(engine, task, batch_size=batch_size, progress=False)
    return dict(direction=direction, site=site, layer=layer, task=task.name,
                n=len(score.correct), accuracy=score.accuracy, loss=score.mean_loss)


def gap_fraction(sweep: pd.DataFrame, metric: str = "loss") -> pd.DataFrame:
    """Add ``fraction``: the part of the base-vs-tuned gap in ``metric`` a cell accounts for.

    restore: (patched - tuned) / (base - tuned), 1 = the base's behaviour is back;
    break: (base - patched) / (base - tuned), 1 = the fine-tuned behaviour is all there.
    NaN where the gap is smaller than 1e-6 (nothing to attribute).

    >>> rows = gap_fraction(patch_sweep(base, tuned, [task]))  # doctest: +SKIP
    """
    ends = sweep[sweep.site == "none"].pivot_table(index="task", columns="direction",
                                                   values=metric)
    cells = sweep[sweep.site != "none"].copy()
    base = cells.task.map(ends["base"])
    tuned = cells.task.map(ends["tuned"])
    gap = base - tuned
    moved = np.where(cells.direction == "restore", cells[metric] - tuned, base - cells[metric])
    cells["gap"] = gap
    cells["fraction"] = np.where(gap.abs() > 1e-6, moved / gap.where(gap.abs() > 1e-6, 1.0),
                                 np.nan)
    cells["metric"] = metric
    return cells.reset_index(drop=True)


@torch.no_grad()
def icl_head_scores(model: nn.Module, task: Task) -> pd.DataFrame:
    """Per (layer, head): mean attention from the last prompt position to the
    demonstrations' label tokens (``label_attention``), and to those showing the answer's
    label (``answer_attention``). Heads high on both read the answer off the prompt.

    Label tokens are the first token of each choice wherever it occurs in the prompt.

    >>> scores = icl_head_scores(model, get_task("icl_fixed_flipped", n=16, shots=8))  # doctest: +SKIP
    """
    hf = plain_model(model)
    tokenizer = model.tokenizer
    modules = attention_modules(hf)
    device = next(hf.parameters()).device
    n_layers, n_heads = len(modules), hf.config.num_attention_heads
    label_mass = np.zeros((n_layers, n_heads))
    answer_mass = np.zeros((n_layers, n_heads))
    counted = 0
    for example in task.examples:
        if not example.choices:
            raise ValueError(f"icl_head_scores needs a choice task; {task.name} has no choices")
        prompt_ids, _ = encode_pair(tokenizer, example.prompt, example.answer)
        first = {c: encode_pair(tokenizer, example.prompt, c)[1][0] for c in example.choices}
        ids = torch.tensor(prompt_ids)
        is_label = torch.isin(ids, torch.tensor(list(first.values())))
        is_answer = ids == first[example.answer]
        is_label[-1] = is_answer[-1] = False  # the query position itself is no demonstration
        if not bool(is_label.any()):
            continue  # 0 shots: no demonstrations to attend to
        patterns: dict[int, Tensor] = {}

        def capture(layer: int):
            def keep(pattern: Tensor) -> Tensor:
                patterns[layer] = pattern[0, :, -1].detach().float().cpu()  # [head, key]
                return pattern
            return keep

        slots = [AttentionSlot(pattern=capture(i), return_weights=False) for i in range(n_layers)]
        with installed(modules, slots):
            hf(input_ids=ids[None].to(device), use_cache=False)
        for layer in range(n_layers):
            label_mass[layer] += patterns[layer][:, is_label].sum(-1).numpy()
            answer_mass[layer] += patterns[layer][:, is_answer].sum(-1).numpy()
        counted += 1
    if counted == 0:
        raise ValueError(f"{task.name}: no prompt has demonstrations (use shots >= 1)")
    rows = [dict(layer=layer, head=head, task=task.name, n=counted,
                 label_attention=label_mass[layer, head] / counted,
                 answer_attention=answer_mass[layer, head] / counted)
            for layer in range(n_layers) for head in range(n_heads)]
    return pd.DataFrame(rows)
