"""Memory for benchmarks/swap.py: peak RSS of one route in a subprocess (CPU), the donor state
held per layer at two lengths, and the pythia-6.9b-shape fit computed from those bytes.

On CPU each route runs alone in a fresh process: models are built, freed heap is handed back
(``malloc_trim``), the peak-RSS mark is reset (``/proc/self/clear_refs``), the route runs once,
and the peak above the models is the route's. Where the mark cannot be reset, the peak above
the models is read from ``ru_maxrss`` instead (an upper bound: setup may have peaked higher).
"""

from __future__ import annotations

import ctypes
import gc
import json
import resource
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# pythia-6.9b (EleutherAI's config.json): 32 layers x 32 heads x d_head 128, d_model 4096,
# d_mlp 16384, vocab 50432, 6.86e9 parameters; the shape: bf16, batch 4 x 2048.
P69 = dict(layers=32, heads=32, d_head=128, d_model=4096, d_mlp=16384, vocab=50432, params=6.857e9,
           batch=4, seq=2048, bytes=2)
GPU_BYTES = 80e9


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_rss_mib(fn) -> tuple[float, str]:
    """Peak resident memory of ``fn()`` above what is resident now (MiB), and how it was read."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    resident = _status_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        how = "VmHWM"
    except OSError:
        how = "ru_maxrss"
    fn()
    peak = _status_kib("VmHWM") if how == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak - resident) / 1024, how


def route_rss_in_subprocess(route: str, shape: str, batch: int, seq: int, threads: int) -> str:
    """Run ``swap.py --rss-route`` for one route in a fresh process; its MiB as a string."""
    command = [sys.executable, str(HERE / "swap.py"), "--rss-route", route, "--shapes", shape,
               "--batch", str(batch), "--seq", str(seq), "--threads", str(threads), "--device", "cpu"]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"error ({tail[:60]})"
    found = json.loads(lines[-1])
    return found.get("skip") or f"{found['mib']:.0f}"


def donor_state_bytes(swap, tokens) -> dict[str, list[int]]:
    """Bytes held for donor layer 0 at half of ``tokens``' length and at all of it: the
    transplant path's Q/K and the materialised path's pattern."""
    lengths = (tokens.shape[1] // 2, tokens.shape[1])
    qk = [swap.donor_qk(tokens[:, :n])[0].nbytes for n in lengths]
    patterns = [swap.donor_patterns(tokens[:, :n])[0].untyped_storage().nbytes() for n in lengths]
    return {"lengths": list(lengths), "qk": qk, "pattern": patterns}


def fit_6p9b(state: dict, batch: int, heads: int, d_head: int, dtype: torch.dtype) -> tuple[list[str], float]:
    """Lines (and the transplant path's total bytes) computing whether a pythia-6.9b-shape swap at 4 x 2048 (bf16) fits in 80 GB,
    from the per-layer donor bytes measured here (scaled by elements and element size)."""
    seq, size = state["lengths"][1], torch.empty((), dtype=dtype).element_size()
    per_qk_element = state["qk"][1] / (batch * heads * seq * d_head * size)  # 2.0: Q and K
    per_pattern_element = state["pattern"][1] / (batch * heads * seq * seq * size)  # 1.0
    p = P69
    qk = per_qk_element * p["bytes"] * p["batch"] * p["heads"] * p["seq"] * p["d_head"] * p["layers"]
    patterns = per_pattern_element * p["bytes"] * p["batch"] * p["heads"] * p["seq"] ** 2 * p["layers"]
    weights = 2 * p["params"] * p["bytes"]  # donor and recipient
    tokens = p["batch"] * p["seq"]
    # The largest transients of one no-grad forward: the logits (kept in fp32 by HF's loss-free
    # path at most) and a few [tokens, d_mlp] / [tokens, d_model] activations alive at once.
    transient = tokens * p["vocab"] * 4 + 3 * tokens * p["d_mlp"] * p["bytes"] + 6 * tokens * p["d_model"] * p["bytes"]
    total_qk, total_pattern = weights + qk + transient, weights + patterns + transient
    gb = lambda b: f"{b / 1e9:.1f} GB"  # noqa: E731
    return [
        f"pythia-6.9b shape, bf16, {p['batch']} x {p['seq']}, every layer swapped (computed from the "
        f"measured per-layer bytes: {per_qk_element:.2f} x [b,h,s,d] for Q/K, "
        f"{per_pattern_element:.2f} x [b,h,s,s] for a pattern):",
        f"  weights (2 models) {gb(weights)}; donor Q/K, all layers {gb(qk)}; donor patterns, "
        f"all layers {gb(patterns)}; forward transients (estimate) {gb(transient)}",
        f"  transplant path {gb(total_qk)} ({'fits' if total_qk < GPU_BYTES else 'does NOT fit'} "
        f"in 80 GB); materialised path {gb(total_pattern)} "
        f"({'fits' if total_pattern < GPU_BYTES else 'does NOT fit'})",
    ], total_qk
