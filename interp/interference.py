"""Frequent-vs-rare task interference (arXiv 2605.29548) on the suite: the experiments.

- ``ladder_rows``: rare-task accuracy and loss of one model across the rare-task ladder
  (copies of comparison / modular addition seen at log-spaced frequencies in training).
- ``gradient_interference``: rare-task gradient directions against the frequent tasks' and
  the mixture's, per parameter group; a mixed batch's gradient split into its rare-token and
  other-token parts; Fisher overlap of the most important parameters.
- ``continue_training``: keep training a model on its own mixture with rare-task blocks
  injected at planned steps (``matched_frequency_plan``, ``upsampled_plan``), tracing the rare
  task after every step; resumable from a state folder.
- ``injection_effects``: the drop at each injection and its half-life afterwards.

Every function returns a tidy DataFrame; ``studies/task_interference.py`` composes them.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from jaxtyping import Bool, Int
from torch import Tensor, nn
from tqdm.auto import tqdm

from interp.analysis import gradients as G
from interp.scoring import evaluate, score_task
from interp.arch import family_of
from interp.loading import resolve
from interp.suite.corpus import CorpusConfig, build_corpus, rare_block
from interp.tasks.base import Task
from interp.training import NonFiniteLossError, Schedule, batch_at

Sequences = Int[Tensor, "sequence pos"]
BlockMask = Bool[Tensor, "sequence pos"]
RARE_TASK = re.compile(r"rare_(comparison|modadd)_(\d+)")


# --- What a model and a task are ------------------------------------------------------------

def rare_copy(task_name: str) -> tuple[str, int]:
    """(kind, copy) of a rare ladder task name; a clear error for any other task.

    >>> rare_copy("rare_modadd_3")
    ('modadd', 3)
    """
    match = RARE_TASK.fullmatch(task_name)
    if match is None:
        raise ValueError(
            f"{task_name!r} is not a rare ladder task: rare tasks are rare_comparison_K and "
            "rare_modadd_K (K = 0..5); pass one of those as the rare task"
        )
    return match.group(1), int(match.group(2))


def train_info(name: str) -> dict:
    """The suite's ``train_info.json`` of a model (empty for models without one).

    >>> train_info("suite/pythia-s1")["size"]
    's1'
    """
    path = Path(resolve(name).location) / "train_info.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def corpus_config(name: str, *, seed: int = 0) -> CorpusConfig:
    """The model's own training mixture (from its train_info), sampled afresh with ``seed``.

    Models without a train_info (hub checkpoints) get the suite's default mixture.

    >>> corpus_config("suite/pythia-s1", seed=5).seed
    5
    """
    corpus = train_info(name).get("corpus", {})
    default = CorpusConfig()
    return CorpusConfig(
        seed=seed,
        seq_len=int(corpus.get("seq_len", default.seq_len)),
        mix=dict(corpus.get("mix", default.mix)),
        rare_frequencies=tuple(corpus.get("rare_frequencies", default.rare_frequencies)),
    )


def ladder_frequency(task_name: str, config: CorpusConfig) -> float:
    """Fraction of training sequences that carried this rare copy (NaN for other tasks).

    >>> ladder_frequency("rare_comparison_0", CorpusConfig()) == CorpusConfig().rare_frequencies[0]
    True
    """
    match = RARE_TASK.fullmatch(task_name)
    if match is None or int(match.group(2)) >= len(config.rare_frequencies):
        return float("nan")
    return float(config.rare_frequencies[int(match.group(2))])


def model_facts(name: str, model: nn.Module) -> dict:
    """model, family, size, parameters and training step of a loaded model.

    >>> import interp
    >>> model_facts("suite/pythia-s3@step64", interp.load_hf_model("suite/pythia-s3@step64"))["step"]
    64
    """
    info = train_info(name)
    family = info.get("family") or family_of(model)
    step = info.get("step")
    if step is None:
        match = re.search(r"@step(\d+)$", name)
        step = int(match.group(1)) if match else None
    return dict(model=name, base=name.split("@")[0], family=family, size=info.get("size", ""),
                parameters=sum(p.numel() for p in model.parameters()),
                step=-1 if step is None else int(step))


def check_tasks(tasks: Sequence[Task], what: str) -> None:
    """A clear error for an empty task list or a task without instances.

    >>> check_tasks([], "rare tasks")
    Traceback (most recent call last):
    ValueError: no rare tasks given: name at least one (see interp.tasks.available_tasks())
    """
    if not tasks:
        raise ValueError(f"no {what} given: name at least one (see interp.tasks.available_tasks())")
    for task in tasks:
        if len(task.examples) == 0:
            raise ValueError(f"{what}: task {task.name!r} has no instances; ask for n >= 1")


# --- Experiment 1: the ladder ---------------------------------------------------------------

def ladder_rows(name: str, model: nn.Module, tasks: Sequence[Task], *,
                batch_size: int = 16) -> pd.DataFrame:
    """Accuracy and loss of one model on rare ladder tasks, with frequency, size and step.

    >>> import interp
    >>> m = interp.load_hf_model("suite/pythia-s1")
    >>> t = [interp.tasks.get_task("rare_comparison_0", n=8)]
    >>> list(ladder_rows("suite/pythia-s1", m, t).columns)[:6]
    ['model', 'base', 'family', 'size', 'parameters', 'step']
    """
    check_tasks(tasks, "rare tasks")
    config = corpus_config(name)
    rows = evaluate(model, list(tasks), name=name, batch_size=batch_size, progress=False)
    facts = model_facts(name, model)
    kinds = [RARE_TASK.fullmatch(t) for t in rows.task]
    rows = rows.assign(
        kind=[m.group(1) if m else "" for m in kinds],
        copy=[int(m.group(2)) if m else -1 for m in kinds],
        frequency=[ladder_frequency(t, config) for t in rows.task],
    )
    return pd.DataFrame([{**facts, **r} for r in rows.drop(columns="model").to_dict("records")])


# --- Mixture batches with injected rare blocks -----------------------------------------------

def mixture_sequences(name: str, tokenizer: Any, n: int, *, seed: int,
                      exclude: Sequence[str] = ()) -> Sequences:
    """``n`` sequences of the model's own mixture, the ``exclude``d rare copies never injected.

    Excluding the copy under study leaves it to the experiment's own injections, so every
    block the model sees is one the experiment planned. The corpus gives copy k of both
    kinds one frequency, so excluding ``rare_comparison_4`` also drops ``rare_modadd_4``.

    >>> seqs = mixture_sequences("suite/pythia-s1", tok, 32, seed=1)  # doctest: +SKIP
    """
    config = corpus_config(name, seed=seed)
    frequencies = list(config.rare_frequencies)
    for task_name in exclude:
        frequencies[rare_copy(task_name)[1]] = 0.0
    config = CorpusConfig(seed=config.seed, seq_len=config.seq_len, mix=config.mix,
                          rare_frequencies=tuple(frequencies))
    return build_corpus(config, tokenizer, n)


def inject_blocks(tokens: Sequences, task_name: str, rows: int, tokenizer: Any,
                  rng: random.Random) -> tuple[Sequences, BlockMask]:
    """Replace the first tokens of the first ``rows`` sequences with a rare block (+ EOS).

    As the suite's corpus injects them (``interp.suite.corpus.rare_block``). The mask marks
    the block's tokens.

    >>> import interp
    >>> tok = interp.load_hf_model("suite/pythia-s1").tokenizer
    >>> zeros = torch.zeros(4, 64, dtype=torch.long)
    >>> t, mask = inject_blocks(zeros, "rare_comparison_0", 2, tok, random.Random(0))
    >>> mask.any(1).tolist()
    [True, True, False, False]
    """
    kind, copy = rare_copy(task_name)
    if rows > tokens.shape[0]:
        raise ValueError(f"cannot inject {rows} blocks into a batch of {tokens.shape[0]} "
                         "sequences: use a larger batch or fewer instances per injection")
    tokens = tokens.clone()
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    for row in range(rows):
        ids = tokenizer(rare_block(kind, copy, rng)).input_ids + [tokenizer.eos_token_id]
        ids = ids[: tokens.shape[1]]
        tokens[row, : len(ids)] = torch.tensor(ids)
        mask[row, : len(ids)] = True
    return tokens, mask


# --- Experiment 2: interference in gradients and weights -------------------------------------

def gradient_interference(
    name: str,
    model: nn.Module,
    frequent: Sequence[Task],
    rare: Sequence[Task],
    *,
    mixture: Sequences,
    fisher_n: int = 16,
    top_fraction: float = 0.01,
    groups: Optional[Sequence[str]] = None,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Gradient cosines, token-split cosines and Fisher overlaps of one model.

    ``mixture``: mixture sequences without the rare copies; its two halves are two batches.
    References for the rare direction g_r: each frequent task, their mean ("frequent") and
    the mixture's LM gradient ("mixture"). Token split: a mixture batch with one rare block
    injected; g = g_task + g_other; each part's cosine to g_r.

    Returns tables ``cosines``, ``token_split`` and ``fisher``.

    >>> out = gradient_interference("suite/pythia-s1", m, [f], [r], mixture=seqs)  # doctest: +SKIP
    """
    check_tasks(frequent, "frequent tasks")
    check_tasks(rare, "rare tasks")
    facts = model_facts(name, model)
    if groups is not None:
        G.check_groups(model, groups)  # a missing group fails before any gradient is spent
    def vectors(gradient: G.Gradient) -> dict[str, Tensor]:
        return G.group_vectors(model, gradient, groups)

    frequent_grads = {t.name: G.task_gradient(model, t) for t in frequent}
    references = {name: vectors(g) for name, g in frequent_grads.items()}
    references["frequent"] = vectors(G.mean_gradient(list(frequent_grads.values())))
    half = mixture.shape[0] // 2
    batches = [mixture[:half], mixture[half : 2 * half]] if half else [mixture]
    references["mixture"] = vectors(G.lm_gradient(model, batches[0]))

    cosines, split, fisher_rows = [], [], []
    frequent_fisher = G.diagonal_fisher(model, [_head(t, fisher_n) for t in frequent])
    for task in rare:
        g_rare = vectors(G.task_gradient(model, task))
        for ref, v_ref in references.items():
            table = G.vector_cosines(g_rare, v_ref)
            cosines += [dict(facts, rare_task=task.name, reference=ref, group=r["group"],
                             cosine=r["cosine"]) for r in table.to_dict("records")]
        for b, batch in enumerate(batches):
            rng = random.Random(f"{seed}/split/{task.name}/{b}")
            tokens, mask = inject_blocks(batch, task.name, 1, model.tokenizer, rng)
            g_task, g_other = G.token_split_gradient(model, tokens, mask)
            for part, g in (("batch", G.add(g_task, g_other)), ("task_tokens", g_task),
                            ("other_tokens", g_other)):
                table = G.vector_cosines(vectors(g), g_rare)
                split += [dict(facts, rare_task=task.name, batch=b, part=part, group=r["group"],
                               cosine=r["cosine"], norm=r["norm_a"])
                          for r in table.to_dict("records")]
        rare_fisher = G.diagonal_fisher(model, _head(task, fisher_n))
        table = G.fisher_overlap(model, rare_fisher, frequent_fisher,
                                 top_fraction=top_fraction, groups=groups)
        fisher_rows += [dict(facts, rare_task=task.name, reference="frequent", **r)
                        for r in table.to_dict("records")]
    return dict(cosines=pd.DataFrame(cosines), token_split=pd.DataFrame(split),
                fisher=pd.DataFrame(fisher_rows))


