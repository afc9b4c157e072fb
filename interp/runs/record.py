"""results.json: what a run was asked, with which software, how long it took, what it found."""

from __future__ import annotations

import dataclasses
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any


def versions() -> dict[str, str]:
    """Versions of the software a result depends on (from the installed distributions).

    >>> sorted(versions())
    ['interp', 'python', 'torch', 'transformer_lens', 'transformers']
    """
    found = {"python": platform.python_version()}
    for key, dist in (("torch", "torch"), ("transformers", "transformers"),
                      ("transformer_lens", "transformer-lens"), ("interp", "interp")):
        try:
            found[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[key] = "not installed"
    return found


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses as dicts, paths and tuples made plain."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def run_record(study: str, config: Any, *, seconds: float, cells: dict, **found: Any) -> str:
    """The text of results.json.

    >>> record = json.loads(run_record("demo", {"n": 1}, seconds=1.0, cells={}))
    >>> record["study"], record["config"], "transformer_lens" in record["versions"]
    ('demo', {'n': 1}, True)
    """
    record = dict(study=study, config=plain(config), **plain(found), seconds=round(seconds, 1),
                  cells=cells, versions=versions())
    return json.dumps(record, indent=2, default=str) + "\n"
