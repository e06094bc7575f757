"""Every benchmark in one run, one table: ours against the baseline, side by side, as ratios.

    python benchmarks/run_all.py               # n = 16 ... 512 (a few minutes on 2 cores; bertviz at 512 is the slow part)
    python benchmarks/run_all.py --sizes 16    # a quick pass
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import capture
import contributions
import corpus
import decoders
import interventions
import memory
import payload
import time_to_widget
from common import SIZES, Row, row_table


def main(argv: list[str] | None = None) -> list[Row]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--skip-browser", action="store_true", help="leave out the Chromium measurements")
    p.add_argument("--corpus", type=int, default=2000, help="texts in the corpus-statistics rows (smallest size: 16)")
    args = p.parse_args(argv)
    start = time.perf_counter()
    rows: list[Row] = []
    for name, run in (("capture", lambda: capture.measure(args.sizes, list(capture.MODELS))
                       + capture.cold([max(args.sizes)], list(capture.MODELS))),
                      ("memory", lambda: memory.peaks(args.sizes, list(memory.MODELS))
                       + memory.drops(max(args.sizes), ["minilm"], 200 if 512 in args.sizes else 5)
                       + (memory.long_context() if 512 in args.sizes else [])),
                      ("payload", lambda: payload.measure(args.sizes)),
                      ("time to widget", lambda: time_to_widget.measure(args.sizes)),
                      ("contributions", lambda: contributions.measure(args.sizes)),
                      ("corpus", lambda: corpus.measure([args.corpus])),
                      ("decoders", lambda: decoders.measure([n for n in args.sizes if n in decoders.SIZES]
                                                            or args.sizes[:1])),
                      ("interventions", lambda: interventions.measure([n for n in args.sizes
                                                                       if n in interventions.SIZES]
                                                                      or args.sizes[:1]))):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += run()
    if not args.skip_browser:
        import browser

        print("running browser ...", file=sys.stderr, flush=True)
        rows += browser.measure([n for n in args.sizes if n in (16, 128, 512)] or args.sizes[:1])
    print(row_table(rows))
    print(f"({time.perf_counter() - start:.0f} s on this machine; `python benchmarks/<name>.py --sizes N` runs one)")
    return rows


if __name__ == "__main__":
    main()
