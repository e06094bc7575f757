"""Draw the README's figure, docs/img/reduced.png, with the offline MiniLM: ``python docs/make_figures.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import transeasy_widget as tw

TEXT = "The salesman gave us a demo of the Huggingface course."
LAYER, HEAD = 2, 11  # 0-based, as the caption says ("Layer-2, Head-11 (0-based)"): a head that looks at the previous word
OUT = Path(__file__).parent / "img" / "reduced.png"


def main(out: Path = OUT) -> Path:
    a = tw.analyze(TEXT, model="all-MiniLM-L6-v2")
    fig = a.viz.nosep_linscale_reduced(LAYER, HEAD)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, metadata={"Software": None})  # no version stamp: the file changes only when the figure does
    return out


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
