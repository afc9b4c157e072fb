"""Smoke demo of the toolkit, end to end, in under a minute on a laptop CPU.

Until the embedded model suite ships, it builds two tiny random-weight checkpoints of the
same shape, one GPT-NeoX (Pythia) and one OPT, loads them through ``interp.load_model``
(self-test included), and scores three tasks under four conditions: unhooked, uniform
attention, a cross-family pattern swap, and a self-swap control that must change nothing.
Random weights score near chance: the point is that every edit takes effect, measurably.

    python studies/demo.py [--out figures/demo] [--n 40]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

TASKS = ("knowledge_mc", "arithmetic_add", "qqp")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures/demo"), help="output folder")
    parser.add_argument("--n", type=int, default=40, help="examples per task")
    args = parser.parse_args(argv)

    import hooks
    import interp
    from interp.runs.files import save_table
    from interp.toy import save_toy_checkpoint

    workdir = Path(tempfile.mkdtemp(prefix="interp-demo-"))
    words = interp.tasks.task_words()
    recipient = interp.load_model(save_toy_checkpoint(workdir / "pythia", "pythia", words=words))
    donor = interp.load_model(save_toy_checkpoint(workdir / "opt", "opt", words=words, seed=1))
    tasks = [interp.tasks.get_task(name, n=args.n, seed=0) for name in TASKS]
    names = [f"blocks.{i}.attn.hook_pattern" for i in range(recipient.cfg.n_layers)]

    def patterns_of(model):
        def make_hooks(tokens):
            store: dict = {}
            model.run_with_hooks(tokens, fwd_hooks=[(n, hooks.capture(store)) for n in names])
            return [(n, hooks.replace_pattern(store)) for n in names]

        return make_hooks

    conditions = {
        "base": [],
        "uniform": [(n, hooks.uniform_pattern()) for n in names],
        "swap from opt": patterns_of(donor),
        "self-swap (control)": patterns_of(recipient),
    }
    rows = [
        interp.evaluate(recipient, tasks, fwd_hooks=spec, condition=label, name="toy pythia")
        for label, spec in conditions.items()
    ]
    table = pd.concat(rows, ignore_index=True)
    base = table[table.condition == "base"].set_index("task")
    table["delta_loss"] = table.loss - table.task.map(base.loss)
    control = table[table.condition == "self-swap (control)"]
    if control.delta_loss.abs().max() > 1e-5:
        raise SystemExit("self-swap changed the loss: the pattern path is broken")
    save_table(table, args.out / "results.csv")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(f"\nrandom-weight toy models: accuracies sit near chance; the loss moves under every "
          f"edit and not under the self-swap control.\nresults: {args.out / 'results.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
