"""The errors a hook on a Bridge raises instead of silently doing nothing."""


class DiscardedEditError(RuntimeError):
    """A hook returned or made an edit that the model would not use."""


class DeadHookError(ValueError):
    """A hook was added to a hook point that never fires on this model."""


class SelfTestError(RuntimeError):
    """The load-time proof that edits are live failed."""
