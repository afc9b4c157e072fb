"""ICL circuits: which fine-tuning keeps in-context learning, Q/K or V (arXiv 2602.23197).

``studies/icl_circuits.py`` is the CLI. Fine-tuning variants (all, attn, qk, q, k, v, o, none;
each with and without the annealed few-shot loss) are scored at several shot counts on the
target, held-out tasks with ICL and a no-ICL control; beside every accuracy the chance-
normalised kept share, the target's accuracy at the same k and the output-label distribution
(``measures``: format collapse shows there); an lr x steps grid (``grid``); QK / V patching
between base and fine-tuned model over the seeds attributes the change per layer; ICL-head
scores; and the paper's linear-attention toy (``toy``). Paper B's claims get verdicts
(``claims``). Every
evaluation keeps its per-item outcomes (table ``items``), so each difference between two
variants gets a paired interval on the same items beside the t-interval over seeds
(``tables``); the README's findings are generated from the tables (``findings``).

One small model, the qk variant (two steps, one seed) against the base, no toy:

>>> import tempfile
>>> from interp.runs.study import run_study
>>> config = Config(out=tempfile.mkdtemp(), models=("suite/pythia-s1",), n=4, shots=(0, 2),
...                 heldout_tasks=("icl_heldout",), variants=("qk", "none"), seeds=1, steps=2,
...                 attribution=("qk",), grid_variants=(), toy_seeds=0, threads=1)
>>> outcome = run_study(STUDY, config, quiet=True)
>>> sorted(outcome.tables)  # doctest: +NORMALIZE_WHITESPACE
['attribution', 'attribution_seeds', 'comparisons', 'finetunes', 'grid', 'icl_heads', 'items',
 'labels', 'paired', 'preserved', 'results']
>>> sorted(outcome.tables["results"].variant.unique())
['none', 'qk', 'qk+fs']
"""

from interp.runs.study import Study
from interp.studies.icl_circuits.config import (
    DEFAULT_ATTRIBUTION,
    DEFAULT_FS,
    DEFAULT_GRID_VARIANTS,
    DEFAULT_HELDOUT,
    DEFAULT_MODELS,
    DEFAULT_N,
    DEFAULT_SHOTS,
    DEFAULT_TARGET,
    DEFAULT_TRAINABLE,
    Config,
)
from interp.studies.icl_circuits.experiment import (
    ITEM_COLUMNS,
    RESULT_COLUMNS,
    attribute,
    eval_tasks,
    evaluate_variants,
    run,
    run_toy,
    task_size,
    weights_path,
)
from interp.studies.icl_circuits.figures import draw_figures, draw_toy, figures
from interp.studies.icl_circuits.findings import findings
from interp.studies.icl_circuits.report import captions, report, summary
from interp.studies.icl_circuits.tables import (
    attribution_rows,
    comparisons_table,
    paired_table,
    preserved_table,
    with_intervals,
)
from interp.studies.icl_circuits.toy import LinearAttention, ToyConfig
from interp.studies.icl_circuits import toy
from interp.studies.icl_circuits.units import units

STUDY = Study("icl_circuits", config=Config, run=run, figures=figures, report=report,
              cache_version=4, units=units)  # 3: cells keep per-item rows; 4: 1-shot category drawn

__all__ = ["DEFAULT_ATTRIBUTION", "DEFAULT_FS", "DEFAULT_GRID_VARIANTS", "DEFAULT_HELDOUT",
           "DEFAULT_MODELS", "DEFAULT_N", "DEFAULT_SHOTS", "DEFAULT_TARGET", "DEFAULT_TRAINABLE",
           "ITEM_COLUMNS", "RESULT_COLUMNS", "STUDY", "Config", "LinearAttention", "ToyConfig",
           "attribute", "attribution_rows", "captions", "comparisons_table", "draw_figures",
           "draw_toy", "eval_tasks", "evaluate_variants", "figures", "findings", "paired_table",
           "preserved_table", "report", "run", "run_toy", "summary", "task_size", "toy",
           "weights_path", "with_intervals"]
