"""Every study, sharded: its units cover its cells, so two shards plus the assemble pass
give the one-process results, and the assemble pass computes no cell."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from interp.runs.shards import Shard, run_shard, units_of
from interp.runs.study import run_study
from interp.studies import attention_swap, icl_circuits, task_interference

SMALL = {
    "attention_swap": (attention_swap.STUDY, dict(
        models=("suite/pythia-s2", "suite/pythia-s3"), donors=("suite/opt-s2",),
        tasks=("knowledge_cloze", "arithmetic_add"), n=8, batch_size=8, seeds=(0, 1),
        swap_tasks=("knowledge_cloze",))),
    "icl_circuits": (icl_circuits.STUDY, dict(
        models=("suite/pythia-s1", "suite/opt-s1"), n=8, seeds=1, steps=2, shots=(0, 2),
        heldout_tasks=("icl_fixed_flipped",), variants=("v", "none"), fs_variants=("v",),
        attribution=("v",), grid_variants=("v",), grid_lrs=(2e-3,), grid_steps=(2,), toy_seeds=1,
        toy_steps=(10, 3), toy_eval_prompts=20)),
    "task_interference": (task_interference.STUDY, dict(
        models=("suite/pythia-s1",), checkpoints=("none",), phase1=("none",),
        train_models=("suite/pythia-s1",), recovery_models=("suite/pythia-s1",),
        rare_tasks=("rare_comparison_0", "rare_comparison_4"), n=20, grad_n=16, fisher_n=2, gaps=(0, 4),
        train_steps=8, burn_in=2, recovery_steps=6, factors=(1, 16), eval_n=20, train_batch=4)),
}


def tables(out: Path) -> dict[str, pd.DataFrame]:
    names = json.loads((out / "results.json").read_text())["tables"]
    return {name: pd.read_csv(out / ("items.csv.gz" if name == "items" else f"{name}.csv"))
            for name in names}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_two_shards_and_an_assemble_pass_give_the_one_process_results(name, tmp_path):
    study, settings = SMALL[name]
    single = study.config(out=tmp_path / "single", **settings)
    run_study(study, single, quiet=True)
    sharded = study.config(out=tmp_path / "sharded", **settings)
    assert len(units_of(study, sharded)) >= 2, "the small config must split"
    records = [run_shard(study, sharded, Shard(k, 2), quiet=True) for k in (1, 2)]
    assert all(r["computed"] > 0 for r in records), records
    assert not (sharded.out / "results.csv").exists(), "a shard writes no tables"
    run_study(study, sharded, quiet=True)
    record = json.loads((sharded.out / "results.json").read_text())
    assert record["cells"]["computed"] == 0, "the assemble pass computed a cell the shards did not"
    got, want = tables(sharded.out), tables(single.out)
    assert list(got) == list(want)
    for table in want:
        if table == "finetunes":  # says what this run trained or loaded: the shards trained
            assert "trained" not in set(got[table].weights)
            got[table], want[table] = got[table].drop(columns="weights"), want[table].drop(columns="weights")
        pd.testing.assert_frame_equal(got[table], want[table], obj=f"{name} {table}")


def test_only_the_first_swap_seed_carries_the_file_tasks_and_sweeps(tmp_path):
    mmlu = Path(__file__).resolve().parents[1] / "data" / "mmlu-hendrycks" / "data"
    config = attention_swap.Config(out=tmp_path, models=("suite/pythia-s2",), donors=("suite/opt-s2",),
                                   tasks=("knowledge_cloze", "mmlu"), mmlu=mmlu, seeds=(3, 4, 5))
    first, *later = units_of(attention_swap.STUDY, config)
    assert first.config.seeds == (3,) and first.config.mmlu == mmlu and first.config.sweeps
    assert [u.config.seeds for u in later] == [(4,), (5,)]
    assert all(u.config.mmlu is None and u.config.tasks == ("knowledge_cloze",) and not u.config.sweeps
               for u in later)
    assert first.cost > later[0].cost > 0
