"""Swap a source face into every face of a video file (audio and timing kept)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from facestream.filters.smoothing import add_smoothing_arguments, make_smoother_factory
from facestream.filters.swap import add_swap_arguments
from facestream.stream.errors import UserError
from facestream.stream.file_io import CODECS, EncoderOptions, available_codecs, check_input
from facestream.stream.frames import FrameStage
from facestream.stream.transcode import TranscodeReport, check_paths, transcode

log = logging.getLogger("facestream")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="the video to process")
    parser.add_argument("output", type=Path, help="the result; its extension picks the format")
    add_overwrite_flag(parser, "replace the output if it exists (default: refuse)")
    add_options(parser)


def add_overwrite_flag(parser: argparse.ArgumentParser, help: str) -> None:
    """``-y``/``--overwrite``, as FFmpeg spells it: without it an existing output is refused."""
    parser.add_argument("-y", "--overwrite", action="store_true", help=help)


def add_options(parser: argparse.ArgumentParser) -> None:
    """Every option of a swap run but the input and output (``facestream batch`` shares them)."""
    parser.add_argument(
        "--source",
        type=Path,
        action="append",
        help="photo of the face to swap in; repeat with other photos of the same person "
        "and the best one is used",
    )
    parser.add_argument(
        "--only-like",
        type=Path,
        metavar="PHOTO",
        help="swap only the faces that look like the person in this photo (default: every "
        "face; docs/SWAP.md says how reliable the match is)",
    )
    parser.add_argument(
        "--only-like-threshold",
        type=float,
        metavar="D",
        help="the largest face-descriptor distance that counts as the person of --only-like "
        "(default: the matcher's, printed with each face's distance: raise it when the person "
        "is missed, lower it when others are swapped)",
    )
    add_swap_arguments(parser)
    add_smoothing_arguments(parser, default_mode="fixed-lag")
    parser.add_argument(
        "--model",
        default="hrnet128_lite",
        choices=["hrnet128_lite", "hrnet128_w18"],
        help="landmark model (default: hrnet128_lite)",
    )
    parser.add_argument(
        "--weights",
        default="default",
        help="safetensors weights of the landmark model: 'default' the shipped file, "
        "'none' random (tests of the plumbing only), or a path",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for the landmark model and face detector on the CPU (default 1: "
        "the other cores decode, composite and encode)",
    )
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

    With ``--source``: landmarks with smoothing, then the swap (and ``--overlay``, if
    given, on top); with only ``--overlay``: landmarks with smoothing, then the drawing;
    with neither: no stage (a plain re-encode). ``--only-like`` puts a
    ``filters.face_match.FaceMatchStage`` after the landmarks, so the swap and the drawing
    see only the faces like that photo. Every stage has ``reset()``, so
    ``facestream batch`` keeps the loaded model across files.

    Raises:
        UserError: the source photo or the model weights cannot be used, in one sentence.
    """
    only_like = getattr(args, "only_like", None)
    if args.no_swap and args.overlay is None:
        raise UserError("--no-swap draws only the --overlay; give --overlay as well.")
    if args.label is not None and args.source is None:
        raise UserError("--label marks swapped frames; give --source as well.")
    if args.source is None and args.overlay is None:
        if only_like is not None:
            raise UserError("--only-like chooses which faces to swap; give --source as well.")
        return []  # swap_file says so once the file is written
    for photo in args.source or ():
        _check_photo(photo, "the source face")
    if only_like is not None:
        _check_photo(only_like, "the --only-like reference photo")
    threshold = getattr(args, "only_like_threshold", None)
    if threshold is not None and not threshold > 0:
        raise UserError(f"--only-like-threshold must be positive, not {threshold}.")
    from facestream.stream.landmark_stage import LandmarkStage, OverlayStage
    from facestream.stream.live_chain import EngineLandmarks

    if not getattr(args, "quiet", False) and sys.stderr.isatty():
        # Seconds pass before the progress bar: say what they are spent on.
        log.info("loading the landmark model%s…", " and the source face" if args.source else "")
    landmarks = EngineLandmarks(_engine(args))
    stages: list[FrameStage] = [
        LandmarkStage(landmarks.engine, make_smoother_factory(args.smooth, args.smooth_strength))
    ]
    from facestream.filters.enroll import SourceFaceError

    if only_like is not None:
        from facestream.filters.face_match import (
            MATCH_THRESHOLD,
            FaceMatchStage,
            describe_faces,
            reference_descriptor,
        )

        threshold = MATCH_THRESHOLD if threshold is None else threshold
        # The video's faces are described on the landmark engine's device.
        device = str(landmarks.engine.device)
        try:
            # Between the landmarks and the swap: it removes the faces that do not match.
            reference = reference_descriptor(only_like, landmarks)
            describe = partial(describe_faces, device=device)
            stages.append(FaceMatchStage(reference, threshold, describe=describe))
        except SourceFaceError as exc:
            raise UserError(str(exc)) from None
    if args.source is None:
        return [*stages, OverlayStage(args.overlay)]
    from facestream.filters.swap import build_swap_stage

    try:
        # Enrolled with the same model that finds the faces in the video.
        swap = build_swap_stage(args, landmarks)
    except SourceFaceError as exc:
        raise UserError(str(exc)) from None
    return [*stages, swap]


