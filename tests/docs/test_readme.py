"""The README's notebook example runs as written, its commands are the Makefile's, and its
study numbers are what the committed tables give."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from interp.runs.findings import findings_from, readme_block
from interp.studies.findings import STUDIES

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def example_block() -> str:
    text = README.read_text()
    section = text.split("## Example", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs_and_the_swap_is_live():
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(example_block(), "README.md", "exec"), scope)
    printed = out.getvalue()
    assert "->" in printed and "accuracy" in printed
    # The swap really reached the output: the last-position logits moved.
    assert not scope["before"].allclose(scope["after"]), "swapping layer 0's pattern changed nothing"
    # ... and it changed the answer, as the README's comment says.
    decode = scope["model"].tokenizer.decode
    assert (decode(scope["before"].argmax()), decode(scope["after"].argmax())) == ("8", "7")


def test_first_lines_give_the_two_make_commands():
    head = README.read_text().splitlines()[:6]
    assert any(line.startswith("make study") for line in head)
    assert any(line.startswith("make test") for line in head)
    makefile = (README.parent / "Makefile").read_text()
    assert "\nstudy:" in makefile and "\ntest:" in makefile
    assert "make test" in (README.parent / ".ci" / "run").read_text()


@pytest.mark.parametrize("study", ["attention_swap", "task_interference", "icl_circuits"])
def test_study_block_is_what_the_committed_tables_give(study):
    # Every number a README study section shows sits in its generated block, and the block
    # is regenerated here from the committed tables (figures/<study>/) and their config.
    readme = (ROOT / "README.md").read_text()
    expected = findings_from(STUDIES[study], ROOT / "figures" / study)
    assert readme_block(readme, study) == expected.strip(), (
        f"the README's {study} block differs from its tables: run python -m interp.studies.findings")
    assert (ROOT / "figures" / study / "FINDINGS.md").read_text().strip() == expected.strip()
