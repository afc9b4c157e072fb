"""Family knowledge in one place: every fact interp needs about an HF architecture.

One ``Arch`` record per family (``neox.py`` for Pythia, ``opt.py`` for OPT); a new
architecture is one more file with one more record, registered in ``ARCHES`` below (``record.py`` defines the record). Outside this package
no code names an architecture class or branches on one: it asks ``arch_of(model)``.

>>> import interp
>>> arch = arch_of(interp.load_hf_model("suite/opt-s1"))
>>> arch.family, arch.attention_path.format(layer=0)
('opt', 'model.decoder.layers.0.self_attn')
"""

from __future__ import annotations

from typing import Any

from torch import nn

from interp.arch import neox, opt
from interp.arch.record import Arch, Rows, set_only

__all__ = ["ARCHES", "FAMILIES", "SUPPORTED_ARCHITECTURES", "Arch", "Rows",
           "UnsupportedArchitectureError", "arch_named", "arch_of", "attention_modules",
           "family_of", "set_only", "value_module"]

ARCHES: dict[str, Arch] = {a.hf_class: a for a in (neox.ARCH, opt.ARCH)}
SUPPORTED_ARCHITECTURES: tuple[str, ...] = tuple(ARCHES)
FAMILIES: dict[str, Arch] = {a.family: a for a in ARCHES.values()}


class UnsupportedArchitectureError(ValueError):
    """The model is not one of the architectures in ``interp/arch/``."""


def _hf(model: Any) -> Any:
    return getattr(model, "original_model", model)


def arch_named(name: str) -> Arch:
    """The record for an HF architecture name (``config.architectures[0]``) or family name.

    >>> arch_named("pythia").hf_class
    'GPTNeoXForCausalLM'
    """
    found = ARCHES.get(name) or FAMILIES.get(name)
    if found is None:
        raise UnsupportedArchitectureError(
            f"unsupported architecture {name!r}: interp supports {', '.join(SUPPORTED_ARCHITECTURES)} "
            f"(families {', '.join(FAMILIES)}); a new one is one file in interp/arch/")
    return found


def arch_of(model: Any) -> Arch:
    """The record of a model: an HF causal LM, a TransformerBridge, or a plain twin of one.

    >>> import interp
    >>> arch_of(interp.load_hf_model("suite/pythia-s1")).family
    'pythia'
    """
    return arch_named(type(_hf(model)).__name__)


def family_of(model: Any) -> str:
    """``"pythia"`` or ``"opt"`` for a loaded model.

    >>> import interp
    >>> family_of(interp.load_hf_model("suite/opt-s1"))
    'opt'
    """
    return arch_of(model).family


def attention_modules(model: Any) -> list[nn.Module]:
    """The HF attention module of every layer, in order.

    >>> import interp
    >>> len(attention_modules(interp.load_hf_model("suite/pythia-s4")))
    3
    """
    hf = _hf(model)
    path = arch_of(hf).attention_path
    return [hf.get_submodule(path.format(layer=i)) for i in range(hf.config.num_hidden_layers)]


def value_module(model: Any, layer: int) -> nn.Module:
    """The linear module whose output holds layer ``layer``'s value vectors.

    >>> import interp
    >>> value_module(interp.load_hf_model("suite/opt-s1"), 0).__class__.__name__
    'Linear'
    """
    hf = _hf(model)
    return hf.get_submodule(arch_of(hf).value_path.format(layer=layer))
