"""Render the swap examples of docs/SWAP.md: one grid row per clip (target, source, result,
mask), from real clips of ../shared/data/videos and sources from ../shared/data/stills.

Each row is what ``facestream swap --source PHOTO`` gives at that frame: the command's own
stages (`cli_swap.build_stages`, its defaults: the engine with the shipped weights, the
fixed-lag smoother, `SwapStage` with a `TrackState` per track) run from the clip's first
frame, so the track's state (identity shape, colour, sharpness, glasses, brows, pitch gate)
is what it is at that frame of the file. The mask is the alpha of that frame's face, times
its fade. ``--motion ROW`` renders that row's target and result at six consecutive frames
instead, to look for flicker; ``--landmarks mediapipe`` composites on MediaPipe Face Mesh
(`mesh_cache.py`) with one `TrackState`::

    nice -n 10 .venv/bin/python bench/swap_examples.py --out docs/images/swap_grid.jpg
    nice -n 10 .venv/bin/python bench/swap_examples.py --baseline \
        --out docs/images/swap_baseline.jpg
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_cache import load_clip, mediapipe_landmarks  # noqa: E402

from facestream.filters.enroll import SourceFace, enroll_source  # noqa: E402
from facestream.filters.overlay import draw_overlay  # noqa: E402
from facestream.filters.swap import (  # noqa: E402
    SwapOptions,
    SwapStage,
    TrackState,
    baseline_options,
    composite_face,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
# (clip, source photo, frame shown): different sizes, lighting, skin tones and expressions,
# a glasses wearer (its glasses are decided after the track's first frames) and a brow
# raised above its landmarks.
EXAMPLES: list[tuple[str, str, int]] = [
    ("videos/liveportrait/d0.mp4", "stills/deepface/img6.jpg", 40),
    ("videos/sadtalker/WDA_KatieHill_000.mp4", "stills/deepface/img3.jpg", 60),
    ("videos/spectre/M003_level_1_disgusted_015.mp4", "stills/deepface/img30.jpg", 50),
    ("videos/retalking/2.mp4", "stills/deepface/img35.jpg", 30),
    ("videos/liveportrait/s32.mp4", "stills/face_recognition/img2.jpg", 90),
    ("videos/liveportrait/d19.mp4", "stills/deepface/img18.jpg", 60),
    ("videos/liveportrait/d10.mp4", "stills/deepface/img7.jpg", 268),
]
MOTION_FRAMES = 6
CELL = 200


@dataclass
class Shown:
    """One frame of a row: the input, the output, the face's mask and its points."""

    target: np.ndarray
    result: np.ndarray
    mask: np.ndarray
    points: np.ndarray


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


def grey(mask: np.ndarray) -> np.ndarray:
    return np.repeat((mask * 255).astype(np.uint8)[..., None], 3, axis=2)


def engine_clip(path: Path, max_frames: int) -> tuple[list[np.ndarray], list[list[Any]]]:
    """The first ``max_frames`` RGB frames of a clip and the engine's tracked faces (raw)."""
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


def product_chain(photo: Path, options: SwapOptions | None) -> tuple[Any, SwapStage]:
    """The stages of ``facestream swap --source photo`` (compositing with `options`, when
    given, instead of the command's)."""
    from facestream.stream.cli_swap import add_options, build_stages

    parser = argparse.ArgumentParser()
    add_options(parser)
    landmarks, swap = build_stages(parser.parse_args(["--source", str(photo)]))
    assert isinstance(swap, SwapStage)
    if options is not None:
        swap.options = options
    return landmarks, swap


def face_mask(swap: SwapStage, image: np.ndarray, face: Any) -> np.ndarray:
    """The alpha `swap` will draw `face` with in `image` (times the track's fade), from a
    copy of the track's state, so the stage's own run is not touched."""
    state = copy.deepcopy(swap.tracks.get(face.track_id, TrackState()))
    points = np.asarray(face.points, np.float32)
    opts = swap.options
    shown = state.fade_for_turn(points, face.trust >= 0.5, opts.swap_turned, opts.pose_gate)
    mask = np.zeros(image.shape[:2], np.float32)
    if shown > 0.0:
        confidence = getattr(face, "confidence", None)
        done = composite_face(image.copy(), points, swap.source, opts, state, confidence)
        if done is not None:
            x0, y0, x1, y1 = done.box
            mask[y0:y1, x0:x1] = done.alpha * shown
    return mask