def _head(task: Task, n: int) -> Task:
    return Task(task.name, task.kind, task.scoring, task.examples[: max(1, n)])


# --- Experiments 3 and 4: continued training with planned injections ------------------------

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
    """How to keep training: steps, batch, a constant learning rate after a short warmup."""

    steps: int
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 8
    eval_every: int = 1
    save_every: int = 25
    seed: int = 0

    def schedule(self) -> Schedule:
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
) -> pd.DataFrame:
    """Train on ``sequences`` with ``plan[step]`` rare blocks injected into batch ``step``.

    Rows (step, injected, train_loss, rare_loss, rare_accuracy): step 0 is before any update,
    step t after t updates; ``injected`` counts the blocks in the update that led to step t.
    The focus task (held-out instances) is scored every ``eval_every`` steps and at every step
    next to an injection (unless ``trace_injections`` is False). With ``state_dir`` the
    weights, optimizer and rows are saved every ``save_every`` steps and an interrupted run
    resumes from them.

    >>> config = ContinuedTraining(steps=16)
    >>> rows = continue_training(m, seqs, {8: 4}, "rare_comparison_4", task, config)  # doctest: +SKIP
    """
    schedule = config.schedule()
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=schedule.lr,
                                  weight_decay=schedule.weight_decay, betas=(0.9, 0.95))
    rows: list[dict] = []
    start = 0
    state_path = None if state_dir is None else Path(state_dir) / "state.pt"
    if state_path is not None and state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rows, start = state["rows"], state["step"]
    torch.manual_seed(config.seed)
    near_injection = {s + d for s in plan for d in (0, 1, 2)} if trace_injections else set()

    def trace(step: int, injected: int, train_loss: float) -> None:
        due = step % config.eval_every == 0 or step in near_injection or step == config.steps
        score = score_task(model, focus, batch_size=64, progress=False) if due else None
        rows.append(dict(step=step, injected=injected, train_loss=train_loss,
                         rare_loss=score.mean_loss if score else float("nan"),
                         rare_accuracy=score.accuracy if score else float("nan")))

    model.eval()  # no dropout in the suite; eval mode keeps scoring and training identical
    if start == 0:
        trace(0, 0, float("nan"))
    bar = tqdm(range(start, config.steps), desc=label, disable=not progress, mininterval=5,
               leave=False)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(step)
        tokens = batch_at(sequences, step, config.batch_size)
        blocks = plan.get(step, 0)
        if blocks:
            rng = random.Random(f"{config.seed}/inject/{step}")
            tokens, _ = inject_blocks(tokens, inject_task, blocks, model.tokenizer, rng)
        tokens = tokens.to(device)
        loss = model(tokens, labels=tokens).loss
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"{label}: loss is {loss.item()} at step {step}; "
                                     "lower the learning rate")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        trace(step + 1, blocks, loss.item())
        if state_path is not None and (step + 1) % config.save_every == 0 and step + 1 < config.steps:
            _save_state(state_path, model, optimizer, rows, step + 1)
    return pd.DataFrame(rows)


