"""The real-shape attention-swap run, at an earlier commit and at this checkout, in one run.

The run a new user tries first (issue "real checkpoints at real scale"): two random-weight
checkpoints at pythia-70m's real config (seeds 0 and 1) with Pythia's real tokenizer, one
swapped with the other, on one real MMLU subject without a dev split plus 2-digit addition:

    studies/attention_swap.py --models A --donors B --mmlu MMLU --tasks arithmetic_add --n 40

The earlier commit runs from a ``git worktree`` of it (default 22ad900, before the scoring
engine and swap engine work); both sides use this checkout's ``.venv``, one torch thread, and
the same inputs. ``--together`` runs the two sides at once on two cores (an idle 2-core machine
holds one each); otherwise one after the other. Prints each side's seconds and their ratio.

    python benchmarks/real_scale_run.py                 # before = 22ad900
    python benchmarks/real_scale_run.py --before HEAD~3 --together
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SUBJECT = ROOT / "tests" / "data" / "mmlu-hendrycks" / "data" / "test" / "abstract_algebra_test.csv"


def inputs(work: Path) -> list[str]:
    """Build both checkpoints and the one-subject MMLU folder; the study's arguments."""
    from tests.checkpoints import save_real_shape

    models = [save_real_shape("pythia-70m", work / f"pythia70m-seed{seed}", seed=seed) for seed in (0, 1)]
    mmlu = work / "mmlu_one"
    mmlu.mkdir()
    shutil.copy(SUBJECT, mmlu / SUBJECT.name)
    return ["--models", str(models[0]), "--donors", str(models[1]), "--mmlu", str(mmlu),
            "--tasks", "arithmetic_add", "--n", "40", "--threads", "1"]


def start(root: Path, args: list[str], out: Path) -> tuple[subprocess.Popen, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(root),
               HF_HUB_OFFLINE="1")
    log = open(out.with_suffix(".log"), "w")
    process = subprocess.Popen([sys.executable, str(root / "studies" / "attention_swap.py"), *args,
                                "--out", str(out)], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, time.perf_counter()


def finish(process: subprocess.Popen, began: float) -> tuple[int, float]:
    code = process.wait()
    return code, time.perf_counter() - began


def conditions(cells: Path) -> Counter:
    """Cells per condition in a run's cache (the keys say what each computed)."""
    return Counter(json.loads(f.read_text())["key"].get("condition", "other")
                   for f in cells.glob("*.json"))


def like_for_like(work: Path, seconds: dict) -> None:
    """The same work on both sides: the after run's cells of the conditions the before run
    computed (their compute seconds, from the cells), plus its time outside cells."""
    before, after = work / "swap_before" / "cells", work / "swap_after" / "cells"
    old = conditions(before)
    stored = [json.loads(f.read_text()) for f in after.glob("*.json")]
    same = sum(c.get("seconds", 0.0) for c in stored if c["key"].get("condition", "other") in old)
    record = json.loads((work / "swap_after" / "results.json").read_text())
    outside = seconds["after"] - record["cells"]["compute_seconds"]
    print(f"cells: before {sum(old.values())}, after {len(stored)} (the run now adds "
          f"{len(stored) - sum(old.values())}: matched controls and donors from another input)")
    print(f"like for like, the before run's {sum(old.values())} cells' conditions: after "
          f"{same + outside:.1f} s (cells {same:.1f} s + loading and tables {outside:.1f} s) / before "
          f"{seconds['before']:.1f} s = {(same + outside) / seconds['before']:.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="22ad900", help="the earlier commit (default 22ad900)")
    parser.add_argument("--together", action="store_true", help="run both sides at once (two cores)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="interp-real-run-"))
    worktree = work / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.before],
                   check=True, capture_output=True)
    try:
        study_args = inputs(work)
        sides = {"before": worktree, "after": ROOT}
        seconds, codes, running = {}, {}, {}
        for side, root in sides.items():
            running[side] = start(root, study_args, work / f"swap_{side}")
            if not args.together:
                codes[side], seconds[side] = finish(*running.pop(side))
        while running:  # side by side: each side's time ends when its own process does
            for side in [s for s, (p, _) in running.items() if p.poll() is not None]:
                codes[side], seconds[side] = finish(*running.pop(side))
            time.sleep(0.5)
        for side in sides:
            print(f"{side:6s} {seconds[side]:7.1f} s  exit {codes[side]}  log {work / f'swap_{side}.log'}")
        print(f"after / before: {seconds['after'] / seconds['before']:.3f} "
              f"({'side by side' if args.together else 'one after the other'}, one thread each)")
        like_for_like(work, seconds)
        return 0 if codes["after"] == 0 else 1
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                       capture_output=True)


if __name__ == "__main__":
    raise SystemExit(main())
