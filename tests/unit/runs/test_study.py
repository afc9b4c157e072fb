"""run_study: the one run contract, on a study small enough to read in full."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from interp.runs import plots
from interp.runs.study import Report, Study, StudyConfig, run_study


@dataclass(frozen=True, kw_only=True)
class TinyConfig(StudyConfig):
    value: float = 0.5

    def validate(self) -> None:
        if not 0 <= self.value <= 1:
            raise ValueError(f"value must be in [0, 1], got {self.value}")


def tiny_run(config, cache):
    rows = cache.get({"value": config.value}, lambda: pd.DataFrame({"x": [config.value] * config.n}))
    return {"results": rows, "extra": rows.describe().reset_index()}


def tiny_figures(tables, config):
    plots.use_style()
    fig, ax = plots.plt.subplots()
    ax.plot(tables["results"].x)
    return plots.save(fig, config.out / "line")


def tiny_report(tables, config):
    mean = tables["results"].x.mean()
    return Report(summary=f"mean {mean:.2f}", captions=f"# Captions\n\nmean {mean:.2f}\n",
                  record={"mean": mean})


TINY = Study("tiny", TinyConfig, tiny_run, tiny_figures, tiny_report)


def test_run_study_writes_every_output(tmp_path, capsys):
    outcome = run_study(TINY, TinyConfig(out=tmp_path, n=3))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["CAPTIONS.md", "cells", "extra.csv", "line.pdf", "line.png", "results.csv",
                     "results.json"]
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["study"] == "tiny" and record["mean"] == 0.5
    assert record["config"]["n"] == 3 and record["config"]["out"] == str(tmp_path)
    assert record["versions"]["transformer_lens"].startswith("4.3")
    assert {k: record["cells"][k] for k in ("computed", "reused")} == {"computed": 1, "reused": 0}
    assert record["cells"]["compute_seconds"] >= 0
    assert (tmp_path / "CAPTIONS.md").read_text().startswith("# Captions")
    assert len(outcome.tables["results"]) == 3
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert str(tmp_path) in last and "1 cells computed" in last


def test_a_rerun_reuses_its_cells(tmp_path):
    run_study(TINY, TinyConfig(out=tmp_path, n=3), quiet=True)
    run_study(TINY, TinyConfig(out=tmp_path, n=3), quiet=True)
    assert json.loads((tmp_path / "results.json").read_text())["cells"] == {
        "computed": 0, "reused": 1, "compute_seconds": 0.0}


@pytest.mark.parametrize("settings, message", [
    (dict(out=""), "out must name a folder"),
    (dict(out="x", n=0), "n must be >= 1"),
    (dict(out="x", threads=0), "threads must be >= 1"),
    (dict(out="x", device="tpu"), "unknown device 'tpu'"),
    (dict(out="x", device="cpu:5"), "one cpu device"),
    (dict(out="x", value=2.0), "value must be in"),
])
def test_bad_settings_are_refused_before_anything_runs(settings, message):
    with pytest.raises(ValueError, match=message):
        TinyConfig(**settings)


def test_cuda_on_a_cpu_build_is_refused_with_the_fix():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="has no CUDA"):
        TinyConfig(out=Path("x"), device="cuda")


def test_run_study_puts_the_callers_thread_count_back(tmp_path):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_study(TINY, TinyConfig(out=tmp_path, n=2, threads=1), quiet=True)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
