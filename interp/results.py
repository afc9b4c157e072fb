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