def _save_state(path: Path, model: nn.Module, optimizer, rows: list[dict], step: int) -> None:
    """Weights, optimizer and rows, written to a temp file and renamed (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(dict(model=model.state_dict(), optimizer=optimizer.state_dict(), rows=rows,
                    step=step), tmp)
    os.replace(tmp, path)


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
        half_life, censored = float("nan"), True
        if drop > 0:
            target = lowest + drop / 2
            after = window.loc[lowest_step:]
            prev_step, prev = lowest_step, lowest
            for step, value in after.items():
                if value >= target:
                    frac = (target - prev) / (value - prev) if value > prev else 0.0
                    half_life = (prev_step + frac * (step - prev_step)) - lowest_step
                    censored = False
                    break
                prev_step, prev = step, value
        at_next = float(loss.get(end, float("nan")))
        rows.append(dict(injection_step=s, blocks=plan[s], gap=end - s, before=before,
                         lowest=lowest, lowest_after=lowest_step - s, drop=drop,
                         half_life=half_life, censored=censored, loss_at_next=at_next,
                         kept=(before - at_next) / drop if drop > 0 else float("nan")))
    return pd.DataFrame(rows, columns=["injection_step", "blocks", "gap", "before", "lowest",
                                       "lowest_after", "drop", "half_life", "censored",
                                       "loss_at_next", "kept"])


def continued_lr(name: str, lr: Optional[float], scale: float) -> float:
    """The learning rate of continued training: ``lr`` if given, else ``scale`` x the suite
    model's peak LR (between the suite's final LR, 0.1 x peak, and its peak).

    >>> from interp.suite.recipe import PEAK_LR
    >>> continued_lr("suite/pythia-s1", None, 0.3) == round(0.3 * PEAK_LR["s1"], 12)
    True
    """
    from interp.suite.recipe import PEAK_LR

    if lr is not None:
        if lr <= 0:
            raise ValueError(f"--lr must be positive, got {lr}")
        return lr
    size = train_info(name).get("size")
    if size not in PEAK_LR:
        raise ValueError(f"{name} is not a suite model, so it has no peak LR to scale: pass "
                         "--lr (e.g. --lr 1e-4 for a hub checkpoint)")
    return round(scale * PEAK_LR[size], 12)


def progress(items: Sequence, label: str):
    """A tqdm bar over ``items`` (the study's long loops).

    >>> list(progress([1, 2], "x"))
    [1, 2]
    """
    return tqdm(list(items), desc=label, mininterval=5, disable=len(items) < 2)


# --- Summary, record and figures -------------------------------------------------------------

def _final(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of final models (the size ladder), not of intermediate checkpoints."""
    return table[~table.model.str.contains("@")]


def _checkpointed(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of every checkpoint series: the @stepN models and the final model of their base."""
    bases = set(table[table.model.str.contains("@")].base)
    return table[table.base.isin(bases)]


def summary(tables: dict[str, pd.DataFrame], *, focus: str) -> dict:
    """The main numbers of a run, per model (and per variant where there are variants).

    >>> summary({}, focus="rare_comparison_4")
    {}
    """
    out: dict[str, Any] = {}
    if "ladder" in tables:
        ladder = _final(tables["ladder"])
        out["ladder_mean_accuracy"] = (
            ladder.groupby(["model", "kind"], sort=False).accuracy.mean().round(3)
            .unstack().to_dict("index"))
        out["focus_accuracy"] = (
            ladder[ladder.task == focus].set_index("model").accuracy.round(3).to_dict())
    if "cosines" in tables:
        cos = _final(tables["cosines"])
        cos = cos[cos.group == "all"]
        out["cosine_rare_vs_reference"] = (
            cos.groupby(["model", "reference"], sort=False).cosine.mean().round(4)
            .unstack().to_dict("index"))
    if "token_split" in tables:
        split = _final(tables["token_split"])
        split = split[split.group == "all"]
        out["token_split_cosine_to_rare"] = (
            split.groupby(["model", "part"], sort=False).cosine.mean().round(4)
            .unstack().to_dict("index"))
    if "fisher" in tables:
        fisher = _final(tables["fisher"])
        fisher = fisher[fisher.group == "all"]
        out["fisher_overlap"] = (
            fisher.groupby("model", sort=False)[["jaccard", "chance_jaccard", "weighted_overlap"]]
            .mean().round(4).to_dict("index"))
    if "injections" in tables and not tables["injections"].empty:
        inj = tables["injections"].sort_values(["parameters", "variant"], kind="stable")
        out["injections"] = {
            f"{m} gap {v}": dict(mean_drop=round(float(g["drop"].mean()), 4),
                                 median_half_life=_rounded(g.half_life.median()),
                                 censored=round(float(g.censored.mean()), 2),
                                 median_kept=_rounded(g.kept.median()))
            for (m, v), g in inj.groupby(["model", "variant"], sort=False)}
    if "forget" in tables:
        forget = tables["forget"]
        last = forget.sort_values(["parameters", "variant", "step"]).groupby(
            ["model", "variant"], sort=False).tail(1)
        out["forget_final_rare_loss"] = {f"{r.model} gap {r.variant}": round(r.rare_loss, 4)
                                         for r in last.itertuples()}
    if "recovery" in tables:
        rec = tables["recovery"].dropna(subset=["rare_accuracy"])
        last = rec.sort_values(["parameters", "variant", "step"]).groupby(
            ["model", "variant"], sort=False).tail(1)
        out["recovery_final_accuracy"] = {f"{r.model} x{r.variant:g}": round(r.rare_accuracy, 3)
                                          for r in last.itertuples()}
    return out


def _rounded(x: float) -> Optional[float]:
    return None if x is None or math.isnan(x) else round(float(x), 2)


def summary_text(summary: dict) -> str:
    """The summary as short indented text for the terminal."""
    lines = []
    for section, values in summary.items():
        lines.append(f"{section}:")
        for key, value in values.items():
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def run_record(args, *, plan: dict, summary: dict, seconds: float, cells: dict) -> str:
    """results.json: configuration, model lists, main numbers, versions and timing."""
    import platform

    import transformers

    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    record = dict(study="task_interference", config=config, plan=plan, summary=summary,
                  seconds=round(seconds, 1), cells=cells,
                  versions=dict(python=platform.python_version(), torch=torch.__version__,
                                transformers=transformers.__version__))
    return json.dumps(record, indent=2, default=str) + "\n"


def draw_figures(tables: dict[str, pd.DataFrame], out: Path, *, focus: str) -> list[Path]:
    """Every figure the run has data for; returns the files written (PNG and PDF)."""
    from interp.runs import plots

    plots.use_style()
    written: list[Path] = []
    if "ladder" in tables:
        written += _ladder_figures(tables["ladder"], out)
    if "cosines" in tables:
        written += _cosine_figures(tables["cosines"], out)
    if "token_split" in tables:
        written += _split_figure(tables["token_split"], out)
    if "fisher" in tables:
        written += _fisher_figure(tables["fisher"], out)
    if "forget" in tables:
        written += _forget_figures(tables["forget"], tables.get("injections"), out, focus)
    if "recovery" in tables:
        written += _recovery_figure(tables["recovery"], tables.get("ladder"), out, focus)
    return written


def _by_size(table: pd.DataFrame) -> list[str]:
    return list(table.sort_values("parameters").model.unique())


def _ladder_figures(ladder: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    import seaborn as sns

    from interp.runs import plots

    written = []
    final = _final(ladder)
    kinds = [k for k in ("comparison", "modadd") if k in set(final.kind)]
    if final.empty or not kinds:
        return written
    final = final.assign(model=final.model.str.replace("suite/", "", regex=False))
    height = 2.4 + 1.1 * final.model.nunique()
    fig, axes = plt.subplots(2, len(kinds), figsize=(5.6 * len(kinds), height), squeeze=False)
    for col, kind in enumerate(kinds):
        rows = final[final.kind == kind]
        for row, (metric, cmap) in enumerate((("accuracy", "viridis"), ("loss", "magma_r"))):
            grid = rows.pivot_table(index="model", columns="frequency", values=metric)
            grid = grid.loc[_by_size(rows), sorted(grid.columns, reverse=True)]
            grid.columns = [f"{f:.0e}" for f in grid.columns]
            sns.heatmap(grid, annot=True, fmt=".2f", cmap=cmap, ax=axes[row, col],
                        cbar_kws={"label": metric})
            axes[row, col].set_title(f"{kind}: {metric}")
            axes[row, col].set_xlabel("training frequency (fraction of sequences)")
            axes[row, col].set_ylabel("")
    fig.suptitle("Rare-task ladder: frequency x size (held-out instances)")
    fig.tight_layout()
    written += plots.save(fig, out / "ladder_heatmap")

    series = _checkpointed(ladder)
    if not series.empty:
        series = series[series.kind.isin(kinds)].copy()
        series["frequency"] = [f"{f:.0e}" for f in series.frequency]
        grid_plot = sns.relplot(series, x="step", y="accuracy", hue="frequency", col="kind",
                                kind="line", marker="o", height=3.2, aspect=1.2,
                                facet_kws=dict(sharey=False))
        for ax in grid_plot.axes.flat:
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(left=0)
        grid_plot.set_axis_labels("training step", "held-out accuracy")
        grid_plot.figure.suptitle(f"Rare tasks over training: {series.base.iloc[0]}", y=1.04)
        written += plots.save(grid_plot.figure, out / "ladder_trajectory")
    return written


def _group_kind(group: str) -> str:
    return group.split(".")[-1]


def _cosine_figures(cosines: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    import seaborn as sns

    from interp.runs import plots

    written = []
    final = _final(cosines).copy()
    final["kind"] = final.group.map(_group_kind)
    order = [k for k in ("embed", "attn_qkv", "attn_out", "mlp_in", "mlp_out", "all")
             if k in set(final.kind)]
    refs = [r for r in ("frequent", "mixture") if r in set(final.reference)]
    height = 1.8 + 0.6 * final.model.nunique()
    fig, axes = plt.subplots(1, len(refs), figsize=(6.8 * len(refs), height), squeeze=False)
    for ax, ref in zip(axes[0], refs):
        rows = final[final.reference == ref]
        grid = rows.pivot_table(index="model", columns="kind", values="cosine", aggfunc="mean")
        grid = grid.loc[_by_size(rows), order]
        grid.index = [m.replace("suite/", "") for m in grid.index]
        sns.heatmap(grid, annot=True, fmt="+.3f", center=0, cmap="RdBu_r", ax=ax,
                    annot_kws={"fontsize": 8},
                    cbar_kws={"label": "cosine (mean over rare tasks and layers)"})
        ax.set_title(f"rare-task gradient vs {ref} gradient")
        ax.set_xlabel("parameter group")
        ax.set_ylabel("")
    fig.tight_layout()
    written += plots.save(fig, out / "gradient_cosines_groups")

    every = cosines[cosines.group == "all"]
    panels = [("parameters", _final(every)), ("step", _checkpointed(every))]
    panels = [(x, rows) for x, rows in panels if not rows.empty and rows[x].nunique() > 1]
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 3.8), squeeze=False)
        for ax, (x, rows) in zip(axes[0], panels):
            sns.lineplot(rows, x=x, y="cosine", hue="reference", marker="o", errorbar="sd", ax=ax)
            if x == "parameters":
                ax.set_xscale("log")
            else:
                ax.set_xscale("symlog", linthresh=1)
                ax.set_xlim(left=0)
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_ylabel("cos(rare-task gradient, reference)")
            ax.set_title("against size" if x == "parameters" else f"over training ({rows.base.iloc[0]})")
        written += plots.save(fig, out / "gradient_cosines_size")
    return written


def _split_figure(split: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    import seaborn as sns

    from interp.runs import plots

    every = split[split.group == "all"]
    panels = [("parameters", _final(every)), ("step", _checkpointed(every))]
    panels = [(x, rows) for x, rows in panels if not rows.empty and rows[x].nunique() > 1]
    if not panels:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 3.8), squeeze=False)
    for ax, (x, rows) in zip(axes[0], panels):
        sns.lineplot(rows, x=x, y="cosine", hue="part", marker="o", errorbar="sd", ax=ax,
                     hue_order=["batch", "task_tokens", "other_tokens"])
        if x == "parameters":
            ax.set_xscale("log")
        else:
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(left=0)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylabel("cosine to the rare-task direction g_r")
        ax.set_title("against size" if x == "parameters" else f"over training ({rows.base.iloc[0]})")
    fig.suptitle("A mixed batch's gradient g = g_task + g_other, each against g_r")
    return plots.save(fig, out / "token_split")


def _fisher_figure(fisher: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    import seaborn as sns

    from interp.runs import plots

    every = _final(fisher[fisher.group == "all"])
    if every.empty:
        return []
    long = every.melt(id_vars=["parameters", "rare_task"],
                      value_vars=["jaccard", "chance_jaccard", "weighted_overlap"],
                      var_name="measure", value_name="overlap")
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    sns.lineplot(long, x="parameters", y="overlap", hue="measure", marker="o", errorbar="sd", ax=ax)
    ax.set_xscale("log")
    ax.set_title(f"Top-{every.top_fraction.iloc[0]:.0%} Fisher parameters: rare vs frequent tasks")
    return plots.save(fig, out / "fisher_overlap")


def _forget_figures(forget: pd.DataFrame, injections: Optional[pd.DataFrame], out: Path,
                    focus: str) -> list[Path]:
    import matplotlib.pyplot as plt
    import seaborn as sns

    from interp.runs import plots

    written = []
    models = _by_size(forget)
    variants = sorted(forget.variant.unique())
    fig, axes = plt.subplots(len(models), len(variants), sharex=True, sharey="row",
                             figsize=(3.2 * len(variants), 2.4 * len(models)), squeeze=False)
    for r, model in enumerate(models):
        for c, variant in enumerate(variants):
            ax = axes[r, c]
            rows = forget[(forget.model == model) & (forget.variant == variant)].dropna(
                subset=["rare_loss"])
            ax.plot(rows.step, rows.rare_loss, lw=1.2)
            injected = rows[rows.injected > 0].step - 1  # the batch index that carried blocks
            if len(injected):
                low = rows.rare_loss.min()
                ax.plot(injected, [low] * len(injected), "|", color="crimson", ms=8,
                        label="injection")
            ax.set_title(f"{model.split('/')[-1]}, " + ("no injection" if variant == 0 else
                                                        f"{variant} every {variant}"))
            if c == 0:
                ax.set_ylabel(f"{focus} loss")
            if r == len(models) - 1:
                ax.set_xlabel("continued-training step")
    fig.suptitle("Update and forget: rare-task loss after every step (red ticks: injections)")
    written += plots.save(fig, out / "update_forget")

    if injections is not None and not injections.empty:
        shown = injections.sort_values(["parameters", "variant"]).assign(
            model=lambda t: t.model.str.replace("suite/", "", regex=False),
            variant=lambda t: [f"{v} every {v}" for v in t.variant])
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
        for ax, (metric, title) in zip(axes, (
                ("drop", "rare-loss drop per injection (nats)"),
                ("kept", "share of the drop kept at the next injection"),
                ("half_life", "half-life of the gain, steps (uncensored only)"))):
            rows = shown.dropna(subset=[metric])
            if rows.empty:
                ax.set_visible(False)
                continue
            dodge = 0.3 if rows.variant.nunique() > 1 else False  # seaborn divides by levels - 1
            sns.pointplot(rows, x="model", y=metric, hue="variant", errorbar="sd", dodge=dodge,
                          ax=ax, order=list(dict.fromkeys(shown.model)))
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_title(title)
            ax.set_xlabel("")
        fig.tight_layout()
        written += plots.save(fig, out / "forgetting_summary")
    return written


def _recovery_figure(recovery: pd.DataFrame, ladder: Optional[pd.DataFrame], out: Path,
                     focus: str) -> list[Path]:
    import matplotlib.pyplot as plt
    import seaborn as sns

    from interp.runs import plots

    rows = recovery.dropna(subset=["rare_accuracy"]).copy()
    rows["upsampling"] = [f"x{v:g}" for v in rows.variant]
    models = _by_size(rows)
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 3.8), sharey=True,
                             squeeze=False)
    reference = None
    if ladder is not None:
        final = _final(ladder)
        final = final[final.task == focus]
        if not final.empty:
            reference = final.sort_values("parameters").iloc[-1]
    for ax, model in zip(axes[0], models):
        sns.lineplot(rows[rows.model == model], x="step", y="rare_accuracy", hue="upsampling",
                     marker="o", ms=3, ax=ax, palette="viridis")
        if reference is not None:
            ax.axhline(reference.accuracy, color="black", ls="--", lw=1,
                       label=f"{reference.model.split('/')[-1]} at x1 (no extra training)")
        ax.set_title(model)
        ax.set_xlabel("continued-training step")
        ax.set_ylabel(f"{focus} held-out accuracy")
        ax.legend(fontsize=7)
    fig.suptitle("Recovery: upsampling the rare task in small models vs scaling up")
    return plots.save(fig, out / "recovery")
