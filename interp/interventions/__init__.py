"""Engines that run a model under an intervention; each is an ``nn.Module`` whose
``forward(tokens) -> logits`` ``interp.evaluate`` scores like any model.

- ``PatternSwap``: a recipient on a donor's attention patterns (controls, alpha, head maps),
  by transplanting the donor's queries and keys into fused attention (``transplant``) or by
  materialising patterns; ``head_maps`` pairs donor and recipient layers and heads.
- ``ValueSwap``: a recipient on a donor's value vectors.
- ``DonorStates``: a donor's queries and keys kept across engines, one donor forward per batch.
"""

from interp.interventions.donor_states import DonorStates
from interp.interventions.pattern_swap import (
    CONTROLS,
    HEAD_MAPPINGS,
    PATHS,
    PatternSwap,
    ShapeMismatchError,
    TokenizerMismatchError,
    calibration_tokens,
    check_same_tokens,
    head_map,
    layer_map,
)
from interp.interventions.value_swap import ValueSwap

__all__ = ["CONTROLS", "DonorStates", "HEAD_MAPPINGS", "PATHS", "PatternSwap", "ShapeMismatchError",
           "TokenizerMismatchError", "ValueSwap", "calibration_tokens", "check_same_tokens",
           "head_map", "layer_map"]
