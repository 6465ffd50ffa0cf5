"""Write per-frame HRNet-128 landmarks of a video or an image as JSON (optional overlay video).

    facestream landmarks talk.mp4 --json talk.json --overlay talk_points.mp4
    facestream landmarks talk.mp4 --json raw.json --smooth off
    facestream landmarks photo.jpg --json photo.json

The points are smoothed per face track as in ``facestream swap`` (``--smooth``, default
fixed-lag; ``off`` writes the model's raw points). The JSON holds ``smooth`` (mode and
strength) and one record per frame: ``frame`` (index), ``pts`` and ``time_base`` (as
decoded, ``null`` for an image) and ``faces``, each with ``track_id``, ``points`` (128 x, y
in frame pixels), ``confidence`` (128 values) and ``box`` (x0, y0, x1, y1). The JSON is
written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from facestream.filters.smoothing import add_smoothing_arguments, make_smoother_factory
from facestream.stream.cli_swap import add_overwrite_flag
from facestream.stream.errors import UserError
from facestream.stream.frames import Frame, FrameStage
from facestream.stream.pipeline import run_pipeline

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="a video file or a photo")
    parser.add_argument("--json", type=Path, required=True, help="where the landmarks go")
    parser.add_argument("--overlay", type=Path, help="also write a video with the points drawn")
    parser.add_argument(
        "--model", default="hrnet128_lite", choices=["hrnet128_lite", "hrnet128_w18"]
    )
    parser.add_argument(
        "--weights",
        default="default",
        help="safetensors file of the model; 'default' the shipped one, 'none' random (tests)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    parser.add_argument(
        "--detect-every", type=int, default=30, help="run the face detector every N frames"
    )
    parser.add_argument(
        "--min-confidence", type=float, default=0.3, help="a face below this mean is lost"
    )
    add_smoothing_arguments(parser, default_mode="fixed-lag")
    add_overwrite_flag(parser, help="replace an existing --json or --overlay file")


class RecordingStage:
    """Pipeline stage: records each frame's (smoothed) faces for the JSON."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def process(self, frame: Frame) -> Frame:
        self.records.append(frame_record(frame))
        return frame


def frame_record(frame: Frame) -> dict[str, Any]:
    """One JSON record: frame index, timing and every face's landmarks."""
    return {
        "frame": frame.index,
        "pts": frame.pts,
        "time_base": str(frame.time_base) if frame.time_base is not None else None,
        "faces": [
            {
                "track_id": int(face.track_id),
                "points": np.round(face.points, 2).tolist(),
                "confidence": np.round(face.confidence, 3).tolist(),
                "box": np.round(face.box, 2).tolist(),
            }
            for face in frame.faces
        ],
    }


def _write_json(path: Path, records: list[dict[str, Any]], args: argparse.Namespace) -> None:
    partial = path.with_name(f".{path.name}.partial")
    payload = {
        "input": str(args.input),
        "model": args.model,
        "smooth": {"mode": args.smooth, "strength": args.smooth_strength},
        "frames": records,
    }
    partial.write_text(json.dumps(payload, separators=(",", ":")))
    os.replace(partial, path)


def _read_image(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"cannot read the image {path}.")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def run(args: argparse.Namespace) -> int:
    from facestream.models.engine import LandmarkEngine
    from facestream.models.hrnet import WeightsError
    from facestream.stream.transcode import check_paths, refuse_existing

    if not args.input.is_file():
        raise UserError(f"{args.input} does not exist or is not a file.")
    if not args.json.parent.is_dir():
        raise UserError(f"cannot write {args.json}: {args.json.parent} is not a folder.")
    if args.json.is_dir():
        raise UserError(f"the output {args.json} is a folder; give a file name.")
    refuse_existing(args.json, args.overwrite)
    if args.overlay is not None and args.input.suffix.lower() not in IMAGE_SUFFIXES:
        check_paths(args.input, args.overlay, overwrite=args.overwrite)  # before the model loads
    try:
        new_smoother = make_smoother_factory(args.smooth, args.smooth_strength)
    except ValueError as e:
        raise UserError(f"{e}.") from None
    weights = None if args.weights == "none" else args.weights
    try:
        engine = LandmarkEngine(
            args.model,
            weights=weights,
            device=args.device,
            detect_every=args.detect_every,
            min_confidence=args.min_confidence,
        )
    except WeightsError as e:
        raise UserError(str(e)) from None
    from facestream.stream.landmark_stage import LandmarkStage, OverlayStage

    recording = RecordingStage()
    stages: list[FrameStage] = [LandmarkStage(engine, new_smoother), recording]
    if args.input.suffix.lower() in IMAGE_SUFFIXES:
        if args.overlay is not None:
            raise UserError("--overlay draws on videos; for a photo only --json is written.")
        frame = Frame(pts=None, time_base=None, index=0)
        frame.image = _read_image(args.input)
        asyncio.run(run_pipeline(iter([frame]), stages, lambda f: None))
    elif args.overlay is not None:
        from facestream.stream.transcode import transcode

        transcode(
            args.input,
            args.overlay,
            [*stages, OverlayStage("landmarks")],
            overwrite=args.overwrite,
        )
    else:
        from facestream.stream.file_io import VideoReader

        reader = VideoReader(args.input)
        try:
            asyncio.run(run_pipeline(reader.frames(), stages, lambda f: None))
        finally:
            reader.close()
    _write_json(args.json, recording.records, args)
    faces = sum(len(r["faces"]) for r in recording.records)
    overlay = f" and {args.overlay}" if args.overlay is not None else ""
    print(f"{len(recording.records)} frames, {faces} faces -> {args.json}{overlay}")
    return 0
