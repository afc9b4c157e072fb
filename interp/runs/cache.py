"""Result cells keyed by their configuration: computed once, written atomically, reused.

One key schema for every study: a cell's key is a dict holding the study's name and cache
version plus what the cell depends on (models enter as ``model_key(name)``: the name and a
fingerprint of its weights, so retrained weights never reuse old cells). The key's SHA-1
names the cell file; a cell that needs files of its own (fine-tuned weights, training
state) keeps them in ``artifacts(key)``, a folder named by the same digest.

A cell holds one table or several (``dict[str, DataFrame]``), with each table's row count:
a damaged cell, or one that reads back short, is recomputed with a warning naming its file.

Workers that share a cache (shards, ``interp.runs.shards``) compute a missing cell under an
exclusive lock on ``<digest>.lock`` and look for it again once they hold the lock: of two
workers racing on one cell, one computes it and the other reads it back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator, Union

try:
    import fcntl
except ImportError:  # not POSIX (Windows): one process per cache folder there
    fcntl = None

import pandas as pd

from interp.identity import fingerprint
from interp.runs.files import write_atomic

Cell = Union[pd.DataFrame, dict[str, pd.DataFrame]]


class ResultCache:
    """Cells of one study under ``folder``; ``force=True`` recomputes every cell asked for.

    >>> import tempfile
    >>> cache = ResultCache(tempfile.mkdtemp(), study="demo")
    >>> cache.get({"task": "t"}, lambda: pd.DataFrame({"accuracy": [0.5]})).accuracy.item()
    0.5
    >>> cache.get({"task": "t"}, lambda: 1 / 0).accuracy.item()  # cached: not recomputed
    0.5
    """

    def __init__(self, folder: Path | str, *, study: str, version: int = 1, force: bool = False) -> None:
        self.folder = Path(folder)
        self.study = study
        self.version = version
        self.force = force
        self.computed = 0
        self.reused = 0
        self.compute_seconds = 0.0  # wall time spent computing cells (a cell inside a cell once)
        self._depth = 0

    def full_key(self, key: dict) -> dict:
        """``key`` with the study and cache version every key carries."""
        return {"study": self.study, "v": self.version, **key}

    def digest(self, key: dict) -> str:
        text = json.dumps(self.full_key(key), sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def path(self, key: dict) -> Path:
        """The cell file of ``key``."""
        return self.folder / f"{self.digest(key)}.json"

    def artifacts(self, key: dict) -> Path:
        """A folder for the files of ``key``'s cell (created on demand by its writer).

        >>> cache = ResultCache("/tmp/c", study="demo")
        >>> cache.artifacts({"a": 1}).name == cache.path({"a": 1}).stem
        True
        """
        return self.folder / self.digest(key)

    @staticmethod
    def model_key(name: str) -> dict:
        """What a model contributes to a key: its name and a fingerprint of its weights."""
        return {"model": name, "weights": fingerprint(name)}

    def get(self, key: dict, compute: Callable[[], Cell]) -> Cell:
        """The cell of ``key``: read back if stored and whole, else computed and stored."""
        path = self.path(key)
        if not self.force and (cell := self._stored(path)) is not None:
            return cell
        with _locked(path.with_suffix(".lock")):
            # Another worker may have written the cell while this one waited for the lock.
            if not self.force and (cell := self._stored(path)) is not None:
                return cell
            return self._compute(key, path, compute)

    def _stored(self, path: Path) -> Cell | None:
        cell = self._read(path) if path.is_file() else None
        if cell is not None:
            self.reused += 1
        return cell

    def _compute(self, key: dict, path: Path, compute: Callable[[], Cell]) -> Cell:
        started, self._depth = time.perf_counter(), self._depth + 1
        try:
            cell = compute()
        finally:
            self._depth -= 1
            seconds = time.perf_counter() - started
            if self._depth == 0:
                self.compute_seconds += seconds
        tables = cell if isinstance(cell, dict) else {"": cell}
        payload = {name: {"rows": t.to_dict("records"), "n_rows": len(t), "columns": list(t.columns)}
                   for name, t in tables.items()}
        write_atomic(path, json.dumps({"key": self.full_key(key), "multi": isinstance(cell, dict),
                                       "seconds": round(seconds, 3), "tables": payload}, default=str))
        self.computed += 1
        return cell

    @staticmethod
    def _read(path: Path) -> Cell | None:
        try:
            stored = json.loads(path.read_text())
            tables = {}
            for name, t in stored["tables"].items():
                if len(t["rows"]) != t["n_rows"]:
                    raise ValueError(f"{len(t['rows'])} rows where {t['n_rows']} were written")
                tables[name] = pd.DataFrame(t["rows"], columns=t["columns"])
        except (ValueError, KeyError, TypeError, OSError) as error:
            warnings.warn(f"cached cell {path} is damaged ({error}); recomputing it", stacklevel=3)
            return None
        return tables if stored["multi"] else tables[""]


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_file`` (created if needed) for the block."""
    if fcntl is None:
        yield
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
