"""benchmarks/gpu.sh's dry mode (CPU, tiny shapes) runs end to end and states its checks;
benchmarks/swap_memory.py's per-route RSS subprocess and 6.9b fit give numbers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import swap_memory  # noqa: E402


def test_gpu_script_dry_mode_runs_and_states_every_check():
    env = {**os.environ, "DRY": "1", "PY": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    out = done.stdout
    assert done.returncode == 0, out[-2000:] + done.stderr[-2000:]
    checks = re.findall(r"^CHECK (.+): (PASS|FAIL|SKIP) \(", out, flags=re.M)
    names = {name for name, _ in checks}
    for shape in ("tiny-pythia", "tiny-opt"):
        assert f"{shape} engine logits = floor's" in names
        assert f"{shape} donor Q/K linear in seq" in names
    assert "study self-swap control changes nothing, per item" in names
    assert all(verdict != "FAIL" for _, verdict in checks)
    assert sum(verdict == "PASS" for _, verdict in checks) >= 10
    assert "0 check(s) failed" in out
    assert re.search(r"^tiny-opt\s+\d", out, flags=re.M), "the benchmark table is printed"


def test_route_rss_subprocess_reports_mebibytes():
    mib = swap_memory.route_rss_in_subprocess("floor", "tiny-pythia", 2, 64, 1)
    assert float(mib) >= 0, mib


def test_fit_scales_measured_bytes():
    # One layer's measured state at batch 1, 2 heads, seq 8, d_head 4, fp32.
    state = {"lengths": [4, 8], "qk": [2 * 1 * 2 * 4 * 4 * 4, 2 * 1 * 2 * 8 * 4 * 4],
             "pattern": [1 * 2 * 4 * 4 * 4, 1 * 2 * 8 * 8 * 4]}
    lines, total = swap_memory.fit_6p9b(state, 1, 2, 4, torch.float32)
    qk = 2 * 2 * 4 * 32 * 2048 * 128 * 32  # Q and K, bf16, 4 x 2048, 32 heads x 128, 32 layers
    assert f"donor Q/K, all layers {qk / 1e9:.1f} GB" in lines[1]
    assert total > 2 * swap_memory.P69["params"] * 2 + qk
