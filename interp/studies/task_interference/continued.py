"""Experiments 3 and 4: continued training with planned rare-block injections, traced every
step, resumable from a state file; and what each injection did to the rare loss."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Optional

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from interp.runs.files import atomic_path
from interp.scoring import score_task
from interp.studies.task_interference.mixture import inject_blocks
from interp.tasks.base import Task
from interp.training import NonFiniteLossError, Schedule, batch_at
from interp.types import Sequences

STATE_FILE = "state.pt"
CONTROL_MODES = ("none", "freeze", "rare_only")
ITEM_FIELDS = ("step", "item", "chosen", "correct", "loss")


def matched_frequency_plan(steps: int, gap: int, *, start: int = 0) -> dict[int, int]:
    """``gap`` blocks every ``gap`` steps from ``start``: one block per step on average.

    ``gap=0`` plans no injection (the control).

    >>> matched_frequency_plan(10, 4, start=2)
    {2: 4, 6: 4}
    """
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    if gap == 0:
        return {}
    return {s: gap for s in range(start, steps, gap)}


def upsampled_plan(steps: int, batch_size: int, frequency: float, factor: float, *,
                   seed: int = 0) -> dict[int, int]:
    """Blocks per step when each sequence carries one with probability factor x frequency.

    >>> sum(upsampled_plan(100, 16, 0.01, 4.0).values()) > sum(upsampled_plan(100, 16, 0.01, 1).values())
    True
    """
    p = min(1.0, frequency * factor)
    # Seeded by the plan's own numbers, so each (frequency, factor) gets its own fixed draws.
    rng = np.random.default_rng([seed, round(frequency * 1e12), round(factor * 1000)])
    counts = rng.binomial(batch_size, p, size=steps)
    return {s: int(c) for s, c in enumerate(counts) if c > 0}


@dataclass(frozen=True)
class ContinuedTraining:
    """How to keep training: steps, batch, a constant learning rate after a short warmup.

    >>> ContinuedTraining(steps=8, lr=1e-3).schedule().lr_at(7)
    0.001
    """

    steps: int
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 8
    eval_every: int = 1
    save_every: int = 25
    seed: int = 0

    def schedule(self) -> Schedule:
        """The constant-after-warmup schedule of ``interp.training``."""
        return Schedule(steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                        warmup=self.warmup, final_lr_fraction=1.0)


def continue_training(
    model: nn.Module,
    sequences: Sequences,
    plan: dict[int, int],
    inject_task: str,
    focus: Task,
    config: ContinuedTraining,
    *,
    state_dir: Optional[Path] = None,
    trace_injections: bool = True,
    label: str = "train",
    progress: bool = True,
    control: str = "none",
    item_steps: Collection[int] = (),
) -> dict[str, pd.DataFrame]:
    """Train on ``sequences`` with ``plan[step]`` rare blocks injected into batch ``step``.

    Returns ``rows`` (step, injected, train_loss, rare_n, rare_loss, rare_accuracy; step t is
    after t updates, ``injected`` counts the blocks of the update that led to it) and
    ``items`` (step, item, chosen, correct, loss at the first and last step: the two ends a
    before/after comparison pairs). The focus task is scored every ``eval_every`` steps and
    next to each injection (unless ``trace_injections`` is False): a curve of accuracy and
    mean loss. With ``state_dir`` (a cell's ``cache.artifacts(key)``) weights, optimizer and
    both tables are saved to ``state.pt`` every ``save_every`` steps, and a run resumes there.
    ``item_steps``: more steps whose per-item outcomes go into ``items`` (scored there).

    ``control`` separates an injection's own update from what follows it. Until the first
    injection every variant trains alike. After it, ``freeze`` takes no update at all
    between injections (the weights stay where the injection left them); ``rare_only``
    trains each injection step on its rare rows alone and, between injections, lets AdamW
    step on a zero gradient, so only the rare blocks' gradients (and their momentum) move
    the weights. Steps without an update have a NaN ``train_loss``.

    >>> import interp
    >>> from interp.studies.task_interference.mixture import mixture_sequences
    >>> m = interp.load_hf_model("suite/pythia-s1", dtype="float32")
    >>> seqs = mixture_sequences("suite/pythia-s1", m.tokenizer, 4, seed=0)
    >>> task = interp.get_task("rare_comparison_4", n=4)
    >>> config = ContinuedTraining(steps=4, batch_size=2, warmup=1)
    >>> out = continue_training(m, seqs, {2: 1}, "rare_comparison_4", task, config, progress=False)
    >>> out["rows"].step.tolist(), out["rows"].injected.tolist(), sorted(set(out["items"].step))
    ([0, 1, 2, 3, 4], [0, 0, 0, 1, 0], [0, 4])
    """
    if control not in CONTROL_MODES:
        raise ValueError(f"unknown control {control!r}: choose from {', '.join(CONTROL_MODES)}")
    schedule = config.schedule()
    device = next(model.parameters()).device
    optimizer = _optimizer(model, schedule)
    state_path = None if state_dir is None else Path(state_dir) / STATE_FILE
    rows, items, start = _resume(state_path, model, optimizer)
    torch.manual_seed(config.seed)
    near_injection = {s + d for s in plan for d in (0, 1, 2)} if trace_injections else set()
    extra = set(item_steps)
    first = min(plan) if plan else None

    def trace(step: int, injected: int, train_loss: float) -> None:
        due = (step % config.eval_every == 0 or step in near_injection or step == config.steps
               or step in extra)
        score = score_task(model, focus, batch_size=64, progress=False) if due else None
        rows.append(dict(step=step, injected=injected, train_loss=train_loss,
                         rare_n=len(focus) if score else 0,
                         rare_loss=score.mean_loss if score else float("nan"),
                         rare_accuracy=score.accuracy if score else float("nan")))
        if step in (0, config.steps) or step in extra:
            items.extend(_item_rows(step, score))

    model.eval()  # no dropout in the suite; eval mode keeps scoring and training identical
    if start == 0:
        trace(0, 0, float("nan"))
    for step in tqdm(range(start, config.steps), desc=label, disable=not progress,
                     mininterval=5, leave=False):
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(step)
        tokens = batch_at(sequences, step, config.batch_size)
        blocks = plan.get(step, 0)
        if blocks:
            rng = random.Random(f"{config.seed}/inject/{step}")
            tokens, _ = inject_blocks(tokens, inject_task, blocks, model.tokenizer, rng)
        mode = control if first is not None and step >= first else "none"
        loss = _controlled_step(model, optimizer, tokens.to(device), blocks, mode, label, step)
        trace(step + 1, blocks, loss)
        if state_path is not None and (step + 1) % config.save_every == 0 and step + 1 < config.steps:
            _save_state(state_path, model, optimizer, rows, items, step + 1)
    return dict(rows=pd.DataFrame(rows), items=pd.DataFrame(items, columns=list(ITEM_FIELDS)))


def _optimizer(model: nn.Module, schedule: Schedule) -> torch.optim.Optimizer:
    """A fresh AdamW for continued training (the suite's betas and weight decay)."""
    return torch.optim.AdamW(model.parameters(), lr=schedule.lr,
                             weight_decay=schedule.weight_decay, betas=(0.9, 0.95))


def _item_rows(step: int, score) -> list[dict]:
    """The per-instance outcomes of one scoring, as rows of the ``items`` table."""
    return [dict(step=step, item=i, chosen=c, correct=bool(ok), loss=round(float(x), 5))
            for i, c, ok, x in zip(score.items, score.chosen, score.correct, score.loss)]


def _resume(state_path: Optional[Path], model: nn.Module,
            optimizer) -> tuple[list[dict], list[dict], int]:
    """The rows, items and step saved in ``state_path`` (weights and optimizer loaded), or a
    fresh start."""
    if state_path is None or not state_path.is_file():
        return [], [], 0
    state = torch.load(state_path, weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return state["rows"], state.get("items", []), state["step"]


def _update(model: nn.Module, optimizer, tokens: Sequences, label: str, step: int) -> float:
    """One clipped AdamW step on the LM loss of ``tokens``; returns the loss."""
    loss = model(tokens, labels=tokens).loss
    if not torch.isfinite(loss):
        raise NonFiniteLossError(f"{label}: loss is {loss.item()} at step {step}; "
                                 "lower the learning rate")
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def _controlled_step(model: nn.Module, optimizer, tokens: Sequences, blocks: int, control: str,
                     label: str, step: int) -> float:
    """One step under ``control`` (from the first injection on; ``none`` before it): an
    injection step trains (on its ``blocks`` rare rows alone under ``rare_only``); a step
    without one trains (``none``), does nothing (``freeze``) or follows momentum alone
    (``rare_only``). Returns the training loss, NaN without a batch."""
    if blocks:
        rows = tokens[:blocks] if control == "rare_only" else tokens  # no frequent-task rows
        return _update(model, optimizer, rows, label, step)
    if control == "freeze":
        return float("nan")  # no update: the weights stay where the injection left them
    if control == "rare_only":
        return _momentum_step(model, optimizer)
    return _update(model, optimizer, tokens, label, step)


def _momentum_step(model: nn.Module, optimizer) -> float:
    """One AdamW step on a zero gradient: the update is the optimizer's momentum alone (and
    its weight decay). Returns NaN, the loss of no batch."""
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float("nan")


def _save_state(path: Path, model: nn.Module, optimizer, rows: list[dict], items: list[dict],
                step: int) -> None:
    """Weights, optimizer, rows and items, written atomically (never half a file)."""
    with atomic_path(path) as tmp:
        torch.save(dict(model=model.state_dict(), optimizer=optimizer.state_dict(), rows=rows,
                        items=items, step=step), tmp)


def injection_effects(trace: pd.DataFrame, plan: dict[int, int]) -> pd.DataFrame:
    """Per injection: rare loss before it, the lowest loss before the next, drop, half-life.

    The lowest point, not the next step, is the gain: Adam's momentum keeps moving the
    weights for a few steps after an injection. ``half_life``: steps from that lowest point
    until half the drop is lost again (linear interpolation between traced steps); NaN and
    ``censored`` when the next injection (or the end) comes first. ``kept``: the share of the
    drop still there when the next injection (or the end) comes.

    >>> t = pd.DataFrame(dict(step=range(6), rare_loss=[2.0, 1.0, 1.2, 1.5, 1.8, 2.0]))
    >>> injection_effects(t, {0: 1})[["drop", "half_life"]].values.tolist()
    [[1.0, 2.0]]
    """
    loss = trace.set_index("step").rare_loss
    injections = sorted(plan)
    rows = []
    for i, s in enumerate(injections):
        end = injections[i + 1] if i + 1 < len(injections) else int(loss.index.max())
        before = loss.get(s, float("nan"))
        window = loss.loc[s + 1 : end].dropna()
        if window.empty or math.isnan(before):
            continue
        lowest_step = int(window.idxmin())
        lowest = float(window.min())
        drop = before - lowest
        half_life, censored = _half_life(window, lowest_step, lowest, drop)
        at_next = float(loss.get(end, float("nan")))
        rows.append(dict(injection_step=s, blocks=plan[s], gap=end - s, before=before,
                         lowest=lowest, lowest_after=lowest_step - s, drop=drop,
                         half_life=half_life, censored=censored, loss_at_next=at_next,
                         kept=(before - at_next) / drop if drop > 0 else float("nan")))
    return pd.DataFrame(rows, columns=["injection_step", "blocks", "gap", "before", "lowest",
                                       "lowest_after", "drop", "half_life", "censored",
                                       "loss_at_next", "kept"])


def _half_life(window: pd.Series, lowest_step: int, lowest: float,
               drop: float) -> tuple[float, bool]:
    """Steps from the lowest point until half ``drop`` is lost again, and whether censored."""
    if drop <= 0:
        return float("nan"), True
    target = lowest + drop / 2
    prev_step, prev = lowest_step, lowest
    for step, value in window.loc[lowest_step:].items():
        if value >= target:
            frac = (target - prev) / (value - prev) if value > prev else 0.0
            return (prev_step + frac * (step - prev_step)) - lowest_step, False
        prev_step, prev = step, value
    return float("nan"), True
