"""interp.runs: atomic files that concurrent writers cannot clash on, and cells that are
never read damaged or short."""

from __future__ import annotations

import json
import threading

import pandas as pd
import pytest

from interp.runs.cache import ResultCache
from interp.runs.files import atomic_dir, atomic_path, write_atomic


def test_concurrent_writers_of_one_file_both_succeed(tmp_path):
    target = tmp_path / "figure.png"
    errors = []

    def write(text):
        try:
            for _ in range(50):
                write_atomic(target, text)
        except Exception as error:  # noqa: BLE001 - the test reports any failure
            errors.append(error)

    threads = [threading.Thread(target=write, args=(t,)) for t in ("a" * 1000, "b" * 1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert target.read_text() in ("a" * 1000, "b" * 1000)
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"], "no temporary file is left"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_atomic(tmp_path / "t.csv", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_atomic_dir_replaces_or_keeps(tmp_path):
    target = tmp_path / "weights"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    with atomic_dir(target, keep_existing=True) as tmp:
        (tmp / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights"]


def frame(n):
    return pd.DataFrame({"accuracy": [0.5] * n, "task": ["t"] * n})


def test_cells_carry_study_and_version_in_their_key(tmp_path):
    a = ResultCache(tmp_path, study="a")
    b = ResultCache(tmp_path, study="b")
    a2 = ResultCache(tmp_path, study="a", version=2)
    paths = {a.path({"x": 1}), b.path({"x": 1}), a2.path({"x": 1})}
    assert len(paths) == 3
    a.get({"x": 1}, lambda: frame(2))
    stored = json.loads(a.path({"x": 1}).read_text())
    assert stored["key"] == {"study": "a", "v": 1, "x": 1}


def test_multi_table_cells_round_trip(tmp_path):
    cache = ResultCache(tmp_path, study="s")
    cell = {"one": frame(2), "two": pd.DataFrame({"cos": [0.1, 0.2, 0.3]})}
    cache.get({"k": 1}, lambda: cell)
    again = ResultCache(tmp_path, study="s").get({"k": 1}, lambda: 1 / 0)
    assert set(again) == {"one", "two"}
    pd.testing.assert_frame_equal(again["two"], cell["two"])


def test_empty_tables_keep_their_columns(tmp_path):
    cache = ResultCache(tmp_path, study="s")
    cache.get({"k": 1}, lambda: frame(0))
    again = ResultCache(tmp_path, study="s").get({"k": 1}, lambda: 1 / 0)
    assert list(again.columns) == ["accuracy", "task"] and len(again) == 0


@pytest.mark.parametrize("damage", ["truncate", "short"])
def test_a_damaged_or_short_cell_is_recomputed_with_a_warning_naming_it(tmp_path, damage):
    cache = ResultCache(tmp_path, study="s")
    cache.get({"k": 1}, lambda: frame(3))
    path = cache.path({"k": 1})
    if damage == "truncate":
        path.write_text(path.read_text()[:60])
    else:
        stored = json.loads(path.read_text())
        stored["tables"][""]["rows"] = stored["tables"][""]["rows"][:1]
        path.write_text(json.dumps(stored))
    fresh = ResultCache(tmp_path, study="s")
    with pytest.warns(UserWarning, match=str(path.name)):
        rows = fresh.get({"k": 1}, lambda: frame(3))
    assert len(rows) == 3 and fresh.computed == 1
    assert len(ResultCache(tmp_path, study="s").get({"k": 1}, lambda: 1 / 0)) == 3


def test_artifacts_folder_is_named_by_the_cell(tmp_path):
    cache = ResultCache(tmp_path, study="s")
    assert cache.artifacts({"k": 1}).name == cache.path({"k": 1}).stem
    assert cache.artifacts({"k": 1}) != cache.artifacts({"k": 2})


def test_compute_time_counts_a_cell_inside_a_cell_once(tmp_path):
    import time

    cache = ResultCache(tmp_path, study="demo")

    def inner():
        time.sleep(0.2)
        return pd.DataFrame({"x": [1]})

    def outer():
        cache.get({"cell": "inner"}, inner)
        time.sleep(0.2)
        return pd.DataFrame({"x": [2]})

    cache.get({"cell": "outer"}, outer)
    assert cache.computed == 2 and 0.4 <= cache.compute_seconds < 0.6, cache.compute_seconds
    # Each cell file keeps its own compute time (what sizing shards reads): the outer's holds the inner's.
    stored = {k: json.loads(cache.path({"cell": k}).read_text())["seconds"] for k in ("inner", "outer")}
    assert 0.2 <= stored["inner"] < 0.3 and 0.4 <= stored["outer"] < 0.6, stored
