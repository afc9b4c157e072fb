"""Language-model training on the HF model's own weights (never a Bridge's split copies).

Shared by the suite and the studies that train. A ``Schedule`` says how long and how fast;
``train_lm`` walks fixed token sequences in a fixed order, so two models trained with the
same sequences and schedule saw the same data in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from jaxtyping import Int
from torch import Tensor, nn
from tqdm.auto import tqdm

Sequences = Int[Tensor, "sequence pos"]


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


@dataclass(frozen=True)
class Schedule:
    """Steps, batch and a warmup-then-cosine learning rate (to ``final_lr_fraction`` of peak)."""

    steps: int
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 50
    final_lr_fraction: float = 0.1
    weight_decay: float = 0.01

    def lr_at(self, step: int) -> float:
        """Learning rate before optimizer step ``step`` (0-based).

        >>> Schedule(steps=100, warmup=10).lr_at(0) < Schedule(steps=100, warmup=10).lr_at(10)
        True
        """
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.steps - self.warmup)
        cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return self.lr * (self.final_lr_fraction + (1 - self.final_lr_fraction) * cosine)


def batch_at(sequences: Sequences, step: int, batch_size: int) -> Sequences:
    """The batch of ``step``: consecutive sequences, wrapping around the corpus."""
    n = sequences.shape[0]
    index = (torch.arange(batch_size) + step * batch_size) % n
    return sequences[index]


def train_lm(
    model: nn.Module,
    sequences: Sequences,
    schedule: Schedule,
    *,
    device: str | torch.device = "cpu",
    checkpoint_steps: tuple[int, ...] = (),
    on_checkpoint: Optional[Callable[[int, nn.Module], None]] = None,
    label: str = "model",
    progress: bool = True,
) -> list[float]:
    """Train ``model`` (an HF causal LM) on ``sequences``; return the loss of every step.

    ``on_checkpoint(step, model)`` runs after ``step`` optimizer steps for each step in
    ``checkpoint_steps`` (0 = before training).

    >>> losses = train_lm(model, tokens, Schedule(steps=100))  # doctest: +SKIP
    """
    model.to(device).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay, betas=(0.9, 0.95)
    )
    wanted = set(checkpoint_steps)
    if 0 in wanted and on_checkpoint:
        on_checkpoint(0, model)
    losses: list[float] = []
    bar = tqdm(range(schedule.steps), desc=label, disable=not progress, mininterval=5)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(step)
        tokens = batch_at(sequences, step, schedule.batch_size).to(device)
        loss = model(tokens, labels=tokens).loss
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"{label}: loss is {loss.item()} at step {step}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if step + 1 in wanted and on_checkpoint:
            on_checkpoint(step + 1, model)
    model.eval()
    return losses
