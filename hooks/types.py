"""What hook functions take and return, and how a hook's name selects per-layer data.

Every factory in ``hooks`` reads only ``hook.name`` (a TransformerLens name such as
``blocks.3.attn.hook_pattern``, or a TransformerBridge's own name for it, such as
``blocks.3.attn.o.hook_in`` for ``hook_z``): the layer picks a per-layer source or seed, and
the name says which axis holds the heads and whether the factory fits there at all (``fits``,
``check_placement`` and the one table of kinds, ``PLACEMENT``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Optional, Protocol, Union

import torch
from jaxtyping import Float
from torch import Tensor

Pattern = Float[Tensor, "batch head query key"]
"""Post-softmax attention weights (``hook_pattern``)."""

Scores = Float[Tensor, "batch head query key"]
"""Pre-softmax attention scores, future keys at ``finfo(dtype).min`` (``hook_attn_scores``)."""

HeadActivation = Float[Tensor, "batch pos head d_head"]
"""Per-head activations (``hook_q``, ``hook_k``, ``hook_v``, ``hook_z``)."""


class HookPointLike(Protocol):
    """The one thing a factory's hook function reads from a TransformerLens ``HookPoint``."""

    name: Optional[str]


class HookFn(Protocol):
    """A forward hook, ``fn(tensor, hook=hook_point)``, as ``run_with_hooks`` calls it.

    Returning a tensor replaces the activation; returning ``None`` keeps it (with any in-place
    edit the function made). The hook functions of this package never edit in place.
    """

    def __call__(self, tensor: Tensor, hook: HookPointLike) -> Optional[Tensor]: ...


PerLayer = Mapping[Union[int, str], Tensor]
"""Tensors keyed by layer (``{3: t}``) or by hook name (``{"blocks.3.attn.hook_pattern": t}``)."""

Source = Union[Tensor, PerLayer, Callable[[Tensor, HookPointLike], Tensor]]
"""Where a replacement comes from: one tensor for every layer, a per-layer dict, or
``fn(live_tensor, hook) -> tensor``."""

_LAYER_RE = re.compile(r"blocks\.(\d+)\.")

# A TransformerBridge fires hook_q/k/v/z under its own names (its AttentionBridge aliases), and
# hook.name is that name; map them back so stores and dicts use the names users write.
_BRIDGE_TO_TL_NAME: dict[str, str] = {
    "attn.q.hook_out": "attn.hook_q",
    "attn.k.hook_out": "attn.hook_k",
    "attn.v.hook_out": "attn.hook_v",
    "attn.o.hook_in": "attn.hook_z",
}
_BLOCK_NAME_RE = re.compile(r"(blocks\.\d+\.)(.+)")

# Which axis holds the heads, by hook-point suffix. Patterns and scores are
# [batch, head, query, key]; per-head activations are [batch, pos, head, d_head].
_HEAD_AXIS_BY_SUFFIX: dict[str, int] = {
    "hook_pattern": 1,
    "hook_attn_scores": 1,
    "hook_q": 2,
    "hook_k": 2,
    "hook_v": 2,
    "hook_z": 2,
    "hook_rot_q": 2,
    "hook_rot_k": 2,
    "hook_result": 2,
}



class HookPlacementError(ValueError):
    """A hook factory's function placed on a hook point it does not fit, e.g. a pattern
    factory on ``hook_attn_scores`` (where it would unmask the future) or on ``hook_z``."""


Kind = Literal["pattern", "scores", "heads"]
"""What a factory edits: post-softmax patterns, pre-softmax scores, or per-head activations."""


@dataclass(frozen=True)
class PointKind:
    """One row of ``PLACEMENT``: the hook points a kind of factory fits, and its factories."""

    noun: str
    """'pattern', as in 'a pattern factory'."""
    edits: str
    """'patterns', as in 'for patterns use ...'."""
    suffixes: tuple[str, ...]
    """Last component of the TransformerLens names it fits (bridge aliases are mapped first)."""
    where: str
    """The points, as a message names them."""
    factories: str
    """The factories of this kind, as a message suggests them."""


