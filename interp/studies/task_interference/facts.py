"""What a model and a rare task are: ladder names, training facts and the continued-training LR."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd
from torch import nn

from interp.arch import family_of
from interp.sources import resolve, suite_models
from interp.suite.corpus import CorpusConfig
from interp.suite.recipe import PEAK_LR
from interp.tasks import get_task, task_population
from interp.tasks.base import Task
from interp.tasks.rare import COMPARISON_CHOICES, DEFAULT_MODULUS

RARE_TASK = re.compile(r"rare_(comparison|modadd)_(\d+)")


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


def chance_of(task_name: str) -> float:
    """Accuracy of a random guess on a rare task: 1/2 for comparison (two choices), 1/11 for
    modular addition (a guess among the modulus's answer tokens).

    >>> chance_of("rare_comparison_2"), round(chance_of("rare_modadd_0"), 4)
    (0.5, 0.0909)
    """
    kind, _ = rare_copy(task_name)
    return 1 / len(COMPARISON_CHOICES) if kind == "comparison" else 1 / DEFAULT_MODULUS


def sample_task(name: str, n: int, *, seed: int, split: str = "test") -> Task:
    """At most ``n`` distinct instances of task ``name``: all of them when ``n`` reaches the
    task's population (rare copies have about 60), so a small task is scored exhaustively and
    ``len(task)`` is the real n.

    >>> len(sample_task("rare_modadd_0", 100, seed=0)), len(sample_task("rare_modadd_0", 8, seed=0))
    (60, 8)
    """
    population = task_population(name, split=split)
    count = "all" if population is not None and n >= population else n
    return get_task(name, n=count, seed=seed, split=split)


def extreme_copies(rare: Sequence[str]) -> list[str]:
    """The lowest- and highest-numbered (most and least frequent) copy of each rare kind.

    >>> extreme_copies(["rare_comparison_0", "rare_comparison_3", "rare_comparison_5"])
    ['rare_comparison_0', 'rare_comparison_5']
    """
    chosen = []
    for kind in dict.fromkeys(rare_copy(t)[0] for t in rare):
        copies = sorted(rare_copy(t)[1] for t in rare if rare_copy(t)[0] == kind)
        chosen += [f"rare_{kind}_{c}" for c in dict.fromkeys((copies[0], copies[-1]))]
    return chosen


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


def lineage(name: str) -> dict:
    """The training seed and phase of a model: ``phase`` is ``ICL phase`` for a suite model
    after its second phase, ``phase 1`` for a checkpoint before it (``@step2000`` and the
    log-spaced ones), ``as released`` for a model without a train_info.

    >>> lineage("suite/pythia-s3-seed1"), lineage("suite/pythia-s1@step2000")["phase"]
    ({'seed': 1, 'phase': 'ICL phase'}, 'phase 1')
    """
    info = train_info(name)
    phase = "ICL phase" if "icl_phase" in info else "phase 1" if info else "as released"
    return dict(seed=int(info.get("seed", 0)), phase=phase)


def with_lineage(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with each model's ``seed`` and ``phase`` (``lineage``) as columns.

    >>> with_lineage(pd.DataFrame({"model": ["suite/pythia-s1"]})).seed.tolist()
    [0]
    """
    if table.empty or "model" not in table:
        return table
    facts = {m: lineage(m) for m in table.model.unique()}
    return table.assign(seed=table.model.map(lambda m: facts[m]["seed"]),
                        phase=table.model.map(lambda m: facts[m]["phase"]))


def suite_siblings(family: str, sizes: Sequence[str]) -> list[str]:
    """The shipped sibling seeds (``suite/<family>-<size>-seedK``) of ``sizes``, in size order.

    >>> "suite/pythia-s3-seed1" in suite_siblings("pythia", ["s3"])
    True
    """
    names = set(suite_models())
    return [n for s in sizes for k in range(1, 10)
            if (n := f"suite/{family}-{s}-seed{k}") in names]


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


def continued_lr(name: str, lr: Optional[float], scale: float) -> float:
    """The learning rate of continued training: ``lr`` if given, else ``scale`` x the suite
    model's peak LR (between the suite's final LR, 0.1 x peak, and its peak).

    >>> continued_lr("suite/pythia-s1", None, 0.3) == round(0.3 * PEAK_LR["s1"], 12)
    True
    """
    if lr is not None:
        if lr <= 0:
            raise ValueError(f"--lr must be positive, got {lr}")
        return lr
    size = train_info(name).get("size")
    if size not in PEAK_LR:
        raise ValueError(f"{name} is not a suite model, so it has no peak LR to scale: pass "
                         "--lr (e.g. --lr 1e-4 for a hub checkpoint)")
    return round(scale * PEAK_LR[size], 12)
