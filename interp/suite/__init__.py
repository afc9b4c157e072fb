"""The embedded model suite: Pythia- and OPT-architecture models at five sizes, one corpus.

Load a model with ``interp.load_model("suite/pythia-s5")``; ``@step2000`` gives any model as
it was before its ICL phase, and s3 also has log-spaced early checkpoints (``@step64``). Train
or resume with ``python -m interp.suite train``. The suite
card (``interp/suite/weights/README.md``) records how every model was made and how it scores.
"""

from interp.suite.models import FAMILIES, SIZES, model_name

__all__ = ["FAMILIES", "SIZES", "model_name"]
