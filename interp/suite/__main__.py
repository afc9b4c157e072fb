"""``python -m interp.suite train|card``: train the suite, or evaluate it into its card."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from interp.loading import SUITE_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interp.suite", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train (or resume) the suite")
    train.add_argument("--out", type=Path, default=SUITE_DIR, help="weights folder")
    train.add_argument("--families", nargs="+", default=None, help="pythia, opt (default both)")
    train.add_argument("--sizes", nargs="+", default=None, help="s1..s5 (default all)")
    train.add_argument("--only", nargs="+", default=None, help="train only these model names")
    train.add_argument("--steps", type=int, default=None, help="optimizer steps per model")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--device", default="auto", help="cpu, cuda, or auto")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    train.add_argument("--force", action="store_true", help="retrain finished models")
    card = sub.add_parser("card", help="evaluate every suite model and write the card")
    card.add_argument("--out", type=Path, default=SUITE_DIR)
    card.add_argument("--n", type=int, default=200, help="examples per task")
    args = parser.parse_args(argv)

    import torch

    if args.command == "train":
        from interp.suite.models import FAMILIES, SIZES
        from interp.suite.train import DEFAULT_STEPS, train_suite

        if args.threads:
            torch.set_num_threads(args.threads)
        device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        train_suite(
            args.out, families=tuple(args.families or FAMILIES), sizes=tuple(args.sizes or SIZES),
            steps=args.steps or DEFAULT_STEPS, batch_size=args.batch_size, device=device,
            force=args.force, only=args.only,
        )
        return 0
    from interp.suite.card import write_card

    print(f"card: {write_card(args.out, n=args.n)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
