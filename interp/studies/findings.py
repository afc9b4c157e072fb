"""Rewrite (or check) the README's generated study blocks from the committed tables.

    python -m interp.studies.findings          # rewrite the blocks that differ
    python -m interp.studies.findings --check  # exit 1 when one differs
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interp.runs.files import write_atomic
from interp.runs.findings import findings_from, with_block
from interp.studies.attention_swap import STUDY as ATTENTION_SWAP
from interp.studies.icl_circuits import STUDY as ICL_CIRCUITS
from interp.studies.task_interference import STUDY as TASK_INTERFERENCE

STUDIES = {s.name: s for s in (ATTENTION_SWAP, TASK_INTERFERENCE, ICL_CIRCUITS)}
ROOT = Path(__file__).resolve().parents[2]


def synced(readme_text: str, root: Path = ROOT) -> str:
    """``readme_text`` with every study's block as its committed tables under
    ``root/figures/<study>`` give it."""
    for name, study in STUDIES.items():
        readme_text = with_block(readme_text, name, findings_from(study, root / "figures" / name))
    return readme_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rewrite the README's generated study blocks "
                                     "from the committed tables under figures/.")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 when a block differs from its tables")
    args = parser.parse_args(argv)
    original = args.readme.read_text()
    text = synced(original)
    if args.check:
        print("README blocks match the tables" if text == original else
              "README blocks differ from the tables: run python -m interp.studies.findings")
        return int(text != original)
    if text != original:
        write_atomic(args.readme, text)
    print(f"{args.readme}: {'updated' if text != original else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
