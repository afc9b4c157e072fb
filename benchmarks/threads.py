"""Why studies default to one torch thread: an evaluation timed with a core idle and with a
core busy, at one thread and at torch's default, side by side in one run.

A "busy core" is a second process spinning in pure Python (what another study, a compiler
or a notebook does to a shared machine). On CPU, torch's intra-op threads synchronise at
every op: when one of them shares a core with a busy process, every op waits for it.

    python benchmarks/threads.py                 # suite/pythia-s5, knowledge_mc, n = 100
    python benchmarks/threads.py --reps 5 --threads 1 2 4
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def time_eval(model, task, threads: int, reps: int) -> float:
    import torch

    import interp

    torch.set_num_threads(threads)
    interp.evaluate(model, [task], progress=False)  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        interp.evaluate(model, [task], progress=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="suite/pythia-s5")
    parser.add_argument("--task", default="knowledge_mc")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="thread counts to time (default: 1 and torch's default)")
    args = parser.parse_args(argv)

    import torch

    import interp

    default_threads = torch.get_num_threads()
    counts = args.threads or sorted({1, default_threads})
    model = interp.load_hf_model(args.model)
    task = interp.get_task(args.task, n=args.n)
    rows = []
    for threads in counts:
        idle = time_eval(model, task, threads, args.reps)
        stop = multiprocessing.Event()
        neighbour = multiprocessing.Process(target=spin, args=(stop,), daemon=True)
        neighbour.start()
        try:
            time.sleep(0.5)
            busy = time_eval(model, task, threads, args.reps)
        finally:
            stop.set()
            neighbour.join()
        rows.append((threads, idle, busy))
    print(f"{args.model}, {args.task} n={args.n}, {os.cpu_count()} cores, median of {args.reps}")
    print("| torch threads | idle s | one core busy s | busy / idle |")
    print("|---|---|---|---|")
    for threads, idle, busy in rows:
        print(f"| {threads}{' (torch default)' if threads == default_threads else ''} | "
              f"{idle:.2f} | {busy:.2f} | {busy / idle:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