PLACEMENT: dict[str, PointKind] = {
    "pattern": PointKind(
        "pattern",
        "patterns",
        ("hook_pattern",),
        "blocks.{L}.attn.hook_pattern",
        "replace_pattern(...), interpolate_pattern(...), uniform_pattern() or random_pattern()",
    ),
    "scores": PointKind(
        "score",
        "scores",
        ("hook_attn_scores",),
        "blocks.{L}.attn.hook_attn_scores",
        "replace_scores(...)",
    ),
    "heads": PointKind(
        "head",
        "per-head edits",
        tuple(_HEAD_AXIS_BY_SUFFIX),
        "the per-head points blocks.{L}.attn.hook_q/k/v/z (or a bridge's attn.q/k/v.hook_out, "
        "attn.o.hook_in), hook_pattern, hook_attn_scores, hook_rot_q/k, hook_result",
        "ablate_heads(...), patch_heads(...), scale_heads(...), permute_heads(...) or "
        "shuffle_heads()",
    ),
}
"""Where each kind of factory fits. ``capture`` only reads, so it fits every hook point."""


def _name_of(hook: HookPointLike | str) -> str:
    name = hook if isinstance(hook, str) else getattr(hook, "name", None)
    if not isinstance(name, str):
        raise ValueError(
            f"hook point has no name ({hook!r}); add hook functions through "
            "model.run_with_hooks or model.hooks, which name every hook point"
        )
    return name


def hook_name(hook: HookPointLike | str) -> str:
    """The TransformerLens name of a hook point: ``hook.name``, with a TransformerBridge's
    own names for q/k/v/z mapped back (``blocks.0.attn.o.hook_in`` -> ``blocks.0.attn.hook_z``).

    Example::

        hooks.hook_name("blocks.0.attn.q.hook_out")  # "blocks.0.attn.hook_q"
    """
    name = _name_of(hook)
    match = _BLOCK_NAME_RE.fullmatch(name)
    if match is None or match.group(2) not in _BRIDGE_TO_TL_NAME:
        return name
    return match.group(1) + _BRIDGE_TO_TL_NAME[match.group(2)]


def layer_of(hook: HookPointLike | str) -> int:
    """The layer of a hook point (or hook name) such as ``blocks.3.attn.hook_pattern``.

    Example::

        hooks.layer_of("blocks.3.attn.hook_pattern")  # 3
    """
    name = _name_of(hook)
    match = _LAYER_RE.match(name)
    if match is None:
        raise ValueError(
            f"hook point {name!r} has no layer: per-layer sources, seeds and head selections "
            "need a block hook point named 'blocks.{L}.…', e.g. 'blocks.0.attn.hook_pattern'"
        )
    return int(match.group(1))


def head_axis_of(hook: HookPointLike | str) -> int:
    """The axis that holds the heads at a hook point: 1 for patterns and scores, 2 for q/k/v/z.

    Example::

        hooks.head_axis_of("blocks.0.attn.hook_z")  # 2
    """
    name = hook_name(hook)
    axis = _HEAD_AXIS_BY_SUFFIX.get(name.rsplit(".", 1)[-1])
    if axis is None:
        raise ValueError(
            f"no per-head axis known for hook point {name!r}: head factories understand "
            f"{', '.join(_HEAD_AXIS_BY_SUFFIX)}; pass head_axis=... to use another hook point"
        )
    return axis


@lru_cache(maxsize=4096)
def _fits_name(name: str, kind: str) -> bool:
    if kind not in PLACEMENT:
        raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(PLACEMENT)}")
    return hook_name(name).rsplit(".", 1)[-1] in PLACEMENT[kind].suffixes


def fits(hook: HookPointLike | str, kind: Kind) -> bool:
    """Whether a factory of ``kind`` ('pattern', 'scores' or 'heads', see ``PLACEMENT``) fits
    the hook point (or hook name) ``hook``; a bridge's aliases count as the names they stand for.

    Example::

        hooks.fits("blocks.0.attn.hook_pattern", "pattern")  # True
        hooks.fits("blocks.0.attn.hook_attn_scores", "pattern")  # False
        hooks.fits("blocks.3.attn.o.hook_in", "heads")  # True: a bridge's hook_z
    """
    return _fits_name(_name_of(hook), kind)


