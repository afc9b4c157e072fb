"""Training on an HF model's own weights (never a Bridge's split copies).

- ``loop``: one AdamW loop with warmup/cosine schedule, resume, and masked (bit-exact) freezing.
- ``finetune``: component fine-tunes (V-only, Q/K-only, ...) with the annealed few-shot loss.
"""

from interp.training.loop import (
    NonFiniteLossError,
    Schedule,
    batch_at,
    restrict_training,
    train_lm,
    train_steps,
)

__all__ = ["NonFiniteLossError", "Schedule", "batch_at", "restrict_training", "train_lm",
           "train_steps"]
