"""The README's notebook example runs as written, and its commands are the Makefile's."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


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
