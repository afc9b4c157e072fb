"""Donor -> recipient attention-pattern swaps on plain HF models: one donor + one recipient forward.

The mechanism:
1. A Bridge's HF model is unwrapped into a structural twin: every Bridge wrapper is replaced by
   the module it wraps. The twin shares every parameter and buffer, so it costs no memory, and
   it runs HF's own layers with the ``"interp"`` attention function (interp/attention.py).
2. Two paths; ``PatternSwap.path`` says which the next forward takes:
   - transplant (the default wherever it applies: index maps, match maps that select donor
     heads, every control): the donor runs fused and keeps each needed layer's queries and
     keys (``capture_qk``); each swapped recipient layer runs fused SDPA on them with its own
     values (``interventions.transplant``). Unswapped layers run fused, so a self-swap is
     bitwise the model's fused forward, which is what ``PatternSwap.base`` runs.
   - materialised (``path="materialised"``, and the fallback for ``heads="mean"``, for match
     maps with head-means, and for ``"match"`` before ``match_heads_on``): the donor runs
     eager and keeps its patterns (``capture_patterns``); each swapped layer's slot returns
     ``lerp(own, donor, alpha)``; unswapped layers run an identity slot (the same eager path).
   Both stop the donor forward right after the last layer needed.
3. Slots are installed for one forward only; whatever slot a module held before is put back.

>>> import interp
>>> recipient = interp.load_model("suite/pythia-s2")
>>> swap = PatternSwap(recipient, interp.load_model("suite/opt-s2"))
>>> rows = interp.evaluate(swap, [interp.get_task("arithmetic_add", n=4)], condition="swap from opt")
>>> rows[["model", "task", "condition", "n"]]
             model            task      condition  n
0  suite/pythia-s2  arithmetic_add  swap from opt  4
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal, Optional, Sequence

import torch
from torch import Tensor, nn

from hooks.patterns import uniform_pattern
from hooks.types import generator_for
from interp.attention import (AttentionSlot, DonorQK, attention_modules, capture_patterns, capture_qk,
                              identity, installed, plain_model)
from interp.interventions.donor_states import DonorStates
from interp.interventions.head_maps import (HEAD_MAPPINGS, TIE_BONUS, HeadMap, HeadMapping,
                                            ShapeMismatchError, head_map, layer_map)
from interp.interventions.tokens import TokenizerMismatchError, check_same_tokens
from interp.interventions.transplant import Transplant
from interp.types import DonorPattern, Logits, Pattern, Tokens

__all__ = ["CONTROLS", "HEAD_MAPPINGS", "PATHS", "TIE_BONUS", "HeadMap", "PatternSwap", "ShapeMismatchError",
           "TokenizerMismatchError", "calibration_tokens", "check_same_tokens", "head_map", "layer_map"]


Control = Optional[Literal["other_input", "uniform", "shuffle_heads"]]
SwapPath = Literal["auto", "transplant", "materialised"]
CONTROLS = (None, "other_input", "uniform", "shuffle_heads")
PATHS = ("auto", "transplant", "materialised")
def calibration_tokens(tokenizer: Any, prompts: list[str], max_len: int) -> Tokens:
    """One unpadded sequence of ``prompts`` joined by newlines, cut to ``max_len`` tokens:
    the text ``PatternSwap.match_heads_on`` fits head maps on.

    >>> from interp import load_model
    >>> model = load_model("suite/pythia-s1")
    >>> calibration_tokens(model.tokenizer, ["1 + 2 =", "3 + 4 ="], 64).shape
    torch.Size([1, 9])
    """
    ids = tokenizer("\n".join(prompts)).input_ids[:max_len]
    if len(ids) < 2:
        raise ValueError("calibration text encodes to fewer than 2 tokens: give longer prompts")
    return torch.tensor([ids])


def _model_name(model: Any) -> str:
    source = getattr(model, "interp_source", None)
    if source is not None:
        return source.name
    hf = getattr(model, "original_model", model)
    return getattr(getattr(hf, "config", None), "name_or_path", "") or type(hf).__name__


class PatternSwap(nn.Module):
    """A recipient whose attention patterns come from a donor: ``forward(tokens) -> logits``.

    ``recipient``/``donor``: Bridges from ``interp.load_model`` or plain HF causal LMs;
    ``donor=None`` is the recipient itself. ``layers``: recipient layers to swap (default
    all; ``()`` swaps none: the base, see ``PatternSwap.base``). Donor layers follow
    ``layer_map``; heads follow ``head_map(..., heads)``. Each swapped pattern is
    ``(1 - alpha) * own + alpha * donor`` (``torch.lerp``: exact at 0 and 1).

    ``control`` replaces the donor's patterns: ``"other_input"`` the donor's patterns for the
    previous example of the batch (the batch rolled by one; ``evaluate`` sorts batches by
    length, so neighbours mostly share a length; batches need >= 2 sequences);
    ``"uniform"`` uniform causal patterns; ``"shuffle_heads"`` the recipient's own patterns
    with heads permuted by a non-identity permutation seeded by ``seed`` and the layer (the
    one ``hooks.shuffle_heads(seed)`` draws). The last two need no donor forward.

    ``path``: ``"auto"`` (default) takes the transplant path wherever it applies and the
    materialised one elsewhere (see the module docstring); ``"transplant"`` raises where it
    does not apply; ``"materialised"`` always builds patterns (for hooks that need them).
    The ``path`` property names the path the next forward takes; ``paths_taken`` counts them.
    ``donor_states``: a ``DonorStates`` shared by engines on the same donor, so the transplant
    path's donor forward runs once per token tensor across them (a sweep's cells).

    ``assignments[layer]`` counts the head assignments used (``HeadMap.assignment`` tuples;
    with ``"match"`` one per forward), ``permutations[layer]`` the shuffle_heads orders.

    >>> import interp
    >>> recipient = interp.load_model("suite/pythia-s2")
    >>> donor = interp.load_model("suite/opt-s2")
    >>> swap = PatternSwap(recipient, donor, layers=[0, 1], alpha=0.5)
    >>> swap
    PatternSwap(layers=[0, 1], alpha=0.5, heads='index', control=None, self_swap=False)
    >>> swap(recipient.to_tokens("2 + 3 =")).shape  # [batch, pos, vocab]
    torch.Size([1, 4, 801])
    >>> swap.path, PatternSwap(recipient, donor, heads="mean").path
    ('transplant', 'materialised')
    >>> rows = interp.evaluate(swap, [interp.get_task("arithmetic_add", n=4)], condition="swap L0-1")
    >>> rows.condition.tolist(), rows.n.tolist()
    (['swap L0-1'], [4])
    """

    def __init__(
        self,
        recipient: nn.Module,
        donor: Optional[nn.Module] = None,
        *,
        layers: Optional[Sequence[int]] = None,
        alpha: float = 1.0,
        heads: HeadMapping = "index",
        control: Control = None,
        seed: int = 0,
        path: SwapPath = "auto",
        donor_states: Optional[DonorStates] = None,
    ) -> None:
        super().__init__()
        self.donor_states = donor_states
        _check_settings(alpha, heads, control, path)
        self.alpha, self.heads, self.control, self.seed = float(alpha), heads, control, seed
        self.path_setting = path
        self.paths_taken: Counter = Counter()
        self.tokenizer = getattr(recipient, "tokenizer", None)
        if getattr(recipient, "interp_source", None) is not None:
            self.interp_source = recipient.interp_source  # evaluate's model column
        self.recipient_model = plain_model(recipient)
        self.donor_model = self.recipient_model if donor is None else plain_model(donor)
        r_cfg, d_cfg = self.recipient_model.config, self.donor_model.config
        n_layers, n_heads = r_cfg.num_hidden_layers, r_cfg.num_attention_heads
        self.layers = tuple(range(n_layers)) if layers is None else tuple(sorted(set(layers)))
        bad = [layer for layer in self.layers if not 0 <= layer < n_layers]
        if bad:
            raise ValueError(f"layers {bad} out of range: the recipient has {n_layers} layers")
        self.layer_map = layer_map(n_layers, d_cfg.num_hidden_layers)
        self.uses_donor = bool(self.layers) and control not in ("uniform", "shuffle_heads")
        r_name, d_name = _model_name(recipient), _model_name(recipient if donor is None else donor)
        if self.uses_donor and donor is not None:
            d_tok = getattr(donor, "tokenizer", None)
            if self.tokenizer is not None and d_tok is not None:
                check_same_tokens(self.tokenizer, d_tok, recipient=r_name, donor=d_name)
            if heads == "index" and d_cfg.num_attention_heads != n_heads:
                raise ShapeMismatchError(
                    f"recipient {r_name} is {n_layers} layers x {n_heads} heads, donor {d_name} "
                    f"is {d_cfg.num_hidden_layers} layers x {d_cfg.num_attention_heads} heads: "
                    "heads='index' needs equal head counts. Map heads with --heads mean|match "
                    "(heads='mean' or 'match'); layers are mapped by relative depth (layer_map)"
                )
        if control == "shuffle_heads" and n_heads < 2 and self.layers:
            raise ValueError("control='shuffle_heads' needs at least 2 heads per layer")
        shuffled = self.layers if control == "shuffle_heads" else ()
        self.permutations = {layer: self._permutation(layer, n_heads) for layer in shuffled}
        fixed = self.layers if heads != "match" and self.uses_donor else ()
        self._fixed_maps = {L: head_map(n_heads, d_cfg.num_attention_heads, heads) for L in fixed}
        self.assignments: dict[int, Counter] = {layer: Counter() for layer in self.layers}
        if path == "transplant" and self.uses_donor and heads == "mean":
            raise ValueError("path='transplant' cannot take heads='mean' (a mean of patterns is no "
                             "pattern of any queries and keys): use path='auto' or 'materialised'")

    @classmethod
    def base(cls, recipient: nn.Module, *, path: SwapPath = "auto") -> "PatternSwap":
        """The recipient's own logits, unswapped: its fused forward (on ``path="materialised"``
        the eager path, identity slots everywhere). A self-swap on the same input through the
        same path reproduces it bitwise.

        >>> import interp
        >>> recipient = interp.load_model("suite/pythia-s2")
        >>> tokens = recipient.to_tokens("2 + 3 =")
        >>> base = PatternSwap.base(recipient)
        >>> base
        PatternSwap(layers=[], alpha=1.0, heads='index', control=None, self_swap=True)
        >>> torch.equal(base(tokens), PatternSwap(recipient)(tokens))  # a self-swap of every layer
        True
        """
        return cls(recipient, layers=(), path=path)

    def get_output_embeddings(self) -> nn.Module:
        """The recipient's output projection: scoring gathers the positions it reads before
        it (``interp.scoring.readout``), as on a plain HF model."""
        return self.recipient_model.get_output_embeddings()

    def __repr__(self) -> str:  # not the two models' module trees
        self_swap = self.donor_model is self.recipient_model
        return (f"PatternSwap(layers={list(self.layers)}, alpha={self.alpha}, "
                f"heads={self.heads!r}, control={self.control!r}, self_swap={self_swap})")

    @property
    def path(self) -> str:
        """``"transplant"`` or ``"materialised"``: the path the next forward takes.

        >>> import interp
        >>> swap = PatternSwap(interp.load_model("suite/pythia-s2"), heads="match")
        >>> swap.path  # a match map is fitted per batch, on patterns
        'materialised'
        >>> _ = swap.match_heads_on(torch.tensor([[5, 6, 7, 8]])); swap.path
        'transplant'
        """
        if self.path_setting == "materialised":
            return "materialised"
        if self.uses_donor and not all(layer in self._fixed_maps and self._fixed_maps[layer].selects_heads
                                       for layer in self.layers):
            if self.path_setting == "transplant":
                raise ValueError("path='transplant' needs head maps that select donor heads: call "
                                 "match_heads_on first (heads='match'), or use path='auto'")
            return "materialised"
        return "transplant"

    def _permutation(self, layer: int, n_heads: int) -> list[int]:
        generator = generator_for(self.seed, f"blocks.{layer}.attn.hook_pattern")
        order = torch.randperm(n_heads, generator=generator)
        if bool((order == torch.arange(n_heads)).all()):
            order = order.roll(1)  # an identity "shuffle" would make the control a no-op
        return order.tolist()

    @torch.no_grad()
    def donor_patterns(self, tokens: Tokens) -> dict[int, DonorPattern]:
        """The donor's patterns on ``tokens``, for the donor layers the swap needs only."""
        return capture_patterns(self.donor_model, {self.layer_map[layer] for layer in self.layers}, tokens)

    @torch.no_grad()
    def donor_qk(self, tokens: Tokens) -> dict[int, DonorQK]:
        """The donor's queries and keys on ``tokens`` (fused forward), for the layers needed
        (from ``donor_states`` when given)."""
        needed = {self.layer_map[layer] for layer in self.layers}
        if self.donor_states is not None:
            return self.donor_states.qk(self.donor_model, needed, tokens)
        return capture_qk(self.donor_model, needed, tokens)

    @torch.no_grad()
    def match_heads_on(self, tokens: Tokens) -> dict[int, HeadMap]:
        """Fit the ``heads="match"`` maps once, on ``tokens``, and use them for every forward.

        Without it each forward matches heads on its own batch, so a result can depend on how
        examples were batched. A study calibrates on one sequence built from
        the task's prompts (``calibration_tokens``). Other head maps are fixed already.

        >>> import interp
        >>> recipient = interp.load_model("suite/pythia-s2")
        >>> swap = PatternSwap(recipient, heads="match")  # a self-swap: each head matches itself
        >>> swap.match_heads_on(recipient.to_tokens("the cat sat on the mat"))
        {0: HeadMap(how='match', assignment=(0, 1)), 1: HeadMap(how='match', assignment=(0, 1))}
        """
        if self.heads == "match" and self.uses_donor:
            own = capture_patterns(self.recipient_model, set(self.layers), tokens)
            donor = self.donor_patterns(tokens)
            self._fixed_maps = {layer: head_map(own[layer], donor[self.layer_map[layer]], "match")
                                for layer in self.layers}
        return dict(self._fixed_maps)

    def use_head_maps(self, maps: dict[int, HeadMap]) -> None:
        """Use ``maps`` (``match_heads_on``'s result from an engine on the same recipient,
        donor and calibration tokens, swapping these layers or more) instead of fitting them
        again: a layer's match depends on that layer's two patterns only.

        >>> import interp
        >>> recipient = interp.load_model("suite/pythia-s2")
        >>> fitted = PatternSwap(recipient, heads="match").match_heads_on(recipient.to_tokens("a b c"))
        >>> one = PatternSwap(recipient, heads="match", layers=[1])
        >>> one.use_head_maps(fitted); one.path
        'transplant'
        """
        if self.heads != "match" or not self.uses_donor:
            raise ValueError("use_head_maps is for heads='match' swaps that use a donor; other "
                             "head maps are fixed at construction")
        missing = [layer for layer in self.layers if layer not in maps]
        if missing:
            raise ValueError(f"head maps lack layers {missing}: fit them with match_heads_on on an "
                             "engine that swaps every layer this one does")
        self._fixed_maps = {layer: maps[layer] for layer in self.layers}

    def _swapped(self, layer: int, donor: dict[int, DonorPattern], uses: Counter):
        def swap_pattern(own: Pattern) -> Pattern:
            if self.control == "uniform":
                new = uniform_pattern()(own, None)
            elif self.control == "shuffle_heads":
                order = torch.tensor(self.permutations[layer], device=own.device)
                new = own.index_select(1, order)
            else:
                source = self.layer_map[layer]
                new = donor[source].to(own.dtype)
                uses[source] -= 1
                if not uses[source]:
                    del donor[source]  # free each donor pattern after its last use
                if self.control == "other_input":
                    new = new.roll(1, dims=0)
                if new.shape[0] != own.shape[0] or new.shape[2:] != own.shape[2:]:
                    raise ShapeMismatchError(
                        f"donor patterns for layer {layer} are {tuple(new.shape)}, the recipient's "
                        f"{tuple(own.shape)}: a swap needs both models fed the same token tensor"
                    )
                mapping = self._fixed_maps.get(layer) or head_map(own, new, self.heads)
                self.assignments[layer][mapping.assignment] += 1
                new = mapping(new)
            return new if self.alpha == 1.0 else torch.lerp(own, new, self.alpha)
        return swap_pattern

    def forward(self, tokens: Tokens) -> Logits:
        """Logits of the recipient on ``tokens`` with the swapped layers' patterns replaced."""
        if self.control == "other_input" and self.layers and tokens.shape[0] < 2:
            raise ValueError(
                "control='other_input' takes patterns from another example of the batch, and this "
                "batch holds 1 sequence: use batches of >= 2 (evaluate's last batch can be 1: "
                "pick a batch_size that leaves no single-sequence batch)"
            )
        path = self.path
        self.paths_taken[path] += 1
        uses = Counter(self.layer_map[layer] for layer in self.layers)
        if path == "transplant":
            donor: dict = self.donor_qk(tokens) if self.uses_donor and self.alpha > 0 else {}
            swapped = lambda i: self._transplant(i, donor, uses).slot()  # noqa: E731
            unswapped = AttentionSlot(return_weights=False)  # fused
        else:
            donor = self.donor_patterns(tokens) if self.uses_donor else {}
            swapped = lambda i: self._slot(i, donor, uses)  # noqa: E731
            unswapped = AttentionSlot(pattern=identity, return_weights=False)  # the same eager path
        modules = attention_modules(self.recipient_model)
        slots = [swapped(i) if i in self.layers else unswapped for i in range(len(modules))]
        with installed(modules, slots):
            return self.recipient_model(input_ids=tokens, use_cache=False).logits

    def _transplant(self, layer: int, donor: dict[int, DonorQK], uses: Counter) -> Transplant:
        if self.control == "uniform":
            return Transplant(self.alpha, uniform=True)
        if self.control == "shuffle_heads":
            return Transplant(self.alpha, permutation=self.permutations[layer])
        source, mapping = self.layer_map[layer], self._fixed_maps[layer]
        self.assignments[layer][mapping.assignment] += 1

        def take() -> DonorQK:
            state = donor[source]
            uses[source] -= 1
            if not uses[source]:
                del donor[source]  # free each donor layer's Q/K after its last use
            return state
        return Transplant(self.alpha, donor=take, heads=mapping, roll=self.control == "other_input")

    def _slot(self, layer: int, donor: dict[int, DonorPattern], uses: Counter) -> AttentionSlot:
        swap_pattern = self._swapped(layer, donor, uses)
        # At alpha = 1 the own pattern is needed only to match heads or shuffle them: otherwise
        # hand the replacement over directly and skip the recipient's QK^T and softmax.
        fixed_heads = self.heads != "match" or layer in self._fixed_maps
        if self.alpha == 1.0 and fixed_heads and self.control != "shuffle_heads":
            def given(query: Tensor, key: Tensor) -> Pattern:
                shape = (query.shape[0], query.shape[1], query.shape[2], key.shape[2])
                return swap_pattern(query.new_zeros(()).expand(shape))

            return AttentionSlot(given=given, return_weights=False)
        return AttentionSlot(pattern=swap_pattern, return_weights=False)


def _check_settings(alpha: float, heads: str, control: Control, path: str) -> None:
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] so the mix is a distribution, got {alpha}")
    if heads not in HEAD_MAPPINGS:
        raise ValueError(f"heads must be one of {', '.join(HEAD_MAPPINGS)}, got {heads!r}")
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, got {control!r}")
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}, got {path!r}")
