"""Train the embedded suite: every family and size on the same sequences in the same order.

A model directory is written atomically (to a temporary folder, then renamed) with fp16
safetensors, its tokenizer and ``train_info.json``; a finished model is skipped on a rerun,
so an interrupted ``train`` resumes at the first unfinished model.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import torch

from interp.suite.corpus import CorpusConfig, build_corpus, suite_words
from interp.suite.models import FAMILIES, SIZES, build_model, model_name
from interp.tokenizer import build_word_tokenizer
from interp.training import Schedule, train_lm

DEFAULT_STEPS = 2000
# Smaller models tolerate (and need) larger steps.
PEAK_LR = {"s1": 1e-2, "s2": 6e-3, "s3": 4e-3, "s4": 3e-3, "s5": 2e-3}
CHECKPOINTED_SIZE = "s3"  # Pythia-style log-spaced checkpoints for this size, each family
SIBLING_SIZE = "s3"  # a second seed for this size, each family


@dataclass(frozen=True)
class Job:
    family: str
    size: str
    seed: int = 0

    @property
    def name(self) -> str:
        return model_name(self.family, self.size, self.seed)


def checkpoint_steps(total: int) -> tuple[int, ...]:
    """0, 1, 2, 4, ... (powers of two) below ``total``, as Pythia's early checkpoints.

    >>> checkpoint_steps(100)
    (0, 1, 2, 4, 8, 16, 32, 64)
    """
    steps, s = [0], 1
    while s < total:
        steps.append(s)
        s *= 2
    return tuple(steps)


def plan(families=FAMILIES, sizes=tuple(SIZES)) -> list[Job]:
    """The jobs, cheapest first, so an interrupted run has the most models done."""
    jobs = [Job(f, s) for s in sizes for f in families]
    if SIBLING_SIZE in sizes:
        jobs += [Job(f, SIBLING_SIZE, seed=1) for f in families]
    return sorted(jobs, key=lambda j: (list(SIZES).index(j.size), j.seed, j.family))


def _save_dir(model, tokenizer, directory: Path, info: dict) -> None:
    """fp16 weights, tokenizer and info, written to a sibling temp dir and renamed into place."""
    tmp = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    half = type(model)(model.config)
    half.load_state_dict(model.state_dict())
    half.to(torch.float16).save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "train_info.json").write_text(json.dumps(info, indent=2) + "\n")
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(tmp, directory)


def train_suite(
    out: Path,
    *,
    families=FAMILIES,
    sizes=tuple(SIZES),
    steps: int = DEFAULT_STEPS,
    batch_size: int = 32,
    device: str = "cpu",
    corpus_seed: int = 0,
    force: bool = False,
    only: Optional[list[str]] = None,
) -> list[str]:
    """Train (or resume) the suite into ``out``; return the names trained now.

    >>> train_suite(Path("interp/suite/weights"), steps=1200)  # doctest: +SKIP
    """
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_word_tokenizer(suite_words())
    config = CorpusConfig(seed=corpus_seed)
    started = time.time()
    sequences = build_corpus(config, tokenizer, steps * batch_size)
    print(f"corpus: {sequences.shape[0]} sequences x {sequences.shape[1]} tokens "
          f"({time.time() - started:.0f}s to build)", flush=True)
    special = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                   eos_token_id=tokenizer.eos_token_id)
    trained = []
    for job in plan(families, sizes):
        if only and job.name not in only:
            continue
        directory = out / job.name
        if (directory / "train_info.json").is_file() and not force:
            print(f"{job.name}: done already, skipping", flush=True)
            continue
        model = build_model(job.family, job.size, vocab_size=len(tokenizer), seed=job.seed,
                            special=special)
        schedule = Schedule(steps=steps, batch_size=batch_size, lr=PEAK_LR[job.size])
        info = dict(
            name=job.name, family=job.family, size=job.size, seed=job.seed,
            parameters=sum(p.numel() for p in model.parameters()),
            shape=asdict(SIZES[job.size]), schedule=asdict(schedule),
            corpus=dict(seed=config.seed, seq_len=config.seq_len, mix=config.mix,
                        rare_frequencies=list(config.rare_frequencies)),
            tokens_seen=steps * batch_size * config.seq_len, device=device,
            hardware=_hardware(device), torch=torch.__version__,
            command="python -m interp.suite " + " ".join(sys.argv[1:]),
        )
        ckpt_dir = directory.with_name(f".{job.name}.checkpoints")
        wanted = checkpoint_steps(steps) if (job.size == CHECKPOINTED_SIZE and job.seed == 0) else ()

        def save_checkpoint(step: int, m) -> None:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            _save_dir(m, tokenizer, ckpt_dir / f"step{step}", dict(info, step=step))

        t0 = time.time()
        losses = train_lm(model, sequences, schedule, device=device, checkpoint_steps=wanted,
                          on_checkpoint=save_checkpoint, label=job.name)
        info.update(wall_seconds=round(time.time() - t0, 1), final_loss=round(losses[-1], 4),
                    loss_curve=[round(x, 4) for x in losses[:: max(1, steps // 100)]])
        _save_dir(model, tokenizer, directory, dict(info, step=steps))
        if wanted:
            os.replace(ckpt_dir, directory / "checkpoints")
        print(f"{job.name}: {info['parameters']:,} params, loss {losses[-1]:.3f}, "
              f"{info['wall_seconds']:.0f}s", flush=True)
        trained.append(job.name)
    return trained


def _hardware(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
