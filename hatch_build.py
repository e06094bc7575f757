"""Builds the front end (js/ → transeasy_widget/static/widget.js) when the package is built or installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).parent
BUNDLE = ROOT / "transeasy_widget" / "static" / "widget.js"


def _stale() -> bool:
    if not BUNDLE.exists():
        return True
    built = BUNDLE.stat().st_mtime
    sources = [*ROOT.glob("js/**/*.ts"), *ROOT.glob("js/**/*.css"), ROOT / "package.json"]
    return any(p.stat().st_mtime > built for p in sources if p.exists() and "node_modules" not in p.parts)


class JsBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if not (ROOT / "package.json").exists() or not _stale():
            return  # an sdist ships the built bundle; a fresh bundle needs nothing
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("Building transeasy-widget's front end needs Node.js and npm (https://nodejs.org).")
        if not (ROOT / "node_modules").exists():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
        subprocess.run([npm, "run", "build"], cwd=ROOT, check=True)
