"""Fine-tuning variants: which weights train, on which loss.

A ``Variant`` names the trainable components (``interp.params`` names: all, attn, qk, q, k,
v, o, none) and whether the auxiliary few-shot loss is on. Every variant trains the plain HF model
(never a Bridge) on one zero-shot target task (arXiv 2602.23197's setting):
- ZS: cross-entropy of the answer tokens only, on 0-shot prompts of the target task;
- ZS+FS: ZS + w * FS, FS the same loss on prompts with ``fs_shots`` demonstrations of the
  same (fixed) mapping, ``w`` annealed linearly from 1 at the first step to 0 at the last.

``fine_tuned`` saves trained weights in HF format (``save_pretrained`` + the tokenizer)
into a folder the caller names (a result cache's ``artifacts(key)``, keyed by the base
model and ``cell_key``), written through ``interp.runs.files.atomic_dir``; a rerun loads
them instead of training again. A NaN loss stops training with ``NonFiniteLossError``
naming the variant and the step.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from jaxtyping import Int
from torch import Tensor, nn

from interp.loading import load_hf_model
from interp.params import component_masks, expand_components
from interp.runs.files import atomic_dir
from interp.scoring import encode_pair
from interp.tasks import get_task
from interp.tasks.base import Task
from interp.training import NonFiniteLossError, Schedule, train_steps

__all__ = ["FineTuneConfig", "NonFiniteLossError", "VARIANTS", "Variant", "answer_loss",
           "cell_key", "fine_tune", "fine_tuned", "saved_meta", "variants"]

META = "interp_finetune.json"  # beside the saved weights: base, variant, seed, config, losses

# Trainable sets, by name -> interp.params components.
TRAINABLE: dict[str, tuple[str, ...]] = {
    "all": expand_components("all"),
    "attn": expand_components("attn"),
    "qk": expand_components("qk"),
    "q": ("q",),  # paper B trains Q and K apart as well as together
    "k": ("k",),
    "v": ("v",),
    "o": ("o",),
    "none": (),
}


@dataclass(frozen=True)
class Variant:
    """Which components train (``trainable``: a key of ``TRAINABLE``) and whether the
    annealed few-shot loss is added.

    >>> Variant("qk", few_shot=True).name
    'qk+fs'
    """

    trainable: str
    few_shot: bool = False

    def __post_init__(self) -> None:
        if self.trainable not in TRAINABLE:
            raise ValueError(
                f"unknown trainable set {self.trainable!r}; use one of {', '.join(TRAINABLE)}"
            )

    @property
    def name(self) -> str:
        return self.trainable + ("+fs" if self.few_shot else "")

    @property
    def components(self) -> tuple[str, ...]:
        return TRAINABLE[self.trainable]

    @classmethod
    def parse(cls, name: str) -> "Variant":
        """``"v"`` -> Variant("v"), ``"qk+fs"`` -> Variant("qk", few_shot=True).

        >>> Variant.parse("attn+fs")
        Variant(trainable='attn', few_shot=True)
        """
        base, plus, rest = name.partition("+")
        if plus and rest != "fs":
            raise ValueError(f"variant {name!r}: the only suffix is '+fs' (the few-shot loss)")
        return cls(base, few_shot=bool(plus))


def variants(trainable: tuple[str, ...] = tuple(TRAINABLE)) -> list[Variant]:
    """Each trainable set with and without the few-shot loss ("none" only without: it never
    trains).

    >>> [v.name for v in variants(("v", "none"))]
    ['v', 'v+fs', 'none']
    """
    out = []
    for name in trainable:
        out.append(Variant(name))
        if name != "none":
            out.append(Variant(name, few_shot=True))
    return out


VARIANTS = variants()


@dataclass(frozen=True)
class FineTuneConfig:
    """What every variant trains on and for how long.

    >>> FineTuneConfig().key()["steps"]
    60
    """

    target_task: str = "icl_fixed"
    steps: int = 60
    batch_size: int = 16
    lr: float = 2e-3
    warmup: int = 5
    n_train: int = 256  # distinct training prompts (train split)
    fs_shots: int = 4  # demonstrations in each few-shot-loss prompt

    def key(self) -> dict[str, Any]:
        return asdict(self)

    def schedule(self) -> Schedule:
        # No weight decay: a frozen element must not move, and a trained one should move only
        # by what the task asks.
        return Schedule(steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                        warmup=self.warmup, final_lr_fraction=0.1, weight_decay=0.0)


Encoded = list[tuple[list[int], int]]  # per example: prompt + answer ids, answer start


def encode_answers(tokenizer: Any, task: Task) -> Encoded:
    """Each example's prompt + correct answer as ids, and where the answer starts.

    >>> model = load_hf_model("suite/pythia-s1")
    >>> ids, start = encode_answers(model.tokenizer, get_task("icl_fixed", n=2))[0]
    >>> start, len(ids)  # a 3-token prompt, then the 1-token answer
    (3, 4)
    """
    out = []
    for example in task.examples:
        prompt_ids, answer_ids = encode_pair(tokenizer, example.prompt, example.answer)
        out.append((prompt_ids + answer_ids, len(prompt_ids)))
    return out


def answer_loss(model: nn.Module, batch: Encoded, *, pad_id: int = 0) -> Tensor:
    """Mean cross-entropy of the answer tokens only (the prompt is context, not target).

    Sequences are right-padded: attention is causal, so no real token sees a pad.

    >>> model = load_hf_model("suite/pythia-s1")
    >>> task = get_task("icl_fixed", n=8)
    >>> loss = answer_loss(model, encode_answers(model.tokenizer, task)[:8])
    >>> loss.shape, loss.item() > 0
    (torch.Size([]), True)
    """
    device = next(model.parameters()).device
    width = max(len(ids) for ids, _ in batch)
    tokens: Int[Tensor, "batch pos"] = torch.full((len(batch), width), pad_id, dtype=torch.long)
    targets = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, (ids, start) in enumerate(batch):
        tokens[row, : len(ids)] = torch.tensor(ids)
        # Logits at position t predict token t + 1: targets shifted left by one.
        targets[row, start - 1 : len(ids) - 1] = torch.tensor(ids[start:])
    logits = model(input_ids=tokens.to(device), use_cache=False).logits
    return nn.functional.cross_entropy(
        logits.float().flatten(0, 1), targets.to(device).flatten(), ignore_index=-100
    )


def fine_tune(
    model: nn.Module,
    variant: Variant,
    config: FineTuneConfig,
    *,
    seed: int = 0,
    label: Optional[str] = None,
    progress: bool = False,
) -> list[float]:
    """Train ``model`` (plain HF, with ``.tokenizer``) in place as ``variant``; return the
    loss of every step. Raises ``NonFiniteLossError`` naming the variant and step on NaN.

    >>> import interp
    >>> model = interp.load_hf_model("suite/pythia-s1")
    >>> config = FineTuneConfig(steps=2, batch_size=4, n_train=8, warmup=1)
    >>> losses = fine_tune(model, Variant("v"), config)
    >>> len(losses), fine_tune(model, Variant("none"), config)  # "none" trains nothing
    (2, [])
    """
    if not variant.components:
        return []
    tokenizer = model.tokenizer
    # Training examples are a stream drawn with replacement (a 0-shot target task may have
    # only a dozen distinct training prompts); evaluation samples without it.
    zs = encode_answers(tokenizer, get_task(config.target_task, n=config.n_train, seed=seed,
                                            split="train", shots=0, replace=True))
    fs = encode_answers(tokenizer, get_task(config.target_task, n=config.n_train, seed=seed + 1,
                                            split="train", shots=config.fs_shots, replace=True))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rng = random.Random(seed)
    order_zs = _order(rng, len(zs), config.steps * config.batch_size)
    order_fs = _order(rng, len(fs), config.steps * config.batch_size)
    steps = config.steps

    def loss_at(step: int) -> Tensor:
        take = slice(step * config.batch_size, (step + 1) * config.batch_size)
        loss = answer_loss(model, [zs[i] for i in order_zs[take]], pad_id=pad)
        if variant.few_shot:
            weight = 1.0 - step / max(1, steps - 1)  # 1 at the first step, 0 at the last
            loss = loss + weight * answer_loss(model, [fs[i] for i in order_fs[take]], pad_id=pad)
        return loss

    torch.manual_seed(seed)
    masks = component_masks(model, variant.components)
    name = label or f"variant {variant.name} (seed {seed})"
    return train_steps(model, loss_at, config.schedule(), trainable=masks, label=name,
                       progress=progress)


def _order(rng: random.Random, n: int, total: int) -> list[int]:
    """Epochs of shuffled indices: every example once before any repeats."""
    out: list[int] = []
    while len(out) < total:
        epoch = list(range(n))
        rng.shuffle(epoch)
        out += epoch
    return out[:total]


def cell_key(variant: Variant, seed: int, config: FineTuneConfig) -> dict[str, Any]:
    """What a fine-tuned copy depends on besides its base model (which enters a cache key as
    ``ResultCache.model_key(base)``: name and weights fingerprint).

    >>> cell_key(Variant("v"), 0, FineTuneConfig())["variant"]
    'v'
    """
    return dict(variant=variant.name, seed=seed, finetune=config.key())


def save_atomic(model: nn.Module, path: Path, meta: dict[str, Any], *,
                replace: bool = False) -> Path:
    """Save ``model`` and its tokenizer in HF format, with ``meta`` beside them, through
    ``atomic_dir``: a crash never leaves a half-written checkpoint where a rerun would load
    it. An existing finished copy is kept unless ``replace``.

    >>> import tempfile
    >>> model = load_hf_model("suite/pythia-s1")
    >>> path = save_atomic(model, Path(tempfile.mkdtemp(dir="/tmp")) / "x", {"variant": "v"})
    >>> saved_meta(path), (path / "config.json").is_file()
    ({'variant': 'v'}, True)
    """
    with atomic_dir(path, keep_existing=not replace) as tmp:
        model.save_pretrained(tmp)
        model.tokenizer.save_pretrained(tmp)
        (tmp / META).write_text(json.dumps(meta, indent=2, default=str))
    return Path(path)


def saved_meta(path: Path) -> Optional[dict[str, Any]]:
    """What ``fine_tuned`` recorded beside the weights in ``path`` (losses, config), if saved.

    >>> saved_meta(Path("/nonexistent")) is None
    True
    """
    file = Path(path) / META
    return json.loads(file.read_text()) if file.is_file() else None


def fine_tuned(
    base: str,
    variant: Variant,
    config: FineTuneConfig,
    *,
    seed: int,
    path: Optional[Path],
    device: Optional[str] = None,
    force: bool = False,
) -> tuple[nn.Module, bool]:
    """The fine-tuned model of ``variant``: loaded from ``path`` if saved there, else trained
    from ``base`` and saved to ``path``. Returns (plain HF model, whether it was reused).
    ``Variant("none")`` is the base model itself (nothing to train or save; ``path`` unused).

    >>> import tempfile
    >>> from interp.runs.cache import ResultCache
    >>> cache = ResultCache(tempfile.mkdtemp(dir="/tmp"), study="demo")
    >>> config = FineTuneConfig(steps=2, batch_size=4, n_train=8, warmup=1)
    >>> key = {**ResultCache.model_key("suite/pythia-s1"), **cell_key(Variant("v"), 0, config)}
    >>> model, reused = fine_tuned("suite/pythia-s1", Variant("v"), config, seed=0,
    ...                            path=cache.artifacts(key))
    >>> reused, saved_meta(cache.artifacts(key))["variant"]
    (False, 'v')
    >>> model, reused = fine_tuned("suite/pythia-s1", Variant("v"), config, seed=0,
    ...                            path=cache.artifacts(key))
    >>> reused  # loaded back, not trained again
    True
    """
    if not variant.components:
        return load_hf_model(base, device=device), True
    if path is None:
        raise ValueError(f"variant {variant.name}: fine_tuned needs a path for its weights")
    path = Path(path)
    if (path / "config.json").is_file() and not force:
        return load_hf_model(path, device=device), True
    model = load_hf_model(base, device=device)
    losses = fine_tune(model, variant, config, seed=seed)
    meta = dict(base=base, variant=variant.name, seed=seed, config=config.key(),
                first_loss=losses[0], last_loss=losses[-1])
    save_atomic(model, path, meta, replace=force)
    return model, False
