"""The exported page (`transeasy-widget TEXT -o page.html`) from a file:// URL, with every other request refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "page.html"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, "-m", "transeasy_widget.cli", TEXT, "--model", "all-MiniLM-L6-v2", "-o", str(path)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return path


def only_files(network) -> None:
    others = [u for u in network.requests if not u.startswith(("file:", "data:", "blob:"))]
    assert not others and not network.blocked, f"the page asked for more than itself: {others + network.blocked}"


def test_exported_page_renders_offline_and_responds(exported, open_page, network):
    w = open_page(exported.as_uri())
    w.expect_painted()
    expect(w.page.locator(".tw-page-caption")).to_contain_text(TEXT)
    w.shoot("export-page")

    # a head in the overview
    w.click_head(2, 7)
    expect(w.root).to_have_attribute("data-head", "7")
    expect(w.root).to_have_attribute("data-layer", "2")
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Attention · layer 2 · head 7 · raw")

    # another variant: [CLS] and [SEP] dropped, the heatmap repainted with two rows fewer
    m = int(w.part(".tw-hm-canvas").evaluate("c => c.width"))
    w.part(".tw-variant select").select_option("nosep")
    expect(w.root).to_have_attribute("data-variant", "nosep")
    w.page.wait_for_function("([c, m]) => c.width === m - 2", arg=[w.part(".tw-hm-canvas").element_handle(), m])
    w.expect_painted()
    expect(w.part(".tw-ov .tw-title, .tw-overview .tw-title").first).to_contain_text("nosep")

    # a box of the stage diagram: its tensor painted
    w.choose_stage("preemb_sum_emb")
    expect(w.part(".tw-stage-shape")).to_contain_text("shown:")
    w.shoot("export-page-after-clicks")
    assert not network.errors, network.errors
    only_files(network)
