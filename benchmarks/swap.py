"""Time the pattern-swap engine against a hand-written floor and the Bridge route.

For each shape, two random-weight models (recipient, donor; same shape, other seeds), every
layer swapped, index head mapping, and three routes timed in interleaved repetitions:
  floor   a minimal plain-HF swap written here, independent of interp.interventions: its own attention
          function (registered as "swap_floor") keeps the donor's patterns, stops the donor
          after the last layer, and in the recipient uses them without computing its own;
  engine  interp.interventions.PatternSwap(recipient_bridge, donor_bridge);
  bridge  donor_bridge.run_with_cache(patterns), then recipient_bridge.run_with_hooks(replace).
Medians (ms), ratios, peak memory above the weights (CUDA only), the largest logit difference
of engine and bridge from the floor, and how far the swap moves the logits (so agreement means
something) are printed side by side. Weights use init std 0.1, so patterns are not near-uniform.

    python benchmarks/swap.py                        # CPU: two tiny shapes, in well under a minute
    python benchmarks/swap.py --device cuda   # pythia-160m, pythia-1.4b, opt-1.3b; bf16, 8 x 512
    python benchmarks/swap.py --shapes pythia-160m --batch 4 --seq 256 --reps 20
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# name: (family, hidden, layers, heads, ffn, vocab)
SHAPES = {
    "tiny-pythia": ("pythia", 128, 4, 4, 512, 1024),
    "tiny-opt": ("opt", 128, 4, 8, 512, 1024),
    "pythia-160m": ("pythia", 768, 12, 12, 3072, 50304),
    "pythia-1.4b": ("pythia", 2048, 24, 16, 8192, 50304),
    "opt-1.3b": ("opt", 2048, 24, 32, 8192, 50272),
}
DEFAULTS = {
    "cpu": dict(shapes=["tiny-pythia", "tiny-opt"], batch=4, seq=128, reps=15, dtype=torch.float32),
    "cuda": dict(shapes=["pythia-160m", "pythia-1.4b", "opt-1.3b"], batch=8, seq=512, reps=10,
                 dtype=torch.bfloat16),
}
FLOOR = "swap_floor"


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

    hf.config.save_pretrained(workdir)
    build_word_tokenizer(["a"]).save_pretrained(workdir)
    tokenizer = AutoTokenizer.from_pretrained(workdir)  # the Bridge wants one read from disk
    param = next(hf.parameters())
    bridge = TransformerBridge.boot_transformers(
        str(workdir), hf_model=hf, tokenizer=tokenizer, device=param.device, dtype=param.dtype
    )
    return interp.make_patterns_live(bridge, self_test=False)


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def peak_mib(fn, device) -> str:
    if device.type != "cuda":
        return "n/a"
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats(device)
    resident = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize()
    return f"{(torch.cuda.max_memory_allocated(device) - resident) / 2**20:.0f}"


@torch.no_grad()
def bench_shape(shape, args, device, dtype, workdir):
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    from interp.interventions.pattern_swap import PatternSwap

    AttentionInterface.register(FLOOR, floor_attention)
    AttentionMaskInterface.register(FLOOR, eager_mask)
    roles = (("recipient", 0), ("donor", 1))
    plain = {role: build(shape, seed, device, dtype) for role, seed in roles}
    # Booting a Bridge wraps the HF modules in place: the floor keeps untouched copies.
    bridges = {role: boot_bridge(copy.deepcopy(m), workdir / f"{shape}-{role}")
               for role, m in plain.items()}
    for model in plain.values():
        model.set_attn_implementation(FLOOR)
    engine = PatternSwap(bridges["recipient"], bridges["donor"])
    vocab = SHAPES[shape][5]
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(10, vocab, (args.batch, args.seq), generator=generator).to(device)
    routes = {
        "floor": lambda: floor_swap(plain["recipient"], plain["donor"], tokens),
        "engine": lambda: engine(tokens),
        "bridge": lambda: bridge_swap(bridges["recipient"], bridges["donor"], tokens),
    }
    logits = {name: fn().float() for name, fn in routes.items()}  # warm-up, and a correctness check
    times = {name: [] for name in routes}
    for _ in range(args.reps):
        for name, fn in routes.items():
            times[name].append(timed(fn, device)[0])
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    peaks = {name: peak_mib(fn, device) for name, fn in routes.items()}
    diff = {name: (logits[name] - logits["floor"]).abs().max().item()
            for name in ("engine", "bridge")}
    # The swap must move the logits, or the differences above would prove nothing.
    diff["moved"] = (bridges["recipient"](tokens).float() - logits["floor"]).abs().max().item()
    del plain, bridges, engine, logits
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return ms, peaks, diff


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), help="default: by device")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--seq", type=int)
    parser.add_argument("--reps", type=int)
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default 1: shapes are tiny, and on a busy machine "
                             "OpenMP spin-waits would dominate)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    defaults = DEFAULTS["cuda" if device.type == "cuda" else "cpu"]
    for key in ("shapes", "batch", "seq", "reps"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    dtype = defaults["dtype"]
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"cpu, {torch.get_num_threads()} thread(s)")
    print(f"{name}; {dtype}; batch {args.batch} x seq {args.seq}; every layer swapped; "
          f"median of {args.reps} interleaved reps")
    header = (f"{'shape':<12} {'floor ms':>9} {'engine ms':>10} {'bridge ms':>10} "
              f"{'engine/floor':>13} {'bridge/engine':>14} {'peak MiB floor/engine/bridge':>29} "
              f"{'max|engine-floor|':>18} {'max|bridge-floor|':>18} {'max|floor-unswapped|':>21}")
    print(header)
    with tempfile.TemporaryDirectory(prefix="swap-bench-") as tmp:
        for shape in args.shapes:
            ms, peaks, diff = bench_shape(shape, args, device, dtype, Path(tmp))
            print(f"{shape:<12} {ms['floor']:>9.2f} {ms['engine']:>10.2f} {ms['bridge']:>10.2f} "
                  f"{ms['engine'] / ms['floor']:>13.2f} {ms['bridge'] / ms['engine']:>14.2f} "
                  f"{'/'.join(peaks.values()):>29} {diff['engine']:>18.2e} "
                  f"{diff['bridge']:>18.2e} {diff['moved']:>21.2e}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
