"""The attention-swap study end to end at real scale on CPU: random-weight checkpoints at the
real pythia-70m and opt-125m configs with real BPE tokenizers, scored on real MMLU under the
standard protocol (``--tasks mmlu``, dev shots, one row per subject plus the whole)."""

from __future__ import annotations

import math
import shutil

import pytest

from interp.runs.study import run_study
from interp.studies.attention_swap import STUDY, Config
from tests import checkpoints

MMLU = checkpoints.DATA / "mmlu-hendrycks" / "data"


@pytest.fixture(scope="module", params=["pythia-70m", "opt-125m"])
def pair(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    dirs = [checkpoints.save_real_shape(request.param, root / f"seed{s}", seed=s) for s in (0, 1)]
    yield request.param, [str(d) for d in dirs]
    shutil.rmtree(root, ignore_errors=True)  # about 750 MB per pair


def test_swap_study_runs_on_real_shapes_with_mmlu(pair, tmp_path):
    shape, (recipient, donor) = pair
    config = Config(out=tmp_path / "swap", models=(recipient,), donors=(donor,), tasks=("mmlu",),
                    mmlu=MMLU, mmlu_shots=1, mmlu_subjects=("abstract_algebra",
                                                            "high_school_mathematics"),
                    n=4, batch_size=4, sweeps=False)
    outcome = run_study(STUDY, config, quiet=True)
    results = outcome.tables["results"]
    tasks = {"mmlu/abstract_algebra", "mmlu/high_school_mathematics", "mmlu"}
    assert set(results.task) == tasks
    swap = results[(results.condition == "swap:given") & (results.task == "mmlu")].iloc[0]
    assert swap.n == 8 and swap.donor == donor
    assert swap.delta_accuracy_lo <= swap.delta_accuracy <= swap.delta_accuracy_hi
    base = results[(results.condition == "base") & (results.task == "mmlu")].iloc[0]
    # Random weights know nothing: the answer's loss is near a uniform guess over the vocabulary.
    vocab = checkpoints.REAL_SHAPES[shape]["shape"]["vocab_size"]
    assert abs(base.loss - math.log(vocab)) < 1.5
    selfswap = results[results.condition == "control:self"]
    assert (selfswap.delta_accuracy == 0).all() and (selfswap.delta_loss == 0).all()
    prompt_rows = outcome.tables["items"]
    assert prompt_rows.item.nunique() == 8  # the same 8 questions in every cell
    assert (outcome.out / "FINDINGS.md").read_text().strip()
