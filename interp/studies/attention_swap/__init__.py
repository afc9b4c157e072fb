"""Attention swap: run a model on another model's attention patterns and measure what breaks.

``studies/attention_swap.py`` is the CLI. Every swap is reported beside controls (a self-swap
on the same input, asserted to change nothing; another input's patterns; uniform causal
patterns; head-shuffled own patterns), with an alpha curve, layer sweeps and the scaling
view (the confidence-competence gap, ``interp.analysis.scaling``).

One swap pair of small models on one task, with every control:

>>> import tempfile
>>> from interp.runs.study import run_study
>>> config = Config(out=tempfile.mkdtemp(), models=("suite/pythia-s1",), donors=("suite/opt-s1",),
...                 tasks=("arithmetic_add",), n=4, batch_size=4, threads=1)
>>> outcome = run_study(STUDY, config, quiet=True)
>>> results = outcome.tables["results"]
>>> sorted(results.condition.unique())  # doctest: +NORMALIZE_WHITESPACE
['alpha', 'base', 'bottom-up', 'control:other_input', 'control:self', 'control:shuffle_heads',
 'control:uniform', 'layer', 'swap:given', 'top-down']
>>> float(results.loc[results.condition == "control:self", "delta_loss"].abs().max()) < 1e-6
True
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
