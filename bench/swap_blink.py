"""Blinks: do the swapped eyes close when the target's do? Three ways, in one run.

On talking-head clips where the subjects blink (LivePortrait driving clips), every clip x
source pair is composited three times on the product's own landmarks (the HRNet-128 engine
tracking the clip, live Kalman smoothing, as `facestream swap`), on the same frames:

- `off`: `SwapOptions(follow_blinks=False)`, the source's open eye squeezed between the
  landmarks' lids, which close only part of the way;
- `openness`: the first blink cue (commit 1807642): the target's own lids kept where the
  opening's openness (area x the iris's darkness) falls under 0.35-0.55 of its open level;
- `now`: the defaults (`filters/gaze.py`, `Blinks`: the openness, the white beside the
  iris, and their joint fall against the eye's own spread).

Face Mesh (refined) judges, re-run on each output (near-lossless H.264, as in
`swap_quality.py`). Per eye, the openness is |upper lid centre - lower lid centre| / eye
width (points 90/91 and 92/93 of the 128-point scheme). Over the eyes the target has closed
(openness under `CLOSED`) the median output openness, per clip and over all; over the eyes
it has open (over `OPEN`) the median output openness and the share of frames whose eye
region changed visibly (by over `VISIBLE` levels) against `off` (a false blink)::

    nice -n 10 .venv/bin/python bench/swap_blink.py [--frames 150] [--sources 3] [--render PNG]
    nice -n 10 .venv/bin/python bench/swap_blink.py --timing   # the cost per face, 720p
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_cache import load_clip, load_meshes, mesh_to_128  # noqa: E402
from swap_quality import (  # noqa: E402
    DATA,
    SOURCES,
    Config,
    load_meshes_cache_drop,
    run_pair,
    smoothed,
    write_video,
)

from facestream.filters import gaze  # noqa: E402
from facestream.filters.enroll import SourceFace, enroll_source  # noqa: E402
from facestream.filters.gaze import Blinks, locate_irises  # noqa: E402
from facestream.filters.shape import EYE_OPENINGS  # noqa: E402
from facestream.filters.swap import SwapOptions, TrackState, composite_face  # noqa: E402
from facestream.models.engine import LandmarkEngine  # noqa: E402
from facestream.stream.live_chain import EngineLandmarks  # noqa: E402

# Clips with closed eyes in their first 150 frames (Face Mesh openness under 0.08).
CLIPS = [
    "videos/liveportrait/d14.mp4",
    "videos/liveportrait/d0.mp4",
    "videos/liveportrait/d9.mp4",
    "videos/liveportrait/s32.mp4",
    "videos/liveportrait/d3.mp4",
]
CONFIGS = {
    "off": Config(SwapOptions(follow_blinks=False), nme=False),
    "openness": Config(SwapOptions(), nme=False),
    "now": Config(SwapOptions(), nme=False),
}
CUES = ("openness", "now")
# `--lids`: the upper lids where the landmarks put them (`open_lids=False`) against now, on
# these clips (d10's wide-eyed faces first; the rest have closed eyes as well).
LID_CONFIGS = {
    "off": CONFIGS["off"],
    "lids off": Config(SwapOptions(open_lids=False), nme=False),
    "now": CONFIGS["now"],
}
LID_CLIPS = ["videos/liveportrait/d10.mp4", *CLIPS[:4]]
# `--lone`: one eye's fall counted as a blink without the other's (`Blinks.LONE` 0) against
# now, on the blink clips (d0's hard glances among them) and d19 (a narrowing eye).
LONE_CONFIGS = {"off": CONFIGS["off"], "lone": CONFIGS["now"], "now": CONFIGS["now"]}
LONE_CLIPS = [*CLIPS, "videos/liveportrait/d19.mp4"]
CLOSED, OPEN = 0.08, 0.2  # Face Mesh openness: a closed eye, an open one
WIDE = 0.4  # and a wide-open one (d10's surprise: 0.45-0.55)
# Luma levels: a change in an open eye's region counted as visible (the colour statistics
# leave out a kept closed eye, so the face's tone moves by a level or two after a blink).
VISIBLE = 16


@contextmanager
def lone_falls() -> Iterator[None]:
    """`Blinks` before `LONE`: one eye's fall alone counted as the eyes' joint one."""
    saved = Blinks.LONE
    Blinks.LONE = 0.0
    try:
        yield
    finally:
        Blinks.LONE = saved


@contextmanager
def openness_only() -> Iterator[None]:
    """`Blinks` as at commit 1807642: the openness against its open level only, closed at
    0.35 of it and open at 0.55 (the same closedness, checked on the readings of 6 clips),
    read where the landmarks put the opening (no moved readings)."""
    saved = Blinks.CLOSED, Blinks.OPEN, Blinks.FALL_OPEN, Blinks.FALL_CLOSED, gaze.SHIFT_FLOOR
    Blinks.CLOSED, Blinks.OPEN = np.array([0.35, -np.inf]), np.array([0.55, -1.0])
    Blinks.FALL_OPEN, Blinks.FALL_CLOSED = 1e9, 2e9
    gaze.SHIFT_FLOOR = np.inf
    try:
        yield
    finally:
        Blinks.CLOSED, Blinks.OPEN, Blinks.FALL_OPEN, Blinks.FALL_CLOSED, gaze.SHIFT_FLOOR = saved


def openness(points: np.ndarray) -> np.ndarray:
    """Per `EYE_OPENINGS` eye: lid centre to lid centre over corner to corner."""
    out = []
    for eye, _ in EYE_OPENINGS:
        width = np.linalg.norm(points[eye[len(eye) // 2]] - points[eye[0]])
        out.append(np.linalg.norm(points[eye[2]] - points[eye[6]]) / width)
    return np.array(out)


def eye_box(points: np.ndarray, eye: np.ndarray) -> tuple[slice, slice]:
    """The eye's box with half its width around it."""
    lo, hi = points[eye].min(axis=0), points[eye].max(axis=0)
    pad = 0.5 * (hi[0] - lo[0])
    x0, y0 = np.maximum(np.floor(lo - pad).astype(int), 0)
    x1, y1 = np.ceil(hi + pad).astype(int)
    return slice(y0, y1), slice(x0, x1)


