"""Checkpoint identity by content: hub blobs in the HF cache, local folders, the suite.

Pythia ships step branches byte-identical to main (EleutherAI/pythia#205, #206); these tests
build an HF-style cache in tmp_path and check that such names are found identical, offline.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import warnings
from pathlib import Path

import huggingface_hub.constants
import pytest

from interp.identity import (
    IdenticalCheckpointsWarning,
    content_fingerprint,
    fingerprint,
    identical_checkpoints,
    warn_identical,
    weights_identity,
)
from interp.sources import SUITE_DIR

REPO = "EleutherAI/pythia-70m"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any attempt to reach the network fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("content identity must be read offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def add_revision(cache: Path, revision: str, files: dict[str, bytes], repo: str = REPO) -> str:
    """Lay out ``files`` as HF does: refs/<revision> -> commit, snapshot links -> blobs/<sha>."""
    root = cache / f"models--{repo.replace('/', '--')}"
    commit = hashlib.sha1(f"{revision}{sorted(files)}".encode()).hexdigest()
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / revision).write_text(commit)  # HF writes the hash without a newline
    (root / "blobs").mkdir(exist_ok=True)
    for filename, data in files.items():
        lfs = filename.endswith((".safetensors", ".bin"))
        blob = (hashlib.sha256 if lfs else hashlib.sha1)(data).hexdigest()  # git files: sha1
        (root / "blobs" / blob).write_bytes(data)
        link = root / "snapshots" / commit / filename
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../..") / "blobs" / blob)
    return commit


def index(shards: list[str]) -> bytes:
    return json.dumps({"weight_map": {f"layer{i}": s for i, s in enumerate(shards)}}).encode()


def caught_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [w for w in caught if issubclass(w.category, IdenticalCheckpointsWarning)]


def test_revisions_linking_one_blob_are_identical_and_warned_once(tmp_path):
    add_revision(tmp_path, "main", {"model.safetensors": b"final", "config.json": b"{}"})
    add_revision(tmp_path, "step1000", {"model.safetensors": b"final", "config.json": b"{1}"})
    add_revision(tmp_path, "step2000", {"model.safetensors": b"trained less"})
    names = [REPO, f"{REPO}@step1000", f"{REPO}@step2000"]

    assert identical_checkpoints(names, cache_dir=tmp_path) == [(REPO, f"{REPO}@step1000")]
    groups, caught = caught_warnings(lambda: warn_identical(names, cache_dir=tmp_path))
    assert groups == [(REPO, f"{REPO}@step1000")]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert f"{REPO}, {REPO}@step1000 have identical weights" in message
    assert hashlib.sha256(b"final").hexdigest()[:12] in message
    assert "compares a model with itself" in message and "@step2000" not in message


def test_different_blobs_are_not_identical(tmp_path):
    add_revision(tmp_path, "main", {"model.safetensors": b"final"})
    add_revision(tmp_path, "step1000", {"model.safetensors": b"early"})
    names = [REPO, f"{REPO}@step1000"]

    a, b = (content_fingerprint(n, cache_dir=tmp_path) for n in names)
    assert a is not None and b is not None and a != b
    groups, caught = caught_warnings(lambda: warn_identical(names, cache_dir=tmp_path))
    assert groups == [] and caught == []


def test_the_blob_name_is_trusted_not_rehashed(tmp_path):
    """An LFS blob's name is its sha256: the identity reads names, never the (huge) bytes."""
    add_revision(tmp_path, "main", {"model.safetensors": b"final"})
    blob = next((tmp_path / f"models--{REPO.replace('/', '--')}" / "blobs").iterdir())
    blob.write_bytes(b"bytes a rehash would see")
    shards = weights_identity(REPO, cache_dir=tmp_path).shards
    assert shards == {"model.safetensors": hashlib.sha256(b"final").hexdigest()}


def test_an_uncached_hub_name_gives_none_with_a_reason(tmp_path):
    add_revision(tmp_path, "main", {"model.safetensors": b"final"})
    identity = weights_identity(f"{REPO}@step3000", cache_dir=tmp_path)
    assert identity.digest is None
    assert "no weights in the HF cache" in identity.reason and "step3000" in identity.reason
    other = weights_identity("EleutherAI/pythia-160m", cache_dir=tmp_path)
    assert other.digest is None and "EleutherAI/pythia-160m" in other.reason
    groups, caught = caught_warnings(
        lambda: warn_identical([REPO, f"{REPO}@step3000"], cache_dir=tmp_path))
    assert groups == [] and caught == []  # unknown is not identical


