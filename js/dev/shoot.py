"""Dev only: renders js/dev/index.html in headless Chromium, saves screenshots under /tmp/tw-shots, prints checks.
Usage: .venv/bin/python js/dev/shoot.py  (after npm run build)"""
import functools, http.server, json, os, sys, threading, time
from playwright.sync_api import sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = "/tmp/tw-shots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def serve():
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=ROOT))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    os.makedirs(OUT, exist_ok=True)
    srv = serve()
    base = f"http://127.0.0.1:{srv.server_port}/js/dev/"
    blocked, errors, dialogs = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1320, "height": 1000})
        def route(r):
            u = r.request.url
            if u.startswith(("http://127.0.0.1", "file:", "data:", "blob:")):
                return r.continue_()
            blocked.append(u)
            return r.abort()
        ctx.route("**/*", route)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type in ("error", "warning") and errors.append(f"console {m.type}: {m.text}"))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        def load(query, wait_painted=True):
            page.goto(base + "index.html?" + query)
            page.wait_for_function("window.twReady === true")
            if wait_painted:
                page.wait_for_selector('.tw-hm-canvas[data-painted="1"]', timeout=20000)
            page.wait_for_timeout(150)

        def attrs(sel):
            return page.eval_on_selector(sel, "e => Object.assign({}, e.dataset)")

        report = {}
        # 1. sentence pair with malicious tokens, light theme, hover on the heatmap
        load("case=pair&layer=2&head=3&stage=selfattn_query_hidden")
        page.wait_for_function("document.querySelector('.tw-stage-shape').textContent.includes('shown:')", timeout=20000)
        box = page.locator(".tw-hm-plot").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.62, box["y"] + box["height"] * 0.27)
        page.wait_for_timeout(120)
        report["pair_tooltip"] = page.text_content(".tw-tooltip")
        report["pair_root"] = attrs(".tw-root")
        report["pair_img_in_dom"] = page.eval_on_selector_all("img", "n => n.length")
        page.screenshot(path=f"{OUT}/pair-light.png", full_page=True)
        # 2. dark theme, arcs all heads, hover on the arcs
        load("case=pair&theme=dark&all=1&stage=ffnn_dense_act")
        page.wait_for_function("document.querySelector('.tw-stage-shape').textContent.includes('shown:')", timeout=20000)
        page.screenshot(path=f"{OUT}/pair-dark-allheads.png", full_page=True)
        abox = page.locator(".tw-arcs canvas").bounding_box()
        page.mouse.move(abox["x"] + 40, abox["y"] + 6 + 22 * 5 + 11)
        page.wait_for_timeout(200)
        report["dark_arcs_hover_token"] = attrs(".tw-root").get("token")
        page.screenshot(path=f"{OUT}/pair-dark-arcs-hover.png", full_page=True)
        # 3. 12 x 12 x 512: timing of head switches in a cached layer
        load("case=big")
        timings = page.evaluate("""async () => {
          const m = window.twModel, root = document.querySelector('.tw-root');
          const frame = () => new Promise(r => requestAnimationFrame(() => r()));
          const paint = [], sw = [];
          for (let k = 1; k <= 24; k++) {
            m.set('head', k % 12);
            await frame(); await frame();
            paint.push(Number(root.dataset.lastPaintMs)); sw.push(Number(root.dataset.lastSwitchMs));
          }
          paint.sort((a, b) => a - b); sw.sort((a, b) => a - b);
          const med = a => a[a.length >> 1];
          return { paint_median: med(paint), paint_max: paint[paint.length - 1], switch_median: med(sw), switch_max: sw[sw.length - 1] };
        }""")
        report["big_head_switch_ms"] = timings
        report["big_labels"] = page.eval_on_selector_all(".tw-hm-rowlabels .tw-label", "n => n.length")
        page.wait_for_timeout(100)
        box = page.locator(".tw-hm-plot").bounding_box()
        page.mouse.move(box["x"] + 300, box["y"] + 200)
        page.wait_for_timeout(120)
        report["big_tooltip"] = page.text_content(".tw-tooltip")
        page.screenshot(path=f"{OUT}/big-512.png", full_page=True)
        # keyboard on the focused root
        page.focus(".tw-root")
        for k in ["ArrowDown", "ArrowDown", "ArrowRight"]:
            page.keyboard.press(k)
        page.wait_for_selector('.tw-heatmap canvas[data-layer="2"]', timeout=20000)
        report["big_after_keys"] = {k: attrs(".tw-root").get(k) for k in ("layer", "head")}
        # click a thumbnail in the overview
        ov = page.locator(".tw-overview canvas").bounding_box()
        page.mouse.click(ov["x"] + 26 * 7 + 5, ov["y"] + 26 * 4 + 5)
        page.wait_for_timeout(50)
        report["big_after_click"] = {k: attrs(".tw-root").get(k) for k in ("layer", "head")}
        page.wait_for_selector('.tw-heatmap canvas[data-layer="4"]', timeout=20000)
        page.wait_for_timeout(100)
        page.screenshot(path=f"{OUT}/big-512-after-click.png", full_page=True)
        # 4. two views stay in step; cleanup removes listeners
        load("case=small&views=2")
        page.select_option(".cell:nth-child(1) .tw-head select", "5")
        report["two_views_heads"] = page.eval_on_selector_all(".tw-root", "rs => rs.map(r => r.dataset.head)")
        report["listeners_before_cleanup"] = page.evaluate("window.twModel.listeners()")
        page.evaluate("window.twCleanups.forEach(f => f()); window.twStopInit()")
        report["listeners_after_cleanup"] = page.evaluate("window.twModel.listeners()")
        # 5. standalone bundle
        page.goto(base + "standalone.html")
        page.wait_for_function("window.twReady === true")
        page.wait_for_selector('.tw-hm-canvas[data-painted="1"]', timeout=20000)
        page.wait_for_timeout(100)
        report["standalone_root"] = attrs(".tw-root")
        page.screenshot(path=f"{OUT}/standalone.png", full_page=True)
        # 6. real MiniLM replies from the Python side (js/dev/realdata.py), when dumped
        if os.path.exists("/tmp/tw-real.json"):
            page.route("**/real.json", lambda r: r.fulfill(path="/tmp/tw-real.json", content_type="application/json"))
            for name, query in [("real-raw", "layer=1&head=1"), ("real-reduced", "variant=reduced&layer=1&head=0&stage=ffnn_dense_act"),
                                ("real-parity", "stage=pipeline_hiddens")]:
                page.goto(base + "real.html?" + query)
                page.wait_for_function("window.twReady === true", timeout=30000)
                page.wait_for_selector('.tw-hm-canvas[data-painted="1"]', timeout=20000)
                page.wait_for_timeout(300)
                report[name] = {"root": attrs(".tw-root"), "stage_note": page.text_content(".tw-stage-note"),
                                "stage_shape": page.text_content(".tw-stage-shape"), "status": page.text_content(".tw-status")}
                page.screenshot(path=f"{OUT}/{name}.png", full_page=True)
        browser.close()
    report["blocked"] = blocked
    report["errors"] = errors
    report["dialogs"] = dialogs
    print(json.dumps(report, indent=1))
    srv.shutdown()


if __name__ == "__main__":
    main()
