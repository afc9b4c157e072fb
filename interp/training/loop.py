"""Language-model training on the HF model's own weights (never a Bridge's split copies).

Shared by the suite and the studies that train. A ``Schedule`` says how long and how fast;
``train_lm`` walks fixed token sequences in a fixed order, so two models trained with the
same sequences and schedule saw the same data in the same order.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Optional

import torch
from jaxtyping import Bool
from torch import Tensor, nn
from tqdm.auto import tqdm
from interp.attention import torch_hooks
from interp.types import Sequences

# Elementwise trainable masks by parameter name (interp.params.component_masks builds them).
Masks = Mapping[str, Bool[Tensor, "..."]]


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
    trainable: Optional[Masks] = None,
) -> list[float]:
    """Train ``model`` (an HF causal LM) on ``sequences``; return the loss of every step.

    ``on_checkpoint(step, model)`` runs after ``step`` optimizer steps for each step in
    ``checkpoint_steps`` (0 = before training). ``trainable`` (masks by parameter name)
    restricts training to those elements; the rest stay bit-identical (``restrict_training``).

    >>> import interp
    >>> model = interp.load_hf_model("suite/pythia-s1")
    >>> tokens = torch.randint(0, model.config.vocab_size, (4, 16),
    ...                        generator=torch.Generator().manual_seed(0))
    >>> losses = train_lm(model, tokens, Schedule(steps=4, batch_size=4, warmup=1), progress=False)
    >>> len(losses), losses[-1] < losses[0]
    (4, True)
    """
    model.to(device)

    def lm_loss(step: int) -> Tensor:
        tokens = batch_at(sequences, step, schedule.batch_size).to(device)
        return model(tokens, labels=tokens).loss

    return train_steps(model, lm_loss, schedule, trainable=trainable, label=label,
                       progress=progress, checkpoint_steps=checkpoint_steps,
                       on_checkpoint=on_checkpoint)


def train_steps(
    model: nn.Module,
    loss_at: Callable[[int], Tensor],
    schedule: Schedule,
    *,
    trainable: Optional[Masks] = None,
    label: str = "model",
    progress: bool = True,
    checkpoint_steps: tuple[int, ...] = (),
    on_checkpoint: Optional[Callable[[int, nn.Module], None]] = None,
) -> list[float]:
    """AdamW on ``loss_at(step)`` for ``schedule.steps`` steps; return the loss of every step.

    The general loop behind ``train_lm``: the caller says what the loss of each step is
    (a language-model loss, an answer-only loss, a weighted sum of two). ``trainable``
    restricts which elements move (see ``restrict_training``). A NaN or infinite loss raises
    ``NonFiniteLossError`` naming ``label`` and the step, before any update from it.

    >>> import interp
    >>> model = interp.load_hf_model("suite/pythia-s1")
    >>> x = model.tokenizer(["2 + 3 = 5", "4 + 1 = 5"], return_tensors="pt").input_ids
    >>> def loss_at(step): return model(x, labels=x).loss
    >>> losses = train_steps(model, loss_at, Schedule(steps=3, warmup=1), progress=False)
    >>> len(losses), all(math.isfinite(loss) for loss in losses)
    (3, True)
    """
    masks = trainable if trainable is not None else {n: None for n, _ in model.named_parameters()}
    with restrict_training(model, masks, weight_decay=schedule.weight_decay) as groups:
        params = [p for group in groups for p in group["params"]]
        optimizer = torch.optim.AdamW(groups, lr=schedule.lr, betas=(0.9, 0.95)) if params else None
        model.train()
        wanted = set(checkpoint_steps)
        if 0 in wanted and on_checkpoint:
            on_checkpoint(0, model)
        losses: list[float] = []
        bar = tqdm(range(schedule.steps), desc=label, disable=not progress, mininterval=5)
        for step in bar:
            loss = loss_at(step)
            if not torch.isfinite(loss):
                raise NonFiniteLossError(f"{label}: loss is {loss.item()} at step {step}")
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group["lr"] = schedule.lr_at(step)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
            if step + 1 in wanted and on_checkpoint:
                on_checkpoint(step + 1, model)
    model.eval()
    return losses


@contextlib.contextmanager
def restrict_training(
    model: nn.Module, masks: Mapping[str, Optional[Bool[Tensor, "..."]]], *,
    weight_decay: float = 0.0,
) -> Iterator[list[dict]]:
    """Train only the masked elements of ``model``; yield AdamW parameter groups.

    ``masks`` maps parameter names to elementwise boolean masks (``None`` or an all-True
    mask: the whole tensor). Parameters not named get ``requires_grad=False``; partially
    masked ones (GPT-NeoX's fused QKV rows) get a gradient hook that zeroes the frozen
    elements and ``weight_decay=0``: AdamW's decoupled decay would move frozen elements,
    while a zero gradient keeps Adam's moments at zero and the element bit-identical.
    On exit ``requires_grad`` and the hooks are restored.

    >>> import interp
    >>> from interp.params import component_masks
    >>> model = interp.load_hf_model("suite/pythia-s1")
    >>> with restrict_training(model, component_masks(model, "v")) as groups:
    ...     optimizer = torch.optim.AdamW(groups, lr=1e-3)
    ...     sum(p.requires_grad for p in model.parameters())  # the fused QKV weight and bias
    2
    >>> [group["weight_decay"] for group in groups]  # partially masked: no decay
    [0.0]
    >>> all(p.requires_grad for p in model.parameters())  # restored on exit
    True
    """
    params = dict(model.named_parameters())
    unknown = sorted(set(masks) - set(params))
    if unknown:
        raise ValueError(f"masks name parameters the model lacks: {', '.join(unknown[:3])}")
    saved = {name: p.requires_grad for name, p in params.items()}
    zero_frozen = []
    whole: list[Tensor] = []
    partial: list[Tensor] = []
    try:
        for name, p in params.items():
            mask = masks.get(name)
            if name not in masks or (mask is not None and not bool(mask.any())):
                p.requires_grad_(False)
                continue
            p.requires_grad_(True)
            if mask is None or bool(mask.all()):
                whole.append(p)
                continue
            if mask.shape != p.shape:
                raise ValueError(
                    f"mask of {name} is {tuple(mask.shape)}, the parameter {tuple(p.shape)}"
                )
            keep = mask.to(device=p.device, dtype=p.dtype)
            zero_frozen.append((p, "grad", lambda grad, keep=keep: grad * keep))
            partial.append(p)
        groups = []
        if whole:
            groups.append({"params": whole, "weight_decay": weight_decay})
        if partial:
            groups.append({"params": partial, "weight_decay": 0.0})
        with torch_hooks(zero_frozen):
            yield groups
    finally:
        for name, p in params.items():
            p.requires_grad_(saved[name])
