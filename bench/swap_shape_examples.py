"""Identity-shape settings side by side: per example of `swap_examples.py`, the target, the
source, then the result at each `--shape-strength` setting (as in `swap_quality.py`)::

    .venv/bin/python bench/swap_shape_examples.py 0 0.5 1 --out docs/images/swap_shape.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from swap_examples import CELL, EXAMPLES, render_row  # noqa: E402
from swap_quality import identity_regions, shape_config  # noqa: E402

from facestream.filters.swap import SwapOptions  # noqa: E402


def header(labels: list[str]) -> np.ndarray:
    """A white strip with one label per column."""
    strip = np.full((24, CELL * len(labels), 3), 255, np.uint8)
    for i, text in enumerate(labels):
        cv2.putText(strip, text, (i * CELL + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0))
    return strip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="as swap_quality --shape-strength")
    parser.add_argument("--out", type=Path, default=Path("docs/images/swap_shape.jpg"))
    args = parser.parse_args()
    rows = []
    for clip, photo, index in EXAMPLES:
        cells = [render_row(clip, photo, index, SwapOptions())[:, : 2 * CELL]]
        for spec in args.specs:
            config = shape_config(spec)
            with identity_regions(config.regions):
                row = render_row(clip, photo, index, config.options)
            cells.append(row[:, 2 * CELL : 3 * CELL])
        rows.append(np.hstack(cells))
    grid = np.vstack([header(["target", "source", *args.specs]), *rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(
        str(args.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
