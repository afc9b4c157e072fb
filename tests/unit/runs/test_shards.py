"""Shards and executors: split cells, race on none, assemble without computing."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from interp.runs import cli
from interp.runs.executors import Cluster, run_on_cluster
from interp.runs.shards import Shard, assign, run_shard, shard_units
from interp.runs.study import run_study
from tests.unit.runs.sharded_demo import STUDY, DemoConfig

ROOT = Path(__file__).resolve().parents[3]
SHARD_SCRIPT = """
import sys
from pathlib import Path
from interp.runs.shards import Shard, run_shard
from tests.unit.runs.sharded_demo import STUDY, DemoConfig
run_shard(STUDY, DemoConfig(out=Path(sys.argv[1]), pause=float(sys.argv[3])), Shard.parse(sys.argv[2]))
"""


def computed(out: Path) -> Counter:
    log = out / "computed.log"
    return Counter(log.read_text().split()) if log.exists() else Counter()


def start_shard(out: Path, shard: str, pause: float = 0.2) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SHARD_SCRIPT, str(out), shard, str(pause)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_assignment_is_deterministic_balanced_and_complete():
    costs = [7, 3, 3, 2, 2, 2, 1, 1, 1, 1]
    bins = assign(costs, 3)
    assert bins == assign(costs, 3)
    assert sorted(i for b in bins for i in b) == list(range(len(costs)))
    loads = [sum(costs[i] for i in b) for b in bins]
    assert max(loads) - min(loads) <= max(costs) - min(costs) and max(loads) <= 8


def test_the_shards_partition_the_units(tmp_path):
    config = DemoConfig(out=tmp_path)
    labels = [u.label for k in (1, 2, 3) for u in shard_units(STUDY, config, Shard(k, 3))]
    assert sorted(labels) == sorted(config.items)


def test_two_shards_side_by_side_then_assemble_equal_one_process(tmp_path):
    single = run_study(STUDY, DemoConfig(out=tmp_path / "single"), quiet=True)
    out = tmp_path / "sharded"
    workers = [start_shard(out, "1/2"), start_shard(out, "2/2")]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.stderr.read()
    assert not (out / "results.csv").exists() and not (out / "figure.txt").exists(), \
        "a shard writes no tables and draws no figures"
    assert set(computed(out)) == set(DemoConfig(out=out).items) and max(computed(out).values()) == 1
    assembled = run_study(STUDY, DemoConfig(out=out), quiet=True)
    assert sum(computed(out).values()) == len(DemoConfig(out=out).items), "the assemble pass computed a cell"
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), pd.read_csv(tmp_path / "single" / "results.csv"))
    assert assembled.out == out and (out / "figure.txt").exists() and single.tables["results"].shape[0] == 5


def test_workers_racing_on_every_cell_compute_each_once_and_write_whole_cells(tmp_path):
    out = tmp_path / "race"
    workers = [start_shard(out, "1/1", pause=0.5) for _ in range(3)]  # all three own every cell
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.stderr.read()
    assert computed(out) == Counter(DemoConfig(out=out).items), computed(out)
    outcome = run_study(STUDY, DemoConfig(out=out), quiet=True)
    assert len(outcome.tables["results"]) == 5 and sum(computed(out).values()) == 5


def test_a_shard_records_what_it_did(tmp_path):
    record = run_shard(STUDY, DemoConfig(out=tmp_path, pause=0), Shard(1, 2), quiet=True)
    assert record["shard"] == "1/2" and record["computed"] == len(record["units"]) > 0
    assert (tmp_path / "shards" / "shard-1-of-2.json").is_file()


def test_the_submitit_executor_without_slurm_gives_the_same_results(tmp_path, monkeypatch):
    pytest.importorskip("submitit", reason="submitit is the slurm extra: pip install 'interp[slurm]'")
    monkeypatch.chdir(ROOT)  # the local executor's subprocesses import tests.unit.runs from here
    single = run_study(STUDY, DemoConfig(out=tmp_path / "single", pause=0), quiet=True)
    out = tmp_path / "submitit"
    outcome = run_on_cluster(STUDY, DemoConfig(out=out, pause=0, force=True),
                             Cluster("submitit", shards=2, time="5"), quiet=True)
    pd.testing.assert_frame_equal(outcome.tables["results"], single.tables["results"])
    # --force recomputes in the shards; the assemble pass only reads what they wrote.
    assert sum(computed(out).values()) == 5 and len(list((out / "shards").glob("*.json"))) == 2


def test_a_failed_shard_is_reported_with_its_log(tmp_path, monkeypatch):
    pytest.importorskip("submitit", reason="submitit is the slurm extra: pip install 'interp[slurm]'")
    monkeypatch.chdir(ROOT)
    (tmp_path / "computed.log").mkdir()  # a cell's log write now fails in every shard
    with pytest.raises(RuntimeError, match=r"2 of 2 shards failed: shard 1/2 \(.*; log .*\.err\)"):
        run_on_cluster(STUDY, DemoConfig(out=tmp_path, pause=0), Cluster("submitit", shards=2, time="5"),
                       quiet=True)


@pytest.mark.parametrize("argv, message", [
    (["--shard", "3/2"], "K counts from 1 to N"),
    (["--shard", "1/2", "--executor", "submitit"], "not both"),
    (["--slurm-partition", "gpu"], "add --executor submitit"),
    (["--executor", "submitit", "--time", "soon"], "--time 'soon'"),
])
def test_sweep_flags_refuse_what_cannot_work(argv, message):
    parser = cli.argparse.ArgumentParser()
    cli.add_common_flags(parser, out="figures/x", data_files=False)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        cli.sweep_settings(parser.parse_args(argv))


def test_the_ray_executor_on_a_local_cluster_gives_the_same_results(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is optional: pip install ray")
    monkeypatch.chdir(ROOT)
    single = run_study(STUDY, DemoConfig(out=tmp_path / "single", pause=0), quiet=True)
    out = tmp_path / "ray"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        outcome = run_on_cluster(STUDY, DemoConfig(out=out, pause=0), Cluster("ray", shards=3, max_parallel=2),
                                 quiet=True)
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(outcome.tables["results"], single.tables["results"])
    assert sum(computed(out).values()) == 5 and len(list((out / "shards").glob("*.json"))) == 3
