"""Resolve a model name to files, load it, and return a TransformerBridge with live hooks.

Names: a hub id (``EleutherAI/pythia-160m``, ``facebook/opt-125m``), the Pythia revision
shorthand ``name@stepN``, a local HF directory (config.json, safetensors, tokenizer), or an
embedded suite model ``suite/<name>[@stepN]``. Every failure to find or read the files ends
in one error that names what is missing and how to supply it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import torch
from safetensors import SafetensorError

from interp.arch import SUPPORTED_ARCHITECTURES, UnsupportedArchitectureError
from interp.attention import ATTN_IMPLEMENTATION, register_attention
from interp.bridge import boot_bridge
from interp.sources import (  # noqa: F401  (re-exported: the names loading has always offered)
    PYTHIA_STEPS,
    SUITE_DIR,
    SUITE_PREFIX,
    ModelNotFoundError,
    ModelSource,
    resolve,
    suite_models,
)
from interp.identity import fingerprint  # noqa: F401  (re-exported, as sources' names)

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float64": torch.float64, "fp64": torch.float64, "double": torch.float64,
}


class CorruptCheckpointError(OSError):
    """The model's files exist but cannot be read as a checkpoint, or hold NaN/inf weights."""


def parse_dtype(dtype: Union[None, str, torch.dtype]) -> Optional[torch.dtype]:
    """``"bf16"``, ``"float16"``, ``torch.float32`` ... -> a torch dtype (None stays None).

    >>> parse_dtype("bf16")
    torch.bfloat16
    """
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        if dtype in _DTYPES.values():
            return dtype
        raise ValueError(f"dtype {dtype} {_why_not(dtype)}; {_allowed_dtypes()}")
    text = str(dtype).lower()
    text = text[len("torch."):] if text.startswith("torch.") else text
    if text in _DTYPES:
        return _DTYPES[text]
    named = getattr(torch, text, None)  # "int8", "uint8", "bool" name real, non-float dtypes
    why = f": {named} {_why_not(named)}" if isinstance(named, torch.dtype) else ""
    raise ValueError(f"unknown dtype {dtype!r}{why}; {_allowed_dtypes()}")


def _why_not(dtype: torch.dtype) -> str:
    return "is not a floating-point dtype" if not dtype.is_floating_point else "is not supported"


def _allowed_dtypes() -> str:
    allowed = ", ".join(dict.fromkeys(str(d).removeprefix("torch.") for d in _DTYPES.values()))
    return f"use one of {allowed} (or the names {', '.join(_DTYPES)})"


def _missing_files_error(source: ModelSource, what: str, cause: BaseException) -> ModelNotFoundError:
    rev = f" at revision {source.revision}" if source.revision else ""
    if source.is_local:
        return ModelNotFoundError(
            f"{source.location} has no readable {what} ({cause}). A model directory needs "
            "config.json, the weights (*.safetensors or pytorch_model.bin) and the tokenizer files, "
            "as written by save_pretrained."
        )
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME") or "~/.cache/huggingface"
    return ModelNotFoundError(
        f"cannot find the {what} of {source.location}{rev}: the hub is unreachable or offline "
        f"and it is not in the HF cache ({cache}). Supply it one of three ways: "
        "(1) network: allow access to the hub (unset HF_HUB_OFFLINE); "
        f"(2) HF cache: on a connected machine run `hf download {source.location}"
        + (f" --revision {source.revision}" if source.revision else "")
        + "` and copy the cache here (set HF_HOME to it); "
        "(3) local directory: save the model with save_pretrained and call "
        "load_model('/path/to/dir')."
    )


def _load_config(source: ModelSource) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source.location, revision=source.revision)
    except OSError as error:
        raise _missing_files_error(source, "config.json", error) from error
    except ValueError as error:  # unreadable JSON, unknown model_type
        raise CorruptCheckpointError(f"config of {source.location} cannot be read: {error}") from error


