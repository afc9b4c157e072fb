"""Time the pattern-swap engine's two paths against a hand-written floor and its peers.

For each shape, two random-weight models (recipient, donor; same shape, other seeds), every
layer swapped, index head mapping, and the routes timed in interleaved repetitions:
  floor         donor eager forward keeping its patterns + recipient using them (swap_routes.py);
  engine        interp.interventions.PatternSwap(recipient_bridge, donor_bridge): the default,
                the transplant path (donor Q/K into fused attention);
  materialised  the same engine with path="materialised" (donor patterns, eager attention);
  bridge        donor_bridge.run_with_cache(patterns), then recipient_bridge.run_with_hooks;
  nnsight       nnsight's two traces on the .source site of HF's eager attention (optional:
                its column says why it is empty when nnsight is not installed).
Printed side by side: medians (ms), ratios (engine/floor, materialised/floor, bridge/engine,
nnsight/engine), peak memory above the weights per route (CUDA peak on a GPU; on CPU the peak
RSS of a subprocess per route, swap_memory.py), the largest logit difference of each route from
the floor, how far the swap moves the logits (so agreement means something), the donor state
held per layer at two lengths, and the pythia-6.9b-shape fit computed from it.

    python benchmarks/swap.py                   # CPU: two tiny shapes, about a minute
    python benchmarks/swap.py --shapes pythia-160m --batch 1 --seq 1024 --reps 3   # CPU target
    python benchmarks/swap.py --device cuda     # pythia-160m, pythia-1.4b, opt-1.3b; bf16, 8 x 512
    python benchmarks/swap.py --dry             # tiny shapes, few reps, no subprocesses (CI)
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import swap_memory  # noqa: E402
from swap_routes import SHAPES, boot_bridge, bridge_swap, build, floor_swap, nnsight_models, nnsight_swap, register_floor  # noqa: E402

DEFAULTS = {
    "cpu": dict(shapes=["tiny-pythia", "tiny-opt"], batch=4, seq=128, reps=15, dtype=torch.float32),
    "cuda": dict(shapes=["pythia-160m", "pythia-1.4b", "opt-1.3b"], batch=8, seq=512, reps=10,
                 dtype=torch.bfloat16),
}
ROUTES = ("floor", "engine", "materialised", "bridge", "nnsight")


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def cuda_peak_mib(fn, device) -> str:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats(device)
    resident = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize()
    return f"{(torch.cuda.max_memory_allocated(device) - resident) / 2**20:.0f}"


def make_routes(shape, args, device, dtype, workdir, only=None):
    """Route name -> zero-argument callable returning logits (or a string: why it is absent)."""
    from interp.interventions import PatternSwap

    register_floor()
    want = set(only or ROUTES)
    plain = {role: build(shape, seed, device, dtype) for role, seed in (("recipient", 0), ("donor", 1))}
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(10, SHAPES[shape][5], (args.batch, args.seq), generator=generator).to(device)
    routes, keep = {}, {"tokens": tokens}
    if want & {"engine", "materialised", "bridge"}:
        # Booting a Bridge wraps the HF modules in place: the other routes keep untouched copies.
        bridges = {role: boot_bridge(copy.deepcopy(m), workdir / f"{shape}-{role}") for role, m in plain.items()}
        keep["bridges"] = bridges
        engine = PatternSwap(bridges["recipient"], bridges["donor"])
        materialised = PatternSwap(bridges["recipient"], bridges["donor"], path="materialised")
        keep["engine"] = engine
        routes["engine"] = lambda: engine(tokens)
        routes["materialised"] = lambda: materialised(tokens)
        routes["bridge"] = lambda: bridge_swap(bridges["recipient"], bridges["donor"], tokens)
    if "nnsight" in want:
        try:
            wrapped = nnsight_models(*(copy.deepcopy(m) for m in plain.values()))
            routes["nnsight"] = lambda: nnsight_swap(*wrapped, tokens)
        except ImportError:
            routes["nnsight"] = "nnsight not installed"
    for model in plain.values():
        model.set_attn_implementation("swap_floor")
    routes["floor"] = lambda: floor_swap(plain["recipient"], plain["donor"], tokens)
    return {name: routes[name] for name in ROUTES if name in routes and name in want}, keep


@torch.no_grad()
def bench_shape(shape, args, device, dtype, workdir):
    routes, keep = make_routes(shape, args, device, dtype, workdir)
    logits, absent = {}, {}
    for name, fn in list(routes.items()):  # warm-up, and the correctness check
        if isinstance(fn, str):
            absent[name] = fn
            continue
        try:
            logits[name] = fn().float()
        except Exception as error:  # an optional peer that fails is reported, not fatal
            if name != "nnsight":
                raise
            absent[name] = f"failed: {type(error).__name__}: {str(error)[:60]}"
    live = {name: fn for name, fn in routes.items() if name in logits}
    times = {name: [] for name in live}
    for _ in range(args.reps):
        for name, fn in live.items():
            times[name].append(timed(fn, device)[0])
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    if device.type == "cuda":
        peaks = {name: cuda_peak_mib(fn, device) for name, fn in live.items()}
    elif args.dry:
        peaks = {name: "skipped (--dry)" for name in live}
    else:
        peaks = {name: swap_memory.route_rss_in_subprocess(name, shape, args.batch, args.seq, args.threads)
                 for name in live}
    diff = {name: (logits[name] - logits["floor"]).abs().max().item() for name in logits if name != "floor"}
    # The swap must move the logits, or the differences above would prove nothing.
    diff["moved"] = (keep["bridges"]["recipient"](keep["tokens"]).float() - logits["floor"]).abs().max().item()
    config = keep["engine"].donor_model.config
    state = swap_memory.donor_state_bytes(keep["engine"], keep["tokens"])
    state["heads"] = config.num_attention_heads
    state["d_head"] = config.hidden_size // config.num_attention_heads
    del routes, keep, live, logits
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return ms, peaks, diff, absent, state


def rss_route_main(args, device, dtype) -> int:
    """One route's peak RSS above its models, in this (fresh) process, as one JSON line."""
    with tempfile.TemporaryDirectory(prefix="swap-rss-") as tmp, torch.no_grad():
        routes, _keep = make_routes(args.shapes[0], args, device, dtype, Path(tmp), only=[args.rss_route])
        fn = routes[args.rss_route]
        if isinstance(fn, str):
            print(json.dumps({"skip": fn}))
            return 0
        mib, how = swap_memory.peak_rss_mib(fn)
        print(json.dumps({"mib": mib, "how": how}))
    return 0


