"""Named pieces of an HF model's own weights: which tensor (and which rows of it) is Q, K, V...

Training and gradient studies ask for "the value projection of layer 2" or "every MLP input
matrix"; on OPT that is a whole tensor (``v_proj``), on GPT-NeoX it is a set of rows of the
fused ``query_key_value`` matrix, laid out per head as ``[head, (q, k, v), d_head]``.
``param_slices`` names every piece once, so a mask, a gradient group or a frozen set is built
from the same table on both families:

    component   GPT-NeoX (Pythia)                      OPT
    embed       gpt_neox.embed_in                      decoder.embed_tokens, embed_positions
    q / k / v   attention.query_key_value rows         self_attn.{q,k,v}_proj
    o           attention.dense                        self_attn.out_proj
    mlp_in      mlp.dense_h_to_4h                      fc1
    mlp_out     mlp.dense_4h_to_h                      fc2
    norm        *layernorm / final_layer_norm          *layer_norm
    unembed     embed_out                              lm_head
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Optional

import torch
from torch import nn

from interp.arch import arch_of
from interp.types import ParamMask

Component = Literal["embed", "q", "k", "v", "o", "mlp_in", "mlp_out", "norm", "unembed"]
COMPONENTS: tuple[str, ...] = ("embed", "q", "k", "v", "o", "mlp_in", "mlp_out", "norm", "unembed")
# Shorthands a user may pass wherever components are asked for.
ALIASES: dict[str, tuple[str, ...]] = {
    "attn": ("q", "k", "v", "o"),
    "qk": ("q", "k"),
    "qkv": ("q", "k", "v"),
    "mlp": ("mlp_in", "mlp_out"),
    "all": COMPONENTS,
    "none": (),
}
# Coarse parameter groups (gradient comparisons): layer x {attn_qkv, attn_out, mlp_in, mlp_out}
# plus embeddings (input and output).
GROUP_OF: dict[str, str] = {
    "q": "attn_qkv", "k": "attn_qkv", "v": "attn_qkv", "o": "attn_out",
    "mlp_in": "mlp_in", "mlp_out": "mlp_out", "embed": "embed", "unembed": "embed",
    "norm": "norm",
}


@dataclass(frozen=True)
class ParamSlice:
    """One named piece of one parameter tensor; ``rows`` is None when it is the whole tensor."""

    name: str  # the HF parameter name, as in model.named_parameters()
    component: str
    layer: Optional[int]
    rows: Optional[tuple[int, ...]] = None

    @property
    def group(self) -> str:
        """The coarse group name: ``L2.attn_qkv``, ``embed``.

        >>> ParamSlice("x", "v", 2).group
        'L2.attn_qkv'
        """
        base = GROUP_OF[self.component]
        return base if self.layer is None else f"L{self.layer}.{base}"


def expand_components(components: Iterable[str] | str) -> tuple[str, ...]:
    """Components named directly or by shorthand (``attn``, ``qk``, ``mlp``, ``all``, ``none``).

    >>> expand_components(["qk", "v"])
    ('q', 'k', 'v')
    """
    if isinstance(components, str):
        components = [components]
    out: list[str] = []
    for c in components:
        names = ALIASES.get(c, (c,))
        for name in names:
            if name not in COMPONENTS:
                raise ValueError(
                    f"unknown parameter component {c!r}; use one of {', '.join(COMPONENTS)} "
                    f"or a shorthand ({', '.join(ALIASES)})"
                )
            if name not in out:
                out.append(name)
    return tuple(out)


def hf_model(model: nn.Module) -> nn.Module:
    """The HF model whose weights train and save: a Bridge's ``original_model``, else itself.

    A TransformerBridge trains split copies of fused weights that are never saved (see the
    README), so every training and gradient helper works on the HF module.

    >>> import interp
    >>> hf_model(interp.load_model("suite/opt-s1", self_test=False)).config.model_type
    'opt'
    """
    return getattr(model, "original_model", model)


def parameter_count(model: nn.Module) -> int:
    """Parameters of the model as its HF architecture defines them (what papers report).

    A Bridge adds split q/k/v copies beside GPT-NeoX's fused QKV, so counting its tensors
    over-counts; this rebuilds the architecture on the meta device (no memory) and counts it.

    >>> import interp
    >>> parameter_count(interp.load_model("suite/pythia-s1", self_test=False))
    13704
    """
    hf = hf_model(model)
    with torch.device("meta"):
        fresh = type(hf)(hf.config)
    return sum(p.numel() for p in fresh.parameters())


def param_slices(model: nn.Module) -> list[ParamSlice]:
    """Every parameter of a supported causal LM, named by component and layer.

    >>> import interp
    >>> m = interp.load_hf_model("suite/opt-s1")
    >>> [s.component for s in param_slices(m) if s.layer == 0][:4]
    ['k', 'k', 'v', 'v']
    """
    model = hf_model(model)
    arch = arch_of(model)
    config = model.config
    n_heads = config.num_attention_heads
    d_head = config.hidden_size // n_heads
    slices: list[ParamSlice] = []
    for name, _ in model.named_parameters():
        parts = name.split(".")
        layer = int(parts[parts.index("layers") + 1]) if "layers" in parts else None
        if arch.fused_qkv is not None and arch.fused_qkv in name:
            for c in ("q", "k", "v"):
                slices.append(ParamSlice(name, c, layer, arch.qkv_rows(c, n_heads, d_head)))
            continue
        slices.append(ParamSlice(name, arch.component_of(name), layer))
    return slices


def component_masks(
    model: nn.Module, components: Iterable[str] | str, *, layers: Optional[Iterable[int]] = None
) -> dict[str, ParamMask]:
    """Boolean masks (same shape as each parameter) of the elements in ``components``.

    Only parameters with at least one selected element appear. ``layers`` restricts the
    per-layer components (embeddings and unembedding have no layer and are kept when asked).

    >>> import interp
    >>> model = interp.load_hf_model("suite/pythia-s1")  # d_model 8, 2 heads
    >>> mask = component_masks(model, "v")["gpt_neox.layers.0.attention.query_key_value.weight"]
    >>> mask.all(1).nonzero().flatten().tolist()  # per head [q, k, v] rows: V is 8..11, 20..23
    [8, 9, 10, 11, 20, 21, 22, 23]
    """
    model = hf_model(model)
    wanted = set(expand_components(components))
    wanted_layers = None if layers is None else set(layers)
    params = dict(model.named_parameters())
    masks: dict[str, ParamMask] = {}
    for s in param_slices(model):
        if s.component not in wanted:
            continue
        if wanted_layers is not None and s.layer is not None and s.layer not in wanted_layers:
            continue
        p = params[s.name]
        mask = masks.setdefault(s.name, torch.zeros_like(p, dtype=torch.bool))
        if s.rows is None:
            mask[...] = True
        else:
            mask[list(s.rows)] = True
    return masks


def group_slices(model: nn.Module) -> dict[str, list[ParamSlice]]:
    """Slices by coarse group (``L0.attn_qkv``, ``L0.attn_out``, ..., ``embed``), no norms.

    >>> import interp
    >>> list(group_slices(interp.load_hf_model("suite/pythia-s1")))
    ['embed', 'L0.attn_qkv', 'L0.attn_out', 'L0.mlp_in', 'L0.mlp_out']
    """
    groups: dict[str, list[ParamSlice]] = {}
    for s in param_slices(model):
        if s.component != "norm":
            groups.setdefault(s.group, []).append(s)
    return groups


def check_groups(model: nn.Module, groups: Iterable[str]) -> None:
    """Raise a clear error for a group name this model does not have.

    >>> import interp
    >>> check_groups(interp.load_hf_model("suite/pythia-s1"), ["L9.mlp_in"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: ...CausalLM with 1 layers has no parameter group 'L9.mlp_in'; it has embed, L0.attn_qkv, L0.attn_out, L0.mlp_in, L0.mlp_out
    """
    model = hf_model(model)
    have = group_slices(model)
    for g in groups:
        if g not in have:
            raise ValueError(
                f"{type(model).__name__} with {model.config.num_hidden_layers} layers has no "
                f"parameter group {g!r}; it has {', '.join(have)}"
            )
