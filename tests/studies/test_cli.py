"""One CLI convention across the studies: shared flags, --help, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUDIES = ["attention_swap", "task_interference", "icl_circuits"]
SHARED = ["--models", "--n", "--device", "--dtype", "--batch-size", "--seed", "--out", "--force",
          "--threads"]


def run_study(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "studies" / f"{name}.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("study", STUDIES)
def test_help_lists_the_shared_flags(study):
    done = run_study(study, "--help")
    assert done.returncode == 0, done.stderr
    missing = [flag for flag in SHARED if flag not in done.stdout]
    assert not missing, f"{study} --help lacks {missing}"


@pytest.mark.parametrize("study", STUDIES)
@pytest.mark.parametrize("bad", [["--models", "no/such-model-dir"], ["--device", "tpu"],
                                 ["--device", "cpu:5"], ["--threads", "0"], ["--n", "0"]])
def test_bad_input_is_one_line_not_a_traceback(study, bad, tmp_path):
    done = run_study(study, *bad, "--out", str(tmp_path))
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("*.csv")), "a failed run must not write results"


@pytest.mark.parametrize("study", STUDIES)
def test_an_empty_out_is_refused(study, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "studies" / f"{study}.py"), "--out", ""],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 2 and "out must name a folder" in done.stderr, done.stderr[-2000:]
    assert not list(tmp_path.iterdir()), "nothing may be written into the current directory"


@pytest.mark.parametrize("study", ["attention_swap", "task_interference"])
def test_an_unknown_task_is_named(study, tmp_path):
    done = run_study(study, "--tasks", "no_such_task", "--out", str(tmp_path))
    assert done.returncode == 2 and "no_such_task" in done.stderr, done.stderr[-2000:]
