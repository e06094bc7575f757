"""The ``transeasy-widget`` command: a text through a model; a summary, the parity check and the notable heads in
the terminal; optionally a self-contained interactive page (-o) and a figure of one head (--png)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import AlignmentError, InputError, TransEasyError

FIGURES = ("raw", "nosep", "nosep_linscale", "nosep_softmax_scale", "nosep_linscale_reduced")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="transeasy-widget",
        description="Trace a sentence (or a pair) through a BERT-like model, every stage by hand; check it against "
                    "the model's own output; show the attention in an interactive page.",
        epilog='example: transeasy-widget "The cat sat on the mat." -o page.html --png head.png --layer 3 --head 7')
    p.add_argument("text", help="the sentence to analyse")
    p.add_argument("--pair", metavar="TEXT", help="a second sentence (sentence-pair input)")
    p.add_argument("--model", metavar="NAME_OR_PATH",
                   help="a model name or local folder (default: bert-base-uncased, or the offline MiniLM)")
    p.add_argument("--words", metavar="WORD", nargs="+",
                   help="your own word list for the word-level views (default: whitespace-separated words)")
    p.add_argument("--on-mismatch", choices=("error", "merge"), default="error",
                   help="where a piece straddles two of your --words: stop with an error (default) or merge them")
    p.add_argument("--truncate", action="store_true", help="keep the first tokens that fit the model")
    p.add_argument("-o", "--output", metavar="PAGE.html", help="write a self-contained interactive page")
    p.add_argument("--weights", action="store_true", help="embed the weight stages in the page too (large)")
    p.add_argument("--png", metavar="FILE", help="save a figure of one head (PNG, SVG or PDF by the file's suffix)")
    p.add_argument("--figure", choices=FIGURES, default="nosep_linscale_reduced", help="which figure --png saves")
    p.add_argument("--layer", type=int, default=0, help="layer of the figure (0-based)")
    p.add_argument("--head", type=int, default=0, help="head of the figure (0-based)")
    p.add_argument("--top", type=_count, default=2, metavar="K", help="notable heads listed per statistic (0: none)")
    return p


def _count(value: str) -> int:
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if k < 0:
        raise argparse.ArgumentTypeError(f"{k} is negative: give 0 or more")
    return k


def _writable(path: str) -> str | None:
    """Why the file cannot be written (its folder is a file, say), or None; checked before the trace runs."""
    folder = Path(path).absolute().parent
    while not folder.exists():
        folder = folder.parent  # missing folders are made when writing
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable"
    return None


def run(args: argparse.Namespace) -> None:
    from .analysis import analyze  # torch is imported only once the arguments are fine

    a = analyze(args.text, args.pair, model=args.model, words=args.words, on_mismatch=args.on_mismatch,
                truncate=args.truncate)
    print(a.summary())
    try:
        notes = a.alignment.notes
    except InputError:  # no character offsets (a slow tokenizer): no word-level views, said below
        notes = ()
    for note in notes:
        print(f"words     {note}")
    print(a.verify())
    if args.top:
        print(f"notable heads (layer.head value, 0-based), top {args.top} per statistic:")
        print(a.head_stats.summary(k=args.top))
    if args.png:
        fig = getattr(a.viz, args.figure)(args.layer, args.head)
        Path(args.png).absolute().parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.png, bbox_inches="tight")
        print(f"figure: {args.png} ({args.figure}, layer {args.layer}, head {args.head})")
    if args.output:
        from .export import export_html

        path = export_html(a, args.output, weights=args.weights)
        print(f"page: {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained: open it in a browser)")


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)  # bad arguments: usage and exit status 2
    if args.png and not args.png.lower().endswith((".png", ".svg", ".pdf")):
        p.error(f"--png {args.png}: the file must end in .png, .svg or .pdf")
    if args.output and not args.output.lower().endswith((".html", ".htm")):
        p.error(f"-o {args.output}: the page must end in .html")
    for flag, path in (("-o", args.output), ("--png", args.png)):
        problem = path and _writable(path)
        if problem:
            p.error(f"{flag} {path}: cannot write there: {problem}")
    try:
        run(args)
    except TransEasyError as err:
        hint = " (here: --on-mismatch merge)" if isinstance(err, AlignmentError) and "on_mismatch" in str(err) else ""
        print(f"transeasy-widget: error: {err}{hint}", file=sys.stderr)
        return 2
    except OSError as err:  # writing the page or the figure failed after all (disk full, ...)
        what = f"cannot write {err.filename}: {err.strerror}" if err.filename else str(err) or type(err).__name__
        print(f"transeasy-widget: error: {what}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
