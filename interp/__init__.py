"""interp: live attention hooks on OPT and Pythia, task suites, and studies of what scale buys.

>>> import interp
>>> model = interp.load_model("suite/pythia-s1")
>>> rows = interp.evaluate(model, [interp.get_task("arithmetic_add", n=8)])
>>> rows[["model", "task", "condition", "n"]]  # doctest: +NORMALIZE_WHITESPACE
             model            task condition  n
0  suite/pythia-s1  arithmetic_add      base  8
"""

from interp import tasks
from interp.arch import UnsupportedArchitectureError, arch_of, family_of
from interp.bridge import (
    DeadHookError,
    DiscardedEditError,
    SelfTestError,
    make_patterns_live,
    run_self_test,
)
from interp.loading import CorruptCheckpointError, load_hf_model, load_model
from interp.identity import fingerprint
from interp.sources import ModelNotFoundError, resolve, suite_models
from interp.scoring import NonFiniteScoreError, evaluate, score_task
from interp.tasks import get_task

__all__ = [
    "CorruptCheckpointError",
    "DeadHookError",
    "DiscardedEditError",
    "ModelNotFoundError",
    "NonFiniteScoreError",
    "SelfTestError",
    "UnsupportedArchitectureError",
    "arch_of",
    "evaluate",
    "family_of",
    "fingerprint",
    "get_task",
    "load_hf_model",
    "load_model",
    "make_patterns_live",
    "resolve",
    "run_self_test",
    "score_task",
    "suite_models",
    "tasks",
]
