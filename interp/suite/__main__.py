"""``python -m interp.suite train|card|probe``: train the suite, evaluate it into its card, or
probe whether a suite shape forms an induction circuit (``--data repeats``) or learns the
suite's ICL format (``--data icl``) within a step budget."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from interp.sources import SUITE_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interp.suite", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train (or resume) the suite")
    train.add_argument("--out", type=Path, default=SUITE_DIR, help="weights folder")
    train.add_argument("--families", nargs="+", default=None, help="pythia, opt (default both)")
    train.add_argument("--sizes", nargs="+", default=None, help="s1..s5 (default all)")
    train.add_argument("--only", nargs="+", default=None, help="train only these model names")
    train.add_argument("--steps", type=int, default=None, help="phase-1 (corpus) steps per model")
    train.add_argument("--icl-steps", type=int, default=None,
                       help="phase-2 (ICL phase) steps per model; 0 skips the phase")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--device", default="auto", help="cpu, cuda, or auto")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    train.add_argument("--force", action="store_true", help="retrain finished models")
    card = sub.add_parser("card", help="evaluate every suite model and write the card")
    card.add_argument("--out", type=Path, default=SUITE_DIR)
    card.add_argument("--n", type=int, default=200, help="examples per task")
    card.add_argument("--only", nargs="+", default=None,
                      help="score only these models (new ones) and keep the others' rows")
    probe = sub.add_parser("probe", help="train a fresh shape on repeated spans (or ICL prompts); "
                                         "report the induction plateau (or ICL accuracy)")
    probe.add_argument("--data", choices=("repeats", "icl"), default="repeats",
                       help="repeats: induction probe; icl: long ICL prompts, scored at 0 and 8 shots")
    probe.add_argument("--family", default="pythia", help="pythia or opt")
    probe.add_argument("--size", default="s3", help="s1..s5")
    probe.add_argument("--steps", type=int, default=4000)
    probe.add_argument("--lr", type=float, default=3e-3)
    probe.add_argument("--eval-every", type=int, default=250)
    probe.add_argument("--rotary-pct", type=float, default=None,
                       help="pythia only: share of head dims under rotary (default Pythia's 0.25)")
    probe.add_argument("--icl-fraction", type=float, default=1.0,
                       help="--data icl: share of rows that are ICL prompts, the rest suite corpus")
    probe.add_argument("--start", default=None,
                       help="--data icl: train this model (e.g. suite/opt-s5@step2000) instead of a fresh shape")
    probe.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    probe.add_argument("--out", type=Path, default=None,
                       help="CSV path (default figures/suite/<induction|icl>_probe_<model>[-rot<pct>][-icl<fraction>].csv)")
    args = parser.parse_args(argv)
    if args.command == "train" and ((args.steps is not None and args.steps < 1)
                                    or (args.icl_steps is not None and args.icl_steps < 0)):
        parser.error("--steps must be positive and --icl-steps at least 0")
    if args.command == "probe":
        from interp.suite.models import FAMILIES, SIZES

        if args.family not in FAMILIES or args.size not in SIZES:
            parser.error(f"--family must be one of {', '.join(FAMILIES)} and --size one of "
                         f"{', '.join(SIZES)}; got {args.family!r} and {args.size!r}")
        if args.steps < 1 or args.eval_every < 1:
            parser.error("--steps and --eval-every must be positive")
        if args.rotary_pct is not None and (args.family != "pythia" or not 0 < args.rotary_pct <= 1):
            parser.error("--rotary-pct needs --family pythia and a value in (0, 1]; OPT has no rotary")
        if not 0 < args.icl_fraction <= 1 or (args.icl_fraction != 1 and args.data != "icl"):
            parser.error("--icl-fraction needs --data icl and a value in (0, 1]")
        if args.start is not None and (args.data != "icl" or args.rotary_pct is not None):
            parser.error("--start needs --data icl and no --rotary-pct (the start model keeps its own)")

    import torch

    if args.command == "train":
        from interp.suite.models import FAMILIES, SIZES
        from interp.suite.train import DEFAULT_STEPS, ICL_PHASE_STEPS, train_suite

        if args.threads:
            torch.set_num_threads(args.threads)
        device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        train_suite(
            args.out, families=tuple(args.families or FAMILIES), sizes=tuple(args.sizes or SIZES),
            steps=args.steps or DEFAULT_STEPS,
            icl_steps=ICL_PHASE_STEPS if args.icl_steps is None else args.icl_steps, batch_size=args.batch_size, device=device,
            force=args.force, only=args.only,
        )
        return 0
    if args.command == "probe":
        return _probe(args)
    from interp.suite.card import write_card

    print(f"card: {write_card(args.out, n=args.n, only=args.only)}")
    return 0


def _probe(args: argparse.Namespace) -> int:
    import dataclasses

    import pandas as pd
    import torch

    from interp.runs.files import save_table
    from interp.suite.probe import icl_probe, induction_probe, plot_icl_probes, plot_probes

    if args.threads:
        torch.set_num_threads(args.threads)
    common = dict(steps=args.steps, lr=args.lr, eval_every=args.eval_every,
                  rotary_pct=args.rotary_pct, progress=True)
    name = f"{args.family}-{args.size}" if args.start is None else args.start.removeprefix("suite/")
    if args.rotary_pct is not None:
        name += f"-rot{args.rotary_pct:g}"
    if args.data == "icl":
        points = icl_probe(args.family, args.size, icl_fraction=args.icl_fraction,
                           start=args.start, **common)
        if args.icl_fraction != 1:
            name += f"-icl{args.icl_fraction:g}"
        default, plot = Path("figures/suite") / f"icl_probe_{name}.csv", plot_icl_probes
    else:
        points = induction_probe(args.family, args.size, **common)
        default, plot = Path("figures/suite") / f"induction_probe_{name}.csv", plot_probes
    table = pd.DataFrame([dataclasses.asdict(p) for p in points])
    out = args.out or default
    save_table(table, out)
    print(table.to_string(index=False))
    print(f"probe: {out}, {plot(out.parent)[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
