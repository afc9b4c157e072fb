"""The suite card: how each model was made, and how it scores on every task family.

``python -m interp.suite card`` evaluates every shipped model and writes ``results.csv`` and
``README.md`` beside the weights. The numbers in the card come from that command alone.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from interp.arch import arch_named
from interp.runs.files import markdown_table, save_table, write_atomic
from interp.suite.corpus import RARE_FREQUENCIES
from interp.loading import load_model
from interp.scoring import evaluate
from interp.tasks import get_task, task_population
from interp.tasks.base import Task

ICL_SHOTS = (0, 8)


def card_tasks(n: int) -> list[Task]:
    """The card's task list: held-out (test-split) examples of every family the corpus teaches,
    ``n`` distinct ones per task, or all of a task's test items where it has fewer (a rare
    copy has 60-66).

    ICL rows are named ``icl@k`` / ``icl_heldout@k`` by shot count.

    >>> {t.name: len(t) for t in card_tasks(100)}["rare_modadd_0"]
    60
    """
    tasks = [_card_task(name, n) for name in
             ("arithmetic_add", "arithmetic_sub", "knowledge_cloze", "knowledge_qa", "knowledge_mc", "qqp")]
    for family in ("icl", "icl_heldout"):
        for shots in ICL_SHOTS:
            t = _card_task(family, n, shots=shots)
            tasks.append(Task(f"{family}@{shots}", t.kind, t.scoring, t.examples))
    # The harder reading: no demonstration shows the query word, so only the category helps.
    t = _card_task("icl", n, shots=max(ICL_SHOTS), query_shown=False)
    tasks.append(Task(f"icl_unshown@{max(ICL_SHOTS)}", t.kind, t.scoring, t.examples))
    for copy in range(len(RARE_FREQUENCIES)):
        tasks += [_card_task(f"rare_comparison_{copy}", n), _card_task(f"rare_modadd_{copy}", n)]
    return tasks


def _card_task(name: str, n: int, **params) -> Task:
    """``n`` distinct test examples of ``name``, or every one where the task has fewer."""
    population = task_population(name, **params)
    return get_task(name, n=n if population is None else min(n, population), **params)


def evaluate_suite(weights: Path, n: int, only: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """Tidy rows for every model under ``weights`` (or the ``only`` ones): model, params, task,
    n, accuracy, loss."""
    tasks = card_tasks(n)
    frames = []
    for directory in sorted(p for p in weights.iterdir() if (p / "train_info.json").is_file()):
        if only and directory.name not in only:
            continue
        info = json.loads((directory / "train_info.json").read_text())
        model = load_model(directory)
        rows = evaluate(model, tasks, name=directory.name, batch_size=32)
        rows.insert(1, "parameters", info["parameters"])
        frames.append(rows)
    if not frames:
        raise FileNotFoundError(f"no trained models under {weights}: run python -m interp.suite train")
    return pd.concat(frames, ignore_index=True)


def write_card(weights: Path, *, n: int = 200, only: Optional[Sequence[str]] = None) -> Path:
    """Evaluate the suite, write ``results.csv`` and the card ``README.md``; return the card path.

    ``only``: evaluate just these models (newly trained ones) and replace their rows in the
    existing ``results.csv``, which must have been scored with the same ``n``.
    """
    table = evaluate_suite(weights, n, only)
    if only:
        old = pd.read_csv(weights / "results.csv")
        if int(old.n.max()) != n:
            raise ValueError(f"results.csv was scored with n = {int(old.n.max())}, not {n}: "
                             "pass the same --n, or drop --only to score every model")
        table = pd.concat([old[~old.model.isin(table.model.unique())], table], ignore_index=True)
    save_table(table, weights / "results.csv")
    infos = [json.loads(p.read_text()) for p in sorted(weights.glob("*/train_info.json"))]
    write_atomic(weights / "README.md", render_card(table, infos, n))
    return weights / "README.md"


def _shipped_command(command: str) -> str:
    """The training command as a user reruns it: without the ``--out`` folder it wrote to.

    >>> _shipped_command("python -m interp.suite train --out /tmp/w --only opt-s5")
    'python -m interp.suite train --only opt-s5'
    """
    return re.sub(r" --out \S+", "", command)


def _made_row(info: dict) -> dict:
    """One row of "How each model was made"; a two-phase model shows both phases as ``a + b``."""
    phase = info.get("icl_phase")

    def both(first, second):
        return first if phase is None else f"{first:g} + {second(phase):g}"

    return dict(
        model=info["name"], parameters=f"{info['parameters']:,}", d_model=info["shape"]["d_model"],
        layers=info["shape"]["n_layers"], heads=info["shape"]["n_heads"], seed=info["seed"],
        steps=both(info["schedule"]["steps"], lambda p: p["schedule"]["steps"]),
        tokens=f"{info['tokens_seen']:,}",
        peak_lr=both(info["schedule"]["lr"], lambda p: p["schedule"]["lr"]),
        final_loss=both(info["final_loss"], lambda p: p["final_loss"]),
        wall_s=both(info["wall_seconds"], lambda p: p["wall_seconds"]),
        hardware=info["hardware"],
    )


def _phases_text(info: dict) -> str:
    phase = info.get("icl_phase")
    if phase is None:
        return ""
    steps = phase["schedule"]["steps"]
    segments = ", then ".join(
        f"{round(seg['share'] * steps)} steps with {seg['icl_fraction']:.0%} of rows ICL prompts"
        for seg in phase["segments"])
    shots = phase["icl_prompt_shots"]
    text = (
        f"Training has two phases. Phase 1 is {info['schedule']['steps']} steps on the corpus; its "
        f"result is every model's checkpoint `@{phase['starts_from']}`. Phase 2, the ICL phase, "
        "starts from that fp16 checkpoint with a fresh AdamW and warmup-cosine at half the peak "
        f"lr: {segments}. An ICL prompt has {min(shots)}-{max(shots)} demonstrations of one random "
        "category -> label map (training categories only); the other rows are the corpus rows "
        "that follow phase 1. Without this phase no suite model learns to read ICL prompts "
        '(README, "Why ICL needs a second phase").'
    )
    return "\n" + textwrap.fill(text, width=92) + "\n"


def _icl_curve_text(infos: list[dict], order: list[str]) -> str:
    """8-shot minus 0-shot held-out icl accuracy along each model's ICL phase (n = 200)."""
    rows = {i["name"]: {p["step"]: p["icl@8"] - p["icl@0"] for p in i["icl_phase"]["icl_curve"]}
            for i in infos if i.get("icl_phase", {}).get("icl_curve")}
    if not rows:
        return ""
    table = pd.DataFrame.from_dict(rows, orient="index").reindex([m for m in order if m in rows])
    table.columns = [f"step {c}" for c in table.columns]
    table.index.name = "model"
    return f"""## ICL during the ICL phase
Held-out `icl` accuracy, 8-shot minus 0-shot (n = 200; the evidence test asks >= 0.20 of
the largest models), measured while training, from the phase-1 checkpoint to the end.

{markdown_table(table, floatfmt="+.2f")}

"""


