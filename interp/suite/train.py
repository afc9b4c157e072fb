"""Train the embedded suite: every family and size on the same sequences in the same order.

Two phases, as in mid-training of large models. Phase 1: ``steps`` steps on the suite corpus.
Phase 2 (the ICL phase): ``icl_steps`` more steps, with a fresh warmup-cosine at half the
peak lr, on long ICL prompts only, then on a half-and-half mix of ICL prompts and the corpus
rows that follow phase 1 (``ICL_PHASE_SEGMENTS``). From scratch no suite shape leaves the
induction plateau within the budget (``python -m interp.suite probe``); from a phase-1 model
the largest shapes of both families learn to read ICL prompts within a few hundred steps.

Phase 1 ends in the checkpoint ``step{steps}``, saved in fp16 like every checkpoint; phase 2
always starts from that saved file, so a run that resumes there matches one that did not
stop. Every directory is written atomically (a temporary folder, then renamed) with fp16
safetensors, the tokenizer and ``train_info.json``; a finished model is skipped on a rerun,
so an interrupted ``train`` resumes at the first unfinished model (or its second phase).
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
from typing import Iterator, Optional

import torch
from transformers import AutoModelForCausalLM

from interp.runs.files import atomic_dir
from interp.scoring import score_task
from interp.suite.corpus import (
    ICL_PROMPT_SHOTS, CorpusConfig, Sequences, build_corpus, icl_sequences, iter_sequences,
    suite_words)
from interp.suite.models import FAMILIES, SIZES, build_model, model_name
from interp.tasks import get_task
from interp.tokenizer import build_word_tokenizer
from interp.training import Schedule, train_lm

from interp.suite.recipe import (  # noqa: F401  (re-exported: the trainer's settings)
    CHECKPOINTED_SIZE,
    CURVE_TASKS,
    DEFAULT_STEPS,
    ICL_CURVE_EVERY,
    ICL_PHASE_LR_SCALE,
    ICL_PHASE_SEGMENTS,
    ICL_PHASE_STEPS,
    PEAK_LR,
    SIBLING_FAMILIES,
    SIBLING_SIZE,
)
from interp.suite.scores import icl_scores


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
    jobs += [Job(f, s, seed=1) for s, fams in SIBLING_FAMILIES.items() if s in sizes
             for f in fams if f in families]
    return sorted(jobs, key=lambda j: (list(SIZES).index(j.size), j.seed, j.family))


def _save_dir(model, tokenizer, directory: Path, info: dict) -> None:
    """fp16 weights, tokenizer and info, written to a temp folder and renamed into place."""
    half = type(model)(model.config)
    half.load_state_dict(model.state_dict())
    with atomic_dir(directory) as tmp:
        half.to(torch.float16).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "train_info.json").write_text(json.dumps(info, indent=2) + "\n")


def train_suite(
    out: Path,
    *,
    families=FAMILIES,
    sizes=tuple(SIZES),
    steps: int = DEFAULT_STEPS,
    icl_steps: int = ICL_PHASE_STEPS,
    batch_size: int = 32,
    device: str = "cpu",
    corpus_seed: int = 0,
    force: bool = False,
    only: Optional[list[str]] = None,
) -> list[str]:
    """Train (or resume) the suite into ``out``; return the names trained now.

    Two steps of one small model into a scratch folder (the real suite is
    ``python -m interp.suite train``, into ``interp/suite/weights``):

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> train_suite(out, families=("pythia",), sizes=("s1",), steps=2, icl_steps=0,
    ...             batch_size=2, only=["pythia-s1"])  # doctest: +ELLIPSIS
    corpus: 4 + 0 sequences x 128 tokens (...s to build)
    pythia-s1: ... params, step 2, loss ...
    ['pythia-s1']
    >>> sorted(p.name for p in (out / "pythia-s1").iterdir())  # doctest: +ELLIPSIS
    ['checkpoints', 'config.json', ..., 'model.safetensors', ..., 'train_info.json']
    """
    if steps < 1 or icl_steps < 0:
        raise ValueError(f"steps must be >= 1 and icl_steps >= 0, got {steps} and {icl_steps}")
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_word_tokenizer(suite_words())
    config = CorpusConfig(seed=corpus_seed)
    started = time.time()
    stream = iter_sequences(config, tokenizer)
    sequences = build_corpus(config, tokenizer, steps * batch_size, stream=stream)
    icl_rows = icl_phase_rows(tokenizer, icl_steps * batch_size, config, stream)
    print(f"corpus: {sequences.shape[0]} + {icl_rows.shape[0]} sequences x {sequences.shape[1]} "
          f"tokens ({time.time() - started:.0f}s to build)", flush=True)
    special = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                   eos_token_id=tokenizer.eos_token_id)
    command = "python -m interp.suite " + " ".join(sys.argv[1:])
    trained = []
    for job in plan(families, sizes):
        if only and job.name not in only:
            continue
        directory = out / job.name
        ckpt_dir = directory.with_name(f".{job.name}.checkpoints")
        if force:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        elif (directory / "train_info.json").is_file():
            print(f"{job.name}: done already, skipping", flush=True)
            continue
        phase1 = ckpt_dir / f"step{steps}"
        if (phase1 / "train_info.json").is_file():
            print(f"{job.name}: phase 1 done already, resuming at step {steps}", flush=True)
        else:
            schedule = Schedule(steps=steps, batch_size=batch_size, lr=PEAK_LR[job.size])
            _phase_one(job, sequences, schedule, phase1, tokenizer, config, special, device, command)
        # Phase 2 starts from the saved fp16 file, resumed or not, so both runs match.
        model = AutoModelForCausalLM.from_pretrained(phase1, dtype=torch.float32)
        info = json.loads((phase1 / "train_info.json").read_text())
        if icl_steps:
            info = _icl_phase(model, tokenizer, info, icl_rows, icl_steps, device, command)
        _save_dir(model, tokenizer, directory, info)
        os.replace(ckpt_dir, directory / "checkpoints")
        print(f"{job.name}: {info['parameters']:,} params, step {info['step']}, "
              f"loss {info.get('icl_phase', info)['final_loss']:.3f}", flush=True)
        trained.append(job.name)
    return trained


def _phase_one(job: Job, sequences, schedule: Schedule, phase1: Path, tokenizer,
               config: CorpusConfig, special: dict, device: str, command: str) -> None:
    """Train ``job`` from scratch on ``sequences``; save it (fp16) to ``phase1``, the last of
    its checkpoints, beside the log-spaced ones of the checkpointed size."""
    model = build_model(job.family, job.size, vocab_size=len(tokenizer), seed=job.seed,
                        special=special)
    info = dict(
        name=job.name, family=job.family, size=job.size, seed=job.seed,
        parameters=sum(p.numel() for p in model.parameters()),
        shape=asdict(SIZES[job.size]), schedule=asdict(schedule),
        corpus=dict(seed=config.seed, seq_len=config.seq_len, mix=config.mix,
                    rare_frequencies=list(config.rare_frequencies)),
        tokens_seen=schedule.steps * schedule.batch_size * config.seq_len, device=device,
        hardware=_hardware(device), torch=torch.__version__, command=command,
    )
    checkpointed = job.size == CHECKPOINTED_SIZE and job.seed == 0
    wanted = checkpoint_steps(schedule.steps) if checkpointed else ()

    def save_checkpoint(step: int, m) -> None:
        _save_dir(m, tokenizer, phase1.parent / f"step{step}", dict(info, step=step))

    t0 = time.time()
    losses = train_lm(model, sequences, schedule, device=device, checkpoint_steps=wanted,
                      on_checkpoint=save_checkpoint, label=job.name)
    info.update(wall_seconds=round(time.time() - t0, 1), final_loss=round(losses[-1], 4),
                loss_curve=[round(x, 4) for x in losses[:: max(1, schedule.steps // 100)]])
    _save_dir(model, tokenizer, phase1, dict(info, step=schedule.steps))


def icl_phase_rows(tokenizer, n: int, config: CorpusConfig, corpus: Iterator[list[int]]) -> Sequences:
    """The ``n`` rows of the ICL phase, segment by segment (``ICL_PHASE_SEGMENTS``); corpus
    rows come from ``corpus``, the stream where phase 1 stopped, so none is seen twice.

    >>> tokenizer = build_word_tokenizer(suite_words())
    >>> stream = iter_sequences(CorpusConfig(), tokenizer)
    >>> rows = icl_phase_rows(tokenizer, 8, CorpusConfig(), stream)
    >>> rows.shape
    torch.Size([8, 128])
    """
    sizes = [round(share * n) for share, _ in ICL_PHASE_SEGMENTS[:-1]]
    sizes.append(n - sum(sizes))
    return torch.cat([
        icl_sequences(tokenizer, size, seq_len=config.seq_len, seed=config.seed + i,
                      icl_fraction=fraction, corpus=corpus)
        for i, (size, (_, fraction)) in enumerate(zip(sizes, ICL_PHASE_SEGMENTS))
    ])


def _icl_phase(model, tokenizer, info: dict, rows, steps: int, device: str, command: str) -> dict:
    """Train ``model`` (phase 1 done, ``info`` its train_info) through the ICL phase in place;
    return the train_info of the result: phase 1's, with the phase under ``icl_phase``, and
    held-out icl accuracy at 0 and 8 shots (and ``CURVE_TASKS``) every ``ICL_CURVE_EVERY`` steps."""

    schedule = Schedule(steps=steps, batch_size=info["schedule"]["batch_size"],
                        lr=info["schedule"]["lr"] * ICL_PHASE_LR_SCALE)
    curve = []

    def measure(step: int, m) -> None:
        m.eval()
        point = dict(step=info["step"] + step, **dict(zip(("icl@0", "icl@8"), icl_scores(m, tokenizer))))
        for task in CURVE_TASKS:  # what ICL prompts alone would wipe out
            point[task] = score_task(m, get_task(task, n=100, seed=1), tokenizer=tokenizer,
                                     progress=False).accuracy
        curve.append(point)
        m.train()

    t0 = time.time()
    losses = train_lm(model, rows, schedule, device=device, label=f"{info['name']} ICL phase",
                      checkpoint_steps=tuple(range(0, steps, ICL_CURVE_EVERY)) + (steps,),
                      on_checkpoint=measure)
    phase = dict(
        schedule=asdict(schedule), segments=[
            dict(share=share, icl_fraction=fraction) for share, fraction in ICL_PHASE_SEGMENTS],
        icl_prompt_shots=list(ICL_PROMPT_SHOTS), starts_from=f"step{info['step']}",
        wall_seconds=round(time.time() - t0, 1), final_loss=round(losses[-1], 4),
        loss_curve=[round(x, 4) for x in losses[:: max(1, steps // 100)]],
        hardware=_hardware(device), torch=torch.__version__, command=command, icl_curve=curve,
    )
    tokens = steps * schedule.batch_size * info["corpus"]["seq_len"]
    return dict(info, step=info["step"] + steps, tokens_seen=info["tokens_seen"] + tokens,
                icl_phase=phase)


def _hardware(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
