"""How well `LandmarkEngine.track` follows faces, old tracking against new, in the same run.

For every clip and tracking mode, ``LandmarkEngine.track`` on every frame with the shipped
weights (BlazeFace full range as the detector), and per clip:

- lost: frames where the engine returned no face (every clip here shows one face throughout);
- extra: frames with more than one face (a second track on a one-face clip: a ghost);
- detector runs and model crops (faces through HRNet, re-runs included);
- id changes: frames whose first face has another track id than the last frame that had one;
- raw jitter of the first face: mean |p[t+1] - 2 p[t] + p[t-1]| over points, % of the
  inter-ocular distance (`bench/jitter.py`'s definition, imported from there);
- engine time per frame: median wall ms, and mean CPU ms (thread time: the machine is
  shared, which inflates wall time but not the work done).

Beside them, the raw jitter of MediaPipe Face Mesh run on each frame on its own
(`bench/jitter.py`'s cached tracks, from ``.venv-mp``): a peer that never tracks, so never
loses a face to motion.

Pans: calm clips moved sideways at a constant speed (a fraction of the frame width per
frame, back and forth over 40% of the width, black borders), where the truth is known: the
same mode's landmarks on the unmoved clip, moved by the pan. Error = mean distance to that,
% IOD (it measures what the motion costs, not the model's own error).

Crossing: two calm clips shrunk to squares on one canvas, moving across and back in
opposite directions, so they pass each other twice (the second face drawn over the first's
chin as they cross). Truth: the
same mode's landmarks on each clip alone, moved with it. Per face: frames found (a track
within half an IOD of the truth), id changes of the track found on it, swaps (the track
found on it is the one the other face had) and the error, % IOD.

Modes: ``old`` is the tracker before the fast-motion work (crop from the last landmarks,
detector on the frame after a loss); ``new`` is the engine's default.

Usage: ``nice -n 10 .venv/bin/python bench/tracking.py [--clips ...] [--render DIR]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from jitter import VIDEOS, mediapipe_track, motion
from jitter import Track as JitterTrack
from jitter import jitter as jitter_percent

from facestream.models.detector import FaceDetector
from facestream.models.engine import FaceLandmarks, LandmarkEngine
from facestream.models.landmarks import NAMES, NUM_POINTS

CLIPS = [
    "liveportrait/d12.mp4",  # the fastest head, ~3.7% IOD per frame
    "liveportrait/d11.mp4",
    "liveportrait/d9.mp4",
    "liveportrait/d20.mp4",
    "liveportrait/d3.mp4",
    "retalking/1.mp4",  # calm
    "spectre/M003_level_1_disgusted_015.mp4",  # calm
]
PAN_CLIPS = ["retalking/1.mp4", "liveportrait/d3.mp4"]
PAN_SPEEDS = [0.015, 0.03]  # of the frame width per frame
CROSSING_CLIPS = ["retalking/1.mp4", "liveportrait/d3.mp4"]
CROSSING_SIDE, CROSSING_CANVAS = 300, (520, 900)  # square clip side, canvas (H, W) pixels
CROSSING_TOPS = (20, 130)  # rows where each square starts: the second covers the first's chin
MODES: dict[str, dict[str, Any]] = {
    "old": {"predict_motion": False, "recover": False},
    "new": {},
}


class CountingDetector:
    """BlazeFace full range, counting its runs."""

    def __init__(self) -> None:
        self.detector = FaceDetector("full")
        self.runs = 0

    def __call__(self, frame: np.ndarray) -> list[Any]:
        self.runs += 1
        return self.detector.detect(frame)


def frames(clip: Path) -> list[np.ndarray]:
    with av.open(str(clip)) as container:
        return [vf.to_ndarray(format="rgb24") for vf in container.decode(video=0)]


def pan(images: list[np.ndarray], speed: float) -> tuple[list[np.ndarray], np.ndarray]:
    """The frames moved sideways by ``speed`` frame widths per frame, back and forth over
    40% of the width, and the moves (pixels)."""
    h, w = images[0].shape[:2]
    x, step, moved, shifts = 0.0, speed * w, [], []
    for image in images:
        moved.append(cv2.warpAffine(image, np.float32([[1, 0, x], [0, 1, 0]]), (w, h)))
        shifts.append(x)
        x += step
        if abs(x) > 0.2 * w:
            step = -step
            x += 2 * step
    return moved, np.array(shifts)


def crossing(
    first: list[np.ndarray], second: list[np.ndarray]
) -> tuple[list[list[np.ndarray]], list[np.ndarray], np.ndarray]:
    """The two clips as squares crossing on one canvas: the squares (each face alone), the
    canvas frames, and each square's top-left corner ``(2, T, 2)`` per frame."""
    side, (h, w) = CROSSING_SIDE, CROSSING_CANVAS
    count = min(len(first), len(second))
    squares = [
        [cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA) for im in clip[:count]]
        for clip in (first, second)
    ]
    # Across and back: the faces cross twice, at about 9 canvas pixels per frame.
    travel = (w - side) * (1 - np.abs(np.linspace(-1.0, 1.0, count)))
    corners = np.stack(
        [
            np.stack([travel, np.full(count, CROSSING_TOPS[0])], axis=1),
            np.stack([(w - side) - travel, np.full(count, CROSSING_TOPS[1])], axis=1),
        ]
    )
    canvas = []
    for k in range(count):
        frame = np.full((h, w, 3), 90, np.uint8)
        for i in range(2):
            x, y = corners[i, k].astype(int)
            frame[y : y + side, x : x + side] = squares[i][k]
        canvas.append(frame)
    return squares, canvas, corners


