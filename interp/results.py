"""Result files written atomically: a reader never sees half a file, a crash never leaves one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd


def write_atomic(path: Path | str, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename.

    >>> write_atomic("/tmp/interp-example.txt", "hello").read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_table(table: pd.DataFrame, path: Path | str) -> Path:
    """Write a tidy table as CSV, atomically.

    >>> save_table(pd.DataFrame({"a": [1]}), "/tmp/interp-example.csv").name
    'interp-example.csv'
    """
    return write_atomic(path, table.to_csv(index=False))


def markdown_table(table: pd.DataFrame, *, floatfmt: str = ".3f", index: bool = True) -> str:
    """A GitHub-flavoured markdown table of ``table`` (no extra dependency).

    >>> print(markdown_table(pd.DataFrame({"acc": [0.5]}, index=["m"]), floatfmt=".2f"))
    |  | acc |
    |---|---|
    | m | 0.50 |
    """
    def cell(value) -> str:
        return format(value, floatfmt) if isinstance(value, float) else str(value)

    header = ([str(table.index.name or "")] if index else []) + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, row in table.iterrows():
        cells = ([str(key)] if index else []) + [cell(v) for v in row.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