def _siblings_text(infos: list[dict]) -> str:
    """Which sizes of which family have a second training seed, from the train_infos.

    >>> _siblings_text([dict(name="opt-s3-seed1", family="opt", size="s3", seed=1),
    ...                 dict(name="pythia-s1-seed1", family="pythia", size="s1", seed=1)])
    'Sibling seeds (`-seed1`, another initialisation on the same sequences): opt s3; pythia s1.'
    """
    by = {}
    for i in sorted(infos, key=lambda i: (i["family"], i["size"])):
        if i["seed"]:
            by.setdefault(i["family"], []).append(i["size"])
    listed = "; ".join(f"{f} {', '.join(dict.fromkeys(s))}" for f, s in by.items())
    return (f"Sibling seeds (`-seed1`, another initialisation on the same sequences): {listed}."
            if listed else "")


def render_card(table: pd.DataFrame, infos: list[dict], n: int) -> str:
    accuracy = table.pivot(index="model", columns="task", values="accuracy")
    loss = table.pivot(index="model", columns="task", values="loss")
    order = [i["name"] for i in sorted(infos, key=lambda i: (i["family"], i["parameters"], i["seed"]))]
    made = pd.DataFrame([_made_row(i) for i in sorted(infos, key=lambda i: order.index(i["name"]))])
    first = infos[0]
    commands = "\n".join(dict.fromkeys(
        _shipped_command(c) for i in infos for c in (i["command"], i.get("icl_phase", {}).get("command"))
        if c))
    freqs = first["corpus"]["rare_frequencies"]
    core = [c for c in accuracy.columns if not c.startswith("rare_")]

    def ladder(frame: pd.DataFrame, kind: str) -> str:
        columns = {f"rare_{kind}_{k}": f"{f:.0e}" for k, f in enumerate(freqs)}
        return markdown_table(frame.loc[order, list(columns)].rename(columns=columns), floatfmt=".2f")

    return f"""# The interp model suite (card)

Pythia-architecture (`{arch_named('pythia').hf_class}`: rotary, parallel residual) and OPT-architecture
(`{arch_named('opt').hf_class}`: learned positions, pre-LN, ReLU) models at five sizes with identical shapes
across the two families, trained from scratch on one synthetic corpus (`interp.suite.corpus`,
seed {first['corpus']['seed']}), every model on the same {first['corpus']['seq_len']}-token
sequences in the same order. {_siblings_text(infos)} `s3` has log-spaced checkpoints
(`suite/pythia-s3@step64`). Weights are fp16 safetensors; `interp.load_model` loads them in fp32.
{_phases_text(first)}
## Reproduce
The commands that trained these weights (each model's own command is in the table's source,
`*/train_info.json`; models are independent, so the order of the commands does not matter):
```
{commands}
python -m interp.suite card --n {n}        # this card and results.csv
```

## How each model was made
{markdown_table(made, index=False)}

## Accuracy (test split, n = {n} per task; chance: MC 0.25, yes/no and ICL 0.5)
Each task's n test items are distinct; a task with fewer is scored on all of them (a rare
copy has 60-66). `icl@k`: k demonstrations, fresh random label map per prompt, one
demonstration shows the query word; `icl_heldout`: categories never seen in training;
`icl_unshown@8`: no demonstration shows the query word, so the label must come from the
query's category.

{markdown_table(accuracy.loc[order, core], floatfmt=".2f")}

{_icl_curve_text(infos, order)}## Loss (nats per answer token)
{markdown_table(loss.loc[order, core], floatfmt=".2f")}

## The rare-task ladder
Copy k of each rare task is carried by a fraction f_k of training sequences (column
headers), as a block of 8 training instances; scores are on held-out instances.

Comparison accuracy (chance 0.5):

{ladder(accuracy, "comparison")}

Modular-addition accuracy (chance 1/11; held-out sums need the group structure, not memory):

{ladder(accuracy, "modadd")}

Comparison loss:

{ladder(loss, "comparison")}
"""
