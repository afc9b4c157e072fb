"""Scoring: per-example correctness and answer loss (``score_task``), as tidy rows per example
(``evaluate_items``) or per task (``evaluate``). ``requests`` decides what is run and read,
``readout`` computes logits only where read, ``engine`` scores, ``rows`` shapes the tables.

>>> import interp
>>> model = interp.load_model("suite/pythia-s1")
>>> evaluate(model, interp.get_task("knowledge_mc", n=4)).n.item()
4
"""

from interp.scoring.engine import NonFiniteScoreError, TaskScore, item_id, model_name, score_task
from interp.scoring.readout import FwdHooks, HookSpec, forward_logits, output_projection, read_logits
from interp.scoring.requests import Continuation, ScoredSequence, encode_pair, task_sequences
from interp.scoring.rows import COLUMNS, ITEM_COLUMNS, evaluate, evaluate_items, hooks_label, summarize

__all__ = [
    "COLUMNS",
    "Continuation",
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
    "output_projection",
    "read_logits",
    "score_task",
    "summarize",
    "task_sequences",
]
