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


class ResultCache:
    """Result cells keyed by their configuration: computed once, written atomically, reused.

    A sweep asks for each cell by a dict key (model, revision, task, condition, ...); an
    interrupted sweep rerun finds the finished cells on disk and computes only the rest.
    ``force=True`` recomputes every cell asked for.

    >>> import tempfile
    >>> cache = ResultCache(tempfile.mkdtemp())
    >>> cache.get({"task": "t"}, lambda: pd.DataFrame({"accuracy": [0.5]})).accuracy.item()
    0.5
    >>> cache.get({"task": "t"}, lambda: 1 / 0).accuracy.item()  # cached: not recomputed
    0.5
    """

    def __init__(self, folder: Path | str, *, force: bool = False) -> None:
        self.folder = Path(folder)
        self.force = force
        self.computed = 0
        self.reused = 0

    def path(self, key: dict) -> Path:
        import hashlib
        import json

        digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
        return self.folder / f"{digest[:16]}.json"

    def get(self, key: dict, compute) -> pd.DataFrame:
        import json

        path = self.path(key)
        if path.is_file() and not self.force:
            self.reused += 1
            return pd.DataFrame(json.loads(path.read_text())["rows"])
        rows = compute()
        write_atomic(path, json.dumps({"key": key, "rows": rows.to_dict("records")}, default=str))
        self.computed += 1
        return rows
