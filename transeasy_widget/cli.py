"""The ``transeasy-widget`` command: a text through a model; a summary, the parity check and the notable heads in
the terminal; optionally a self-contained interactive page (-o) and a figure of one head (--png)."""

from __future__ import annotations

import argparse
import sys

from .errors import TransEasyError

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
    p.add_argument("--truncate", action="store_true", help="keep the first tokens that fit the model")
    p.add_argument("-o", "--output", metavar="PAGE.html", help="write a self-contained interactive page")
    p.add_argument("--weights", action="store_true", help="embed the weight stages in the page too (large)")
    p.add_argument("--layers", metavar="L", type=int, nargs="+",
                   help="the layers whose stage tensors the page holds (default: as many as fit in --stage-mb; "
                        "every layer's attention is always in)")
    p.add_argument("--stage-mb", metavar="MB", type=float, default=None,
                   help="room for stage tensors without --layers (default: 0.5 MB)")
    p.add_argument("--png", metavar="FILE", help="save a figure of one head (PNG, SVG or PDF by the file's suffix)")
    p.add_argument("--figure", choices=FIGURES, default="nosep_linscale_reduced", help="which figure --png saves")
    p.add_argument("--layer", type=int, default=0, help="layer of the figure (0-based)")
    p.add_argument("--head", type=int, default=0, help="head of the figure (0-based)")
    p.add_argument("--top", type=int, default=2, metavar="K", help="notable heads listed per statistic")
    return p


def run(args: argparse.Namespace) -> None:
    from .analysis import analyze  # torch is imported only once the arguments are fine

    a = analyze(args.text, args.pair, model=args.model, words=args.words, truncate=args.truncate)
    print(a.summary())
    print(a.verify())
    print(f"notable heads (layer.head value, 0-based), top {args.top} per statistic:")
    print(a.head_stats.summary(k=args.top))
    if args.png:
        fig = getattr(a.viz, args.figure)(args.layer, args.head)
        fig.savefig(args.png, bbox_inches="tight")
        print(f"figure: {args.png} ({args.figure}, layer {args.layer}, head {args.head})")
    if args.output:
        from .export import LARGE_MB, STAGE_MB, export_html

        path = export_html(a, args.output, weights=args.weights, layers=args.layers,
                           stage_mb=STAGE_MB if args.stage_mb is None else args.stage_mb)
        mb = path.stat().st_size / 1e6
        print(f"page: {path} ({mb:.1f} MB, self-contained: open it in a browser)")
        if mb > LARGE_MB:
            print(f"transeasy-widget: warning: the page is large ({mb:.0f} MB): it opens slowly and is heavy to send; "
                  "fewer tokens or fewer --layers make it smaller", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)  # bad arguments: usage and exit status 2
    if args.png and not args.png.lower().endswith((".png", ".svg", ".pdf")):
        p.error(f"--png {args.png}: the file must end in .png, .svg or .pdf")
    if args.output and not args.output.lower().endswith((".html", ".htm")):
        p.error(f"-o {args.output}: the page must end in .html")
    if (args.layers or args.stage_mb is not None or args.weights) and not args.output:
        p.error("--layers, --stage-mb and --weights shape the page: give -o PAGE.html too")
    if args.stage_mb is not None and args.stage_mb < 0:
        p.error(f"--stage-mb {args.stage_mb:g}: give 0 or more megabytes")
    try:
        run(args)
    except TransEasyError as err:
        print(f"transeasy-widget: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"transeasy-widget: error: cannot write {err.filename}: {err.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
