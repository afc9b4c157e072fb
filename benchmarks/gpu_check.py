"""What benchmarks/gpu.sh runs: the swap benchmark at the GPU shapes and the attention-swap
study on CUDA in bf16 on random-weight real-shape checkpoints, with every check stated.

Each check prints one line ``CHECK <name>: PASS|FAIL|SKIP (<what was compared>)``; the exit
status is 1 when any check failed. ``--dry`` runs the same steps on CPU at tiny shapes
(benchmark ``--dry``; the study on the suite's smallest pair, fp32, a few examples): it proves
the script runs, and skips the speed targets, which mean nothing there.

    python benchmarks/gpu_check.py            # on a GPU machine (benchmarks/gpu.sh)
    python benchmarks/gpu_check.py --dry      # CPU, in CI (tests/unit/test_benchmarks_swap.py)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import swap  # noqa: E402

# The GPU targets (ratios of medians measured side by side in one run).
TARGETS = dict(engine_floor=0.8, bridge_engine=2.0, nnsight_engine=1.4)
FIT_BYTES = 80e9
FAILED: list[str] = []


def check(name: str, ok, detail: str) -> None:
    """Print one check; ``ok`` None means skipped."""
    verdict = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
    if ok is False:
        FAILED.append(name)
    print(f"CHECK {name}: {verdict} ({detail})", flush=True)


def benchmark_checks(results: list[dict], dry: bool) -> None:
    for row in results:
        shape, ms, diff, state = row["shape"], row["ms"], row["diff"], row["state"]
        tolerance = 1e-4 if dry else 0.1 * diff["moved"]  # fp32 vs bf16 kernels
        for route in ("engine", "materialised", "bridge"):
            check(f"{shape} {route} logits = floor's", diff[route] <= tolerance,
                  f"max|{route}-floor| {diff[route]:.2e} <= {tolerance:.2e}; the swap moves logits by "
                  f"{diff['moved']:.2e}")
        qk, pattern = state["qk"], state["pattern"]
        check(f"{shape} donor Q/K linear in seq", qk[1] == 2 * qk[0],
              f"{qk[0]} -> {qk[1]} bytes per layer when seq doubles (pattern {pattern[0]} -> {pattern[1]})")
        ratios = dict(engine_floor=ms["engine"] / ms["floor"], bridge_engine=ms["bridge"] / ms["engine"],
                      nnsight_engine=ms["nnsight"] / ms["engine"] if "nnsight" in ms else None)
        for name, target in TARGETS.items():
            value = ratios[name]
            wanted = f"<= {target}" if name == "engine_floor" else f">= {target}"
            if dry or value is None:
                why = "dry mode: CPU at tiny shapes" if dry else row["absent"].get("nnsight", "absent")
                check(f"{shape} {name.replace('_', '/')} {wanted}", None, f"{why}; measured "
                      + ("-" if value is None else f"{value:.2f}"))
                continue
            ok = value <= target if name == "engine_floor" else value >= target
            check(f"{shape} {name.replace('_', '/')} {wanted}", ok, f"measured {value:.2f}")
    total = results[-1]["fit_bytes"]
    check("pythia-6.9b 4x2048 bf16 fits one 80 GB GPU (computed)", total < FIT_BYTES,
          f"{total / 1e9:.1f} GB from the per-layer bytes measured at {results[-1]['shape']}")


def make_checkpoints(root: Path, dry: bool) -> tuple[str, str]:
    """Recipient and donor names for the study: real-shape random weights on a GPU run."""
    if dry:
        return "suite/pythia-s1", "suite/pythia-s1-seed1"
    from tests.checkpoints import save_real_shape

    return tuple(str(save_real_shape("pythia-70m", root / f"pythia-70m-seed{seed}", seed=seed))
                 for seed in (0, 1))


def study_checks(root: Path, dry: bool) -> None:
    recipient, donor = make_checkpoints(root, dry)
    out = root / "study"
    device = ["--device", "cpu", "--threads", "1"] if dry else ["--device", "cuda", "--dtype", "bf16"]
    command = [sys.executable, str(ROOT / "studies" / "attention_swap.py"), "--models", recipient,
               "--donors", donor, "--n", "8" if dry else "40", "--no-sweeps", "--out", str(out), *device]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    tail = " | ".join(done.stderr.strip().splitlines()[-2:])
    check("attention-swap study runs" + ("" if dry else " on CUDA, bf16, real-shape checkpoints"),
          done.returncode == 0, f"exit {done.returncode} in {seconds:.0f} s" + (f": {tail}" if done.returncode else ""))
    if done.returncode != 0:
        return
    results, items = pd.read_csv(out / "results.csv"), pd.read_csv(out / "items.csv.gz")
    # Per item, to the last bit: the same answer and loss as the base (cell means of equal
    # items can differ in the last bit when summed in another order).
    keys = ["recipient", "task", "seed", "item"]
    pairs = items[items.condition == "base"].merge(items[items.condition == "control:self"], on=keys)
    same = (pairs.loss_x == pairs.loss_y) & (pairs.chosen_x == pairs.chosen_y)
    check("study self-swap control changes nothing, per item", len(pairs) > 0 and bool(same.all()),
          f"{int(same.sum())} of {len(pairs)} items bitwise equal to the base "
          f"(max |delta loss| {(pairs.loss_x - pairs.loss_y).abs().max():.1e})")
    swapped = results[~results.condition.isin(["base", "control:self"])]
    check("study swaps move the loss", bool((swapped.delta_loss.abs() > 0).any()),
          f"{len(swapped)} swap/control rows, max |delta loss| {swapped.delta_loss.abs().max():.2e}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry", action="store_true", help="CPU, tiny shapes: checks that it runs")
    args = parser.parse_args(argv)
    results = swap.run(["--dry"] if args.dry else ["--device", "cuda"])
    benchmark_checks(results, args.dry)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        study_checks(Path(tmp), args.dry)
    print(f"{len(FAILED)} check(s) failed" + (f": {', '.join(FAILED)}" if FAILED else ""))
    return 1 if FAILED else 0


if __name__ == "__main__":
    raise SystemExit(main())
