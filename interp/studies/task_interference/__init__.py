"""Task interference: why larger models keep rare tasks that smaller ones lose.

Hypothesis under test (arXiv 2605.29548): in small models the gradients of frequent tasks
overwrite what a rare task's instances wrote ("update and forget"); larger models master the
frequent tasks, their pull fades, and rare signals stick. ``studies/task_interference.py`` is
the CLI. Four experiments, one module each: ``ladder`` (rare-task accuracy over training
frequency x size), ``gradients`` (rare-task gradients against the frequent tasks' and the
mixture's, token split, Fisher overlap), ``continued`` (continued training with injected rare
blocks: matched-frequency forgetting and upsampled recovery).

The ladder alone, on one small model, two rare copies and four instances each:

>>> import tempfile
>>> from interp.runs.study import run_study
>>> config = Config(out=tempfile.mkdtemp(), models=("suite/pythia-s1",),
...                 experiments=("ladder",), frequent_tasks=("arithmetic_add",),
...                 rare_tasks=("rare_comparison_0", "rare_comparison_5"), n=4, eval_n=4, threads=1)
>>> outcome = run_study(STUDY, config, quiet=True)
>>> sorted(outcome.tables), outcome.tables["results"].shape[0]
(['items', 'ladder', 'results', 'seeds'], 5)
"""

from interp.runs.study import Study
from interp.studies.task_interference.config import (
    DEFAULT_FREQUENT,
    DEFAULT_RARE,
    EXPERIMENTS,
    FAMILY_SIZES,
    Config,
)
from interp.studies.task_interference.continued import (
    ContinuedTraining,
    continue_training,
    injection_effects,
    matched_frequency_plan,
    upsampled_plan,
)
from interp.studies.task_interference.experiment import run
from interp.studies.task_interference.facts import (
    chance_of,
    continued_lr,
    corpus_config,
    extreme_copies,
    ladder_frequency,
    model_facts,
    rare_copy,
    sample_task,
    train_info,
)
from interp.studies.task_interference.figures import figures
from interp.studies.task_interference.gradients import gradient_interference
from interp.studies.task_interference.ladder import ladder_cell
from interp.studies.task_interference.mixture import inject_blocks, mixture_sequences
from interp.studies.task_interference.report import report, summary, summary_text
from interp.studies.task_interference.results import results_table
from interp.studies.task_interference.units import units

STUDY = Study("task_interference", config=Config, run=run, figures=figures, report=report,
              cache_version=3, units=units)

__all__ = ["DEFAULT_FREQUENT", "DEFAULT_RARE", "EXPERIMENTS", "FAMILY_SIZES", "STUDY", "Config",
           "ContinuedTraining", "chance_of", "continue_training", "continued_lr",
           "corpus_config", "extreme_copies", "figures", "gradient_interference",
           "inject_blocks", "injection_effects", "ladder_cell", "ladder_frequency",
           "matched_frequency_plan", "mixture_sequences", "model_facts", "rare_copy", "report",
           "results_table", "run", "sample_task", "summary", "summary_text", "train_info",
           "upsampled_plan"]
