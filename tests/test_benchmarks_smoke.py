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
         "saved_view": ["--no-long"], "interventions": ["--models", "minilm", "--repeats", "1"]}


@pytest.mark.parametrize("script", [
    "capture", "memory", "payload", "time_to_widget", "browser", "contributions", "decoders", "corpus", "saved_view",
    "interventions"])
def test_benchmark_script_runs_at_the_smallest_size(script):
    out = subprocess.run([sys.executable, str(BENCH / f"{script}.py"), "--sizes", "16", *SMALL.get(script, [])],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| 16 " in out.stdout and "ratio" in out.stdout


def test_run_all_writes_its_table_between_the_readme_markers(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import run_all
        from common import Row
    finally:
        sys.path.remove(str(BENCH))
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\nbefore\n\n{run_all.BEGIN}\nold table\n{run_all.END}\n\nafter\n")
    rows = [Row("analyze, warm", "minilm", 512, 640.0, 665.0, "ms", 1.05), Row("bytes", "m", 16, 1.0, 4.0, "MB")]
    saved = tmp_path / "rows.json"
    run_all.save(saved, rows)
    kept = run_all.main(["--from", str(saved)])
    assert kept == rows
    run_all.write_readme(readme, run_all.row_table(kept), "Made by run_all.")
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# t\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "| analyze, warm | minilm | 512 | 640  | 665      | ms   | 0.96x  | ≤ 1.05x | met |" in text
    assert "| 25.00% |" in text
    # saved rows rendered again into the README (the table's form changed): under the run's own caption
    readme.write_text(text.replace("| 640  |", "| 999  |"))
    run_all.main(["--from", str(saved), "--readme", str(readme)])
    again = readme.read_text()
    assert again == text and f"{run_all.BEGIN}\nMade by run_all.\n\n|" in again
    # the project's README holds one such table, written by a whole run (its caption says which)
    ours = (BENCH.parent / "README.md").read_text()
    assert ours.count(run_all.BEGIN) == 1 and ours.count(run_all.END) == 1
    block = ours.split(run_all.BEGIN)[1].split(run_all.END)[0]
    assert block.lstrip().startswith("Made by `python benchmarks/run_all.py --readme README.md")
    bad = tmp_path / "bad.md"
    bad.write_text("no markers\n")
    with pytest.raises(SystemExit, match="run_all table: begin"):
        run_all.write_readme(bad, "t", "c")
