"""interp: live attention hooks on OPT and Pythia, task suites, and studies of what scale buys.

>>> import interp
>>> model = interp.load_model("suite/pythia-s4")  # doctest: +SKIP
>>> interp.evaluate(model, [interp.get_task("arithmetic_add", n=50)])  # doctest: +SKIP
"""

from interp import tasks
from interp.attention import (
    DeadHookError,
    DiscardedEditError,
    SelfTestError,
    make_patterns_live,
    run_self_test,
)
from interp.evaluate import evaluate, score_task
from interp.loading import (
    CorruptCheckpointError,
    ModelNotFoundError,
    UnsupportedArchitectureError,
    fingerprint,
    load_hf_model,
    load_model,
    resolve,
    suite_models,
)
from interp.tasks import get_task

__all__ = [
    "CorruptCheckpointError",
    "DeadHookError",
    "DiscardedEditError",
    "ModelNotFoundError",
    "SelfTestError",
    "UnsupportedArchitectureError",
    "evaluate",
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
