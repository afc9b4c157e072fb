"""Session-wide fixtures: tiny HF checkpoints on disk, built once, loaded per test."""

from __future__ import annotations

import os

import pytest

# No machine here reaches the hub: fail fast instead of waiting on connections.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests import checkpoints  # noqa: E402  (after the environment is set)

FAMILIES = list(checkpoints.FAMILIES)


@pytest.fixture(scope="session")
def checkpoint_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    return {name: checkpoints.save(name, root / name) for name in FAMILIES}


@pytest.fixture(scope="session", params=FAMILIES)
def family(request):
    return request.param


@pytest.fixture(scope="session")
def bridges(checkpoint_dirs):
    """One live bridge per family, shared: tests must not leave hooks attached."""
    import interp

    return {name: interp.load_model(path) for name, path in checkpoint_dirs.items()}