def test_the_default_cache_is_read_at_call_time(tmp_path, monkeypatch):
    """huggingface_hub freezes HF_HUB_CACHE from the environment at import, so patch the constant."""
    add_revision(tmp_path, "main", {"model.safetensors": b"final"})
    assert content_fingerprint(REPO) != content_fingerprint(REPO, cache_dir=tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert content_fingerprint(REPO) == content_fingerprint(REPO, cache_dir=tmp_path) is not None


def test_hub_fingerprint_follows_the_cached_blobs(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    uncached = fingerprint(f"{REPO}@step1000")
    assert uncached == fingerprint(f"{REPO}@step1000") != fingerprint(f"{REPO}@step2000")
    add_revision(tmp_path, "main", {"model.safetensors": b"final"})
    add_revision(tmp_path, "step1000", {"model.safetensors": b"final"})
    add_revision(tmp_path, "step2000", {"model.safetensors": b"early"})
    assert fingerprint(f"{REPO}@step1000") == fingerprint(REPO) != uncached
    assert fingerprint(f"{REPO}@step2000") != fingerprint(REPO)


def test_sharded_checkpoints_need_every_shard(tmp_path):
    shards = ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"]
    add_revision(tmp_path, "main", {"pytorch_model.bin.index.json": index(shards),
                                    shards[0]: b"first", shards[1]: b"second"})
    add_revision(tmp_path, "step1000", {"pytorch_model.bin.index.json": index(shards),
                                        shards[0]: b"first"})
    identity = weights_identity(f"{REPO}@step1000", cache_dir=tmp_path)
    assert identity.digest is None and "1 of 2 shards absent" in identity.reason
    assert set(weights_identity(REPO, cache_dir=tmp_path).shards) == set(shards)


def test_a_shard_shipped_from_another_checkpoint_is_warned(tmp_path):
    """pythia#206: a step branch holding the final model's first shard."""
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    head = {"model.safetensors.index.json": index(shards)}
    add_revision(tmp_path, "main", {**head, shards[0]: b"final 1", shards[1]: b"final 2"})
    add_revision(tmp_path, "step1000", {**head, shards[0]: b"final 1", shards[1]: b"early 2"})
    names = [REPO, f"{REPO}@step1000"]
    groups, caught = caught_warnings(lambda: warn_identical(names, cache_dir=tmp_path))
    assert groups == [] and len(caught) == 1
    assert "share weight shards" in str(caught[0].message)
    assert hashlib.sha256(b"final 1").hexdigest()[:12] in str(caught[0].message)


def test_formats_match_across_revisions(tmp_path):
    """main cached as safetensors and bin, a step as bin only: the shared format decides."""
    add_revision(tmp_path, "main", {"model.safetensors": b"final st", "pytorch_model.bin": b"final"})
    add_revision(tmp_path, "step1000", {"pytorch_model.bin": b"final"})
    names = [REPO, f"{REPO}@step1000"]
    assert identical_checkpoints(names, cache_dir=tmp_path) == [tuple(names)]


def test_local_dirs_with_identical_files_are_identical(tmp_path):
    suite = SUITE_DIR / "pythia-s1"
    copy = tmp_path / "copy"
    shutil.copytree(suite, copy, ignore=shutil.ignore_patterns("checkpoints"))
    other = tmp_path / "other"
    shutil.copytree(copy, other)
    weights = other / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 1  # a middle byte: a full hash sees it
    weights.write_bytes(bytes(data))

    names = ["suite/pythia-s1", str(copy), str(other), "suite/pythia-s1@step2000"]
    assert identical_checkpoints(names) == [("suite/pythia-s1", str(copy))]
    assert content_fingerprint(other) != content_fingerprint(copy)


def test_a_hub_snapshot_and_a_local_copy_share_a_content_fingerprint(tmp_path):
    add_revision(tmp_path / "hub", "main", {"model.safetensors": b"final"})
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"final")
    assert content_fingerprint(folder) == content_fingerprint(REPO, cache_dir=tmp_path / "hub")


def test_unknown_names_give_a_reason_not_an_error(tmp_path):
    identity = weights_identity("suite/no-such-model")
    assert identity.digest is None and "unknown suite model" in identity.reason
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no *.safetensors or *.bin" in weights_identity(empty).reason
