"""Offline attention views: CircuitsVis drawn from the script its wheel bundles, never a CDN.

``attention_heads(model_or_cache, tokens_or_text, layer=L)`` draws one layer's heads with
``circuitsvis.attention.attention_heads`` (a thumbnail per head; click one to enlarge it) and
returns an ``AttentionView``: Jupyter shows it, ``save(path)`` writes a standalone page.

Why not CircuitsVis's own object: its ``RenderedHTML._repr_html_`` probes the network
(``urlopen("http://google.com")``) and, when that succeeds, serves HTML that imports the script
from unpkg; ``str()`` always gives that CDN version. ``AttentionView`` keeps only ``.local_src``,
the HTML with the bundled ``circuitsvis/dist/cdn/iife.js`` inlined: about 1.3 MB per view, so
draw one view per layer, not one per head. Nothing here opens a connection.

CircuitsVis is an optional dependency (``pip install 'interp[viz]'``): it is imported inside
``attention_heads``, so ``import interp`` and ``import interp.viz`` work without it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor

import hooks
from interp.arch import attention_modules
from interp.attention import capture_patterns, plain_model

INSTALL_HINT = "interp.viz needs circuitsvis, which is not installed: pip install 'interp[viz]'"
DECIMALS = 4  # pattern values are rounded for the page: 4 decimals keep it small and exact enough
_ELEMENT = "AttentionHeads"  # the React component circuitsvis.attention.attention_heads renders

__all__ = ["INSTALL_HINT", "AttentionView", "attention_heads"]

TokensOrText = Union[str, Tensor, Sequence[int], Sequence[str]]


class AttentionView:
    """A self-contained CircuitsVis view: ``html`` inlines its script, so it draws offline.

    Jupyter displays it through ``_repr_html_`` (the same HTML, no network probe); ``save``
    writes it as a standalone page. ``tokens`` are the labels drawn, ``heads`` the heads shown.

    >>> view = AttentionView("<div>x</div>", tokens=["a"], layer=0, heads=[0])
    >>> view._repr_html_()
    '<div>x</div>'
    >>> view
    AttentionView(layer=0, heads=[0], tokens=1, html=0.0 MB)
    """

    def __init__(self, html: str, *, tokens: Sequence[str], layer: int, heads: Sequence[int]):
        self.html = html
        self.tokens = list(tokens)
        self.layer = layer
        self.heads = list(heads)

    def _repr_html_(self) -> str:
        return self.html

    def __html__(self) -> str:  # the name some tools (Jinja's Markup, IPython) look for
        return self.html

    def __repr__(self) -> str:
        size = len(self.html.encode("utf-8")) / 1e6
        return (f"AttentionView(layer={self.layer}, heads={self.heads}, "
                f"tokens={len(self.tokens)}, html={size:.1f} MB)")

    def save(self, path: Union[str, Path], title: Optional[str] = None) -> Path:
        """Write a standalone UTF-8 HTML page that draws the view in a browser, offline.

        >>> import tempfile
        >>> view = AttentionView("<div>x</div>", tokens=["a"], layer=0, heads=[0])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     page = view.save(Path(folder) / "layer0.html")
        ...     "<div>x</div>" in page.read_text(encoding="utf-8")
        True
        """
        path = Path(path)
        title = html.escape(title or f"attention, layer {self.layer}")
        path.write_text(
            f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
            f"</head>\n<body>\n{self.html}\n</body>\n</html>\n",
            encoding="utf-8",
        )
        return path


def attention_heads(
    model_or_cache: Any,
    tokens_or_text: TokensOrText,
    layer: int,
    *,
    heads: Optional[Sequence[int]] = None,
    batch: int = 0,
) -> AttentionView:
    """One layer's post-softmax attention, every head (or ``heads``), as an offline view.

    ``model_or_cache`` is a TransformerBridge (``interp.load_model``; its patterns are captured
    with ``hooks.capture`` at ``blocks.{layer}.attn.hook_pattern``), a plain HF model
    (``interp.load_hf_model``; ``interp.attention.capture_patterns``), or a cache: a
    ``run_with_cache`` ActivationCache or any mapping holding that hook name (a ``hooks.capture``
    store). ``tokens_or_text`` is text (tokenized by the model's tokenizer, as ``interp.evaluate``
    does), token ids, or, with a cache, the token strings themselves. ``batch`` picks the row.

    >>> import interp, interp.viz
    >>> model = interp.load_model("suite/pythia-s1")
    >>> view = interp.viz.attention_heads(model, "the cat sat", layer=0)
    >>> view.tokens, view.heads
    (['the', 'cat', '<unk>'], [0, 1])
    >>> "unpkg" in view.html, "CircuitsVis.AttentionHeads" in view.html
    (False, True)
    """
    try:
        # Lazy on purpose: circuitsvis is an optional extra (interp[viz]), not an import cycle.
        from circuitsvis.attention import attention_heads as draw
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error

    pattern, labels = _pattern_and_tokens(model_or_cache, tokens_or_text, layer, batch)
    if pattern.dim() == 4:
        if not -pattern.shape[0] <= batch < pattern.shape[0]:
            raise IndexError(f"batch={batch} is out of range for {pattern.shape[0]} row(s)")
        pattern = pattern[batch]
    if pattern.dim() != 3 or pattern.shape[-1] != pattern.shape[-2]:
        raise ValueError(f"expected a pattern [batch, head, query, key], got {tuple(pattern.shape)}")
    n_heads, n_pos = pattern.shape[0], pattern.shape[-1]
    shown = list(range(n_heads)) if heads is None else [int(h) for h in heads]
    bad = [h for h in shown if not 0 <= h < n_heads]
    if bad or not shown:
        raise ValueError(f"heads={list(heads or [])} must be a non-empty subset of 0..{n_heads - 1}")
    if len(labels) != n_pos:
        raise ValueError(f"{len(labels)} token strings for a pattern over {n_pos} positions")

    values = pattern[shown].detach().to("cpu", torch.float64).numpy().round(DECIMALS).tolist()
    rendered = draw(attention=values, tokens=labels, max_value=1.0, min_value=0.0,
                    attention_head_names=[f"L{layer}H{h}" for h in shown], mask_upper_tri=True)
    return AttentionView(_script_safe(rendered.local_src), tokens=labels, layer=layer, heads=shown)


def _script_safe(local_src: str) -> str:
    """``local_src`` with its props re-encoded so no token can end the inline ``<script>``.

    CircuitsVis writes the props with a plain ``json.dumps``: a token ``</script>`` (or ``<!--``)
    would end or derail the script. The same JSON with ``<``, ``>``, ``&`` as ``\\u003c``-style
    escapes reads back identically in JavaScript.
    """
    marker = f"CircuitsVis.{_ELEMENT},"
    at = local_src.rfind(marker)
    start = local_src.find("{", at)
    if at < 0 or start < 0:
        raise RuntimeError(f"circuitsvis's local HTML has no {marker!r} call: a changed version?")
    props, end = json.JSONDecoder().raw_decode(local_src, start)
    safe = (json.dumps(props).replace("&", "\\u0026").replace("<", "\\u003c")
            .replace(">", "\\u003e"))
    return local_src[:start] + safe + local_src[end:]


def _pattern_and_tokens(source: Any, tokens_or_text: TokensOrText, layer: int,
                        batch: int) -> tuple[Tensor, list[str]]:
    name = f"blocks.{layer}.attn.hook_pattern"
    if isinstance(source, Mapping) or _is_activation_cache(source):
        if name not in source:
            raise KeyError(f"the cache holds no {name!r}: capture that layer's hook_pattern")
        model = getattr(source, "model", None)  # an ActivationCache knows its bridge
        if _is_strings(tokens_or_text):
            return source[name], list(tokens_or_text)
        if model is None or getattr(model, "tokenizer", None) is None:
            raise TypeError("with a plain cache, pass the token strings (no tokenizer to decode ids)")
        ids = _token_ids(model.tokenizer, tokens_or_text)
        return source[name], _token_strings(model.tokenizer, ids, batch)

    tokenizer = getattr(source, "tokenizer", None)
    if tokenizer is None:
        raise TypeError(f"{type(source).__name__} has no .tokenizer: pass a model from "
                        "interp.load_model / interp.load_hf_model, or a cache")
    if _is_strings(tokens_or_text):
        raise TypeError("with a model, pass text or token ids, not token strings")
    ids = _token_ids(tokenizer, tokens_or_text).to(_device_of(source))
    n_layers = _n_layers(source)
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer={layer} is out of range: the model has layers 0..{n_layers - 1}")
    if hasattr(source, "run_with_hooks"):  # a TransformerBridge: its own hook point
        store: dict = {}
        with torch.no_grad():
            source.run_with_hooks(ids, fwd_hooks=[(name, hooks.capture(store))])
        pattern = store[name]
    else:  # a plain HF model, on interp's attention function
        pattern = capture_patterns(plain_model(source), [layer], ids)[layer]
    return pattern, _token_strings(tokenizer, ids, batch)


def _is_activation_cache(obj: Any) -> bool:
    return type(obj).__name__ == "ActivationCache" and hasattr(obj, "cache_dict")


def _is_strings(tokens: Any) -> bool:
    return isinstance(tokens, (list, tuple)) and bool(tokens) and all(isinstance(t, str) for t in tokens)


def _token_ids(tokenizer: Any, tokens_or_text: TokensOrText) -> Tensor:
    if isinstance(tokens_or_text, str):
        return tokenizer(tokens_or_text, return_tensors="pt").input_ids
    ids = torch.as_tensor(tokens_or_text)
    if ids.dim() == 1:
        ids = ids[None]
    if ids.dim() != 2 or ids.dtype.is_floating_point:
        raise ValueError(f"token ids must be [pos] or [batch, pos] integers, got {tuple(ids.shape)}")
    return ids


def _token_strings(tokenizer: Any, ids: Tensor, batch: int) -> list[str]:
    """One string per position, decoded one token at a time (as ``to_str_tokens`` does)."""
    if not -ids.shape[0] <= batch < ids.shape[0]:
        raise IndexError(f"batch={batch} is out of range for {ids.shape[0]} row(s)")
    row = ids[batch]
    return tokenizer.batch_decode([[int(i)] for i in row], clean_up_tokenization_spaces=False)


def _device_of(model: Any) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _n_layers(model: Any) -> int:
    cfg = getattr(model, "cfg", None)
    if cfg is not None and hasattr(cfg, "n_layers"):
        return int(cfg.n_layers)
    return len(attention_modules(model))