def engine_frames(
    clip: Path, photo: Path, indices: list[int], options: SwapOptions | None
) -> tuple[SourceFace, dict[int, Shown]]:
    """The product chain over `clip` up to the last of `indices`; those frames kept."""
    import av

    from facestream.stream.frames import Frame

    landmarks, swap = product_chain(photo, options)
    shown: dict[int, Shown] = {}
    inputs: dict[int, np.ndarray] = {}

    def keep(done: Frame) -> None:
        if done.index in inputs and done.faces:
            face = done.faces[0]
            mask = face_mask(swap, done.image, face)
            result = swap.process(done).image
            target = inputs[done.index]
            shown[done.index] = Shown(target, result, mask, np.asarray(face.points))
        else:
            swap.process(done)

    with av.open(str(clip)) as container:
        rate = Fraction(container.streams.video[0].average_rate or 25)
        for index, decoded in enumerate(container.decode(video=0)):
            rgb = decoded.to_ndarray(format="rgb24")
            if index in indices:
                inputs[index] = rgb.copy()
            for done in landmarks.process(Frame(index, 1 / rate, index, _image=rgb)):
                keep(done)
            if index == max(indices):
                break
    for done in landmarks.flush():
        keep(done)
    return swap.source, shown


def mediapipe_frames(
    clip: Path, photo: Path, indices: list[int], options: SwapOptions | None
) -> tuple[SourceFace, dict[int, Shown]]:
    """Face Mesh landmarks (unsmoothed), one `TrackState` from the clip's first frame."""
    frames, faces = load_clip(clip, max(indices) + 1)
    source = enroll_source(photo, mediapipe_landmarks)
    options = options or SwapOptions()
    state = TrackState()
    shown: dict[int, Shown] = {}
    for index, (frame, face) in enumerate(zip(frames, faces, strict=True)):
        if not face:
            continue
        result = frame.copy()
        done = composite_face(result, face[0].points, source, options, state)
        if index in indices and done is not None:
            mask = np.zeros(frame.shape[:2], np.float32)
            x0, y0, x1, y1 = done.box
            mask[y0:y1, x0:x1] = done.alpha
            shown[index] = Shown(frame, result, mask, face[0].points)
    return source, shown


def row_frames(
    clip: str,
    photo: str,
    indices: list[int],
    options: SwapOptions | None = None,
    landmarks: str = "engine",
) -> tuple[SourceFace, dict[int, Shown]]:
    run = mediapipe_frames if landmarks == "mediapipe" else engine_frames
    source, shown = run(DATA / clip, DATA / photo, indices, options)
    missing = sorted(set(indices) - set(shown))
    if missing:
        raise SystemExit(f"{clip}: no face at frame(s) {missing}")
    return source, shown


def render_row(
    clip: str,
    photo: str,
    index: int,
    options: SwapOptions | None = None,
    landmarks: str = "engine",
) -> np.ndarray:
    """Target, source, result, mask at frame `index`."""
    source, shown = row_frames(clip, photo, [index], options, landmarks)
    s = shown[index]
    box = face_crop(s.target, s.points)
    src_box = face_crop(source.image, source.points)
    target, result, mask = (cell(image, box) for image in (s.target, s.result, grey(s.mask)))
    return np.hstack([target, cell(source.image, src_box), result, mask])


def render_motion(
    clip: str,
    photo: str,
    index: int,
    options: SwapOptions | None = None,
    landmarks: str = "engine",
) -> Iterator[np.ndarray]:
    """Two rows: the target and the result at `MOTION_FRAMES` frames from `index`, all
    cropped by the first frame's box (so motion shows as motion)."""
    indices = list(range(index, index + MOTION_FRAMES))
    _, shown = row_frames(clip, photo, indices, options, landmarks)
    box = face_crop(shown[index].target, shown[index].points)
    yield np.hstack([cell(shown[i].target, box) for i in indices])
    yield np.hstack([cell(shown[i].result, box) for i in indices])


def render_overlays(clip: str, photo: str, index: int, landmarks: str) -> np.ndarray:
    """One row: the `--overlay landmarks`, `mesh` and `mask` drawings on the swapped face."""
    source, shown = row_frames(clip, photo, [index], None, landmarks)
    target, points = shown[index].target, shown[index].points
    box = face_crop(target, points)
    cells = []
    for kind in ("landmarks", "mesh", "mask"):
        image = target.copy()
        done = composite_face(image, points, source, SwapOptions(), TrackState())
        draw_overlay(image, points, kind, done)
        cells.append(cell(image, box))
    return np.hstack(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/swap_grid.jpg"))
    parser.add_argument("--baseline", action="store_true", help="render the plain baseline")
    parser.add_argument("--overlays", action="store_true", help="render the overlay kinds")
    parser.add_argument(
        "--motion", type=int, metavar="ROW", help="six consecutive frames of EXAMPLES[ROW]"
    )
    parser.add_argument("--landmarks", choices=["engine", "mediapipe"], default="engine")
    args = parser.parse_args()
    options = baseline_options() if args.baseline else None
    if args.overlays:
        rows = [render_overlays(*EXAMPLES[2], args.landmarks)]
    elif args.motion is not None:
        clip, photo, index = EXAMPLES[args.motion]
        rows = list(render_motion(clip, photo, index, options, args.landmarks))
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
