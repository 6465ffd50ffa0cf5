"""Swap a source face into every face of a video file (audio and timing kept)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from facestream.filters.smoothing import add_smoothing_arguments
from facestream.stream.errors import UserError
from facestream.stream.file_io import CODECS, EncoderOptions, available_codecs
from facestream.stream.frames import FrameStage
from facestream.stream.transcode import TranscodeReport, transcode

log = logging.getLogger("facestream")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="the video to process")
    parser.add_argument("output", type=Path, help="the result; its extension picks the format")
    add_options(parser)


def add_options(parser: argparse.ArgumentParser) -> None:
    """Every option of a swap run but the input and output (``facestream batch`` shares them)."""
    parser.add_argument("--source", type=Path, help="photo of the face to swap in")
    add_smoothing_arguments(parser, default_mode="fixed-lag")
    parser.add_argument(
        "--codec", default="libx264", choices=available_codecs(), help="video encoder"
    )
    parser.add_argument(
        "--crf",
        type=int,
        help="quality, lower is better (codec default: "
        + ", ".join(f"{name} {d.crf}" for name, d in CODECS.items())
        + ")",
    )
    parser.add_argument(
        "--preset",
        help="encoder speed preset (x264/x265: ultrafast..veryslow; "
        "vp9: realtime, good, best; nvenc: p1..p7)",
    )


def build_stages(args: argparse.Namespace) -> list[FrameStage]:
    """The frame stages of a swap run, in order.

    Until the swap stage (``facestream.filters.swap``) exists, frames pass through unchanged.
    """
    if args.source is not None:
        if not args.source.is_file():
            raise UserError(f"the source face {args.source} does not exist.")
        log.info("no swap stage in this build yet: frames pass through unchanged")
    return []


def swap_file(
    args: argparse.Namespace, stages: Sequence[FrameStage] | None = None
) -> TranscodeReport:
    """Run the swap pipeline on ``args.input`` into ``args.output`` and report.

    ``stages`` are the ones ``build_stages(args)`` made, when the caller keeps them across
    files (``facestream batch`` loads the model once per worker); built here when omitted.
    """
    options = EncoderOptions(codec=args.codec, crf=args.crf, preset=args.preset)
    if stages is None:
        stages = build_stages(args)
    report = transcode(
        args.input, args.output, stages, options, progress=False if args.quiet else None
    )
    log.info(
        "wrote %s: %d frames, %d stream(s) copied, %.1f s (%.1f fps)",
        report.output,
        report.frames,
        report.copied_streams,
        report.seconds,
        report.fps,
    )
    if report.damaged or report.read_error:
        stopped = f" (reading stopped: {report.read_error})" if report.read_error else ""
        raise UserError(
            f"{args.input} is damaged{stopped}: {report.damaged} frame(s) could not be decoded "
            f"or are missing; the {report.frames} readable ones were written to {report.output}.",
            exit_code=3,
        )
    return report


def run(args: argparse.Namespace) -> int:
    swap_file(args)
    return 0
