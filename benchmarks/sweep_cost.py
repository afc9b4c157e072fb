"""What a paper-A sweep (16 models x 10 checkpoints) costs, from measured per-cell times.

Measures: the attention-swap study on one recipient/donor pair of random-weight checkpoints
at a real config (pythia-70m by default, Pythia's real tokenizer), on paper A's three task
kinds (MMLU mathematics, 5-shot from dev under the standard header; 2-digit addition; QQP-style
matching), ``--n`` items each (MMLU: each of the four subjects committed under tests/data), one evaluation seed, no sweeps, one torch thread. The run's
``results.json`` gives its cells and their compute seconds; one cell is one (recipient,
donor, condition, task) scored on n items.

Projects: a sweep of ``--models`` x ``--checkpoints`` recipients, each with the same cells as
the measured pair (its base and controls, one donor swap and that donor from another input,
and its row of the scaling view), at the measured seconds per cell scaled by parameters
(forward FLOPs ~ 2 x parameters x tokens) relative to the measured shape's. Paper
A's public text names its range (OPT and Pythia, 70M-30B) but not its 16 models: the default
sizes are the 15 OPT and Pythia sizes in that range; ``--sizes`` takes others. The output says
which numbers are measured and which projected.

    python benchmarks/sweep_cost.py                    # pythia-70m shape, n = 40
    python benchmarks/sweep_cost.py --n 100 --sizes 70e6 160e6 410e6
    python benchmarks/sweep_cost.py --from figures/mine/results.json   # an earlier run at --shape
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MMLU = ROOT / "tests" / "data" / "mmlu-hendrycks" / "data"
# The mathematics subjects committed under tests/data (the math preset's others are not).
SUBJECTS = ("abstract_algebra", "college_mathematics", "elementary_mathematics", "high_school_mathematics")
# OPT 125m..30b and Pythia 70m..12b: the published sizes in paper A's range (parameters).
PAPER_A_SIZES = (125e6, 350e6, 1.3e9, 2.7e9, 6.7e9, 13e9, 30e9, 70e6, 160e6, 410e6, 1.0e9,
                 1.4e9, 2.8e9, 6.9e9, 12e9)


def measure(shape: str, n: int, work: Path) -> dict:
    """Run the study once on a real-shape pair; its cells, their seconds, the shape's parameters."""
    from tests.checkpoints import real_shape_model, save_real_shape

    pair = [save_real_shape(shape, work / f"seed{seed}", seed=seed) for seed in (0, 1)]
    parameters = sum(p.numel() for p in real_shape_model(shape).parameters())
    out = work / "swap"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "studies" / "attention_swap.py"), "--models", str(pair[0]),
                    "--donors", str(pair[1]), "--tasks", "mmlu", "arithmetic_add", "qqp", "--mmlu", str(MMLU),
                    "--mmlu-shots", "5", "--mmlu-subjects", *SUBJECTS, "--n", str(n), "--no-sweeps",
                    "--threads", "1", "--out", str(out)], cwd=ROOT, text=True,
                   env=dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1"), capture_output=True)
    if done.returncode:
        raise SystemExit(f"the study run failed: {done.stderr.strip().splitlines()[-1]}")
    record = json.loads((out / "results.json").read_text())
    return dict(shape=shape, n=n, cells=record["cells"]["computed"],
                compute_seconds=record["cells"]["compute_seconds"], wall_seconds=time.perf_counter() - started,
                parameters=parameters)


def recorded(results_json: Path, shape: str) -> dict:
    """What an earlier run at ``shape`` measured: its cells and their compute seconds."""
    from tests.checkpoints import real_shape_model

    record = json.loads(Path(results_json).read_text())
    return dict(shape=shape, n=record["config"]["n"], cells=record["cells"]["computed"],
                compute_seconds=record["cells"]["compute_seconds"], wall_seconds=record["seconds"],
                parameters=sum(p.numel() for p in real_shape_model(shape).parameters()))


def project(measured: dict, sizes: list[float], checkpoints: int) -> list[dict]:
    per_cell = measured["compute_seconds"] / measured["cells"]
    rows = []
    for size in sizes:
        scale = max(size / measured["parameters"], 1.0)
        rows.append(dict(parameters=size, cells=measured["cells"] * checkpoints,
                         cpu_hours=measured["cells"] * checkpoints * per_cell * scale / 3600))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="pythia-70m", choices=["pythia-70m", "opt-125m"])
    parser.add_argument("--n", type=int, default=40, help="items per task (default 40)")
    parser.add_argument("--checkpoints", type=int, default=10, help="checkpoints per model (default 10)")
    parser.add_argument("--from", dest="measured", type=Path, default=None,
                        help="project from this run's results.json (a run at --shape) instead of measuring")
    parser.add_argument("--sizes", type=float, nargs="+", default=list(PAPER_A_SIZES),
                        help="parameter counts of the sweep's models (default: the 15 OPT/Pythia sizes in 70M-30B)")
    args = parser.parse_args(argv)
    if args.measured is not None:
        measured = recorded(args.measured, args.shape)
    else:
        with tempfile.TemporaryDirectory(prefix="interp-sweep-cost-") as work:
            measured = measure(args.shape, args.n, Path(work))
    per_cell = measured["compute_seconds"] / measured["cells"]
    print(f"measured: {args.shape} shape, n = {measured['n']} per task, one CPU thread: {measured['cells']} cells "
          f"in {measured['compute_seconds']:.1f} s of compute ({per_cell:.2f} s per cell; the whole run "
          f"{measured['wall_seconds']:.0f} s with loading), {measured['parameters'] / 1e6:.1f}M "
          "parameters")
    rows = project(measured, args.sizes, args.checkpoints)
    total_cells = sum(r["cells"] for r in rows)
    total_hours = sum(r["cpu_hours"] for r in rows)
    print(f"\nprojected: {len(args.sizes)} models x {args.checkpoints} checkpoints = "
          f"{len(args.sizes) * args.checkpoints} recipients, {total_cells} cells")
    print("| parameters | cells | CPU core-hours (projected) |\n|---|---|---|")
    for r in sorted(rows, key=lambda r: r["parameters"]):
        print(f"| {r['parameters'] / 1e6:,.0f}M | {r['cells']} | {r['cpu_hours']:,.1f} |")
    print(f"| all | {total_cells} | {total_hours:,.0f} |")
    if len(args.sizes) != 16:
        print(f"16 models at these sizes' mean: {16 * total_hours / len(args.sizes):,.0f} CPU core-hours")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
