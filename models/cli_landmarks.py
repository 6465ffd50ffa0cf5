"""Write per-frame HRNet-128 landmarks of a video or an image as JSON (optional overlay video).

    facestream landmarks talk.mp4 --json talk.json --overlay talk_points.mp4
    facestream landmarks photo.jpg --json photo.json

The JSON holds one record per frame: ``frame`` (index), ``pts`` and ``time_base`` (as
decoded, ``null`` for an image) and ``faces``, each with ``track_id``, ``points`` (128 x, y
in frame pixels), ``confidence`` (128 values) and ``box`` (x0, y0, x1, y1). The JSON is
written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from facestream.stream.errors import UserError
from facestream.stream.frames import Frame

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


class RecordingLandmarkStage:
    """Pipeline stage: fills ``frame.faces`` with tracked `FaceLandmarks`, records them for
    the JSON and optionally draws them (the file pipeline's `OverlayStage`)."""

    def __init__(self, engine: Any, draw: bool) -> None:
        from facestream.stream.landmark_stage import OverlayStage

        self.engine = engine
        self.overlay = OverlayStage("landmarks") if draw else None
        self.records: list[dict[str, Any]] = []

    def process(self, frame: Frame) -> Frame:
        frame.faces = self.engine.track(frame.image)
        self.records.append(frame_record(frame))
        return self.overlay.process(frame) if self.overlay else frame


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


def _write_json(path: Path, records: list[dict[str, Any]], source: Path, model: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    payload = {"input": str(source), "model": model, "frames": records}
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

    if not args.input.is_file():
        raise UserError(f"{args.input} does not exist or is not a file.")
    if not args.json.parent.is_dir():
        raise UserError(f"cannot write {args.json}: {args.json.parent} is not a folder.")
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
    stage = RecordingLandmarkStage(engine, draw=args.overlay is not None)
    if args.input.suffix.lower() in IMAGE_SUFFIXES:
        if args.overlay is not None:
            raise UserError("--overlay draws on videos; for a photo only --json is written.")
        frame = Frame(pts=None, time_base=None, index=0)
        frame.image = _read_image(args.input)
        stage.process(frame)
    elif args.overlay is not None:
        from facestream.stream.transcode import check_paths, transcode

        check_paths(args.input, args.overlay)
        transcode(args.input, args.overlay, [stage])
    else:
        from facestream.stream.file_io import VideoReader

        reader = VideoReader(args.input)
        try:
            for frame in reader.frames():
                stage.process(frame)
        finally:
            reader.close()
    _write_json(args.json, stage.records, args.input, args.model)
    faces = sum(len(r["faces"]) for r in stage.records)
    print(f"{len(stage.records)} frames, {faces} faces -> {args.json}")
    return 0
