"""The swap routes that benchmarks/swap.py times: the floor, the Bridge, nnsight, and the models.

floor   a minimal plain-HF swap written here, independent of interp.interventions: its own
        attention function (registered as "swap_floor") keeps the donor's patterns, stops the
        donor after the last layer, and in the recipient uses them without computing its own;
bridge  donor_bridge.run_with_cache(patterns), then recipient_bridge.run_with_hooks(replace);
nnsight two traces on HF's eager attention: save the donor's post-softmax patterns at the
        ``.source`` site of the attention function, then set them in the recipient (optional:
        ``nnsight_models`` raises ImportError when nnsight is not installed). Written against
        nnsight 0.8.1's documented API and the site the notes measured; not yet run here (no
        nnsight in this environment): the benchmark reports its failure in its column.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# name: (family, hidden, layers, heads, ffn, vocab)
SHAPES = {
    "tiny-pythia": ("pythia", 128, 4, 4, 512, 1024),
    "tiny-opt": ("opt", 128, 4, 8, 512, 1024),
    "pythia-160m": ("pythia", 768, 12, 12, 3072, 50304),
    "pythia-1.4b": ("pythia", 2048, 24, 16, 8192, 50304),
    "opt-1.3b": ("opt", 2048, 24, 32, 8192, 50272),
}
FLOOR = "swap_floor"
# nnsight's name for the dropout call inside HF's eager attention function, where the
# post-softmax pattern is (the site measured with nnsight 0.8.1; see the notes).
NNSIGHT_SITE = ("attention_interface_1", "nn_functional_dropout_0")


class _Floor:
    """What the floor's attention function does on this call: nothing, capture or replace."""

    mode: str | None = None
    last: int = -1
    store: dict = {}


class _Stop(Exception):
    pass


def floor_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Eager attention that captures the donor's patterns or uses them in the recipient."""
    if _Floor.mode == "replace":
        pattern = _Floor.store.pop(module.layer_idx)  # the recipient's own pattern is never needed
    else:
        scale = query.shape[-1] ** -0.5 if scaling is None else scaling
        scores = torch.matmul(query, key.transpose(-1, -2)) * scale
        if attention_mask is not None:
            scores = scores + attention_mask[..., : key.shape[-2]]
        pattern = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
        if _Floor.mode == "capture":
            _Floor.store[module.layer_idx] = pattern
            if module.layer_idx == _Floor.last:
                raise _Stop
    return torch.matmul(pattern, value).transpose(1, 2).contiguous(), None


def register_floor() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(FLOOR, floor_attention)
    AttentionMaskInterface.register(FLOOR, eager_mask)


def floor_swap(recipient, donor, tokens):
    _Floor.mode, _Floor.store, _Floor.last = "capture", {}, donor.config.num_hidden_layers - 1
    try:
        donor.base_model(input_ids=tokens, use_cache=False)
    except _Stop:
        pass
    _Floor.mode = "replace"
    try:
        return recipient(input_ids=tokens, use_cache=False).logits
    finally:
        _Floor.mode = None


def bridge_swap(recipient, donor, tokens):
    names = [f"blocks.{i}.attn.hook_pattern" for i in range(recipient.cfg.n_layers)]
    _, cache = donor.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    fwd_hooks = [(n, lambda t, hook: cache[hook.name]) for n in names]
    return recipient.run_with_hooks(tokens, fwd_hooks=fwd_hooks)


def nnsight_models(recipient, donor):
    """nnsight wrappers of two plain HF models on HF's eager attention (ImportError without nnsight)."""
    from nnsight import NNsight

    for model in (recipient, donor):
        model.set_attn_implementation("eager")
    return NNsight(recipient), NNsight(donor)


def _nnsight_site(wrapped, layer: int):
    from interp.arch import arch_of

    attention = wrapped
    for part in arch_of(wrapped._model).attention_path.format(layer=layer).split("."):
        attention = attention[int(part)] if part.isdigit() else getattr(attention, part)
    function, dropout = NNSIGHT_SITE
    return getattr(getattr(attention.source, function).source, dropout)


def nnsight_swap(recipient, donor, tokens):
    """Two traces: the donor's patterns saved at every layer, then set in the recipient."""
    layers = range(recipient._model.config.num_hidden_layers)
    with donor.trace(tokens):
        saved = [_nnsight_site(donor, i).output.save() for i in layers]
    with recipient.trace(tokens):
        for i in layers:
            _nnsight_site(recipient, i).output = saved[i]
        logits = recipient.output.logits.save()
    return logits


def build(shape: str, seed: int, device, dtype):
    from transformers import AutoModelForCausalLM, GPTNeoXConfig, OPTConfig

    family, hidden, layers, heads, ffn, vocab = SHAPES[shape]
    common = dict(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                  num_attention_heads=heads, max_position_embeddings=2048,
                  pad_token_id=0, bos_token_id=1, eos_token_id=2)
    if family == "pythia":
        config = GPTNeoXConfig(intermediate_size=ffn, rotary_pct=0.25, use_parallel_residual=True,
                               initializer_range=0.1, **common)
    else:
        config = OPTConfig(ffn_dim=ffn, word_embed_proj_dim=hidden, do_layer_norm_before=True,
                           init_std=0.1, **common)
    torch.manual_seed(seed)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype).eval()


def boot_bridge(hf, workdir: Path):
    """A live Bridge around ``hf`` (the config and a tokenizer on disk; no weights written)."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import AutoTokenizer

    import interp
    from interp.tokenizer import build_word_tokenizer

    workdir.mkdir(parents=True, exist_ok=True)
    hf.config.save_pretrained(workdir)
    build_word_tokenizer(["a"]).save_pretrained(workdir)
    tokenizer = AutoTokenizer.from_pretrained(workdir)  # the Bridge wants one read from disk
    param = next(hf.parameters())
    bridge = TransformerBridge.boot_transformers(
        str(workdir), hf_model=hf, tokenizer=tokenizer, device=param.device, dtype=param.dtype
    )
    return interp.make_patterns_live(bridge, self_test=False)
