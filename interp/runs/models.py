"""Model lists for sweeps: brace lists and checkpoint ranges, identical weights run once,
and loaded models held one group at a time.

``expand_models`` reads the shell's brace syntax, so a sweep is one argument:
- ``EleutherAI/pythia-{70m,160m,410m}@step143000``: a list;
- ``EleutherAI/pythia-160m@step{1000..143000..10000}``: a range with a step, every member
  checked against the checkpoints that exist;
- ``EleutherAI/pythia-160m@step{0..512}``: a range without a step, the published checkpoints
  in that interval (Pythia: step0, step1..step512 in powers of two, then every 1000; the
  suite: what its folder holds).
Quote such an argument in a shell (or the shell expands the braces itself, without checks).
"""

from __future__ import annotations

import gc
import re
import warnings
from collections import OrderedDict
from typing import Any, Callable, Iterable, Optional

import torch

from interp.identity import identical_checkpoints
from interp.sources import PYTHIA_STEPS, SUITE_DIR, SUITE_PREFIX, suite_models

_BRACE = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*(?:\.\.\s*(-?\d+)\s*)?")


def published_steps(base: str) -> Optional[tuple[int, ...]]:
    """The checkpoint steps ``base`` (a name without ``@``) publishes, or None when unknown.

    >>> published_steps("EleutherAI/pythia-70m")[:12]
    (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)
    >>> 2000 in published_steps("suite/pythia-s3"), published_steps("facebook/opt-125m")
    (True, None)
    """
    if re.fullmatch(r"EleutherAI/pythia-[\w.-]+", base):
        return PYTHIA_STEPS
    if base.startswith(SUITE_PREFIX) and base in suite_models():
        folder = SUITE_DIR / base[len(SUITE_PREFIX):] / "checkpoints"
        names = (p.name for p in folder.iterdir()) if folder.is_dir() else ()
        return tuple(sorted(int(n[4:]) for n in names if re.fullmatch(r"step\d+", n)))
    return None


def expand_models(names: Iterable[str]) -> list[str]:
    """Every name with its braces expanded (left to right), repeats dropped, order kept.

    >>> expand_models(["EleutherAI/pythia-{70m,160m}@step143000"])
    ['EleutherAI/pythia-70m@step143000', 'EleutherAI/pythia-160m@step143000']
    >>> expand_models(["EleutherAI/pythia-160m@step{1000..31000..10000}"])[-1]
    'EleutherAI/pythia-160m@step31000'
    >>> expand_models(["EleutherAI/pythia-160m@step{0..8}"])
    ['EleutherAI/pythia-160m@step0', 'EleutherAI/pythia-160m@step1', 'EleutherAI/pythia-160m@step2', 'EleutherAI/pythia-160m@step4', 'EleutherAI/pythia-160m@step8']
    >>> expand_models(["EleutherAI/pythia-160m@step{500..1500..500}"])
    Traceback (most recent call last):
    ...
    ValueError: EleutherAI/pythia-160m@step{500..1500..500} names step500, which EleutherAI/pythia-160m does not publish (it publishes step0, step1, step2, ..., step142000, step143000; nearest: step128, step256, step512); fix the range's start or step
    """
    out: list[str] = []
    for name in names:
        _check_braces(str(name))
        out.extend(_expand(str(name), str(name)))
    return list(dict.fromkeys(out))


def _check_braces(name: str) -> None:
    depth = 0
    for char in name:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth > 1 or depth < 0:
            break
    if depth != 0:
        raise ValueError(f"{name!r}: unbalanced or nested braces; write one {{a,b}} or "
                         "{start..end..step} per part, side by side")


def _expand(text: str, original: str) -> list[str]:
    match = _BRACE.search(text)
    if match is None:
        return [text]
    head, tail = text[:match.start()], text[match.end():]
    body = match[1]
    ranged = _RANGE.fullmatch(body)
    if ranged:
        members = _range_members(head, tail, ranged, original)
    elif "," in body:
        members = [m.strip() for m in body.split(",")]
        if not all(members):
            raise ValueError(f"{original!r}: an empty member in {{{body}}}")
    else:
        raise ValueError(f"{original!r}: {{{body}}} is neither a list {{a,b}} nor a range "
                         "{start..end} / {start..end..step}")
    return [done for member in members for done in _expand(head + member + tail, original)]