def load_model(
    name_or_path: Union[str, os.PathLike],
    *,
    revision: Optional[str] = None,
    device: Union[None, str, torch.device] = None,
    dtype: Union[None, str, torch.dtype] = None,
    device_map: Union[None, str, dict] = None,
    self_test: bool = True,
    check_finite: bool = True,
) -> "TransformerBridge":
    """Load an OPT or Pythia checkpoint as a TransformerBridge whose hook edits always take effect.

    ``device_map`` is passed to HF for models spread over several GPUs (then leave ``device``
    unset). ``self_test`` runs the 8-token proof that pattern edits are live. ``check_finite``
    checks every weight for NaN/inf in one pass after loading and raises
    ``CorruptCheckpointError`` naming the first bad one; pass False to load such weights anyway
    (to inspect a diverged run, say).

    >>> import hooks
    >>> model = load_model("suite/pythia-s3@step64")  # a suite model at a training checkpoint
    >>> model.interp_source.name
    'suite/pythia-s3@step64'
    >>> tokens = model.to_tokens("2 + 3 =")
    >>> fn = hooks.uniform_pattern()
    >>> logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_pattern", fn)])
    >>> logits.shape, bool((logits != model(tokens)).any())  # the edit took effect
    (torch.Size([1, 4, 801]), True)

    A hub checkpoint loads the same way (not run here: needs a hub download)::

        model = load_model("EleutherAI/pythia-160m@step3000")
    """
    source, hf_model, tokenizer = _load_hf(
        name_or_path, revision, device, dtype, device_map, check_finite
    )
    return boot_bridge(source, hf_model, tokenizer, self_test=self_test)


def load_hf_model(
    name_or_path: Union[str, os.PathLike],
    *,
    revision: Optional[str] = None,
    device: Union[None, str, torch.device] = None,
    dtype: Union[None, str, torch.dtype] = None,
    device_map: Union[None, str, dict] = None,
    check_finite: bool = True,
) -> Any:
    """The plain HF causal LM (no Bridge) with ``.tokenizer`` set: the model to train and save.

    Same names, revisions and errors as ``load_model``. A Bridge trains split copies of
    GPT-NeoX's fused QKV that are never saved; train this model instead, then
    ``save_pretrained`` it (and its tokenizer) and load the folder back with ``load_model``.
    ``interp.evaluate`` scores it directly (without hooks). ``check_finite`` as in ``load_model``.

    >>> model = load_hf_model("suite/pythia-s3")
    >>> model.config.model_type, model.tokenizer is not None
    ('gpt_neox', True)
    """
    source, hf_model, tokenizer = _load_hf(
        name_or_path, revision, device, dtype, device_map, check_finite
    )
    hf_model.tokenizer = tokenizer
    hf_model.interp_source = source
    return hf_model


