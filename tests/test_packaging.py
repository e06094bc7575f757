"""A wheel built from the source checkout ships the built front end, and the widget points anywidget at it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_the_wheel_ships_the_front_end_bundle(tmp_path):
    # as `pip install .` builds it: in an isolated build environment that fetches hatchling itself
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("transeasy_widget-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for built in ("widget.js", "widget.css", "standalone.js"):
        assert f"transeasy_widget/static/{built}" in names
    bundle = zipfile.ZipFile(wheel).read("transeasy_widget/static/widget.js").decode()
    assert "export" in bundle and "render" in bundle  # an ES module for anywidget


def test_the_widget_loads_its_esm_and_css_from_the_package():
    from transeasy_widget.widget import STATIC, AttentionWidget

    # anywidget reads the files (FileContents): the widget serves exactly the built bundle and stylesheet
    assert str(AttentionWidget._esm) == (STATIC / "widget.js").read_text(encoding="utf-8")
    assert str(AttentionWidget._css) == (STATIC / "widget.css").read_text(encoding="utf-8")