def _range_members(head: str, tail: str, ranged: re.Match, original: str) -> list[str]:
    start, end = int(ranged[1]), int(ranged[2])
    if start > end:
        raise ValueError(f"{original!r}: the range runs from {start} down to {end}; write start <= end")
    base = head.split("@", 1)[0]
    checks_steps = "@" in head and head.endswith("@step")
    steps = published_steps(base) if checks_steps else None
    if ranged[3] is None:
        if steps is None:
            return [str(v) for v in range(start, end + 1)]
        inside = [s for s in steps if start <= s <= end]
        if not inside:
            raise ValueError(f"{original!r}: {base} publishes no checkpoint between step{start} and step{end}")
        return [str(s) for s in inside]
    step = int(ranged[3])
    if step < 1:
        raise ValueError(f"{original!r}: the range step must be >= 1, got {step}")
    values = list(range(start, end + 1, step))
    for value in values if steps is not None else ():
        if value not in steps:
            nearest = sorted(sorted(steps, key=lambda s: (abs(s - value), s))[:3])
            raise ValueError(
                f"{original} names step{value}, which {base} does not publish (it publishes "
                f"{_schedule(steps)}; nearest: {', '.join(f'step{s}' for s in nearest)}); "
                "fix the range's start or step")
    return [str(v) for v in values]


def _schedule(steps: tuple[int, ...]) -> str:
    shown = [f"step{s}" for s in steps]
    return ", ".join(shown) if len(shown) <= 6 else ", ".join(shown[:3] + ["..."] + shown[-2:])


def distinct_models(names: Iterable[str], *, cache_dir: Optional[str] = None) -> tuple[list[str], dict[str, str]]:
    """``names`` with every checkpoint whose weights equal an earlier one's dropped, and the
    map dropped -> kept (reported by a warning: a sweep computes each distinct model once).

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     kept, same = distinct_models(["suite/pythia-s1", "suite/opt-s1", "suite/pythia-s1@main"])
    >>> kept, same, len(caught)
    (['suite/pythia-s1', 'suite/opt-s1'], {'suite/pythia-s1@main': 'suite/pythia-s1'}, 1)
    """
    names = list(dict.fromkeys(names))
    if len(names) < 2:  # nothing to compare: do not hash a lone local checkpoint's files
        return names, {}
    same = {dup: group[0] for group in identical_checkpoints(names, cache_dir=cache_dir)
            for dup in group[1:]}
    for dup, kept in same.items():
        warnings.warn(f"{dup} has the same weights as {kept} (identical sha256 blobs): computed once, "
                      f"as {kept}", IdenticalWeightsWarning, stacklevel=2)
    return [n for n in names if n not in same], same


class IdenticalWeightsWarning(UserWarning):
    """Two names of one sweep load byte-identical weights."""


class ModelPool:
    """Loaded models, at most ``capacity`` at once: asking for another frees the least
    recently used one (its references dropped, ``gc.collect()``, and on CUDA the allocator's
    cache emptied), so a sweep's memory is that of ``capacity`` models, not of all of them.

    >>> pool = ModelPool(lambda name: name.upper(), capacity=1)
    >>> pool.get("a"), pool.get("b"), list(pool.loaded)
    ('A', 'B', ['b'])
    """

    def __init__(self, load: Callable[[str], Any], *, capacity: int = 2) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.load, self.capacity = load, capacity
        self.loaded: OrderedDict[str, Any] = OrderedDict()
        self.loads = 0

    def get(self, name: str) -> Any:
        """The model ``name``, loading it (and freeing the oldest) if it is not held."""
        if name in self.loaded:
            self.loaded.move_to_end(name)
            return self.loaded[name]
        while len(self.loaded) >= self.capacity:
            self.loaded.popitem(last=False)
            free_memory()
        self.loaded[name] = self.load(name)
        self.loads += 1
        return self.loaded[name]

    def clear(self) -> None:
        """Free every held model."""
        self.loaded.clear()
        free_memory()


def free_memory() -> None:
    """Collect what dropped models left behind; on CUDA, return cached blocks to the driver."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
