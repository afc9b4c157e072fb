"""Attribution by patching between a base model and its fine-tuned copy: Q/K or V, per layer.

Two sites per layer, each patched in both directions (``restore``: the fine-tuned model run
with the base model's activations at one site; ``break``: the base model run with the
fine-tuned model's):
- ``qk``: the layer's attention pattern. For the same tokens the pattern is a function of
  that layer's Q and K only, so replacing the pattern is exactly patching Q and K
  (``interp.interventions.PatternSwap``).
- ``v``: the value vectors (``interp.interventions.ValueSwap``).

``patch_sweep`` scores every (direction, site, layer) cell on each task, and
``gap_fraction`` says what part of the base-vs-fine-tuned difference one cell accounts for.
``icl_head_scores`` measures, per head, how much attention the query position pays to the
demonstrations' label tokens: the heads that read the answer off the prompt.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from interp.attention import AttentionSlot, attention_modules, installed, plain_model
from interp.scoring import encode_pair, score_task
from interp.interventions import PatternSwap, ValueSwap
from interp.tasks.base import Task

SITES = ("qk", "v")
DIRECTIONS = ("restore", "break")
PATCH_COLUMNS = ["direction", "site", "layer", "task", "n", "accuracy", "loss"]


def patched(recipient: nn.Module, donor: nn.Module, site: str, layer: int) -> nn.Module:
    """``recipient`` with ``site`` ("qk" or "v") of ``layer`` taken from ``donor``.

    >>> import interp
    >>> base = interp.load_hf_model("suite/pythia-s3")
    >>> tuned = interp.load_hf_model("suite/pythia-s3-seed1")  # stands in for a fine-tuned copy
    >>> patched(tuned, base, "qk", 0)
    PatternSwap(layers=[0], alpha=1.0, heads='index', control=None, self_swap=False)
    >>> type(patched(tuned, base, "v", 1)).__name__
    'ValueSwap'
    """
    if site == "qk":
        return PatternSwap(recipient, donor, layers=[layer])
    if site == "v":
        return ValueSwap(recipient, donor, layers=[layer])
    raise ValueError(f"site must be one of {SITES}, got {site!r}")


def patch_sweep(
    base: nn.Module,
    tuned: nn.Module,
    tasks: Iterable[Task],
    *,
    layers: Optional[Sequence[int]] = None,
    batch_size: int = 16,
) -> pd.DataFrame:
    """Accuracy and answer loss of every (direction, site, layer) cell on every task, plus
    the unpatched ends (``direction`` "base" and "tuned", site "none", layer -1).

    >>> import interp
    >>> base = interp.load_hf_model("suite/pythia-s3")  # 2 layers
    >>> tuned = interp.load_hf_model("suite/pythia-s3-seed1")  # stands in for a fine-tuned copy
    >>> rows = patch_sweep(base, tuned, [interp.get_task("arithmetic_add", n=4)])
    >>> rows[["direction", "site", "layer", "n"]]
      direction  site  layer  n
    0      base  none     -1  4
    1     tuned  none     -1  4
    2   restore    qk      0  4
    3   restore    qk      1  4
    4   restore     v      0  4
    5   restore     v      1  4
    6     break    qk      0  4
    7     break    qk      1  4
    8     break     v      0  4
    9     break     v      1  4
    """
    n_layers = plain_model(base).config.num_hidden_layers
    layers = range(n_layers) if layers is None else layers
    rows = []
    for task in tasks:
        for end, model in (("base", base), ("tuned", tuned)):
            rows.append(_row(end, "none", -1, task, PatternSwap.base(model), batch_size))
        for direction in DIRECTIONS:
            recipient, donor = (tuned, base) if direction == "restore" else (base, tuned)
            for site in SITES:
                for layer in layers:
                    engine = patched(recipient, donor, site, layer)
                    rows.append(_row(direction, site, layer, task, engine, batch_size))
    return pd.DataFrame(rows, columns=PATCH_COLUMNS)


def _row(direction: str, site: str, layer: int, task: Task, engine: nn.Module,
         batch_size: int) -> dict[str, Any]:
    score = score_task(engine, task, batch_size=batch_size, progress=False)
    return dict(direction=direction, site=site, layer=layer, task=task.name,
                n=len(score.correct), accuracy=score.accuracy, loss=score.mean_loss)


def gap_fraction(sweep: pd.DataFrame, metric: str = "loss") -> pd.DataFrame:
    """Add ``fraction``: the part of the base-vs-tuned gap in ``metric`` a cell accounts for.

    restore: (patched - tuned) / (base - tuned), 1 = the base's behaviour is back;
    break: (base - patched) / (base - tuned), 1 = the fine-tuned behaviour is all there.
    NaN where the gap is smaller than 1e-6 (nothing to attribute).

    >>> import interp
    >>> base = interp.load_hf_model("suite/pythia-s3")
    >>> tuned = interp.load_hf_model("suite/pythia-s3-seed1")  # stands in for a fine-tuned copy
    >>> rows = gap_fraction(patch_sweep(base, tuned, [interp.get_task("arithmetic_add", n=4)]))
    >>> len(rows), list(rows.columns[-3:])  # the 8 patched cells; the two ends are gone
    (8, ['gap', 'fraction', 'metric'])
    """
    ends = sweep[sweep.site == "none"].pivot_table(index="task", columns="direction",
                                                   values=metric)
    cells = sweep[sweep.site != "none"].copy()
    base = cells.task.map(ends["base"])
    tuned = cells.task.map(ends["tuned"])
    gap = base - tuned
    moved = np.where(cells.direction == "restore", cells[metric] - tuned, base - cells[metric])
    cells["gap"] = gap
    cells["fraction"] = np.where(gap.abs() > 1e-6, moved / gap.where(gap.abs() > 1e-6, 1.0),
                                 np.nan)
    cells["metric"] = metric
    return cells.reset_index(drop=True)


@torch.no_grad()
def icl_head_scores(model: nn.Module, task: Task) -> pd.DataFrame:
    """Per (layer, head): mean attention from the last prompt position to the
    demonstrations' label tokens (``label_attention``), and to those showing the answer's
    label (``answer_attention``). Heads high on both read the answer off the prompt.

    Label tokens are the first token of each choice wherever it occurs in the prompt.

    >>> import interp
    >>> model = interp.load_model("suite/pythia-s2")
    >>> scores = icl_head_scores(model, interp.get_task("icl_fixed_flipped", n=4, shots=2))
    >>> scores[["layer", "head", "n"]].values.tolist()  # 2 layers x 2 heads
    [[0, 0, 4], [0, 1, 4], [1, 0, 4], [1, 1, 4]]
    >>> bool((scores.answer_attention <= scores.label_attention + 1e-6).all())  # a subset of them
    True
    """
    hf = plain_model(model)
    tokenizer = model.tokenizer
    modules = attention_modules(hf)
    device = next(hf.parameters()).device
    n_layers, n_heads = len(modules), hf.config.num_attention_heads
    label_mass = np.zeros((n_layers, n_heads))
    answer_mass = np.zeros((n_layers, n_heads))
    counted = 0
    for example in task.examples:
        if not example.choices:
            raise ValueError(f"icl_head_scores needs a choice task; {task.name} has no choices")
        prompt_ids, _ = encode_pair(tokenizer, example.prompt, example.answer)
        first = {c: encode_pair(tokenizer, example.prompt, c)[1][0] for c in example.choices}
        ids = torch.tensor(prompt_ids)
        is_label = torch.isin(ids, torch.tensor(list(first.values())))
        is_answer = ids == first[example.answer]
        is_label[-1] = is_answer[-1] = False  # the query position itself is no demonstration
        if not bool(is_label.any()):
            continue  # 0 shots: no demonstrations to attend to
        patterns: dict[int, Tensor] = {}

        def capture(layer: int):
            def keep(pattern: Tensor) -> Tensor:
                patterns[layer] = pattern[0, :, -1].detach().float().cpu()  # [head, key]
                return pattern
            return keep

        slots = [AttentionSlot(pattern=capture(i), return_weights=False) for i in range(n_layers)]
        with installed(modules, slots):
            hf(input_ids=ids[None].to(device), use_cache=False)
        for layer in range(n_layers):
            label_mass[layer] += patterns[layer][:, is_label].sum(-1).numpy()
            answer_mass[layer] += patterns[layer][:, is_answer].sum(-1).numpy()
        counted += 1
    if counted == 0:
        raise ValueError(f"{task.name}: no prompt has demonstrations (use shots >= 1)")
    rows = [dict(layer=layer, head=head, task=task.name, n=counted,
                 label_attention=label_mass[layer, head] / counted,
                 answer_attention=answer_mass[layer, head] / counted)
            for layer in range(n_layers) for head in range(n_heads)]
    return pd.DataFrame(rows)
