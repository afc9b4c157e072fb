"""Files written atomically: a reader never sees half a file, a crash never leaves one, and
two runs writing the same file at once both succeed (unique temporary names, atomic replace).

Every write in interp goes through ``atomic_path`` (one file) or ``atomic_dir`` (a folder).
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A unique temporary file beside ``path``; when the block ends cleanly it replaces
    ``path`` in one step, otherwise it is removed. The suffix is kept (writers that pick a
    format from it, such as matplotlib, still work).

    >>> with atomic_path("/tmp/interp-example.bin") as tmp:
    ...     _ = tmp.write_bytes(b"x")
    >>> Path("/tmp/interp-example.bin").read_bytes()
    b'x'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: Path | str, *, keep_existing: bool = False) -> Iterator[Path]:
    """A unique temporary folder beside ``path``, renamed to ``path`` when the block ends
    cleanly. An existing ``path`` is replaced, or kept when ``keep_existing`` (a finished
    copy from a parallel run), and the new one dropped.

    >>> with atomic_dir("/tmp/interp-example-dir") as tmp:
    ...     _ = (tmp / "a.txt").write_text("a")
    >>> sorted(p.name for p in Path("/tmp/interp-example-dir").iterdir())
    ['a.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        if path.exists() and keep_existing:
            return
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / "x")
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_atomic(path: Path | str, text: str) -> Path:
    """Write ``text`` to ``path`` atomically.

    >>> write_atomic("/tmp/interp-example.txt", "hello").read_text()
    'hello'
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def save_table(table: pd.DataFrame, path: Path | str) -> Path:
    """Write a tidy table as CSV, atomically; a ``.csv.gz`` path is gzipped with a fixed
    header time, so the same table always gives the same bytes (committed files stay put).

    >>> save_table(pd.DataFrame({"a": [1]}), "/tmp/interp-example.csv").name
    'interp-example.csv'
    >>> one = save_table(pd.DataFrame({"a": [1]}), "/tmp/interp-example.csv.gz").read_bytes()
    >>> one == save_table(pd.DataFrame({"a": [1]}), "/tmp/interp-example.csv.gz").read_bytes()
    True
    """
    text = table.to_csv(index=False)
    if not str(path).endswith(".gz"):
        return write_atomic(path, text)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    return path


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
