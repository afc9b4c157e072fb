"""How the suite is trained: the numbers the trainer, the probes and the card all read.

Kept apart from ``train.py`` and ``probe.py`` so neither imports the other.
"""

DEFAULT_STEPS = 2000  # phase 1: the suite corpus
ICL_PHASE_STEPS = 1500  # phase 2: long ICL prompts, then ICL prompts and corpus
# Phase 2 in segments of (share of its steps, share of their rows that are ICL prompts): ICL
# prompts only while the lookup forms (at 50% it did not form in 750 steps), then half corpus
# again, which brings back the arithmetic and facts that ICL prompts alone wipe out.
ICL_PHASE_SEGMENTS = ((2 / 3, 1.0), (1 / 3, 0.5))
ICL_PHASE_LR_SCALE = 0.5  # phase-2 peak lr, as a share of the size's PEAK_LR
ICL_CURVE_EVERY = 250  # phase-2 steps between held-out scores (train_info's icl_curve)
CURVE_TASKS = ("arithmetic_add", "knowledge_cloze")  # scored beside icl along the phase
# Smaller models tolerate (and need) larger steps.
PEAK_LR = {"s1": 1e-2, "s2": 6e-3, "s3": 4e-3, "s4": 3e-3, "s5": 2e-3}
CHECKPOINTED_SIZE = "s3"  # Pythia-style log-spaced checkpoints for this size, each family
SIBLING_SIZE = "s3"  # a second seed for this size, each family
# More second seeds (seed 1), per size, for the families the task-interference study uses:
# a size needs two seeds before a difference between sizes can be told from seed noise.
SIBLING_FAMILIES = {"s1": ("pythia",), "s2": ("pythia",), "s4": ("pythia",), "s5": ("pythia",)}
ICL_EVAL_SHOTS = (0, 8)  # what tests/unit/suite/test_suite.py compares
