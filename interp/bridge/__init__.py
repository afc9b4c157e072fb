"""Every TransformerLens internal interp touches: booting, live hooks, the self-test, repairs.

transformer-lens is pinned to 4.3.x because of what this folder relies on
(``_fire_post_hoc_hook``, ``check_hooks_to_add``, ``_gated_hook_reason``, OPT's
``_UnflattenTokens``, ``detect_tokenizer_bos_eos``); tests/unit/test_attention.py fails loudly if any
of them changes.

>>> import interp
>>> bridge = interp.load_model("suite/opt-s1")   # boot_bridge + make_patterns_live + self-test
>>> run_self_test(bridge)                         # passes silently; raises SelfTestError otherwise
"""

from interp.bridge.boot import boot_bridge, keep_own_tokenizer
from interp.bridge.errors import DeadHookError, DiscardedEditError, SelfTestError
from interp.bridge.live import make_patterns_live, user_hooks_attached
from interp.bridge.selftest import run_self_test

__all__ = ["DeadHookError", "DiscardedEditError", "SelfTestError", "boot_bridge",
           "keep_own_tokenizer", "make_patterns_live", "run_self_test", "user_hooks_attached"]
