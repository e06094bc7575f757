"""Every snippet of README.md runs as pasted.

Each ```python block runs alone, in a fresh Python process (a reader pastes one block, not the page), offline
(HF_HUB_OFFLINE=1: the default bert-base-uncased falls back to the installed all-MiniLM-L6-v2, as the README
says), in a scratch folder, with this checkout first on the path. A block runs from a file whose line numbers are
the README's, so a failure names the block and the README line that raised. The cheap ```bash lines (the
command line, not `make`) run the same way.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    language: str
    first_line: int  # README line of the block's first code line (1-based)
    code: str

    @property
    def name(self) -> str:
        return f"{self.language}-line-{self.first_line}"


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, with the line their code starts on."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        assert end is not None, f"README.md line {i + 1}: a ``` block that never closes"
        out.append(Block(opening.group(1), i + 2, "\n".join(lines[i + 1:end])))
        i = end + 1
    return out


BLOCKS = blocks(README.read_text(encoding="utf-8"))
PYTHON = [b for b in BLOCKS if b.language == "python"]
# the command line, as a reader pastes it; `make` (minutes of set-up) is left to `make demo` and `make test`
COMMANDS = [(b, b.first_line + k, line.split("#")[0].strip())
            for b in BLOCKS if b.language == "bash"
            for k, line in enumerate(b.code.splitlines()) if line.strip().startswith("transeasy-widget ")]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}


def failure(block: Block, result: subprocess.CompletedProcess[str], source: str) -> str:
    """Which block, which README line, what it said."""
    lines = [int(n) for n in re.findall(rf'File "{re.escape(source)}", line (\d+)', result.stderr)]
    readme = README.read_text(encoding="utf-8").splitlines()
    where = (f"README.md line {lines[-1]}: {readme[lines[-1] - 1].strip()}" if lines
             else f"README.md lines {block.first_line}–{block.first_line + block.code.count(chr(10))}")
    return (f"The ```{block.language} block at README.md line {block.first_line} fails (exit {result.returncode}), "
            f"at {where}\n--- its stderr (last 3000 characters) ---\n{result.stderr[-3000:]}")


def test_the_readme_has_python_and_command_line_snippets():
    assert len(PYTHON) >= 5 and len(COMMANDS) >= 1


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.name)
def test_python_block_runs_as_pasted(block: Block, tmp_path: Path):
    source = tmp_path / "README.md.py"
    source.write_text("\n" * (block.first_line - 1) + block.code + "\n", encoding="utf-8")  # README line numbers
    result = subprocess.run([sys.executable, str(source)], cwd=tmp_path, env=environment(), capture_output=True,
                            text=True, timeout=600)
    ran = result.returncode == 0
    assert ran, failure(block, result, str(source))


@pytest.mark.parametrize(("block", "line", "command"), COMMANDS, ids=[f"bash-line-{line}" for _, line, _ in COMMANDS])
def test_command_line_runs_as_pasted(block: Block, line: int, command: str, tmp_path: Path):
    argv = shlex.split(command)
    script = Path(sys.executable).with_name("transeasy-widget")  # the installed command, else the module
    run = [str(script), *argv[1:]] if script.exists() else [sys.executable, "-m", "transeasy_widget.cli", *argv[1:]]
    result = subprocess.run(run, cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=600)
    ran = result.returncode == 0
    assert ran, failure(Block("bash", line, command), result, "")
    assert "parity OK" in result.stdout, f"README.md line {line}: {command}\n{result.stdout[-2000:]}"
    for flag, path in itertools.pairwise(argv):
        if flag in ("-o", "--output", "--png"):
            assert (tmp_path / path).stat().st_size > 0, f"README.md line {line}: {command} wrote no {path}"


def test_block_finder_reports_readme_lines():
    found = blocks("text\n```python\nx = 1\ny = 2\n```\n\n```bash\nls\n```\n")
    assert [(b.language, b.first_line, b.code) for b in found] == [("python", 3, "x = 1\ny = 2"), ("bash", 8, "ls")]
