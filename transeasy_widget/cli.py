"""The ``transeasy-widget`` command: a text through a model, a readable summary and the parity check."""

from __future__ import annotations

import argparse
import sys

from .errors import TransEasyError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="transeasy-widget",
        description="Trace a sentence (or a pair) through a BERT-like model, every stage by hand, and check it "
                    "against the model's own output.")
    p.add_argument("text", help="the sentence to analyse")
    p.add_argument("--pair", metavar="TEXT", help="a second sentence (sentence-pair input)")
    p.add_argument("--model", metavar="NAME_OR_PATH",
                   help="a model name or local folder (default: bert-base-uncased, or the offline MiniLM)")
    p.add_argument("--truncate", action="store_true", help="keep the first tokens that fit the model")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from .analysis import analyze  # torch is imported only once the arguments are fine

    try:
        a = analyze(args.text, args.pair, model=args.model, truncate=args.truncate)
        print(a.summary())
        print(a.verify())
    except TransEasyError as err:
        print(f"transeasy-widget: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
