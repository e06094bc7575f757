"""Every benchmark in one run, one table: ours against the baseline, side by side, as ratios.

    python benchmarks/run_all.py                     # n = 16 ... 512 (about an hour on 2 cores)
    python benchmarks/run_all.py --readme README.md  # the same, then the table written into the README
    python benchmarks/run_all.py --sizes 16          # a quick pass
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import capture
import contributions
import corpus
import decoders
import interventions
import memory
import payload
import saved_view
import time_to_widget
from common import SIZES, THREADS, Row, row_table

BEGIN, END = "<!-- run_all table: begin -->", "<!-- run_all table: end -->"


def write_readme(readme: Path, table: str, caption: str) -> None:
    """Replace what stands between the README's two run_all markers by this run's caption and table."""
    text = readme.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise SystemExit(f"{readme} needs one {BEGIN!r} line and one {END!r} line around the table")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    readme.write_text(f"{head}{BEGIN}\n{caption}\n\n{table}\n{END}{tail}")


def save(path: Path | None, rows: list[Row]) -> None:
    """The rows so far, as JSON: a run that fails late keeps what it measured (``--from`` rebuilds the table)."""
    if path is not None:
        path.write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))


def main(argv: list[str] | None = None) -> list[Row]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--skip-browser", action="store_true", help="leave out the Chromium measurements")
    p.add_argument("--corpus", type=int, default=2000, help="texts in the corpus-statistics rows (smallest size: 16)")
    p.add_argument("--readme", type=Path, help="write the table between the run_all markers of this README")
    p.add_argument("--save", type=Path, help="keep the rows as JSON in this file, after each benchmark")
    p.add_argument("--from", dest="saved", type=Path,
                   help="measure nothing: the table of the rows saved by --save (with --readme, under the README's caption)")
    args = p.parse_args(argv)
    if args.saved:
        kept = [Row(**r) for r in json.loads(args.saved.read_text())]
        print(row_table(kept))
        if args.readme:  # the same measurements written again (the table's form changed): the run's caption stays
            block = args.readme.read_text().split(BEGIN, 1)[-1]
            write_readme(args.readme, row_table(kept), block.strip().splitlines()[0])
        return kept
    start = time.perf_counter()
    load_before = os.getloadavg()[0]
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
                      ("saved view", lambda: saved_view.picture([n for n in args.sizes if n in (16, 128, 512)]
                                                                or args.sizes[:1])
                       + (saved_view.long_first_paint() if 512 in args.sizes else [])),
                      ("interventions", lambda: interventions.measure([n for n in args.sizes
                                                                       if n in interventions.SIZES]
                                                                      or args.sizes[:1]))):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += run()
        save(args.save, rows)
    if not args.skip_browser:
        import browser

        print("running browser ...", file=sys.stderr, flush=True)
        browser_sizes = [n for n in args.sizes if n in (16, 128, 512)] or args.sizes[:1]
        rows += browser.measure(browser_sizes)
        save(args.save, rows)
        print("running browser in a live JupyterLab ...", file=sys.stderr, flush=True)
        rows += browser.measure_lab(browser_sizes)
        save(args.save, rows)
    table = row_table(rows)
    minutes = (time.perf_counter() - start) / 60
    given = argv if argv is not None else sys.argv[1:]
    if "--save" in given:  # where the rows were kept changes nothing measured
        given = given[:given.index("--save")] + given[given.index("--save") + 2:]
    call = " ".join(["python benchmarks/run_all.py", *given])
    caption = (f"Made by `{call}` on {date.today():%Y-%m-%d}: {minutes:.0f} minutes, {THREADS} torch thread(s) a side, "
               f"load average {load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the end.")
    print(table)
    print(caption)
    if args.readme:
        write_readme(args.readme, table, caption)
    return rows


if __name__ == "__main__":
    main()
