"""The paper's own setting as a toy: one linear-attention layer doing in-context regression.

arXiv 2602.23197 (public code leechungpa/preserve-icl-under-finetuning) studies a single
linear self-attention layer on tokens ``z = [1, x, y]``: a prompt holds ``shots``
demonstrations ``(x_i, theta . x_i)`` and a query ``[1, x_q, 0]``; the prediction is the
y-coordinate of the attention output at the query,

    y_hat = e_y^T W_V  sum_i z_i (W_K z_i)^T (W_Q z_q)  / (shots + 1)

(the sum runs over the demonstrations and the query itself, so a 0-shot prompt still has an
answer). A task is a unit vector ``theta``. We pretrain on random thetas (the model learns
to read theta off the demonstrations), then fine-tune on one ``theta0`` with the zero-shot
loss (query only) or ZS + w * FS (``fs_shots`` demonstrations, ``w`` annealed 1 -> 0),
training all / Q / K / V / KQ, and measure the test MSE on ``theta0`` and on the held-out
``-theta0`` at 0..20 shots. Pure torch, float64, seconds on one CPU core.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor, nn

from interp.training import NonFiniteLossError

Prompts = Float[Tensor, "batch token dim"]
Targets = Float[Tensor, "batch"]

# Trainable matrices of each toy variant (the paper's all / Q / K / V / KQ, and none).
TOY_TRAINABLE: dict[str, tuple[str, ...]] = {
    "all": ("q", "k", "v"), "q": ("q",), "k": ("k",), "v": ("v",), "kq": ("k", "q"), "none": (),
}


@dataclass(frozen=True)
class ToyConfig:
    """Sizes and schedules of the toy.

    >>> ToyConfig().d
    5
    """

    d: int = 5  # dimension of x
    max_shots: int = 20
    pretrain_steps: int = 1200
    finetune_steps: int = 200
    batch_size: int = 256
    lr: float = 5e-3
    fs_shots: int = 10
    eval_prompts: int = 2000


class LinearAttention(nn.Module):
    """One linear self-attention layer read out at the query's y coordinate.

    >>> model = LinearAttention(d=3)
    >>> model(torch.zeros(2, 4, 5, dtype=torch.float64)).shape
    torch.Size([2])
    """

    def __init__(self, d: int, *, seed: int = 0) -> None:
        super().__init__()
        size = d + 2  # [1, x, y]
        generator = torch.Generator().manual_seed(seed)
        scale = 0.1 / size**0.5
        self.q, self.k, self.v = (
            nn.Parameter(torch.randn(size, size, generator=generator, dtype=torch.float64) * scale)
            for _ in range(3)
        )

    def forward(self, prompts: Prompts) -> Targets:
        query = prompts[:, -1]  # [batch, dim]
        scores = torch.einsum("btd,bd->bt", prompts @ self.k.T, query @ self.q.T)
        values = prompts @ self.v.T  # [batch, token, dim]
        mixed = torch.einsum("bt,btd->bd", scores, values) / prompts.shape[1]
        return mixed[:, -1]


def sample_prompts(
    theta: Float[Tensor, "batch d"], shots: int, generator: torch.Generator
) -> tuple[Prompts, Targets]:
    """Prompts of ``shots`` demonstrations and a query per row of ``theta``, and the answers.

    >>> g = torch.Generator().manual_seed(0)
    >>> prompts, y = sample_prompts(torch.ones(4, 3, dtype=torch.float64), 2, g)
    >>> prompts.shape, y.shape
    (torch.Size([4, 3, 5]), torch.Size([4]))
    """
    batch, d = theta.shape
    x = torch.randn(batch, shots + 1, d, generator=generator, dtype=torch.float64)
    y = torch.einsum("btd,bd->bt", x, theta)
    ones = torch.ones(batch, shots + 1, 1, dtype=torch.float64)
    shown_y = y.clone()
    shown_y[:, -1] = 0.0  # the query's label is what is asked
    return torch.cat([ones, x, shown_y[..., None]], dim=-1), y[:, -1]


def random_thetas(n: int, d: int, generator: torch.Generator) -> Float[Tensor, "n d"]:
    """Unit vectors uniform on the sphere."""
    theta = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return theta / theta.norm(dim=-1, keepdim=True)


def pretrain(config: ToyConfig, *, seed: int = 0) -> LinearAttention:
    """Train on random thetas with 0..max_shots demonstrations (a fresh count per step).

    >>> model = pretrain(ToyConfig(pretrain_steps=5))
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = LinearAttention(config.d, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    for step in range(config.pretrain_steps):
        shots = int(torch.randint(0, config.max_shots + 1, (1,), generator=generator))
        theta = random_thetas(config.batch_size, config.d, generator)
        prompts, y = sample_prompts(theta, shots, generator)
        loss = (model(prompts) - y).pow(2).mean()
        _check_finite(loss, "pretrain", step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def fine_tune_toy(
    model: LinearAttention, theta0: Float[Tensor, "d"], trainable: str, *, few_shot: bool,
    config: ToyConfig, seed: int = 0,
) -> LinearAttention:
    """A fine-tuned copy of ``model`` on ``theta0``: ZS loss, or ZS + w * FS with w 1 -> 0.

    >>> tuned = fine_tune_toy(LinearAttention(3), torch.ones(3) / 3**0.5, "v", few_shot=False,
    ...                       config=ToyConfig(d=3, finetune_steps=3))
    """
    if trainable not in TOY_TRAINABLE:
        raise ValueError(f"unknown toy variant {trainable!r}; use one of {', '.join(TOY_TRAINABLE)}")
    tuned = LinearAttention(config.d)
    tuned.load_state_dict(model.state_dict())
    params = [getattr(tuned, name) for name in TOY_TRAINABLE[trainable]]
    if not params:
        return tuned
    for name, p in tuned.named_parameters():
        p.requires_grad_(name in TOY_TRAINABLE[trainable])
    generator = torch.Generator().manual_seed(1000 + seed)
    optimizer = torch.optim.Adam(params, lr=config.lr)
    theta = theta0.to(torch.float64).expand(config.batch_size, -1)
    steps = config.finetune_steps
    for step in range(steps):
        prompts, y = sample_prompts(theta, 0, generator)
        loss = (tuned(prompts) - y).pow(2).mean()
        if few_shot:
            weight = 1.0 - step / max(1, steps - 1)
            prompts, y = sample_prompts(theta, config.fs_shots, generator)
            loss = loss + weight * (tuned(prompts) - y).pow(2).mean()
        _check_finite(loss, f"toy variant {trainable}{'+fs' if few_shot else ''}", step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return tuned


def _check_finite(loss: Tensor, label: str, step: int) -> None:
    if not torch.isfinite(loss):
        raise NonFiniteLossError(f"{label}: loss is {loss.item()} at step {step}")


@torch.no_grad()
def mse_on_task(
    model: LinearAttention, theta: Float[Tensor, "d"], shots: int, *, n: int, seed: int
) -> float:
    """Mean squared error of ``model`` on ``n`` fresh prompts of task ``theta``.

    >>> mse_on_task(LinearAttention(3), torch.ones(3) / 3**0.5, 2, n=10, seed=0) > 0
    True
    """
    generator = torch.Generator().manual_seed(seed)
    prompts, y = sample_prompts(theta.to(torch.float64).expand(n, -1), shots, generator)
    return float((model(prompts) - y).pow(2).mean())


def run_toy(config: ToyConfig = ToyConfig(), *, seeds: int = 3) -> pd.DataFrame:
    """Pretrain once, fine-tune every variant with ``seeds`` seeds (training draws), and
    measure the test MSE on theta0 and -theta0 at 0..max_shots shots: tidy rows
    (seed, variant, task, shots, mse).

    >>> rows = run_toy(ToyConfig(pretrain_steps=5, finetune_steps=5, eval_prompts=10), seeds=1)
    >>> sorted(rows.task.unique())
    ['-theta0', 'theta0']
    """
    rows = []
    base = pretrain(config, seed=0)
    theta0 = random_thetas(1, config.d, torch.Generator().manual_seed(7))[0]
    for seed in range(seeds):
        for trainable in TOY_TRAINABLE:
            for few_shot in ((False,) if trainable == "none" else (False, True)):
                tuned = fine_tune_toy(base, theta0, trainable, few_shot=few_shot, config=config,
                                      seed=seed)
                variant = trainable + ("+fs" if few_shot else "")
                for task, theta in (("theta0", theta0), ("-theta0", -theta0)):
                    for shots in range(config.max_shots + 1):
                        mse = mse_on_task(tuned, theta, shots, n=config.eval_prompts,
                                         seed=10_000 + shots)
                        rows.append(dict(seed=seed, variant=variant, task=task, shots=shots,
                                         mse=mse))
    return pd.DataFrame(rows)