def _load_hf(
    name_or_path, revision, device, dtype, device_map, check_finite=True
) -> tuple[ModelSource, Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve(name_or_path, revision)
    # float32 unless asked: suite and hub checkpoints are stored in fp16, which CPUs run slowly.
    torch_dtype = parse_dtype(dtype) or torch.float32
    if device is not None and device_map is not None:
        raise ValueError("pass device or device_map, not both (device_map places every layer itself)")
    config = _load_config(source)
    architectures = list(getattr(config, "architectures", None) or [])
    if not architectures or architectures[0] not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedArchitectureError(
            f"{source.name} is a {architectures[0] if architectures else config.model_type} model; "
            f"interp supports {', '.join(SUPPORTED_ARCHITECTURES)} (Pythia and OPT checkpoints)"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location, revision=source.revision)
    except OSError as error:
        raise _missing_files_error(source, "tokenizer", error) from error

    register_attention()
    try:
        hf_model, info = AutoModelForCausalLM.from_pretrained(
            source.location,
            revision=source.revision,
            dtype=torch_dtype,
            device_map=device_map,
            attn_implementation=ATTN_IMPLEMENTATION,
            output_loading_info=True,
        )
    except OSError as error:
        if source.is_local and any(Path(source.location).glob("*.safetensors")):
            raise CorruptCheckpointError(_corrupt_message(source, error)) from error
        raise _missing_files_error(source, "weights", error) from error
    except (RuntimeError, ValueError, SafetensorError) as error:  # truncated or mis-shaped
        raise CorruptCheckpointError(_corrupt_message(source, error)) from error
    missing = [k for k in info.get("missing_keys", ()) if not _is_tied(hf_model, k)]
    if missing:
        raise CorruptCheckpointError(
            f"{source.location} lacks {len(missing)} weight tensors (e.g. {missing[0]}): the "
            "checkpoint is incomplete, and loading it would silently use random weights"
        )
    if device is not None:
        hf_model.to(device)
    if check_finite:
        _check_finite(source, hf_model)
    hf_model.eval()
    return source, hf_model, tokenizer


def _check_finite(source: ModelSource, hf_model: torch.nn.Module) -> None:
    """One pass over the parameters, where they live; the first NaN/inf one is named."""
    for name, param in hf_model.named_parameters():
        # A finite sum proves every value finite (NaN and inf propagate), in one read and no
        # allocation (70x faster than isfinite(param).all() on CPU); an overflowed sum of
        # finite values falls through to the exact check.
        if param.is_meta or bool(torch.isfinite(param.sum(dtype=torch.float32))):
            continue
        if bool(torch.isfinite(param).all()):
            continue
        nan, inf = int(torch.isnan(param).sum()), int(torch.isinf(param).sum())
        counts = ", ".join(p for p in (f"{nan} NaN" if nan else "", f"{inf} inf" if inf else "") if p)
        raise CorruptCheckpointError(
            f"the weights of {source.name} ({_weights_file(source, name)}) are not all finite: "
            f"{name} holds {counts} of {param.numel()} values, so every score would be NaN or "
            "a fake chance level (the run that saved it diverged, or the file is damaged). "
            "Pass check_finite=False to load it anyway (to inspect it)"
        )


def _weights_file(source: ModelSource, param_name: str) -> str:
    """The weights file of a local checkpoint that holds ``param_name``, else its location."""
    import json

    if not source.is_local:
        return source.location
    folder = Path(source.location)
    index = next(iter(sorted(folder.glob("*.index.json"))), None)
    if index is not None:
        try:
            weight_map = json.loads(index.read_text()).get("weight_map", {})
        except (OSError, ValueError):
            weight_map = {}
        # Checkpoint keys may lack the model class's prefix (gpt_neox., model.).
        for key, file in weight_map.items():
            if param_name == key or param_name.endswith("." + key) or key.endswith("." + param_name):
                return str(folder / file)
        return str(folder)
    files = sorted(p for pattern in ("*.safetensors", "*.bin") for p in folder.glob(pattern))
    return str(files[0]) if len(files) == 1 else str(folder)


def _corrupt_message(source: ModelSource, error: BaseException) -> str:
    return (
        f"the weights of {source.location} cannot be read ({type(error).__name__}: {error}). The "
        f"file is corrupt or truncated: {_repair_hint(source)}"
    )


def _repair_hint(source: ModelSource) -> str:
    """How to replace a damaged checkpoint, by where it came from."""
    if not source.is_local:
        rev = f" --revision {source.revision}" if source.revision else ""
        return f"re-download it (`hf download {source.location}{rev} --force-download`)"
    if source.name.startswith(SUITE_PREFIX):
        return (
            f"restore it from the repository (`git checkout -- {source.location}`), or retrain "
            "the suite with `python -m interp.suite train`"
        )
    parts = Path(source.location).resolve().parts
    repo = next((p for p in parts if p.startswith("models--")), None)
    if repo is not None and "snapshots" in parts:  # a folder inside the HF cache
        hub_id = repo[len("models--"):].replace("--", "/")
        return f"it is a hub download: re-download it (`hf download {hub_id} --force-download`)"
    return "re-save the model with save_pretrained (or re-download it if it came from the hub)"


def _is_tied(hf_model: torch.nn.Module, key: str) -> bool:
    # The output embedding of tied models is absent from checkpoints by design.
    tied = getattr(hf_model, "_tied_weights_keys", None) or {}
    return key in tied or key in getattr(hf_model, "all_tied_weights_keys", {})
