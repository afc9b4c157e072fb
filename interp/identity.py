"""What a model's weights are, read offline: a fingerprint for cache keys, content identity.

``fingerprint`` names a model's weights by content where it can (local files, hub blobs in
the HF cache), so cached results follow the weights, not the name. ``content_fingerprint``,
``identical_checkpoints`` and ``warn_identical`` tell when two names hold the same weights
(Pythia ships step branches byte-identical to main: EleutherAI/pythia#205, #206).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

from interp.sources import ModelNotFoundError, resolve

def fingerprint(name_or_path: Union[str, os.PathLike], revision: Optional[str] = None) -> str:
    """A short id of a model's weights, for keying cached results to the weights they came from.

    Local directories (and suite models) hash each weights file's name, size and first and
    last 64 KiB, so retrained weights under the same name never reuse stale results, at no
    real cost for large checkpoints. Hub ids whose weights are in the HF cache are keyed by
    their ``content_fingerprint`` (the sha256 names of the cached weight blobs), so a moved
    branch gets a new key. Hub ids not (wholly) cached are keyed by name and revision: offline,
    the commit behind a branch and its files cannot be looked up (pass ``--force`` if it moved).

    >>> fingerprint("suite/pythia-s1") == fingerprint("suite/pythia-s1")
    True
    >>> fingerprint("suite/pythia-s1") != fingerprint("suite/opt-s1")
    True
    """

    source = resolve(name_or_path, revision)
    if not source.is_local:
        digest = _hub_identity(source.name, source.location, source.revision, None).digest
        if digest is not None:
            return digest[:12]
    # Local weights are keyed by content alone, so a moved or cloned checkout keeps its cache.
    digest = hashlib.sha1(b"local" if source.is_local else f"{source.location}@{source.revision}".encode())
    if source.is_local:
        files = sorted(p for pattern in ("*.safetensors", "*.bin")
                       for p in Path(source.location).glob(pattern))
        for path in files:
            size = path.stat().st_size
            digest.update(f"{path.name}:{size}".encode())
            with path.open("rb") as handle:
                digest.update(handle.read(1 << 16))
                handle.seek(max(0, size - (1 << 16)))
                digest.update(handle.read(1 << 16))
    return digest.hexdigest()[:12]


# --- Content identity: which names hold byte-identical weights -----------------------------

# Weight formats, preferred first: the single-file name and the sharded index's name.
_FORMATS = (("safetensors", "model.safetensors", "model.safetensors.index.json"),
            ("bin", "pytorch_model.bin", "pytorch_model.bin.index.json"))
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HASHED: dict[tuple, str] = {}  # (real path, size, mtime_ns, inode) -> sha256 of the bytes
PathLike = Union[str, os.PathLike]


class IdenticalCheckpointsWarning(UserWarning):
    """Names in one sweep hold the same weights (or share a weight shard)."""


@dataclass(frozen=True)
class WeightsIdentity:
    """A name's weights by content: ``digests`` maps each whole format found ("safetensors",
    "bin") to a sha256 over its files' names and sha256s; ``shards`` maps each weight file of
    the preferred format to its sha256; ``reason`` says how they were read or why they weren't.

    >>> weights_identity("suite/pythia-s1").digest == content_fingerprint("suite/pythia-s1")
    True
    """

    name: str
    digests: dict = field(default_factory=dict)
    shards: dict = field(default_factory=dict)
    reason: str = ""

    @property
    def digest(self) -> Optional[str]:
        """The preferred format's digest (safetensors first), or None when none was readable."""
        return next(iter(self.digests.values()), None)


