"""ICL circuits: which fine-tuning keeps in-context learning, Q/K or V (arXiv 2602.23197).

``studies/icl_circuits.py`` is the CLI. Fine-tuning variants (all, attn, qk, v, o, none; each
with and without the annealed few-shot loss) are scored at several shot counts on the target
and held-out tasks; QK / V patching between base and fine-tuned model attributes the change
per layer; ICL-head scores; and the paper's linear-attention toy (``toy``).

One small model, the qk variant (two steps, one seed) against the base, no toy:

>>> import tempfile
>>> from interp.runs.study import run_study
>>> config = Config(out=tempfile.mkdtemp(), models=("suite/pythia-s1",), n=4, shots=(0, 2),
...                 heldout_tasks=("icl_heldout",), variants=("qk", "none"), seeds=1, steps=2,
...                 attribution=("qk",), toy_seeds=0, threads=1)
>>> outcome = run_study(STUDY, config, quiet=True)
>>> sorted(outcome.tables)
['attribution', 'finetunes', 'icl_heads', 'preserved', 'results']
>>> sorted(outcome.tables["results"].variant.unique())
['none', 'qk', 'qk+fs']
"""

from interp.runs.study import Study
from interp.studies.icl_circuits.config import (
    DEFAULT_ATTRIBUTION,
    DEFAULT_HELDOUT,
    DEFAULT_MODELS,
    DEFAULT_N,
    DEFAULT_SHOTS,
    DEFAULT_TARGET,
    DEFAULT_TRAINABLE,
    Config,
)
from interp.studies.icl_circuits.experiment import (
    RESULT_COLUMNS,
    attribute,
    evaluate_variants,
    preserved_table,
    run,
    run_toy,
    weights_path,
)
from interp.studies.icl_circuits.figures import draw_figures, draw_toy, figures
from interp.studies.icl_circuits.report import captions, report, summary
from interp.studies.icl_circuits.toy import LinearAttention, ToyConfig
from interp.studies.icl_circuits import toy

STUDY = Study("icl_circuits", config=Config, run=run, figures=figures, report=report,
              cache_version=2)

__all__ = ["DEFAULT_ATTRIBUTION", "DEFAULT_HELDOUT", "DEFAULT_MODELS", "DEFAULT_N",
           "DEFAULT_SHOTS", "DEFAULT_TARGET", "DEFAULT_TRAINABLE", "RESULT_COLUMNS", "STUDY",
           "Config", "LinearAttention", "ToyConfig", "attribute", "captions", "draw_figures",
           "draw_toy", "evaluate_variants", "figures", "preserved_table", "report", "run",
           "run_toy", "summary", "toy", "weights_path"]
