"""studies/explore.ipynb runs top to bottom, shows what it says it shows, and is committed clean.

The notebook runs in an IPython kernel on the interpreter running the tests (``sys.executable``,
the venv's python under ``make test``), whatever kernels the machine has registered. The executed
copy lives in memory only: the file on disk keeps no outputs.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "studies" / "explore.ipynb"
CELL_TIMEOUT_S = 120


def test_committed_notebook_has_no_outputs():
    notebook = json.loads(NOTEBOOK.read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, "the notebook has no code cells"
    for cell in code:
        first = "".join(cell["source"]).splitlines()[0]
        assert cell["outputs"] == [], f"cell {first!r} is committed with outputs: strip them"
        assert cell["execution_count"] is None, f"cell {first!r} has an execution_count: strip it"


def _this_python_kernel():
    """A kernel manager whose kernel is ipykernel on ``sys.executable``, not a registered spec."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import KernelManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python 3 ({sys.executable})", language="python",
                resource_dir=str(NOTEBOOK.parent),
            )

    return KernelManager(kernel_name="python3", kernel_spec_manager=ThisPython())


def _tagged(notebook, tag):
    cells = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def _stdout(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def test_notebook_runs_and_shows_a_swap_changing_the_answer():
    pytest.importorskip("nbclient", reason="nbclient is not installed: pip install -e '.[dev]'")
    import nbformat
    from nbclient import NotebookClient

    on_disk = hashlib.sha256(NOTEBOOK.read_bytes()).hexdigest()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    client = NotebookClient(notebook, km=_this_python_kernel(), timeout=CELL_TIMEOUT_S,
                            startup_timeout=120,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error

    executable = client.km.kernel_spec.argv[0]
    assert executable == sys.executable
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.execution_count is not None, "a code cell did not run"
            assert not [o for o in cell.outputs if o.output_type == "error"]

    heatmap = _tagged(notebook, "attention-heatmap")
    assert any("image/png" in o.get("data", {}) for o in heatmap.outputs), \
        "the attention-pattern cell drew no inline figure"
    view = "".join(o.data.get("text/html", "") for o in _tagged(notebook, "attention-view").outputs
                   if o.output_type == "execute_result")
    assert "CircuitsVis.AttentionHeads" in view and "unpkg" not in view, \
        "the attention-view cell showed no offline CircuitsVis view"

    printed = _stdout(_tagged(notebook, "swap-example"))
    answer = re.search(r"^correct answer: (.*)$", printed, re.M)
    before = re.search(r"^before .*?: (\[.*\])$", printed, re.M)
    after = re.search(r"^after .*?: (\[.*\])$", printed, re.M)
    assert answer and before and after, f"the swap cell printed no before/after answers:\n{printed}"
    answer = ast.literal_eval(answer.group(1))
    before, after = ast.literal_eval(before.group(1)), ast.literal_eval(after.group(1))
    assert "".join(before) == answer.replace(" ", ""), "the recipient's answer is wrong"
    assert before != after, "the swap example did not change the answer"
    assert len(before) == len(after)

    table = "".join(o.data.get("text/plain", "") for o in _tagged(notebook, "swap-study").outputs
                    if o.output_type == "execute_result")
    assert "control:self" in table and "swap:checkpoint" in table

    assert hashlib.sha256(NOTEBOOK.read_bytes()).hexdigest() == on_disk, \
        "running the notebook wrote it back to disk"