def weights_identity(name_or_path: PathLike, revision: Optional[str] = None, *,
                     cache_dir: Optional[PathLike] = None) -> WeightsIdentity:
    """Read a model's weights identity offline; never raises for a missing or unknown model.

    Hub ids read the HF cache (``cache_dir``, else ``huggingface_hub.constants.HF_HUB_CACHE``,
    read at call time): ``refs/<revision>`` names the commit, each snapshot file links to
    ``blobs/<sha256>``, and an LFS blob's name is its content's sha256, so nothing is hashed.
    Local folders (and the suite) hash their weight files, once per process.

    >>> weights_identity("EleutherAI/pythia-70m@step1000", cache_dir="/nowhere").reason
    ... # doctest: +ELLIPSIS
    'EleutherAI/pythia-70m@step1000: no weights in the HF cache at /nowhere for revision step1000...'
    """
    text = os.fspath(name_or_path)
    name = text if revision is None else f"{text}@{revision}"  # as the caller named it
    try:
        source = resolve(text, revision)
    except (ModelNotFoundError, ValueError) as error:
        return WeightsIdentity(name, reason=f"{name}: {error}")
    if source.is_local:
        return _local_identity(name, Path(source.location))
    return _hub_identity(name, source.location, source.revision, cache_dir)


def content_fingerprint(name_or_path: PathLike, revision: Optional[str] = None, *,
                        cache_dir: Optional[PathLike] = None) -> Optional[str]:
    """sha256 naming a model's weight bytes: the same for every name or copy that holds them.

    None when the weights cannot be read offline (a hub id not in the HF cache, an unknown
    name); ``weights_identity(name).reason`` says why.

    >>> content_fingerprint("suite/pythia-s1") == content_fingerprint("suite/pythia-s1@main")
    True
    >>> content_fingerprint("EleutherAI/pythia-70m", cache_dir="/nowhere") is None
    True
    """
    return weights_identity(name_or_path, revision, cache_dir=cache_dir).digest


def identical_checkpoints(names: Iterable[PathLike], *,
                          cache_dir: Optional[PathLike] = None) -> list[tuple[str, ...]]:
    """Groups (2+ names, in the order given) whose weights are byte-identical in some format.

    Names whose weights cannot be read offline are in no group: unknown is not identical.

    >>> identical_checkpoints(["suite/pythia-s1", "suite/opt-s1", "suite/pythia-s1@main"])
    [('suite/pythia-s1', 'suite/pythia-s1@main')]
    """
    groups = _groups(_identities(names, cache_dir), lambda i: i.digests.items())
    return [tuple(i.name for i in group) for group in groups]


def warn_identical(names: Iterable[PathLike], *,
                   cache_dir: Optional[PathLike] = None) -> list[tuple[str, ...]]:
    """Warn (``IdenticalCheckpointsWarning``) once per group of identical weights; return them.

    Call it on a sweep's model names before the sweep runs, once hub weights are downloaded.
    It also warns once per group sharing a weight shard without being identical (a checkpoint
    that ships another's shard, EleutherAI/pythia#206).

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     groups = warn_identical(["suite/pythia-s1", "suite/pythia-s1@main", "suite/opt-s1"])
    >>> groups, len(caught)
    ([('suite/pythia-s1', 'suite/pythia-s1@main')], 1)
    """
    identities = _identities(names, cache_dir)
    groups = _groups(identities, lambda i: i.digests.items())
    for group in groups:
        warnings.warn(f"{_names(group)} have identical weights (sha256 blobs "
                      f"{_short(group[0].shards.values())}): a sweep over them compares a model "
                      "with itself; drop all but one", IdenticalCheckpointsWarning, stacklevel=2)
    whole = {i.name for group in groups for i in group}
    partial = [i for i in identities if i.name not in whole]
    for group in _groups(partial, lambda i: i.shards.values()):
        shared = set(group[0].shards.values()).intersection(*(i.shards.values() for i in group))
        warnings.warn(f"{_names(group)} share weight shards (sha256 blobs {_short(shared)}) "
                      "without being identical: one may ship another checkpoint's shard; "
                      "re-download or drop it", IdenticalCheckpointsWarning, stacklevel=2)
    return [tuple(i.name for i in group) for group in groups]


def _identities(names: Iterable[PathLike], cache_dir: Optional[PathLike]) -> list:
    unique = dict.fromkeys(os.fspath(n) for n in names)
    return [weights_identity(n, cache_dir=cache_dir) for n in unique]


