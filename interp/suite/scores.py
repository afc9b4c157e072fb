"""The held-out ICL score the trainer's curve, the probes and the evidence tests share."""

from __future__ import annotations

from torch import nn

from interp.scoring import score_task
from interp.suite.recipe import ICL_EVAL_SHOTS
from interp.tasks import get_task


def icl_scores(model: nn.Module, tokenizer, n: int = 200) -> tuple[float, float]:
    """(0-shot, 8-shot) accuracy on held-out ``icl`` prompts: the prompts (``seed=1``) on which
    ``tests/unit/suite/test_suite.py`` holds the shipped models to 8-shot >= 0-shot + 0.20.

    >>> import interp
    >>> model = interp.load_hf_model("suite/pythia-s5")
    >>> zero, eight = icl_scores(model, model.tokenizer, n=8)
    >>> zero, eight
    (0.5, 1.0)
    """
    zero, eight = (
        score_task(model, get_task("icl", n=n, seed=1, split="test", shots=k),
                   tokenizer=tokenizer, progress=False).accuracy
        for k in ICL_EVAL_SHOTS
    )
    return zero, eight
