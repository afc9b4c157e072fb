"""Attention swap: run a model on another model's attention patterns and measure what breaks.

``studies/attention_swap.py`` is the CLI. Every swap is reported beside controls (a self-swap
on the same input, asserted to change nothing; another input's patterns; uniform causal
patterns; head-shuffled own patterns), with an alpha curve, layer sweeps and the scaling
view (the confidence-competence gap, ``interp.analysis.scaling``).

>>> from interp.runs.study import run_study  # doctest: +SKIP
>>> run_study(STUDY, Config(n=20, out="/tmp/swap"))  # doctest: +SKIP
"""

from interp.runs.study import Study
from interp.studies.attention_swap.config import (
    ALPHAS,
    CONTROLS,
    DEFAULT_LADDER,
    DEFAULT_PAIRS,
    DEFAULT_TASKS,
    Config,
)
from interp.studies.attention_swap.experiment import (
    RESULT_COLUMNS,
    assert_self_swap_is_exact,
    delta_ci95,
    run,
    with_deltas,
)
from interp.studies.attention_swap.figures import figures
from interp.studies.attention_swap.report import captions, report, summary
from interp.studies.attention_swap.sweep import ModelPool, Sweep, build_tasks

STUDY = Study("attention_swap", config=Config, run=run, figures=figures, report=report,
              cache_version=4)

__all__ = ["ALPHAS", "CONTROLS", "DEFAULT_LADDER", "DEFAULT_PAIRS", "DEFAULT_TASKS",
           "RESULT_COLUMNS", "STUDY", "Config", "ModelPool", "Sweep", "assert_self_swap_is_exact",
           "build_tasks", "captions", "delta_ci95", "figures", "report", "run", "summary",
           "with_deltas"]
