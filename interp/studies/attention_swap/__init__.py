"""Attention swap: run a model on another model's attention patterns and measure what breaks.

``studies/attention_swap.py`` is the CLI. Every swap is reported beside controls (a self-swap
on the same input, asserted to change nothing on any item; another input's patterns; uniform
causal patterns; head-shuffled own patterns), with an alpha curve, layer sweeps and the
scaling view (the confidence-competence gap, ``interp.analysis.scaling``). Every cell keeps its
per-item outcomes (table ``items``): accuracies get Wilson intervals and every Δ accuracy a
paired (Tango) interval with an exact McNemar p against the recipient's base on the same items.

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
>>> selfswap = results[results.condition == "control:self"].iloc[0]
>>> float(selfswap.delta_loss), bool(selfswap.delta_accuracy_lo < 0 < selfswap.delta_accuracy_hi)
(0.0, True)
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
    SCALING_COLUMNS,
    assert_self_swap_is_exact,
    run,
    scaling_table,
    with_deltas,
)
from interp.studies.attention_swap.figures import figures
from interp.studies.attention_swap.report import captions, report, summary
from interp.studies.attention_swap.intervals import accuracy_intervals, paired_deltas
from interp.studies.attention_swap.sweep import (
    CELL_KEYS,
    ITEM_TABLE_COLUMNS,
    ModelPool,
    Sweep,
    build_tasks,
    chance_loss,
)

STUDY = Study("attention_swap", config=Config, run=run, figures=figures, report=report,
              cache_version=5)

__all__ = ["ALPHAS", "CELL_KEYS", "CONTROLS", "DEFAULT_LADDER", "DEFAULT_PAIRS", "DEFAULT_TASKS",
           "ITEM_TABLE_COLUMNS", "RESULT_COLUMNS", "SCALING_COLUMNS", "STUDY", "Config",
           "ModelPool", "Sweep", "accuracy_intervals", "assert_self_swap_is_exact",
           "build_tasks", "captions", "chance_loss", "figures", "paired_deltas", "report", "run",
           "scaling_table", "summary", "with_deltas"]