def _groups(identities: list, keys: Callable) -> list[list[WeightsIdentity]]:
    """Connected components (2+ members, first-seen order) of identities sharing any key."""
    parent = list(range(len(identities)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    owner: dict = {}
    for index, identity in enumerate(identities):
        for key in keys(identity):
            parent[root(index)] = root(owner.setdefault(key, index))
    components: dict[int, list[WeightsIdentity]] = {}
    for index, identity in enumerate(identities):
        components.setdefault(root(index), []).append(identity)
    return [group for group in components.values() if len(group) > 1]


def _names(group: list[WeightsIdentity]) -> str:
    return ", ".join(i.name for i in group)


def _short(blobs: Iterable[str]) -> str:
    blobs = sorted(blobs)
    more = f" and {len(blobs) - 3} more" if len(blobs) > 3 else ""
    return ", ".join(b[:12] for b in blobs[:3]) + more


def _hub_identity(name: str, repo: str, revision: Optional[str],
                  cache_dir: Optional[PathLike]) -> WeightsIdentity:
    from huggingface_hub import constants, try_to_load_from_cache

    def lookup(filename: str) -> Optional[Path]:
        found = try_to_load_from_cache(repo, filename, cache_dir=cache_dir, revision=revision)
        return Path(found) if isinstance(found, str) else None  # not cached, or cached absent

    identity = _identity(name, lookup)
    if identity.reason:
        return identity
    where = os.fspath(cache_dir) if cache_dir is not None else constants.HF_HUB_CACHE
    return WeightsIdentity(name, reason=f"{name}: no weights in the HF cache at {where} for "
                           f"revision {revision or 'main'} (download them: load the model once)")


def _local_identity(name: str, folder: Path) -> WeightsIdentity:
    identity = _identity(name, lambda f: folder / f if (folder / f).is_file() else None)
    if identity.reason:
        return identity
    # Nonstandard file names: every *.safetensors / *.bin file, as ``fingerprint`` reads them.
    files = sorted(p for pattern in ("*.safetensors", "*.bin") for p in folder.glob(pattern))
    if not files:
        return WeightsIdentity(name, reason=f"{name}: no *.safetensors or *.bin files in {folder}")
    return _digested(name, "other", {p.name: p for p in files}, set())


def _identity(name: str, lookup: Callable[[str], Optional[Path]]) -> WeightsIdentity:
    """Digest each weight format ``lookup`` finds whole; reason "" when it finds none at all."""
    found, problems = [], []
    for fmt, single, index in _FORMATS:
        try:
            files = _format_files(lookup, single, index)
            if files is not None:
                found.append(_digested(name, fmt, files, {index}))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            problems.append(f"{fmt} weights unreadable ({error})")
    if not found:
        return WeightsIdentity(name, reason=f"{name}: {'; '.join(problems)}" if problems else "")
    digests = {fmt: d for identity in found for fmt, d in identity.digests.items()}
    return WeightsIdentity(name, digests, found[0].shards, found[0].reason)


def _format_files(lookup: Callable, single: str, index: str) -> Optional[dict]:
    """{file name: path} of one format: the index and all its shards, or the single file."""
    index_path = lookup(index)
    if index_path is None:
        path = lookup(single)
        return None if path is None else {single: path}
    needed = sorted(set(json.loads(index_path.read_text())["weight_map"].values()))
    files = {shard: lookup(shard) for shard in needed}
    missing = [shard for shard, path in files.items() if path is None]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(needed)} shards absent: {missing[0]}, ...")
    return {**files, index: index_path}


def _digested(name: str, fmt: str, files: dict, not_shards: set) -> WeightsIdentity:
    hashes = {filename: _file_sha256(path) for filename, path in sorted(files.items())}
    digest = hashlib.sha256("\n".join(f"{f} {h}" for f, h in hashes.items()).encode())
    shards = {f: h for f, h in hashes.items() if f not in not_shards}
    return WeightsIdentity(name, {fmt: digest.hexdigest()}, shards, f"sha256 of the {fmt} files")


def _file_sha256(path: Path) -> str:
    """A file's sha256: the HF cache blob's name when it links to one, else its hashed bytes."""
    real = Path(os.path.realpath(path))
    if real.parent.name == "blobs" and _SHA256.fullmatch(real.name):
        return real.name  # an LFS blob, named by the sha256 of its content
    stat = real.stat()
    key = (str(real), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _HASHED:
        digest = hashlib.sha256()
        with real.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 24), b""):
                digest.update(chunk)
        _HASHED[key] = digest.hexdigest()
    return _HASHED[key]