def eyes_crop(image: np.ndarray, points: np.ndarray, height: int = 96) -> np.ndarray:
    """Both eyes with a margin, scaled to `height` rows."""
    eyes = np.concatenate([points[eye] for eye, _ in EYE_OPENINGS])
    lo, hi = eyes.min(axis=0), eyes.max(axis=0)
    pad = 0.25 * (hi[0] - lo[0])
    x0, y0 = np.maximum(np.floor(lo - pad).astype(int), 0)
    x1, y1 = np.ceil(hi + pad).astype(int)
    crop = image[y0:y1, x0:x1]
    return cv2.resize(crop, (round(crop.shape[1] * height / crop.shape[0]), height))


def picked(target: list[np.ndarray | None], n_closed: int = 3) -> list[int]:
    """Up to `n_closed` frames with an eye closed (spread over the clip) and one open."""
    shut = [t for t, o in enumerate(target) if o is not None and o.min() < CLOSED]
    wide = [t for t, o in enumerate(target) if o is not None and o.min() > OPEN]
    step = max(len(shut) // n_closed, 1)
    return shut[::step][:n_closed] + wide[len(wide) // 2 : len(wide) // 2 + 1]


def timing(engine: LandmarkEngine, source: SourceFace, rounds: int = 7) -> None:
    """Per face at 720p (s32, the engine's points, 60 frames), median over rounds of the
    mean: the readings (`locate_irises`, shared with the gaze step), the cues' update, and
    `composite_face` with the blink step off, as first shipped and now, interleaved in one
    process (the kept eyes' cost follows how many frames read closing)."""
    clip = DATA / "videos/liveportrait/s32.mp4"
    frames, _ = load_clip(clip, 60)
    engine.reset()
    tracked = [engine.track(frame) for frame in frames]
    pairs = [(f, t[0].points.astype(np.float32)) for f, t in zip(frames, tracked, strict=True) if t]
    readings = [locate_irises(image, points)[1] for image, points in pairs]

    def readings_only() -> None:
        for image, points in pairs:
            locate_irises(image, points)

    def cues() -> None:
        blinks = Blinks()
        for r in readings:
            blinks.update(r)

    def compositor(follow: bool) -> None:
        state = TrackState()
        for image, points in pairs:
            composite_face(image.copy(), points, source, SwapOptions(follow_blinks=follow), state)

    def first_shipped() -> None:
        with openness_only():
            compositor(True)

    steps = {
        "locate_irises (readings)": readings_only,
        "Blinks.update": cues,
        "composite_face, blinks off": lambda: compositor(False),
        "composite_face, openness cue": first_shipped,
        "composite_face, now": lambda: compositor(True),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - start) / len(pairs) * 1e3)
    print(f"\nms per face, s32 720p, {len(pairs)} frames, median of {rounds} interleaved rounds")
    for name, values in times.items():
        print(f"{name:36s} {np.median(values):7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--sources", type=int, default=len(SOURCES))
    parser.add_argument("--clips", type=int, help="the first CLIPS clips (default all)")
    parser.add_argument("--render", type=Path, help="PNG of eye crops: target, then each way")
    parser.add_argument("--timing", action="store_true", help="only the cost per face")
    parser.add_argument(
        "--lids",
        action="store_true",
        help="the upper lids where the landmarks put them against now (`open_lids`), on "
        "LID_CLIPS, with the wide-open eyes apart",
    )
    parser.add_argument(
        "--lone",
        action="store_true",
        help="one eye's fall alone counted as a blink (`Blinks.LONE` 0) against now, on LONE_CLIPS",
    )
    parser.add_argument(
        "--smoothing",
        default="kalman",
        choices=("kalman", "fixed-lag"),
        help="the live path's smoother (default) or `facestream swap`'s on a file",
    )
    args = parser.parse_args()
    configs, cues = (LID_CONFIGS, ("lids off", "now")) if args.lids else (CONFIGS, CUES)
    clips = LID_CLIPS if args.lids else CLIPS
    if args.lone:
        configs, cues, clips = LONE_CONFIGS, ("lone", "now"), LONE_CLIPS
    wrappers = {"openness": openness_only, "lone": lone_falls}
    engine = LandmarkEngine("hrnet128_lite", num_threads=1)
    landmark_fn = EngineLandmarks(engine)
    if args.timing:
        timing(engine, enroll_source(DATA / SOURCES[0], landmark_fn))
        return
    sources = {s: enroll_source(DATA / s, landmark_fn) for s in SOURCES[: args.sources]}
    names = ["target", *configs]
    closed: dict[str, dict[str, list[float]]] = {}  # per clip
    opened: dict[str, list[float]] = {name: [] for name in names}
    wide: dict[str, list[float]] = {name: [] for name in names}
    changed: dict[str, list[bool]] = {cue: [] for cue in cues}
    rows: list[np.ndarray] = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips[: args.clips]:
            frames, faces = load_clip(DATA / clip, args.frames)
            with av.open(str(DATA / clip)) as c:
                fps = float(c.streams.video[0].average_rate or 25)
            judged = [f[0].points if f else None for f in faces]
            target_open = [None if p is None else openness(p) for p in judged]
            engine.reset()
            tracked = [engine.track(frame) for frame in frames]
            raw = [f[0].points if f else None for f in tracked]
            smooth = smoothed(tracked, fps, args.smoothing)
            shut = closed.setdefault(clip, {name: [] for name in names})
            for name_s, source in sources.items():
                outputs, seen = {}, {}
                for name, config in configs.items():
                    with wrappers.get(name, nullcontext)():
                        outputs[name], _, _ = run_pair(frames, raw, smooth, source, config)
                    video = Path(tmp) / "out.mp4"
                    write_video(video, outputs[name], round(fps))
                    meshes, counts = load_meshes(video, len(frames))
                    load_meshes_cache_drop(video, len(frames))
                    seen[name] = {
                        t: openness(mesh_to_128(meshes[t, 0]))
                        for t in range(len(frames))
                        if counts[t]
                    }
                for t, p in enumerate(judged):
                    target = target_open[t]
                    if p is None or target is None or not all(t in seen[n] for n in configs):
                        continue
                    for k, (eye, _) in enumerate(EYE_OPENINGS):
                        row = shut if target[k] < CLOSED else opened if target[k] > OPEN else None
                        if row is None:
                            continue
                        row["target"].append(target[k])
                        for name in configs:
                            row[name].append(seen[name][t][k])
                        if target[k] > WIDE:
                            for name in names:
                                wide[name].append(row[name][-1])
                        if row is opened:
                            box = eye_box(p, eye)
                            off = outputs["off"][t][box].astype(int)
                            for cue in cues:
                                moved = int(np.abs(outputs[cue][t][box] - off).max())
                                changed[cue].append(moved > VISIBLE)
                if args.render and name_s == next(iter(sources)):
                    for t in picked(target_open):
                        points = judged[t]
                        assert points is not None  # picked frames have a judged face
                        images = [frames[t]] + [outputs[name][t] for name in configs]
                        crops = [eyes_crop(im, points) for im in images]
                        rows.append(np.concatenate(crops, axis=1))
                medians = "  ".join(f"{n} {np.median(shut[n] or [np.nan]):.3f}" for n in names)
                print(f"{clip} <- {name_s}: {len(shut['target'])} closed eyes so far, {medians}")
    print("\nFace Mesh eye openness (lid to lid over corner to corner), medians over eyes")
    print(f"{'':34s}" + "".join(f" {name:>8s}" for name in names))
    for clip, row in closed.items():
        label = f"{Path(clip).stem} closed (< {CLOSED}), {len(row['target'])} eyes"
        print(f"{label:34s}" + "".join(f" {np.median(row[n] or [np.nan]):8.3f}" for n in names))
    every = {name: sum((row[name] for row in closed.values()), []) for name in names}
    for label, row in (
        (f"all closed (< {CLOSED}), {len(every['target'])} eyes", every),
        (f"open (> {OPEN}), {len(opened['target'])} eyes", opened),
        (f"wide open (> {WIDE}), {len(wide['target'])} eyes", wide),
    ):
        print(f"{label:34s}" + "".join(f" {np.median(row[n] or [np.nan]):8.3f}" for n in names))
    for cue in cues:
        share = np.mean(changed[cue])
        print(f"open eyes changed by over {VISIBLE} levels against off, {cue}: {share:.1%}")
    if args.render and rows:
        save_rows(rows, args.render)
        print(f"eye crops ({', '.join(names)}; per clip 3 closed frames, 1 open) in {args.render}")


def save_rows(rows: list[np.ndarray], path: Path) -> None:
    """RGB rows of crops stacked into one image (narrower rows padded, 2 px between)."""
    width = max(r.shape[1] for r in rows)
    grid = np.concatenate([np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in rows])
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
