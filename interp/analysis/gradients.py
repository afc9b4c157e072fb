"""Task gradients on an HF model's own weights, compared per parameter group.

Whether the gradient of one task points the same way as the gradients of others, and where
in the network. Every function here takes a plain HF causal LM (``interp.load_hf_model``),
never a TransformerBridge, so GPT-NeoX's fused QKV gradient lands in the real
``query_key_value`` rows that ``interp.params`` names.

- ``task_gradient``: mean answer-token loss gradient over a task's instances (a direction).
- ``group_cosines``: cosine of two gradients in each group (``L0.attn_qkv`` ... ``embed``).
- ``token_split_gradient``: a batch's LM gradient split into the part from the marked tokens
  (e.g. an inserted task block) and the part from all other tokens; the two sum to the full
  gradient.
- ``diagonal_fisher`` and ``fisher_overlap``: which parameters matter to each task, and how
  much the two most-important sets share.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor, nn

from interp.params import check_groups, group_slices, hf_model
from interp.scoring import encode_pair
from interp.tasks.base import Task
from interp.types import TargetMask, Tokens

__all__ = [
    "ALL", "Gradient", "add", "answer_batch", "check_groups", "cosine", "diagonal_fisher",
    "fisher_overlap", "group_cosines", "group_vectors", "lm_gradient", "mean_gradient",
    "task_gradient", "token_losses", "token_split_gradient", "vector_cosines",
]

# Parameter name (as in model.named_parameters()) -> a tensor of that parameter's shape.
Gradient = dict[str, Float[Tensor, "..."]]
ALL = "all"  # the group name of every group's elements together


def answer_batch(tokenizer: Any, task: Task) -> tuple[Tokens, TargetMask]:
    """A task's prompts with their correct answers, right-padded, and which tokens are answers.

    ``mask[b, t]`` is True when token ``t`` of row ``b`` is an answer token (predicted from
    position ``t - 1``); padding and prompts are False.

    >>> import interp
    >>> m = interp.load_hf_model("suite/pythia-s1")
    >>> tokens, mask = answer_batch(m.tokenizer, interp.tasks.get_task("rare_comparison_0", n=2))
    >>> mask.sum(1).tolist()  # one answer token (" more" / " less") per row
    [1, 1]
    """
    if len(task.examples) == 0:
        raise ValueError(f"task {task.name!r} has no instances: ask for n >= 1 examples")
    rows: list[tuple[list[int], int]] = []
    for example in task.examples:
        prompt_ids, answer_ids = encode_pair(tokenizer, example.prompt, example.answer)
        if not prompt_ids:
            raise ValueError(f"task {task.name!r} has an example with an empty prompt: nothing "
                             "predicts its first answer token")
        rows.append((prompt_ids + answer_ids, len(prompt_ids)))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    tokens = torch.full((len(rows), width), int(pad), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for b, (ids, start) in enumerate(rows):
        tokens[b, : len(ids)] = torch.tensor(ids)
        mask[b, start : len(ids)] = True
    return tokens, mask


def token_losses(model: nn.Module, tokens: Tokens) -> Float[Tensor, "batch pos"]:
    """Cross-entropy of every token given the ones before it; column 0 (never predicted) is 0.

    >>> import interp
    >>> model = interp.load_hf_model("suite/pythia-s1")
    >>> tokens = model.tokenizer(["1 + 2 = 3", "4 + 5 = 9"], return_tensors="pt").input_ids
    >>> losses = token_losses(model, tokens)
    >>> losses.shape, losses[:, 0].tolist()
    (torch.Size([2, 5]), [0.0, 0.0])
    """
    logits = model(tokens).logits.float()
    per_target = nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), reduction="none"
    ).view(tokens.shape[0], -1)
    return torch.cat([per_target.new_zeros(tokens.shape[0], 1), per_target], dim=1)


def _grads(model: nn.Module, loss: Tensor, *, retain_graph: bool = False) -> Gradient:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [p for _, p in named], retain_graph=retain_graph,
                                allow_unused=True)
    return {n: (torch.zeros_like(p) if g is None else g.detach())
            for (n, p), g in zip(named, grads)}


def task_gradient(model: nn.Module, task: Task, *, batch_size: int = 32) -> Gradient:
    """Gradient of the mean answer-token loss over all of ``task``'s instances.

    Batches are summed and divided by the total answer-token count, so the result does not
    depend on ``batch_size``.

    >>> import interp
    >>> m = interp.load_hf_model("suite/pythia-s1")
    >>> g = task_gradient(m, interp.tasks.get_task("rare_comparison_0", n=8))
    >>> sorted(g) == sorted(n for n, _ in m.named_parameters())
    True
    """
    model = hf_model(model)
    tokens, mask = answer_batch(model.tokenizer, task)
    device = next(model.parameters()).device
    total = mask.sum().item()
    summed: Optional[Gradient] = None
    for start in range(0, tokens.shape[0], batch_size):
        chunk = tokens[start : start + batch_size].to(device)
        chunk_mask = mask[start : start + batch_size].to(device)
        loss = (token_losses(model, chunk) * chunk_mask).sum() / total
        grads = _grads(model, loss)
        summed = grads if summed is None else {n: summed[n] + grads[n] for n in summed}
    assert summed is not None
    return summed


def token_split_gradient(
    model: nn.Module, tokens: Tokens, task_mask: TargetMask
) -> tuple[Gradient, Gradient]:
    """The LM-loss gradient of a batch as (task-token part, other-token part).

    The LM loss is the mean over every predicted token (``model(tokens, labels=tokens).loss``
    with no padding); its gradient is exactly the sum of the two parts, each the gradient of
    its tokens' summed loss over the same count. ``task_mask[b, t]`` marks the task's tokens
    (e.g. of an inserted block).

    >>> import interp
    >>> model = interp.load_hf_model("suite/pythia-s1")
    >>> tokens = model.tokenizer(["1 + 2 = 3", "4 + 5 = 9"], return_tensors="pt").input_ids
    >>> block_mask = torch.zeros_like(tokens, dtype=torch.bool)
    >>> block_mask[:, -2:] = True  # "= 3", "= 9" as the task's tokens
    >>> g_task, g_other = token_split_gradient(model, tokens, block_mask)
    >>> full = lm_gradient(model, tokens)
    >>> all(torch.allclose(g_task[n] + g_other[n], full[n], atol=1e-6) for n in full)
    True
    """
    model = hf_model(model)
    if not task_mask[:, 1:].any():
        raise ValueError("task_mask marks no predicted token: the batch holds no task tokens "
                         "(insert a task block, or mark its positions)")
    device = next(model.parameters()).device
    tokens, task_mask = tokens.to(device), task_mask.to(device)
    losses = token_losses(model, tokens)
    count = tokens.shape[0] * (tokens.shape[1] - 1)
    other = ~task_mask
    other[:, 0] = False  # position 0 is never predicted
    g_task = _grads(model, (losses * task_mask).sum() / count, retain_graph=True)
    g_other = _grads(model, (losses * other).sum() / count)
    return g_task, g_other


def lm_gradient(model: nn.Module, tokens: Tokens) -> Gradient:
    """Gradient of the plain LM loss of a batch (every token predicted, mean).

    >>> import interp
    >>> model = interp.load_hf_model("suite/pythia-s1")
    >>> batch = model.tokenizer(["1 + 2 = 3", "4 + 5 = 9"], return_tensors="pt").input_ids
    >>> g = lm_gradient(model, batch)
    >>> g["gpt_neox.embed_in.weight"].shape == model.gpt_neox.embed_in.weight.shape
    True
    """
    model = hf_model(model)
    tokens = tokens.to(next(model.parameters()).device)
    return _grads(model, model(tokens, labels=tokens).loss)


def add(a: Gradient, b: Gradient) -> Gradient:
    """Elementwise sum of two gradients.

    >>> add({"w": torch.ones(2)}, {"w": torch.ones(2)})["w"].tolist()
    [2.0, 2.0]
    """
    return {n: a[n] + b[n] for n in a}


def mean_gradient(gradients: Sequence[Gradient]) -> Gradient:
    """Equal-weight mean of several gradients (e.g. of several tasks).

    >>> mean_gradient([{"w": torch.zeros(1)}, {"w": torch.ones(1)}])["w"].item()
    0.5
    """
    if not gradients:
        raise ValueError("no gradients to average: give at least one task")
    return {n: sum(g[n] for g in gradients) / len(gradients) for n in gradients[0]}


def group_vectors(
    model: nn.Module, gradient: Gradient, groups: Optional[Iterable[str]] = None
) -> dict[str, Float[Tensor, "n"]]:
    """Each group's elements of ``gradient`` as one flat vector, plus ``"all"`` (every group).

    GPT-NeoX's fused QKV contributes the rows ``interp.params`` assigns to q, k and v of that
    layer; norms are in no group.

    >>> import interp
    >>> m = interp.load_hf_model("suite/pythia-s1")
    >>> g = {n: torch.ones_like(p) for n, p in m.named_parameters()}
    >>> {k: v.numel() for k, v in group_vectors(m, g, ["L0.attn_qkv"]).items()}
    {'L0.attn_qkv': 216, 'all': 216}
    """
    model = hf_model(model)
    available = group_slices(model)
    wanted = list(available) if groups is None else list(groups)
    check_groups(model, wanted)
    vectors: dict[str, Tensor] = {}
    for group in wanted:
        pieces = []
        for s in available[group]:
            tensor = gradient[s.name]
            pieces.append((tensor if s.rows is None else tensor[list(s.rows)]).flatten())
        vectors[group] = torch.cat(pieces)
    vectors[ALL] = torch.cat([vectors[g] for g in wanted])
    return vectors


def cosine(a: Tensor, b: Tensor) -> float:
    """Cosine similarity of two flat vectors; NaN when either is all zeros.

    >>> round(cosine(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])), 4)
    0.7071
    """
    a, b = a.double(), b.double()
    denominator = a.norm() * b.norm()
    if denominator == 0:
        return float("nan")
    return float((a @ b) / denominator)


def group_cosines(
    model: nn.Module, a: Gradient, b: Gradient, groups: Optional[Iterable[str]] = None
) -> pd.DataFrame:
    """Rows (group, cosine, norm_a, norm_b): one per parameter group, and one for ``"all"``.

    >>> import interp
    >>> m = interp.load_hf_model("suite/pythia-s1")
    >>> g = task_gradient(m, interp.tasks.get_task("rare_comparison_0", n=8))
    >>> bool(group_cosines(m, g, g).cosine.round(6).eq(1).all())
    True
    """
    return vector_cosines(group_vectors(model, a, groups), group_vectors(model, b, groups))


def vector_cosines(va: dict[str, Tensor], vb: dict[str, Tensor]) -> pd.DataFrame:
    """``group_cosines`` of gradients already flattened by ``group_vectors`` (reuse them).

    >>> round(vector_cosines({"all": torch.ones(2)}, {"all": -torch.ones(2)}).cosine.item(), 6)
    -1.0
    """
    rows = [dict(group=g, cosine=cosine(va[g], vb[g]), norm_a=float(va[g].norm()),
                 norm_b=float(vb[g].norm())) for g in va]
    return pd.DataFrame(rows, columns=["group", "cosine", "norm_a", "norm_b"])


def diagonal_fisher(model: nn.Module, tasks: Task | Sequence[Task]) -> Gradient:
    """Empirical diagonal Fisher: mean over instances of each one's squared loss gradient.

    Each instance's gradient is of its own mean answer-token loss (its correct answer, not a
    sampled one: the "empirical" Fisher). Several tasks pool their instances.

    >>> import interp
    >>> m = interp.load_hf_model("suite/pythia-s1")
    >>> f = diagonal_fisher(m, interp.tasks.get_task("rare_comparison_0", n=4))
    >>> all((v >= 0).all() for v in f.values())
    True
    """
    model = hf_model(model)
    tasks = [tasks] if isinstance(tasks, Task) else list(tasks)
    if not tasks:
        raise ValueError("no tasks for the Fisher: give at least one task")
    device = next(model.parameters()).device
    fisher: Optional[Gradient] = None
    count = 0
    for task in tasks:
        tokens, mask = answer_batch(model.tokenizer, task)
        for b in range(tokens.shape[0]):
            width = int(mask[b].nonzero().max()) + 1  # drop this row's padding
            row, row_mask = tokens[b : b + 1, :width].to(device), mask[b : b + 1, :width].to(device)
            loss = (token_losses(model, row) * row_mask).sum() / row_mask.sum()
            squared = {n: g.square() for n, g in _grads(model, loss).items()}
            fisher = squared if fisher is None else add(fisher, squared)
            count += 1
    assert fisher is not None
    return {n: v / count for n, v in fisher.items()}


def fisher_overlap(
    model: nn.Module,
    fisher_a: Gradient,
    fisher_b: Gradient,
    *,
    top_fraction: float = 0.01,
    groups: Optional[Iterable[str]] = None,
) -> pd.DataFrame:
    """How much two tasks' most important parameters coincide, per group and overall.

    Columns: ``jaccard`` of the two top-``top_fraction`` sets (by diagonal Fisher);
    ``chance_jaccard`` = f / (2 - f), the expected Jaccard of two random sets of that size;
    ``weighted_overlap`` = sum of min(p_a, p_b) with p the Fisher normalised to sum 1 in the
    group (1 = same importance profile, 0 = disjoint).

    >>> import interp
    >>> m = interp.load_hf_model("suite/pythia-s1")
    >>> f = diagonal_fisher(m, interp.tasks.get_task("rare_comparison_0", n=4))
    >>> fisher_overlap(m, f, f).query("group == 'all'").jaccard.item()
    1.0
    """
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    va, vb = group_vectors(model, fisher_a, groups), group_vectors(model, fisher_b, groups)
    rows = []
    for group in va:
        a, b = va[group].double(), vb[group].double()
        k = max(1, round(top_fraction * a.numel()))
        top_a = set(torch.topk(a, k).indices.tolist())
        top_b = set(torch.topk(b, k).indices.tolist())
        jaccard = len(top_a & top_b) / len(top_a | top_b)
        f = k / a.numel()
        pa, pb = a / a.sum().clamp_min(1e-300), b / b.sum().clamp_min(1e-300)
        rows.append(dict(group=group, top_fraction=top_fraction, k=k, jaccard=jaccard,
                         chance_jaccard=f / (2 - f),
                         weighted_overlap=float(torch.minimum(pa, pb).sum())))
    return pd.DataFrame(rows)
