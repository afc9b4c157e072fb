"""OPT: learned positions (offset 2), separate q/k/v projections, queries pre-scaled.

opt-350m is post-LN with ``project_in`` / ``project_out`` (512 <-> 1024) and no final norm;
every other size is pre-LN. The Bridge calls HF's attention function on OPT and fires
``hook_pattern`` after the fact, so interp binds the Bridge's HookPoints into its slots.
"""

from __future__ import annotations

from typing import Any, Optional

from interp.arch.record import Arch, set_only


def new_config(
    *, vocab_size: int, d_model: int, n_layers: int, n_heads: int, d_mlp: int, n_ctx: int,
    special: Optional[dict] = None, post_ln: bool = False, init_std: Optional[float] = None,
    tie_embeddings: Optional[bool] = None, dropout: Optional[float] = None,
) -> Any:
    """An ``OPTConfig`` of this shape; ``post_ln`` gives opt-350m's layout.

    >>> new_config(vocab_size=10, d_model=8, n_layers=1, n_heads=2, d_mlp=32, n_ctx=16).ffn_dim
    32
    """
    from transformers import OPTConfig

    options = set_only(init_std=init_std, tie_word_embeddings=tie_embeddings,
                       dropout=dropout, attention_dropout=dropout)
    return OPTConfig(
        vocab_size=vocab_size, hidden_size=d_model, num_hidden_layers=n_layers,
        num_attention_heads=n_heads, ffn_dim=d_mlp, max_position_embeddings=n_ctx,
        word_embed_proj_dim=d_model // 2 if post_ln else d_model,
        do_layer_norm_before=not post_ln, activation_function="relu",
        **options, **(special or {}),
    )


ARCH = Arch(
    family="opt",
    hf_class="OPTForCausalLM",
    attention_path="model.decoder.layers.{layer}.self_attn",
    value_path="model.decoder.layers.{layer}.self_attn.v_proj",
    fused_qkv=None,
    component_table=(
        (("embed_tokens", "embed_positions", "project_in"), "embed"),
        (("q_proj",), "q"), (("k_proj",), "k"), (("v_proj",), "v"),
        (("out_proj",), "o"),
        (("fc1",), "mlp_in"), (("fc2",), "mlp_out"),
        (("layer_norm",), "norm"),
        (("lm_head", "project_out"), "unembed"),
    ),
    new_config=new_config,
    bridge_binds_slots=True,
    bridge_fixes=("unflatten_post_ln",),
    prescaled_queries=True,
)
