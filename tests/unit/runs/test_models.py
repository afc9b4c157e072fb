"""Model lists for sweeps: ranges and brace lists, identical weights once, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from interp.runs import cli
from interp.runs.models import ModelPool, distinct_models, expand_models, published_steps
from interp.sources import PYTHIA_STEPS

ROOT = Path(__file__).resolve().parents[3]


def test_a_stepped_range_expands_against_pythias_schedule():
    names = expand_models(["EleutherAI/pythia-160m@step{1000..143000..10000}"])
    steps = [int(n.rsplit("step", 1)[1]) for n in names]
    assert steps == list(range(1000, 143001, 10000)) and len(steps) == 15
    assert all(s in PYTHIA_STEPS for s in steps)


def test_a_range_without_a_step_takes_the_published_checkpoints_inside_it():
    names = expand_models(["EleutherAI/pythia-70m@step{100..3000}"])
    assert names == [f"EleutherAI/pythia-70m@step{s}" for s in (128, 256, 512, 1000, 2000, 3000)]


def test_braces_combine_and_repeats_are_dropped():
    names = expand_models(["EleutherAI/pythia-{70m,160m}@step{1000,2000}", "EleutherAI/pythia-70m@step1000"])
    assert names == ["EleutherAI/pythia-70m@step1000", "EleutherAI/pythia-70m@step2000",
                     "EleutherAI/pythia-160m@step1000", "EleutherAI/pythia-160m@step2000"]


def test_suite_ranges_follow_the_checkpoints_on_disk():
    steps = published_steps("suite/pythia-s3")
    names = expand_models(["suite/pythia-s3@step{0..64}"])
    assert names == [f"suite/pythia-s3@step{s}" for s in steps if s <= 64] and len(names) >= 2


@pytest.mark.parametrize("name, message", [
    ("EleutherAI/pythia-160m@step{1000..3500..500}", "names step1500, which EleutherAI/pythia-160m does not publish"),
    ("EleutherAI/pythia-160m@step{5000..1000}", "from 5000 down to 1000"),
    ("EleutherAI/pythia-160m@step{1000..2000..0}", "step must be >= 1"),
    ("EleutherAI/pythia-160m@step{143001..150000}", "publishes no checkpoint between"),
    ("EleutherAI/pythia-{70m,}@main", "an empty member"),
    ("EleutherAI/pythia-{70m}@main", "neither a list"),
    ("EleutherAI/pythia-{70m,{1,2}}", "nested braces"),
    ("suite/pythia-s3@step{3..5..1}", "suite/pythia-s3 does not publish"),
])
def test_bad_ranges_are_refused_by_name(name, message):
    with pytest.raises(ValueError, match=message.replace("{", r"\{")):
        expand_models([name])


def test_identical_checkpoints_are_computed_once_and_reported():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept, same = distinct_models(["suite/pythia-s2", "suite/pythia-s2@main", "suite/opt-s2",
                                      "suite/pythia-s2@step2000"])
    assert kept == ["suite/pythia-s2", "suite/opt-s2", "suite/pythia-s2@step2000"]
    assert same == {"suite/pythia-s2@main": "suite/pythia-s2"}
    assert [str(w.message).split(" has ")[0] for w in caught] == ["suite/pythia-s2@main"]


def test_the_cli_expands_every_model_list_flag():
    args = cli.argparse.Namespace(models=["suite/pythia-s{1,2}", "suite/pythia-s1@main"],
                                  donors=["suite/opt-s{1..2}"], train_models=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli.expand_model_lists(args)
    assert args.models == ["suite/pythia-s1", "suite/pythia-s2"]
    assert args.donors == ["suite/opt-s1", "suite/opt-s2"] and args.train_models is None


def test_a_pool_holds_at_most_its_capacity():
    loads = []
    pool = ModelPool(lambda name: loads.append(name) or name, capacity=2)
    for name in ["a", "b", "a", "c", "b"]:
        pool.get(name)
    assert loads == ["a", "b", "c", "b"] and list(pool.loaded) == ["c", "b"]


PEAKS = """
import json, sys
import interp
from interp.runs.models import ModelPool


def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024


interp.load_model("suite/pythia-s1")  # first-load costs: lazy imports, the self-test's caches
open("/proc/self/clear_refs", "w").write("5")  # Linux: the peak RSS counts from here
held, pool = [], ModelPool(interp.load_model, capacity=1)
peaks = []
for name in [f"suite/{family}-s5" for family in ("opt", "pythia")] * 5:
    held.append(interp.load_model(name)) if sys.argv[1] == "hold" else pool.get(name)
    peaks.append(peak_mib())
print(json.dumps(peaks))
"""


def peaks(mode: str) -> list[float]:
    done = subprocess.run([sys.executable, "-c", PEAKS, mode], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                                            "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="resets the peak RSS the Linux way")
def test_peak_memory_does_not_grow_with_the_number_of_models_loaded_and_freed():
    pooled, held = peaks("pool"), peaks("hold")  # ten loads of the suite's largest models each
    # The measurement can see models pile up: holding all ten grows the peak by several MB each.
    assert held[-1] - held[3] > 20, held
    # Freed one by one, the peak stops growing once the allocator has settled (after 4 loads).
    assert pooled[-1] - pooled[3] < 4, pooled
