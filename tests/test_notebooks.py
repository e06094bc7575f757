"""The tutorial notebooks run top to bottom offline (on the pretrained MiniLM), with their widgets in the output."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_the_tutorials():
    assert [p.stem for p in NOTEBOOKS] == ["01-quickstart", "02-glass-box-tour", "03-word-attention-and-head-stats",
                                           "04-for-transeasy-users", "05-decoders", "06-interventions",
                                           "07-corpus-statistics"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, "the notebook displays a widget"
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "Traceback" not in text
    if path.stem != "03-word-attention-and-head-stats":
        assert "parity OK" in text or "matches: True" in text
    # every cell whose value is a figure shows it as an image (no %matplotlib set up: the figure displays itself)
    figure_cells = [c for c in book.cells if c.cell_type == "code" and ".viz." in c.source.strip().splitlines()[-1]]
    assert bool(figure_cells) == (path.stem[:2] in ("03", "04", "05"))
    for cell in figure_cells:
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, f"{path.stem}: no image shown by {cell.source.splitlines()[-1]!r}"
        assert base64.b64decode(images[0]["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_set_up_cell_is_the_same_everywhere_and_says_how_to_install():
    """transeasy-widget is on no package index: the Colab cell must not pretend it is (pip install transeasy-widget)
    but install the wheel a user built from a clone, and say so."""
    cells = [nbformat.read(path, as_version=4).cells[1].source for path in NOTEBOOKS]
    assert len(set(cells)) == 1
    cell = cells[0]
    assert "not on PyPI" in cell and "pip wheel --no-deps -w dist ." in cell and "pip install -e ." in cell
    assert '_pip("transeasy-widget")' not in cell and "transeasy_widget-*.whl" in cell
    assert "enable_custom_widget_manager" in cell and 'find_spec("transeasy_widget") is None' in cell


def test_the_set_up_cell_installs_a_wheel_next_to_the_notebook(tmp_path):
    """Run the cell where transeasy_widget cannot be imported, with a stand-in pip that records what it installs:
    it installs the wheel found next to the notebook, and without one it stops with the instruction."""
    import subprocess
    import sys

    cell = nbformat.read(NOTEBOOKS[0], as_version=4).cells[1].source
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import importlib.util, subprocess, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'transeasy_widget' else real(name, *a)\n"
        "subprocess.check_call = lambda args: print('PIP', *args[5:])\n"
        f"exec(compile({cell!r}, 'cell', 'exec'))\n")
    run = lambda: subprocess.run([sys.executable, str(probe)], cwd=tmp_path, capture_output=True, text=True,  # noqa: E731
                                 timeout=60)
    out = run()
    assert out.returncode == 1 and "no transeasy_widget-*.whl is next to this notebook" in out.stderr
    (tmp_path / "transeasy_widget-0.1.0-py3-none-any.whl").write_bytes(b"")
    out = run()
    assert out.returncode == 0 and "PIP transeasy_widget-0.1.0-py3-none-any.whl" in out.stdout, out.stderr
