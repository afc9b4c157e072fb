"""Tiny random-weight HF checkpoints for tests, and a reference forward that takes patterns.

The reference recomputes each family's forward pass from the HF modules' weights with the
attention pattern given, not computed: only V, the output projection, the MLPs and the norms
are used. It shares no code with interp.attention or TransformerLens, so agreeing with it
proves a pattern edit does what recomputing attention with the edited pattern would.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import GPTNeoXForCausalLM

from interp.tokenizer import build_word_tokenizer
from interp.toy import TOY_SHAPE, save_toy_checkpoint

WORDS = [f"w{i}" for i in range(40)]
SHAPE = TOY_SHAPE
FAMILIES = {"neox": "pythia", "opt": "opt", "opt350": "opt-post-ln"}


def build_tokenizer():
    return build_word_tokenizer(WORDS)


def save(name: str, directory: Path) -> Path:
    """Write the toy checkpoint of test family ``name`` ("neox", "opt", "opt350")."""
    return save_toy_checkpoint(directory, FAMILIES[name], words=WORDS)


def _heads(x: Tensor, n_heads: int) -> Tensor:
    b, s, d = x.shape
    return x.view(b, s, n_heads, d // n_heads).transpose(1, 2)


def _mix(pattern: Tensor, v: Tensor) -> Tensor:
    out = pattern @ v  # [b, h, q, d]
    b, h, q, d = out.shape
    return out.transpose(1, 2).reshape(b, q, h * d)


@torch.no_grad()
def reference_logits(model: nn.Module, tokens: Tensor, patterns: dict[int, Tensor]) -> Tensor:
    """Logits of ``model`` on ``tokens`` with layer L's attention pattern set to ``patterns[L]``."""
    if isinstance(model, GPTNeoXForCausalLM):
        return _neox_reference(model, tokens, patterns)
    return _opt_reference(model, tokens, patterns)


def _neox_reference(model, tokens, patterns):
    core, cfg = model.gpt_neox, model.config
    h = core.embed_in(tokens)
    n, d = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    for i, layer in enumerate(core.layers):
        x = layer.input_layernorm(h)
        qkv = layer.attention.query_key_value(x)  # rows per head: [q, k, v] each d wide
        b, s, _ = qkv.shape
        v = qkv.view(b, s, n, 3 * d)[..., 2 * d :].transpose(1, 2)
        attn = layer.attention.dense(_mix(patterns[i], v))
        mlp = layer.mlp(layer.post_attention_layernorm(h))
        h = h + attn + mlp  # parallel residual
    return model.lm_head(core.final_layer_norm(h))


def _opt_reference(model, tokens, patterns):
    dec, cfg = model.model.decoder, model.config
    positions = torch.arange(tokens.shape[1])[None] + 2  # OPT's learned-position offset
    x = dec.embed_tokens(tokens)
    if dec.project_in is not None:
        x = dec.project_in(x)
    h = x + dec.embed_positions.weight[positions]
    for i, layer in enumerate(dec.layers):
        pre_ln = cfg.do_layer_norm_before
        a_in = layer.self_attn_layer_norm(h) if pre_ln else h
        v = _heads(layer.self_attn.v_proj(a_in), cfg.num_attention_heads)
        h = h + layer.self_attn.out_proj(_mix(patterns[i], v))
        if not pre_ln:
            h = layer.self_attn_layer_norm(h)
        m_in = layer.final_layer_norm(h) if pre_ln else h
        h = h + layer.fc2(layer.activation_fn(layer.fc1(m_in)))
        if not pre_ln:
            h = layer.final_layer_norm(h)
    if dec.final_layer_norm is not None:
        h = dec.final_layer_norm(h)
    if dec.project_out is not None:
        h = dec.project_out(h)
    return model.lm_head(h)


def random_causal_pattern(batch: int, heads: int, length: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, heads, length, length, generator=g) * 3
    mask = torch.ones(length, length, dtype=torch.bool).triu(1)
    return scores.masked_fill(mask, float("-inf")).softmax(-1)
