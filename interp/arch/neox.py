"""GPT-NeoX (Pythia): rotary on a share of each head, parallel residual, fused QKV.

The fused ``attention.query_key_value`` weight is ``[3 * hidden, hidden]``, laid out per head
as ``[head, (q, k, v), d_head]``; ``Arch.qkv_rows`` names the rows of each.
"""

from __future__ import annotations

from typing import Any, Optional

from interp.arch.record import Arch, set_only


def new_config(
    *, vocab_size: int, d_model: int, n_layers: int, n_heads: int, d_mlp: int, n_ctx: int,
    special: Optional[dict] = None, rotary_pct: float = 0.25, init_std: Optional[float] = None,
    tie_embeddings: Optional[bool] = None, dropout: Optional[float] = None,
) -> Any:
    """A ``GPTNeoXConfig`` of this shape; options left None keep transformers' defaults.

    ``rotary_pct``: the share of each head's dimensions under rotary (0.25 in every Pythia).

    >>> config = new_config(vocab_size=10, d_model=8, n_layers=1, n_heads=2, d_mlp=32, n_ctx=16)
    >>> config.rope_parameters["partial_rotary_factor"]
    0.25
    """
    from transformers import GPTNeoXConfig

    if not 0 < rotary_pct <= 1:
        raise ValueError(f"rotary_pct must be in (0, 1], got {rotary_pct}")
    options = set_only(initializer_range=init_std, tie_word_embeddings=tie_embeddings,
                       attention_dropout=dropout, hidden_dropout=dropout)
    return GPTNeoXConfig(
        vocab_size=vocab_size, hidden_size=d_model, num_hidden_layers=n_layers,
        num_attention_heads=n_heads, intermediate_size=d_mlp, max_position_embeddings=n_ctx,
        use_parallel_residual=True, rotary_pct=rotary_pct, **options, **(special or {}),
    )


ARCH = Arch(
    family="pythia",
    hf_class="GPTNeoXForCausalLM",
    attention_path="gpt_neox.layers.{layer}.attention",
    value_path="gpt_neox.layers.{layer}.attention.query_key_value",
    fused_qkv="query_key_value",
    component_table=(
        (("embed_in",), "embed"),
        (("attention.dense",), "o"),
        (("dense_h_to_4h",), "mlp_in"),
        (("dense_4h_to_h",), "mlp_out"),
        (("layernorm", "layer_norm"), "norm"),
        (("embed_out", "lm_head"), "unembed"),
    ),
    new_config=new_config,
    bridge_binds_slots=False,
    rotary=True,
)
