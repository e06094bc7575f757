"""The tutorial notebooks run top to bottom offline (on the pretrained MiniLM), with their widgets in the output."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_the_five_tutorials():
    assert [p.stem for p in NOTEBOOKS] == ["01-quickstart", "02-glass-box-tour", "03-word-attention-and-head-stats",
                                           "04-for-transeasy-users", "05-decoders"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    assert "pip" in book.cells[1].source and "enable_custom_widget_manager" in book.cells[1].source  # Colab-ready
    NotebookClient(book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, "the notebook displays a widget"
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "Traceback" not in text
    if path.stem != "03-word-attention-and-head-stats":
        assert "parity OK" in text or "matches: True" in text