def cell(value, width, fmt):
    return f"{format(value, fmt) if isinstance(value, float) else value:>{width}}"


def print_shape(shape, ms, peaks, diff, absent, state):
    ratio = lambda a, b: ms[a] / ms[b] if a in ms and b in ms else "-"  # noqa: E731
    print(f"{shape:<12}" + "".join(cell(ms.get(r, "-"), 16, ".2f") for r in ROUTES)
          + cell(ratio("engine", "floor"), 13, ".2f") + cell(ratio("materialised", "floor"), 13, ".2f")
          + cell(ratio("bridge", "engine"), 14, ".2f") + cell(ratio("nnsight", "engine"), 15, ".2f"), flush=True)
    print(f"{'':<12} peak MiB above weights: " + ", ".join(f"{r} {peaks.get(r, '-')}" for r in ROUTES if r in peaks))
    print(f"{'':<12} max|route-floor|: " + ", ".join(f"{r} {diff[r]:.2e}" for r in ROUTES if r in diff)
          + f"; max|floor-unswapped| {diff['moved']:.2e}")
    for name, why in absent.items():
        print(f"{'':<12} {name}: empty ({why})")
    (short, full), qk, pat = state["lengths"], state["qk"], state["pattern"]
    print(f"{'':<12} donor state per layer, seq {short} -> {full}: Q/K {qk[0]} -> {qk[1]} bytes "
          f"(x{qk[1] / qk[0]:.2f}); pattern {pat[0]} -> {pat[1]} bytes (x{pat[1] / pat[0]:.2f})")


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), help="default: by device")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--seq", type=int)
    parser.add_argument("--reps", type=int)
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default 1: on a busy machine OpenMP spin-waits dominate)")
    parser.add_argument("--dry", action="store_true",
                        help="tiny shapes on CPU, 2 x 32 tokens, 2 reps, no RSS subprocesses: checks it runs")
    parser.add_argument("--rss-route", choices=ROUTES, help=argparse.SUPPRESS)  # swap_memory's child
    args = parser.parse_args(argv)
    if args.dry:
        args.device, args.batch, args.seq, args.reps = "cpu", args.batch or 2, args.seq or 32, args.reps or 2
    return args


def run(argv=None) -> list[dict]:
    """Print the table for ``argv``'s shapes; return each shape's measurements (gpu_check.py)."""
    args = parse(argv)
    device = torch.device(args.device)
    defaults = DEFAULTS["cuda" if device.type == "cuda" else "cpu"]
    for key in ("shapes", "batch", "seq", "reps"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    dtype = defaults["dtype"]
    if args.rss_route:
        rss_route_main(args, device, dtype)
        return []
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"cpu, {torch.get_num_threads()} thread(s)")
    print(f"{name}; {dtype}; batch {args.batch} x seq {args.seq}; every layer swapped; "
          f"median of {args.reps} interleaved reps; ms per swap")
    print(f"{'shape':<12}" + "".join(f"{r + ' ms':>16}" for r in ROUTES)
          + f"{'engine/floor':>13}{'mater./floor':>13}{'bridge/engine':>14}{'nnsight/engine':>15}")
    results = []
    with tempfile.TemporaryDirectory(prefix="swap-bench-") as tmp:
        for shape in args.shapes:
            ms, peaks, diff, absent, state = bench_shape(shape, args, device, dtype, Path(tmp))
            print_shape(shape, ms, peaks, diff, absent, state)
            results.append(dict(shape=shape, ms=ms, peaks=peaks, diff=diff, absent=absent, state=state))
    fit, total = swap_memory.fit_6p9b(state, args.batch, state["heads"], state["d_head"], dtype)
    for line in fit:
        print(line)
    results[-1]["fit_bytes"] = total
    return results


def main(argv=None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
