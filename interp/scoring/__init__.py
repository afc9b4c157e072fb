"""Scoring: per-example correctness and answer loss (``score_task``), as tidy rows per example
(``evaluate_items``) or per task (``evaluate``). ``engine`` runs the forwards; ``rows`` shapes
what they give.

>>> import interp
>>> model = interp.load_model("suite/pythia-s1")
>>> evaluate(model, interp.get_task("knowledge_mc", n=4)).n.item()
4
"""

from interp.scoring.engine import (
    FwdHooks,
    HookSpec,
    NonFiniteScoreError,
    ScoredSequence,
    TaskScore,
    encode_pair,
    forward_logits,
    item_id,
    model_name,
    score_task,
)
from interp.scoring.rows import COLUMNS, ITEM_COLUMNS, evaluate, evaluate_items, hooks_label, summarize

__all__ = [
    "COLUMNS",
    "ITEM_COLUMNS",
    "FwdHooks",
    "HookSpec",
    "NonFiniteScoreError",
    "ScoredSequence",
    "TaskScore",
    "encode_pair",
    "evaluate",
    "evaluate_items",
    "forward_logits",
    "hooks_label",
    "item_id",
    "model_name",
    "score_task",
    "summarize",
]
