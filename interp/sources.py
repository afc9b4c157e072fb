"""Model names -> where their files are: hub ids, Pythia revisions, local folders, the suite.

``resolve`` turns a name into a ``ModelSource`` without loading anything. What a name's
weights are (fingerprints, content identity) is ``interp.identity``'s.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

SUITE_PREFIX = "suite/"
SUITE_DIR = Path(__file__).parent / "suite" / "weights"

# Pythia's published revisions: step0, step1..step512 in powers of two, then every 1000.
PYTHIA_STEPS = (0, *(2**i for i in range(10)), *range(1000, 143001, 1000))


class ModelNotFoundError(FileNotFoundError):
    """The model's files are neither local, nor cached, nor reachable."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files come from.

    >>> resolve("EleutherAI/pythia-160m@step3000").revision
    'step3000'
    """

    name: str
    location: str
    revision: Optional[str]
    is_local: bool


def resolve(name_or_path: Union[str, os.PathLike], revision: Optional[str] = None) -> ModelSource:
    """Turn a user's model name into a location and revision, without loading anything.

    >>> resolve("facebook/opt-125m").location
    'facebook/opt-125m'
    """
    text = os.fspath(name_or_path)
    base, _, step = text.partition("@")
    if step:
        if revision is not None:
            raise ValueError(
                f"{text!r} names revision {step!r} and revision={revision!r} was passed too: "
                "give one of them"
            )
        revision = step
    if base.startswith(SUITE_PREFIX):
        return _resolve_suite(base[len(SUITE_PREFIX):], revision)
    path = Path(base).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(
                f"{path} is a file; load_model wants a directory holding config.json, "
                "the weights (*.safetensors) and the tokenizer files"
            )
        if revision is not None:
            return _resolve_local_revision(path, revision)
        return ModelSource(text, str(path), None, True)
    if revision is not None and base.startswith("EleutherAI/pythia"):
        _check_pythia_revision(base, revision)
    if revision is not None and base.startswith("facebook/opt"):
        raise ValueError(
            f"{base} has no training-step revisions on the hub (only the final weights): "
            "drop the @stepN, or use a Pythia model for training dynamics"
        )
    if "/" not in base or base.startswith((".", "/", "~")):
        raise ModelNotFoundError(
            f"{base!r} is neither a local directory nor a hub id (owner/name) nor a suite model "
            f"({SUITE_PREFIX}<name>): check the path"
        )
    return ModelSource(text, base, revision, False)


def _check_pythia_revision(name: str, revision: str) -> None:
    match = re.fullmatch(r"step(\d+)", revision)
    if match is None:
        if revision != "main":
            raise ValueError(f"Pythia revision {revision!r} is not of the form stepN (or 'main')")
        return
    step = int(match.group(1))
    if step not in PYTHIA_STEPS:
        nearest = sorted(PYTHIA_STEPS, key=lambda s: abs(s - step))[:3]
        raise ValueError(
            f"{name} has no checkpoint at step {step}: Pythia saves step0, step1..step512 in powers "
            f"of two, then every 1000 steps to step143000. Nearest: "
            + ", ".join(f"step{s}" for s in sorted(nearest))
        )


def _resolve_local_revision(path: Path, revision: str) -> ModelSource:
    # Intermediate checkpoints live in folders named by step: beside the final weights' files,
    # or under checkpoints/ (the suite's layout).
    for folder in (path, path / "checkpoints"):
        if (folder / revision).is_dir():
            return ModelSource(f"{path}@{revision}", str(folder / revision), None, True)
    available = sorted(
        p.name
        for folder in (path, path / "checkpoints") if folder.is_dir()
        for p in folder.iterdir() if p.is_dir() and p.name.startswith("step")
    )
    raise ModelNotFoundError(
        f"{path} has no checkpoint {revision!r}; available: {', '.join(available) or 'none'}"
    )


def suite_models() -> list[str]:
    """Names of the embedded suite models shipped in this checkout.

    >>> suite_models()  # doctest: +ELLIPSIS
    ['suite/opt-s1', ..., 'suite/pythia-s1', ..., 'suite/pythia-s5']
    >>> "suite/pythia-s3-seed1" in suite_models()
    True
    """
    if not SUITE_DIR.is_dir():
        return []
    return sorted(
        SUITE_PREFIX + p.name for p in SUITE_DIR.iterdir() if (p / "config.json").is_file()
    )


def _resolve_suite(name: str, revision: Optional[str]) -> ModelSource:
    path = SUITE_DIR / name
    if not (path / "config.json").is_file():
        available = suite_models()
        hint = (
            f"available: {', '.join(available)}"
            if available
            else "no suite weights are present: train them with `python -m interp.suite train`"
        )
        raise ModelNotFoundError(f"unknown suite model {SUITE_PREFIX + name!r}; {hint}")
    source = ModelSource(SUITE_PREFIX + name, str(path), None, True)
    if revision is None or revision == "main":
        return source
    checkpoints = path / "checkpoints"
    candidate = checkpoints / revision
    if not (candidate / "config.json").is_file():
        steps = sorted(
            (p.name for p in checkpoints.iterdir() if p.is_dir()) if checkpoints.is_dir() else [],
            key=lambda s: int(s[4:]) if s[4:].isdigit() else -1,
        )
        raise ModelNotFoundError(
            f"suite model {SUITE_PREFIX}{name} has no checkpoint {revision!r}; available: "
            f"{', '.join(steps) or 'none (only the final weights)'}"
        )
    return ModelSource(f"{SUITE_PREFIX}{name}@{revision}", str(candidate), None, True)