def follow_faces(
    outputs: list[list[FaceLandmarks]], truths: list[np.ndarray], iod: list[float]
) -> list[dict[str, float]]:
    """Per true face ``(T, K, 2)``: the track found on it each frame (mean point distance under
    half its IOD), its id changes, swaps onto the other face's last id, and the error."""
    stats = []
    last_ids: list[int | None] = [None, None]
    per_face: list[dict[str, Any]] = [
        {"found": 0, "changes": 0, "swaps": 0, "errors": []} for _ in truths
    ]
    for k, faces in enumerate(outputs):
        for i, truth in enumerate(truths):
            dists = [np.linalg.norm(f.points - truth[k], axis=-1).mean() for f in faces]
            if not dists or not np.isfinite(truth[k]).all() or min(dists) > 0.5 * iod[i]:
                continue
            face = faces[int(np.argmin(dists))]
            res = per_face[i]
            res["found"] += 1
            res["errors"].append(100.0 * min(dists) / iod[i])
            if last_ids[i] is not None and face.track_id != last_ids[i]:
                res["changes"] += 1
                res["swaps"] += face.track_id == last_ids[1 - i]
            last_ids[i] = face.track_id
    for res in per_face:
        stats.append(
            {
                "found": res["found"],
                "changes": res["changes"],
                "swaps": res["swaps"],
                "error": float(np.mean(res["errors"])) if res["errors"] else float("nan"),
            }
        )
    return stats


def mediapipe_jitter(clip: str) -> str:
    try:
        track = mediapipe_track(VIDEOS / clip)
    except (OSError, subprocess.CalledProcessError):
        return "-"  # no .venv-mp here and no cached tracks
    return f"{jitter_percent(track.points, track.iod):.2f}"


