"""Blinks: do the swapped eyes close when the target's do? Before and after, in one run.

On talking-head clips where the subjects blink (LivePortrait driving clips), every clip x
source pair is composited twice on the product's own landmarks (the HRNet-128 engine
tracking the clip, live Kalman smoothing, as `facestream swap`), on the same frames:

- `before`: `SwapOptions(follow_blinks=False)`, the source's open eye squeezed between the
  landmarks' lids, which close only part of the way;
- `after`: the defaults, where the target's eye opening shows no iris or sclera its own
  lids are kept, faded in by closedness (`filters/gaze.py`, `Blinks`).

Face Mesh (refined) judges, re-run on each output (near-lossless H.264, as in
`swap_quality.py`). Per eye, the openness is |upper lid centre - lower lid centre| / eye
width (points 90/91 and 92/93 of the 128-point scheme). Over the eyes the target has closed
(openness under `CLOSED`) the median output openness; over the eyes it has open (over
`OPEN`) the median output openness and the share of frames whose eye region changed
visibly (by over `VISIBLE` levels) between before and after (the blink step must leave open
eyes alone)::

    nice -n 10 .venv/bin/python bench/swap_blink.py [--frames 150] [--sources 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import av
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

from facestream.filters.enroll import enroll_source  # noqa: E402
from facestream.filters.shape import EYE_OPENINGS  # noqa: E402
from facestream.filters.swap import SwapOptions  # noqa: E402
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
    "before": Config(SwapOptions(follow_blinks=False), nme=False),
    "after": Config(SwapOptions(), nme=False),
}
CLOSED, OPEN = 0.08, 0.2  # Face Mesh openness: a closed eye, an open one
# Luma levels: a change in an open eye's region counted as visible (the colour statistics
# leave out a kept closed eye, so the face's tone moves by a level or two after a blink).
VISIBLE = 16


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--sources", type=int, default=len(SOURCES))
    parser.add_argument("--clips", type=int, default=len(CLIPS))
    args = parser.parse_args()
    engine = LandmarkEngine("hrnet128_lite", num_threads=1)
    landmark_fn = EngineLandmarks(engine)
    sources = {s: enroll_source(DATA / s, landmark_fn) for s in SOURCES[: args.sources]}
    closed = {"target": [], "before": [], "after": []}
    opened = {"target": [], "before": [], "after": []}
    changed: list[bool] = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS[: args.clips]:
            frames, faces = load_clip(DATA / clip, args.frames)
            with av.open(str(DATA / clip)) as c:
                fps = float(c.streams.video[0].average_rate or 25)
            judged = [f[0].points if f else None for f in faces]
            engine.reset()
            tracked = [engine.track(frame) for frame in frames]
            raw = [f[0].points if f else None for f in tracked]
            smooth = smoothed(tracked, fps)
            for name_s, source in sources.items():
                outputs, seen = {}, {}
                for name, config in CONFIGS.items():
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
                n_closed = 0
                for t, p in enumerate(judged):
                    if p is None or not all(t in seen[name] for name in CONFIGS):
                        continue
                    target = openness(p)
                    for k, (eye, _) in enumerate(EYE_OPENINGS):
                        row = closed if target[k] < CLOSED else opened if target[k] > OPEN else None
                        if row is None:
                            continue
                        n_closed += row is closed
                        row["target"].append(target[k])
                        for name in CONFIGS:
                            row[name].append(seen[name][t][k])
                        if row is opened:
                            box = eye_box(p, eye)
                            a, b = outputs["after"][t][box], outputs["before"][t][box]
                            changed.append(int(np.abs(a.astype(int) - b).max()) > VISIBLE)
                print(
                    f"{clip} <- {name_s}: {n_closed} closed eyes, median output openness"
                    f" before {np.median(closed['before'][-n_closed:] or [np.nan]):.3f}"
                    f" after {np.median(closed['after'][-n_closed:] or [np.nan]):.3f}",
                    flush=True,
                )
    print("\nFace Mesh eye openness (lid to lid over corner to corner), medians over eyes")
    print(f"{'':28s} {'target':>7s} {'before':>7s} {'after':>7s}")
    for label, row in (
        (f"closed (< {CLOSED}), {len(closed['target'])} eyes", closed),
        (f"open (> {OPEN}), {len(opened['target'])} eyes", opened),
    ):
        print(
            f"{label:28s} {np.median(row['target']):7.3f} {np.median(row['before']):7.3f}"
            f" {np.median(row['after']):7.3f}"
        )
    print(f"open eyes whose region changed by over {VISIBLE} levels: {np.mean(changed):.1%}")


if __name__ == "__main__":
    main()
