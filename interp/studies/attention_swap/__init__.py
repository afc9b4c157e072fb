"""Attention swap: run a model on another model's attention patterns and measure what breaks.

``studies/attention_swap.py`` is the CLI. Donors are graded (the same run before its ICL
phase, a sibling seed, another size, the other family), each also taken from another input,
and reported beside controls (a self-swap on the same input, asserted to change nothing on
any item; own patterns from another input, the matched control; uniform causal patterns;
head-shuffled own patterns, the head-permuted self donor), with an alpha curve and layer
sweeps beside their matched controls, several pairs per kind and several evaluation seeds,
and the scaling view on the shipped and the phase-1 ladders (our gap, paper A's slope ratio,
the loss over the choices only). Every cell keeps its per-item outcomes (table ``items``):
accuracies get Wilson intervals and every Δ accuracy a paired (Tango) interval with an exact
McNemar p; pairs and seeds get t-intervals (``replication``); paper A's claims get verdicts
(``claims``).

One swap pair of small models on one task, with every control:

>>> import tempfile
>>> from interp.runs.study import run_study
>>> config = Config(out=tempfile.mkdtemp(), models=("suite/pythia-s1",), donors=("suite/opt-s1",),
...                 tasks=("arithmetic_add",), n=4, batch_size=4, threads=1)
>>> outcome = run_study(STUDY, config, quiet=True)
>>> results = outcome.tables["results"]
>>> sorted(c for c in results.condition.unique() if ":other_input" not in c)  # doctest: +NORMALIZE_WHITESPACE
['alpha', 'base', 'bottom-up', 'control:self', 'control:shuffle_heads', 'control:uniform',
 'layer', 'swap-other-input:given', 'swap:given', 'top-down']
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
    TABLES,
    assert_self_swap_is_exact,
    donor_vs_control,
    matched_control,
    run,
    scaling_table,
    with_deltas,
)
from interp.studies.attention_swap.figures import figures
from interp.studies.attention_swap.units import units
from interp.studies.attention_swap.report import captions, report, summary
from interp.studies.attention_swap.intervals import accuracy_intervals, paired_deltas, paired_versus
from interp.studies.attention_swap.sweep import (
    CELL_KEYS,
    ITEM_TABLE_COLUMNS,
    PAIR_KEYS,
    ModelPool,
    Sweep,
    build_tasks,
    chance_loss,
)

STUDY = Study("attention_swap", config=Config, run=run, figures=figures, report=report,
              cache_version=6, units=units)

__all__ = ["ALPHAS", "CELL_KEYS", "CONTROLS", "DEFAULT_LADDER", "DEFAULT_PAIRS", "DEFAULT_TASKS",
           "ITEM_TABLE_COLUMNS", "PAIR_KEYS", "RESULT_COLUMNS", "SCALING_COLUMNS", "STUDY",
           "TABLES", "Config", "ModelPool", "Sweep", "accuracy_intervals",
           "assert_self_swap_is_exact", "build_tasks", "captions", "chance_loss",
           "donor_vs_control", "figures", "matched_control", "paired_deltas", "paired_versus",
           "report", "run", "scaling_table", "summary", "units", "with_deltas"]