def run_mode(images: list[np.ndarray], options: dict[str, Any]) -> dict[str, Any]:
    detector = CountingDetector()
    engine = LandmarkEngine(detector=detector, **options)
    infer = engine.infer
    crops = 0

    def counting_infer(frame: np.ndarray, affines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nonlocal crops
        crops += len(affines)
        return infer(frame, affines)

    engine.infer = counting_infer  # type: ignore[method-assign]
    engine.track(images[0])  # warm-up (TorchScript's first calls optimise the graph)
    engine.reset()
    detector.runs, crops = 0, 0
    walls, cpus, outputs = [], [], []
    for image in images:
        wall, cpu = time.perf_counter(), time.thread_time()
        faces = engine.track(image)
        cpus.append(time.thread_time() - cpu)
        walls.append(time.perf_counter() - wall)
        outputs.append(faces)
    return {
        "outputs": outputs,
        "detector_runs": detector.runs,
        "crops": crops,
        "wall_ms": 1e3 * float(np.median(walls)),
        "cpu_ms": 1e3 * float(np.mean(cpus)),
    }


def first_face_track(name: str, outputs: list[list[FaceLandmarks]]) -> JitterTrack:
    """The first face per frame as `bench/jitter.py` takes it (NaN where none)."""
    p = np.full((len(outputs), NUM_POINTS, 2), np.nan)
    for k, faces in enumerate(outputs):
        if faces:
            p[k] = faces[0].points
    eyes = p[:, NAMES.index("eye_right_0")] - p[:, NAMES.index("eye_left_3")]
    iod = float(np.nanmedian(np.linalg.norm(eyes, axis=1)))
    times = np.arange(len(p), dtype=np.float64)
    return JitterTrack(name, times, p, np.ones(p.shape[:2]), iod)


def id_changes(outputs: list[list[FaceLandmarks]]) -> int:
    changes, last = 0, None
    for faces in outputs:
        if faces:
            changes += last is not None and faces[0].track_id != last
            last = faces[0].track_id
    return changes


def render(path: Path, images: list[np.ndarray], runs: dict[str, list], picks: list[int]) -> None:
    """One row per picked frame, one column per mode, the points and track ids drawn."""
    colours = [(0, 255, 0), (255, 0, 255), (0, 200, 255), (255, 128, 0)]
    rows = []
    for k in picks:
        row = []
        for mode, outputs in runs.items():
            bgr = np.ascontiguousarray(images[k][:, :, ::-1])
            for face in outputs[k]:
                colour = colours[face.track_id % len(colours)]
                for x, y in face.points:
                    cv2.circle(bgr, (round(x), round(y)), 2, colour, -1)
                x0, y0 = face.box[:2]
                label = f"id {face.track_id} conf {face.confidence.mean():.2f}"
                cv2.putText(bgr, label, (int(x0), max(12, int(y0) - 4)), 0, 0.5, colour, 1)
            cv2.putText(bgr, f"{mode} frame {k}", (8, 20), 0, 0.6, (255, 255, 255), 2)
            row.append(bgr)
        rows.append(np.concatenate(row, axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(rows, axis=0))


def header(extra: str) -> None:
    print(
        "| clip | motion (% IOD/frame) | mode | lost | extra | detector runs | model crops "
        f"| id changes | raw jitter (% IOD) | {extra} | median wall ms / frame "
        "| mean CPU ms / frame |"
    )
    print("| --- " * 12 + "|")


def row(clip: str, mode: str, res: dict[str, Any], extra: str) -> JitterTrack:
    outputs = res["outputs"]
    track = first_face_track(clip, outputs)
    print(
        f"| {clip} | {motion(track):.2f} | {mode} | {sum(not f for f in outputs)} "
        f"| {sum(len(f) > 1 for f in outputs)} | {res['detector_runs']} "
        f"| {res['crops']} | {id_changes(outputs)} "
        f"| {jitter_percent(track.points, track.iod):.2f} | {extra} | {res['wall_ms']:.1f} "
        f"| {res['cpu_ms']:.1f} |",
        flush=True,
    )
    return track


def run_modes(images: list[np.ndarray], modes: list[str], flip: bool) -> dict[str, Any]:
    """Every mode on the same frames; ``flip`` reverses the order they run in, so that
    neither always runs first on a machine whose load drifts."""
    results = {mode: run_mode(images, MODES[mode]) for mode in (modes[::-1] if flip else modes)}
    return {mode: results[mode] for mode in modes}


def run_crossing(modes: list[str], render_to: Path | None) -> None:
    """Two faces crossing: each mode on the canvas against each mode on the faces alone."""
    squares, canvas, corners = crossing(*(frames(VIDEOS / c) for c in CROSSING_CLIPS))
    print(f"\nCrossing ({' and '.join(CROSSING_CLIPS)}, {len(canvas)} frames):\n")
    print("| mode | face | found | id changes | swaps | error (% IOD) |")
    print("| --- " * 6 + "|")
    alone = [run_modes(square, modes, flip=False) for square in squares]
    crossed = run_modes(canvas, modes, flip=True)
    for mode in modes:
        truths, iods = [], []
        for i in range(2):
            ref = first_face_track(CROSSING_CLIPS[i], alone[i][mode]["outputs"])
            truths.append(ref.points + corners[i][:, None, :])
            iods.append(ref.iod)
        for clip, stat in zip(
            CROSSING_CLIPS, follow_faces(crossed[mode]["outputs"], truths, iods), strict=True
        ):
            print(
                f"| {mode} | {clip} | {stat['found']}/{len(canvas)} | {stat['changes']} "
                f"| {stat['swaps']} | {stat['error']:.2f} |",
                flush=True,
            )
    if render_to is not None:
        first = len(canvas) // 4  # the first crossing
        picks = [first - 8, first - 3, first, first + 3, first + 8]
        out = render_to / "crossing.png"
        render(out, canvas, {m: r["outputs"] for m, r in crossed.items()}, picks)
        print(f"rendered: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", default=CLIPS)
    parser.add_argument("--pan-clips", nargs="*", default=PAN_CLIPS)
    parser.add_argument("--pan-speeds", type=float, nargs="*", default=PAN_SPEEDS)
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    parser.add_argument("--crossing", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--render", type=Path, help="write PNGs of the first clip here")
    parser.add_argument("--frames", type=int, nargs="*", default=[47, 50, 52, 56, 60, 64])
    args = parser.parse_args()
    if not VIDEOS.is_dir():
        sys.exit(f"the clips are not here: {VIDEOS}")
    header("MediaPipe raw jitter")
    for n, clip in enumerate(args.clips):
        images = frames(VIDEOS / clip)
        results = run_modes(images, args.modes, flip=n % 2 == 1)
        peer = mediapipe_jitter(clip)
        for mode, res in results.items():
            row(clip, mode, res, peer)
        if args.render is not None and n == 0:
            picks = [k for k in args.frames if k < len(images)]
            out = args.render / f"{Path(clip).stem}.png"
            render(out, images, {m: r["outputs"] for m, r in results.items()}, picks)
            print(f"rendered: {out}")
    if args.crossing:
        run_crossing(args.modes, args.render)
    if not args.pan_clips:
        return
    print("\nPans (error: to the same mode on the unmoved clip, moved by the pan; % IOD):\n")
    header("error (% IOD)")
    for n, clip in enumerate(args.pan_clips):
        images = frames(VIDEOS / clip)
        still = run_modes(images, args.modes, flip=n % 2 == 1)
        for k, speed in enumerate(args.pan_speeds):
            moved, shifts = pan(images, speed)
            results = run_modes(moved, args.modes, flip=(n + k) % 2 == 0)
            for mode, res in results.items():
                ref = first_face_track(clip, still[mode]["outputs"])
                truth = ref.points + shifts[:, None, None] * np.array([1.0, 0.0])
                got = first_face_track(clip, res["outputs"]).points
                error = 100.0 * np.nanmean(np.linalg.norm(got - truth, axis=-1)) / ref.iod
                row(f"{clip} panned {speed:g} W/frame", mode, res, f"{error:.2f}")


if __name__ == "__main__":
    main()