def _check_photo(path: Path, what: str) -> None:
    """Raise a ``UserError`` naming ``what`` unless ``path`` is an existing file."""
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not a photo.")
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist.")


def _engine(args: argparse.Namespace) -> Any:
    """The landmark engine of ``--model``/``--weights``/``--device``/``--threads``."""
    from facestream.models.engine import LandmarkEngine
    from facestream.models.hrnet import WeightsError, default_weights_path

    weights = None if args.weights == "none" else args.weights
    if weights == "default" and not default_weights_path(args.model).is_file():
        raise UserError(
            f"no trained weights for the {args.model} landmark model are installed "
            f"({default_weights_path(args.model)} is missing); pass --weights FILE."
        )
    if weights is None:
        log.warning("--weights none: random landmark weights, the swap lands anywhere")
    if args.threads < 1:
        raise UserError("--threads must be at least 1.")
    try:
        # One torch thread by default (set globally, so the BlazeFace detector too): on a
        # busy 2-core machine more threads were several times slower (docs/BENCHMARKS.md).
        return LandmarkEngine(
            args.model, weights=weights, device=_device(args.device), num_threads=args.threads
        )
    except WeightsError as exc:
        raise UserError(f"cannot load the landmark weights: {exc}.") from None


def _device(name: str) -> Any:
    """``--device`` as a torch device that this machine has, or a ``UserError``."""
    import torch

    from facestream.models.engine import pick_device

    try:
        device = pick_device(name)
    except RuntimeError:
        raise UserError(f"unknown --device {name}; use auto, cpu, cuda, cuda:N or mps.") from None
    present = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not present.get(device.type, True):
        raise UserError(f"--device {name}: torch finds no {device.type} device here; use auto.")
    return device


def swap_file(
    args: argparse.Namespace, stages: Sequence[FrameStage] | None = None
) -> TranscodeReport:
    """Run the swap pipeline on ``args.input`` into ``args.output`` and report.

    ``stages`` are the ones ``build_stages(args)`` made, when the caller keeps them across
    files (``facestream batch`` loads the model once per worker); built here when omitted.
    An existing output is refused unless ``args.overwrite``, before the model loads.
    """
    # A namespace without the flag (a library caller's) replaces, as transcode does.
    overwrite = getattr(args, "overwrite", True)
    # Before the model loads: a missing input, a refused output or encoder setting should
    # not cost seconds.
    check_input(args.input)
    check_paths(args.input, args.output, overwrite)
    swapped = args.source is not None and not args.no_swap
    options = EncoderOptions(codec=args.codec, crf=args.crf, preset=args.preset, provenance=swapped)
    options.check()
    if stages is None:
        stages = build_stages(args)
    report = transcode(
        args.input,
        args.output,
        stages,
        options,
        progress=False if args.quiet else None,
        overwrite=overwrite,
    )
    log.info(
        "wrote %s: %d frames, %d stream(s) copied, %.1f s (%.1f fps)",
        report.output,
        report.frames,
        report.copied_streams,
        report.seconds,
        report.fps,
    )
    if not stages:
        log.warning("no --source face was given: the frames were re-encoded unchanged")
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
