"""Findings come from the tables as written, and README blocks are replaced, never appended."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from interp.runs.findings import findings_from, readme_block, with_block
from interp.runs.study import Report, Study, StudyConfig, run_study

TEXT = "intro\n<!-- begin generated: demo -->\nold 1\n<!-- end generated -->\nafter\n"


def test_block_replaced_in_place():
    new = with_block(TEXT, "demo", "new 2")
    assert readme_block(new, "demo") == "new 2"
    assert new.startswith("intro\n") and new.endswith("after\n") and "old 1" not in new
    assert with_block(new, "demo", "new 2") == new  # idempotent


def test_missing_block_names_the_markers():
    with pytest.raises(ValueError, match="begin generated: other"):
        readme_block(TEXT, "other")


def _demo_study(seen: list) -> Study:
    def run(config, cache):
        items = pd.DataFrame(dict(item=["00e1", "0012"], correct=[True, False]))
        return {"results": pd.DataFrame({"accuracy": [0.5]}), "items": items}

    def report(tables, config):
        seen.append(tables)
        share = tables["items"].correct.mean()
        return Report("summary", "captions", findings=f"accuracy {share:.2f} of {tables['items'].item.tolist()}")

    return Study(name="demo", config=StudyConfig, run=run, figures=lambda t, c: [], report=report)


def test_run_writes_items_gzipped_and_findings_from_the_written_tables(tmp_path):
    seen: list = []
    study = _demo_study(seen)
    out = tmp_path / "demo"
    run_study(study, StudyConfig(out=out, n=2), quiet=True)
    # The report saw the tables as read back: item ids that look like numbers stay strings.
    assert seen[0]["items"].item.tolist() == ["00e1", "0012"]
    assert gzip.decompress((out / "items.csv.gz").read_bytes()).decode().startswith("item,correct")
    assert not (out / "items.csv").exists()
    findings = (out / "FINDINGS.md").read_text()
    assert findings == "accuracy 0.50 of ['00e1', '0012']\n"
    assert json.loads((out / "results.json").read_text())["tables"] == ["results", "items"]
    assert findings_from(study, out) == findings.strip()


def test_items_file_bytes_do_not_change_between_runs(tmp_path):
    study = _demo_study([])
    run_study(study, StudyConfig(out=tmp_path / "a", n=2), quiet=True)
    run_study(study, StudyConfig(out=tmp_path / "b", n=2), quiet=True)
    assert (tmp_path / "a/items.csv.gz").read_bytes() == (tmp_path / "b/items.csv.gz").read_bytes()
