"""Every benchmark script runs at its smallest size, so the scripts never rot (they are not timing tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "benchmarks"
# the smallest run of each: one model where a script takes several, one fresh process per side
SMALL = {"capture": ["--models", "minilm", "--runs", "1", "--repeats", "1"],
         "memory": ["--models", "minilm", "--drops", "3"], "decoders": ["--cold-runs", "1"],
         "interventions": ["--models", "minilm", "--repeats", "1"]}


@pytest.mark.parametrize("script", [
    "capture", "memory", "payload", "time_to_widget", "browser", "contributions", "decoders", "corpus",
    "interventions"])
def test_benchmark_script_runs_at_the_smallest_size(script):
    out = subprocess.run([sys.executable, str(BENCH / f"{script}.py"), "--sizes", "16", *SMALL.get(script, [])],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| 16 " in out.stdout and "ratio" in out.stdout