def _described(name: str) -> str:
    tl_name = hook_name(name)
    return name if tl_name == name else f"{name} (a bridge's {tl_name})"


def placement_error(hook: HookPointLike | str, kind: Kind, factory: str) -> HookPlacementError:
    """The error for ``factory`` (e.g. ``"uniform_pattern()"``), a factory of ``kind``, placed
    at ``hook``: it names the point, where the factory fits, and the factories that fit there."""
    name = _name_of(hook)
    fitting = PLACEMENT[kind]
    here = [other for key, other in PLACEMENT.items() if key != kind and _fits_name(name, key)]
    if here:
        hint = "".join(f"; for {other.edits} use {other.factories}" for other in here)
    else:
        hint = "; no factory in hooks edits that point (capture(...) reads any point)"
        if kind == "heads":
            hint += ", and it has no per-head axis: pass head_axis=... if it has one"
    return HookPlacementError(
        f"{factory} is a {fitting.noun} factory and fits {fitting.where}, not {_described(name)}"
        + hint
    )


def check_placement(hook: Optional[HookPointLike | str], kind: Kind, factory: str) -> None:
    """Raise ``HookPlacementError`` unless a factory of ``kind`` fits ``hook``. A hook that
    carries no name (``None``, or a HookPoint never named) is not a placement and is let
    through: the factory's function was called on a tensor directly.

    Example::

        def my_pattern_hook(pattern, hook):
            check_placement(hook, "pattern", "my_pattern_hook")
            return pattern
    """
    name = hook if isinstance(hook, str) else getattr(hook, "name", None)
    if isinstance(name, str) and not _fits_name(name, kind):
        raise placement_error(name, kind, factory)


def source_for(
    source: Source, live: Tensor, hook: HookPointLike, *, what: str = "tensor"
) -> Tensor:
    """The tensor ``source`` provides at ``hook``: the tensor itself, the dict entry for the
    hook's name or layer (``hook_name`` first, then the raw name, then the layer), or
    ``source(live, hook)``.

    Example::

        def my_hook(pattern, hook):
            return hooks.types.source_for({0: donor0, 1: donor1}, pattern, hook) * 1.0
    """
    if isinstance(source, Tensor):
        return source
    if isinstance(source, Mapping):
        name = hook_name(hook)
        for key in (name, _name_of(hook)):
            if key in source:
                return source[key]
        layer = layer_of(hook)
        if layer in source:
            return source[layer]
        keys = ", ".join(repr(k) for k in source) or "none"
        # LookupError, not KeyError: KeyError quotes its message, which garbles it.
        raise LookupError(
            f"no {what} for layer {layer} (hook {name!r}): the per-layer source has keys "
            f"[{keys}]; add an entry for layer {layer} (or {name!r}), or hook only the layers "
            "it covers"
        )
    if callable(source):
        result = source(live, hook)
        if not isinstance(result, Tensor):
            raise TypeError(f"the {what} function returned {type(result).__name__}, not a Tensor")
        return result
    raise TypeError(
        f"a {what} source must be a Tensor, a dict keyed by layer or hook name, or a function "
        f"(tensor, hook) -> Tensor; got {type(source).__name__}"
    )


def generator_for(seed: int, hook: HookPointLike) -> torch.Generator:
    """A CPU generator seeded from ``seed`` and the hook's layer, so each layer draws
    differently and every run draws the same.

    Example::

        def noise_hook(tensor, hook):
            return tensor + torch.randn(tensor.shape, generator=generator_for(0, hook))
    """
    # A large odd multiplier keeps (seed, layer) pairs distinct for any realistic depth.
    mixed = (int(seed) * 1_000_003 + layer_of(hook)) % (2**63)
    return torch.Generator(device="cpu").manual_seed(mixed)
