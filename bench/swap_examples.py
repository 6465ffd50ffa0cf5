"""Render the swap examples of docs/SWAP.md: one grid row per clip (target, source, result,
mask), from real clips of ../shared/data/videos and sources from ../shared/data/stills.

Landmarks come from the product's engine (HRNet-128 lite with the shipped weights, tracked
from the clip's first frame, unsmoothed), or with ``--landmarks mediapipe`` from MediaPipe
Face Mesh (`mesh_cache.py`)::

    .venv/bin/python bench/swap_examples.py --out docs/images/swap_grid.jpg
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_cache import load_clip, mediapipe_landmarks  # noqa: E402

from facestream.filters.enroll import enroll_source  # noqa: E402
from facestream.filters.overlay import draw_overlay  # noqa: E402
from facestream.filters.swap import (  # noqa: E402
    SwapOptions,
    TrackState,
    baseline_options,
    composite_face,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
# (clip, source photo, frame shown): different sizes, lighting, skin tones and expressions.
EXAMPLES = [
    ("videos/liveportrait/d0.mp4", "stills/deepface/img6.jpg", 40),
    ("videos/sadtalker/WDA_KatieHill_000.mp4", "stills/deepface/img3.jpg", 60),
    ("videos/spectre/M003_level_1_disgusted_015.mp4", "stills/deepface/img30.jpg", 50),
    ("videos/retalking/2.mp4", "stills/deepface/img35.jpg", 30),
    ("videos/liveportrait/s32.mp4", "stills/face_recognition/img2.jpg", 90),
]
CELL = 200


def face_crop(image: np.ndarray, points: np.ndarray, scale: float = 1.6) -> tuple[int, ...]:
    """A square box around the face, `scale` times its landmark extent, inside the image."""
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    half = scale * float(np.ptp(points, axis=0).max()) / 2
    h, w = image.shape[:2]
    half = min(half, centre[0], centre[1], w - centre[0], h - centre[1])
    x0, y0 = (centre - half).astype(int)
    x1, y1 = (centre + half).astype(int)
    return x0, y0, x1, y1


def cell(image: np.ndarray, box: tuple[int, ...]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return cv2.resize(image[y0:y1, x0:x1], (CELL, CELL), interpolation=cv2.INTER_AREA)


def engine_clip(path: Path, max_frames: int) -> tuple[list[np.ndarray], list[list[Any]]]:
    """The first ``max_frames`` RGB frames of a clip and the engine's tracked faces."""
    import av

    from facestream.models.engine import LandmarkEngine

    engine = LandmarkEngine()
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == max_frames:
                break
    return frames, [engine.track(frame) for frame in frames]


def landmark_source(kind: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(clip loader, enrollment landmark function) for ``kind``."""
    if kind == "mediapipe":
        return load_clip, mediapipe_landmarks
    from facestream.stream.live_chain import EngineLandmarks

    return engine_clip, EngineLandmarks()


def render_row(
    clip: str, photo: str, index: int, options: SwapOptions, landmarks: str
) -> np.ndarray:
    clip_faces, enroll_fn = landmark_source(landmarks)
    frames, faces = clip_faces(DATA / clip, index + 1)
    source = enroll_source(DATA / photo, enroll_fn)
    state = TrackState()
    # Run the earlier frames too, so the track's state (identity shape, colour, sharpness)
    # is what it would be at this frame of a stream.
    for frame, face in zip(frames[:index], faces[:index], strict=True):
        if face:
            composite_face(frame.copy(), face[0].points, source, options, state)
    target = frames[index]
    points = faces[index][0].points
    result = target.copy()
    done = composite_face(result, points, source, options, state)
    assert done is not None
    mask = np.zeros(target.shape[:2], np.float32)
    x0, y0, x1, y1 = done.box
    mask[y0:y1, x0:x1] = done.alpha
    mask_rgb = np.repeat((mask * 255).astype(np.uint8)[..., None], 3, axis=2)
    box = face_crop(target, points)
    src_box = face_crop(source.image, source.points)
    return np.hstack(
        [cell(target, box), cell(source.image, src_box), cell(result, box), cell(mask_rgb, box)]
    )


def render_overlays(clip: str, photo: str, index: int, landmarks: str) -> np.ndarray:
    """One row: the `--overlay landmarks`, `mesh` and `mask` drawings on the swapped face."""
    clip_faces, enroll_fn = landmark_source(landmarks)
    frames, faces = clip_faces(DATA / clip, index + 1)
    source = enroll_source(DATA / photo, enroll_fn)
    points = faces[index][0].points
    box = face_crop(frames[index], points)
    cells = []
    for kind in ("landmarks", "mesh", "mask"):
        image = frames[index].copy()
        done = composite_face(image, points, source, SwapOptions(), TrackState())
        draw_overlay(image, points, kind, done)
        cells.append(cell(image, box))
    return np.hstack(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/swap_grid.jpg"))
    parser.add_argument("--baseline", action="store_true", help="render the plain baseline")
    parser.add_argument("--colour", choices=["stats", "lowfreq", "none"])
    parser.add_argument("--blend", choices=["laplacian", "feather"])
    parser.add_argument("--overlays", action="store_true", help="render the overlay kinds")
    parser.add_argument("--landmarks", choices=["engine", "mediapipe"], default="engine")
    args = parser.parse_args()
    options = baseline_options() if args.baseline else SwapOptions()
    if args.colour:
        options.colour = args.colour
    if args.blend:
        options.blend = args.blend
    if args.overlays:
        rows = [render_overlays(*EXAMPLES[2], args.landmarks)]
    else:
        rows = [
            render_row(clip, photo, index, options, args.landmarks)
            for clip, photo, index in EXAMPLES
        ]
    grid = cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), grid, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
