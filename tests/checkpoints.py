"""Tiny random-weight HF checkpoints for tests, and a reference forward that takes patterns.

The reference recomputes each family's forward pass from the HF modules' weights with the
attention pattern given, not computed: only V, the output projection, the MLPs and the norms
are used. It shares no code with interp.attention or TransformerLens, so agreeing with it
proves a pattern edit does what recomputing attention with the edited pattern would.

``save_real_shape`` writes random-weight checkpoints at the real pythia-70m and opt-125m
shapes, with real BPE tokenizers from tests/data (see tests/data/README.md).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import AutoTokenizer, GPTNeoXForCausalLM

from interp.arch import arch_named
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


DATA = Path(__file__).resolve().parent / "data"
# The real configs' shapes (EleutherAI/pythia-70m's and facebook/opt-125m's config.json) as
# interp.arch new_config arguments; the special ids are those of the tokenizer saved with it.
REAL_SHAPES: dict[str, dict] = {
    "pythia-70m": dict(
        family="pythia", tokenizer="pythia-tokenizer",
        shape=dict(vocab_size=50304, d_model=512, n_layers=6, n_heads=8, d_mlp=2048, n_ctx=2048,
                   rotary_pct=0.25, tie_embeddings=False),
        special=dict(bos_token_id=0, eos_token_id=0),  # as pythia-70m's config (no pad id)
    ),
    "opt-125m": dict(
        family="opt", tokenizer="gpt2-tokenizer",
        shape=dict(vocab_size=50272, d_model=768, n_layers=12, n_heads=12, d_mlp=3072, n_ctx=2048,
                   tie_embeddings=True),
        # GPT-2's BPE set up as OPT's tokenizer is: it prepends BOS (<|endoftext|>, 50256,
        # standing in for OPT's </s>) and has a pad token of its own (<pad>, added at 50257).
        # opt-125m's config says bos=eos=2, pad=1: the ids of those tokens in OPT's dictionary.
        tokenizer_options=dict(add_bos_token=True, pad_token="<pad>", model_max_length=2048),
        special=dict(bos_token_id=50256, eos_token_id=50256, pad_token_id=50257),
    ),
}
INIT_STD = 0.02  # both real configs' initializer_range / init_std


def real_tokenizer(name: str, *, as_saved: bool = True):
    """The committed real BPE tokenizer of ``REAL_SHAPES[name]`` (Pythia's, or GPT-2's for OPT).

    ``as_saved``: with the options its checkpoint is saved with (OPT's BOS and pad); False gives
    the committed files as they are.
    """
    spec = REAL_SHAPES[name]
    options = spec.get("tokenizer_options", {}) if as_saved else {}
    return AutoTokenizer.from_pretrained(DATA / spec["tokenizer"], **options)


def real_shape_model(name: str, *, seed: int = 0) -> nn.Module:
    """A random-weight model at the real shape ``name`` ("pythia-70m" or "opt-125m"), fp32.

    HF's own init is skipped (it takes seconds at these sizes): matrices and embeddings are
    drawn uniform with std ``INIT_STD`` from a seeded generator, norms are identity and biases
    zero, as HF initialises them.
    """
    from transformers import initialization as hf_init  # transformers 5

    spec = REAL_SHAPES[name]
    arch = arch_named(spec["family"])
    config = arch.new_config(**spec["shape"], special=spec["special"], init_std=INIT_STD)
    with hf_init.no_init_weights():
        model = arch.new_model(config).eval()
    generator = torch.Generator().manual_seed(seed)
    bound = INIT_STD * 3**0.5  # uniform(-b, b) has std b / sqrt(3)
    with torch.no_grad():
        for parameter_name, p in model.named_parameters():  # tied weights come once
            if "norm" in parameter_name and parameter_name.endswith("weight"):
                p.fill_(1.0)
            elif parameter_name.endswith("bias"):
                p.zero_()
            else:
                p.uniform_(-bound, bound, generator=generator)
    return model


def save_real_shape(name: str, directory: Path, *, seed: int = 0) -> Path:
    """Write ``real_shape_model(name)`` and its real tokenizer to ``directory`` (safetensors).

    The vocabulary covers the tokenizer: pythia-70m's 50304 rows hold all 50280 ids of the
    committed Pythia tokenizer, opt-125m's 50272 all 50258 of GPT-2's and the added <pad>.
    """
    directory = Path(directory)
    tokenizer = real_tokenizer(name)
    model = real_shape_model(name, seed=seed)
    if len(tokenizer) > model.config.vocab_size:
        raise ValueError(f"{name}: tokenizer has {len(tokenizer)} ids, the model {model.config.vocab_size}")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


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


# --- Added for the transplant path (interp.interventions.transplant): a reference that also
# computes each layer's own pattern, from the weights, with its own rotary and scaling code.


def tiny_model(family: str, *, seed: int, d_model: int = 32, heads: int = 4, layers: int = 2,
               rotary_pct: float = 0.25, init_std: float = 0.1) -> nn.Module:
    """A random-weight plain HF model (``"pythia"`` or ``"opt"``), fp32, eval; init std 0.1 so
    patterns are far from uniform. Pythia's rotary share defaults to the real models' 25%."""
    arch = arch_named(family)
    extra = dict(rotary_pct=rotary_pct) if family == "pythia" else {}
    config = arch.new_config(vocab_size=len(WORDS) + 3, d_model=d_model, n_layers=layers, n_heads=heads,
                             d_mlp=2 * d_model, n_ctx=64, init_std=init_std, **extra,
                             special=dict(pad_token_id=0, bos_token_id=1, eos_token_id=2))
    torch.manual_seed(seed)
    return arch.new_model(config).eval()


def _rotate(x: Tensor, base: float, rotary_dims: int) -> Tensor:
    """GPT-NeoX rotary on the first ``rotary_dims`` of each head (half-split convention)."""
    if rotary_dims == 0:
        return x
    positions = torch.arange(x.shape[-2], dtype=torch.float32)
    inverse = 1.0 / base ** (torch.arange(0, rotary_dims, 2, dtype=torch.float32) / rotary_dims)
    angles = torch.outer(positions, inverse).repeat(1, 2)  # [pos, rotary_dims]
    rot, rest = x[..., :rotary_dims], x[..., rotary_dims:]
    half = rotary_dims // 2
    turned = torch.cat([-rot[..., half:], rot[..., :half]], -1)
    return torch.cat([rot * angles.cos() + turned * angles.sin(), rest], -1)


def _own_pattern(q: Tensor, k: Tensor) -> Tensor:
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    future = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(-1)


@torch.no_grad()
def reference_logits_live(model: nn.Module, tokens: Tensor, edit) -> Tensor:
    """``reference_logits`` where layer L's pattern is ``edit(L, own)``, ``own`` being the
    pattern the layer's own queries and keys give in this very forward (causal, no padding),
    computed here from the weights (rotary and scaling included), not by HF's attention code.
    ``edit=lambda layer, own: own`` reproduces the model's forward."""
    cfg = model.config
    n = cfg.num_attention_heads
    d = cfg.hidden_size // n
    seen: dict[int, Tensor] = {}
    if isinstance(model, GPTNeoXForCausalLM):
        layers = model.gpt_neox.layers
        rotary = int(d * cfg.rope_parameters.get("partial_rotary_factor", 1.0))
        base = cfg.rope_parameters["rope_theta"]
        sites = [layer.attention.query_key_value for layer in layers]

        def queries_keys(i: int) -> tuple[Tensor, Tensor]:
            qkv = seen[i]  # [b, s, heads * 3 * d], rows per head [q, k, v]
            b, s, _ = qkv.shape
            per_head = qkv.view(b, s, n, 3 * d).transpose(1, 2)
            return (_rotate(per_head[..., :d], base, rotary), _rotate(per_head[..., d : 2 * d], base, rotary))
    else:
        attns = [layer.self_attn for layer in model.model.decoder.layers]
        sites = [a.v_proj for a in attns]

        def queries_keys(i: int) -> tuple[Tensor, Tensor]:
            x = seen[i]  # the attention input (v_proj's input)
            return _heads(attns[i].q_proj(x), n), _heads(attns[i].k_proj(x), n)

    def keep(i: int, use_input: bool):
        def hook(module, args, output):
            seen[i] = args[0] if use_input else output
        return hook

    class Live(dict):
        def __getitem__(self, i: int) -> Tensor:
            return edit(i, _own_pattern(*queries_keys(i)))

    handles = [site.register_forward_hook(keep(i, not isinstance(model, GPTNeoXForCausalLM)))
               for i, site in enumerate(sites)]
    try:
        return reference_logits(model, tokens, Live())
    finally:
        for handle in handles:
            handle.remove()


def reference_patterns(model: nn.Module, tokens: Tensor) -> dict[int, Tensor]:
    """Every layer's own pattern on ``tokens``, from ``reference_logits_live``."""
    kept: dict[int, Tensor] = {}

    def record(layer: int, own: Tensor) -> Tensor:
        kept[layer] = own
        return own

    reference_logits_live(model, tokens, record)
    return kept
