"""The ``Arch`` record: what interp needs to know about one HF causal-LM architecture."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from torch import nn

Rows = tuple[int, ...]


@dataclass(frozen=True)
class Arch:
    """What interp needs to know about one HF causal-LM architecture.

    ``component_table`` maps substrings of HF parameter names to components (q/k/v/o/mlp_in/
    mlp_out/embed/norm/unembed); a fused QKV parameter (``fused_qkv``) is split by rows with
    ``qkv_rows``. ``bridge_binds_slots``: the TransformerBridge calls HF's attention function
    (OPT), so pattern hooks go live by binding the Bridge's HookPoints into our slots; when
    False (GPT-NeoX) the Bridge recomputes attention itself and its hooks are live already.
    ``bridge_fixes`` names the repairs in ``interp.bridge.fixes`` this family needs.

    Where Q and K live, for the transplant path (which keeps the queries and keys that HF hands
    its attention function): ``rotary`` families rotate the first ``rotary_dims(config)`` of
    each head before that call; ``prescaled_queries`` families multiply q by ``d_head ** -0.5``
    in the projection and attend at scale 1.0 (``check_attention_scaling`` guards both facts).
    """

    family: str
    hf_class: str
    attention_path: str
    value_path: str
    fused_qkv: Optional[str]
    component_table: tuple[tuple[tuple[str, ...], str], ...]
    new_config: Callable[..., Any]
    bridge_binds_slots: bool
    bridge_fixes: tuple[str, ...] = field(default=())
    rotary: bool = False
    prescaled_queries: bool = False

    def rotary_dims(self, config: Any) -> int:
        """How many leading dimensions of each head rotary embeddings rotate (0: none).

        >>> from interp.arch import ARCHES
        >>> config = ARCHES["GPTNeoXForCausalLM"].new_config(
        ...     vocab_size=10, d_model=64, n_layers=1, n_heads=2, d_mlp=8, n_ctx=8)
        >>> ARCHES["GPTNeoXForCausalLM"].rotary_dims(config)  # 25% of d_head 32
        8
        """
        if not self.rotary:
            return 0
        d_head = config.hidden_size // config.num_attention_heads
        return int(d_head * config.rope_parameters.get("partial_rotary_factor", 1.0))

    def check_attention_scaling(self, scaling: Optional[float], d_head: int) -> None:
        """Raise unless ``scaling`` (what HF passed the attention function) is this family's:
        1.0 where queries are pre-scaled, else ``d_head ** -0.5`` (or None, meaning that).

        >>> from interp.arch import ARCHES
        >>> ARCHES["OPTForCausalLM"].check_attention_scaling(1.0, 64)
        """
        expected = 1.0 if self.prescaled_queries else d_head**-0.5
        if scaling is not None and abs(scaling - expected) > 1e-12 * expected:
            raise ValueError(
                f"{self.hf_class} attended at scale {scaling}, interp/arch/ expects {expected} "
                "(prescaled_queries): transformers changed how it scales queries; update the record")

    def qkv_rows(self, which: str, n_heads: int, d_head: int) -> Rows:
        """Rows of the fused QKV output (or weight) that hold ``which`` in {q, k, v}.

        The fused layout is per head ``[q, k, v]``, each ``d_head`` wide.

        >>> from interp.arch import ARCHES
        >>> ARCHES["GPTNeoXForCausalLM"].qkv_rows("v", n_heads=2, d_head=2)
        (4, 5, 10, 11)
        """
        offset = "qkv".index(which)
        return tuple(h * 3 * d_head + offset * d_head + r for h in range(n_heads) for r in range(d_head))

    def value_rows(self, config: Any) -> Optional[Rows]:
        """Indices of the V features in ``value_path``'s output; None when it is all of them."""
        if self.fused_qkv is None:
            return None
        n_heads = config.num_attention_heads
        return self.qkv_rows("v", n_heads, config.hidden_size // n_heads)

    def component_of(self, parameter: str) -> str:
        """The component of an (unfused) HF parameter name.

        >>> from interp.arch import ARCHES
        >>> ARCHES["OPTForCausalLM"].component_of("model.decoder.layers.0.fc1.weight")
        'mlp_in'
        """
        for keys, component in self.component_table:
            if any(k in parameter for k in keys):
                return component
        raise ValueError(f"parameter {parameter!r} has no known component in {self.hf_class}'s table "
                         "(interp/arch/); add it there")

    def new_model(self, config: Any) -> nn.Module:
        """A freshly initialised model of this architecture for ``config``."""
        import transformers

        return getattr(transformers, self.hf_class)(config)


def set_only(**settings: Any) -> dict[str, Any]:
    """The settings that were given (not None): config builders pass only what was asked for,
    so everything else keeps transformers' defaults.

    >>> set_only(dropout=0.0, init_std=None)
    {'dropout': 0.0}
    """
    return {key: value for key, value in settings.items() if value is not None}
