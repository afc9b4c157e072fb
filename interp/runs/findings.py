"""Findings generated from the committed tables, and the README blocks that hold them.

Every number a reader sees in a study's README section comes from its tables:
1. a study's ``report`` writes its findings (markdown) from the tables alone;
2. ``run_study`` computes that report from the tables as re-read from disk, and writes it to
   ``FINDINGS.md`` beside them;
3. the README holds each study's block between ``<!-- begin generated: <study> -->`` and
   ``<!-- end generated -->``;
4. ``python -m interp.studies.findings`` rewrites those blocks from the committed tables, and
   a test fails when a block differs from what the tables give.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

ITEMS = "items"  # the per-item outcomes table, kept gzipped (it is the biggest by far)
END = "<!-- end generated -->"


def table_file(folder: Path | str, name: str) -> Path:
    """Where table ``name`` of a run lives in its output folder.

    >>> table_file("figures/x", "results").name, table_file("figures/x", "items").name
    ('results.csv', 'items.csv.gz')
    """
    return Path(folder) / (f"{name}.csv.gz" if name == ITEMS else f"{name}.csv")


def load_tables(folder: Path | str, names: list[str]) -> dict[str, pd.DataFrame]:
    """The named tables of a run's output folder, as a study's report reads them.

    Item ids are hex strings that can look like numbers, so they stay strings.

    >>> import tempfile
    >>> from interp.runs.files import save_table
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = save_table(pd.DataFrame({"item": ["0012"], "correct": [True]}), folder / "items.csv.gz")
    >>> load_tables(folder, ["items"])["items"].item.tolist()
    ['0012']
    """
    tables = {}
    for name in names:
        path = table_file(folder, name)
        if not path.is_file():
            raise FileNotFoundError(f"table {name!r} is missing: {path} (rerun the study that "
                                    "writes it)")
        tables[name] = pd.read_csv(path, dtype={"item": str})
    return tables


def begin_marker(study: str) -> str:
    """The line that opens ``study``'s generated block in the README."""
    return f"<!-- begin generated: {study} -->"


def readme_block(text: str, study: str) -> str:
    """The generated block of ``study`` in README ``text`` (without its markers).

    >>> readme_block("a\\n<!-- begin generated: s -->\\nx = 1\\n<!-- end generated -->\\nb", "s")
    'x = 1'
    """
    match = _block(study).search(text)
    if match is None:
        raise ValueError(f"the README has no generated block for {study!r}: add the lines "
                         f"{begin_marker(study)!r} and {END!r} to its section")
    return match.group("body").strip("\n")


def with_block(text: str, study: str, block: str) -> str:
    """README ``text`` with ``study``'s generated block replaced by ``block``.

    >>> with_block("<!-- begin generated: s -->\\nold\\n<!-- end generated -->", "s", "new")
    '<!-- begin generated: s -->\\nnew\\n<!-- end generated -->'
    """
    readme_block(text, study)  # a missing block fails here, naming the markers
    replacement = f"{begin_marker(study)}\n{block.strip()}\n{END}"
    return _block(study).sub(lambda _: replacement, text, count=1)


def findings_from(study: Any, folder: Path | str) -> str:
    """``study``'s findings as its committed tables in ``folder`` give them: the config and
    the table names come from the folder's results.json.

    ``study`` is a ``STUDY`` record (``interp.studies.<name>.STUDY``).
    """
    record = json.loads((Path(folder) / "results.json").read_text())
    if "tables" not in record:
        raise ValueError(f"{folder}/results.json lists no tables: it predates generated "
                         "findings; rerun the study")
    config = study.config(**record["config"])
    return study.report(load_tables(folder, record["tables"]), config).findings


def _block(study: str) -> re.Pattern:
    return re.compile(re.escape(begin_marker(study)) + r"\n(?P<body>.*?)" + re.escape(END),
                      re.DOTALL)
