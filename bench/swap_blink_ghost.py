"""Mid-blink eyes: does the source's iris show through the target's closing lids?

On the blink clips (LivePortrait d14, d0, d9 by default) x sources, on the product's own
landmarks (the HRNet-128 engine tracking the clip, live Kalman smoothing), every frame is
composited twice in one run: `old` (the closedness fades the target's lids in over the
source's open eye: `gaze.LID_TRAVEL` set to 0, `gaze.KEEP_FROM` to 1e-9) and `now` (the defaults:
the source's upper lid moved down in the warp, the target's lids kept only when nearly
shut). For each eye the target has partly closed (Face Mesh openness, lid centre to lid
centre over corner to corner, in [LOW, HIGH): a closed eye measures about 0.03, an open one
0.33) and the blink step reads partly closing (closedness between 0 and 1), the band
under the target's upper lid (between the drawn upper lid and Face Mesh's, less 2 px at
the lash line) is compared with the target's frame there, its lid skin: the mean luma of
the output minus
the target's (a see-through iris is darker), and the mean (blue - red) of the output minus
the target's (a blue iris is bluer); the medians over eyes, and the share of eyes 20 or
more levels darker than the target. With `--lone`, `old` is instead the defaults with one
eye's fall alone counted as a blink (`gaze.Blinks.LONE` 0, before a glance stopped being
one)::

    nice -n 10 .venv/bin/python bench/swap_blink_ghost.py [--frames 150] [--render PNG] [--lone]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_cache import load_clip  # noqa: E402
from swap_blink import eyes_crop, openness, save_rows  # noqa: E402
from swap_quality import DATA, SOURCES, smoothed  # noqa: E402

from facestream.filters import gaze  # noqa: E402
from facestream.filters.blend import polygon_mask  # noqa: E402
from facestream.filters.enroll import enroll_source  # noqa: E402
from facestream.filters.shape import EYE_OPENINGS  # noqa: E402
from facestream.filters.swap import SwapOptions, TrackState, composite_face  # noqa: E402
from facestream.models.engine import LandmarkEngine  # noqa: E402
from facestream.stream.live_chain import EngineLandmarks  # noqa: E402

CLIPS = ["videos/liveportrait/d14.mp4", "videos/liveportrait/d0.mp4", "videos/liveportrait/d9.mp4"]
LOW, HIGH = 0.06, 0.2  # Face Mesh openness of a partly closed eye
DARKER = 20  # luma levels: an eye counted as showing a ghost


def under_lid(points: np.ndarray, judged: np.ndarray, eye: np.ndarray, shape) -> np.ndarray:
    """The band between the drawn upper lid (`points`) and the target's (`judged`), less
    2 px (the target's lash line): where the target shows its lid."""
    band = np.concatenate([points[eye[:5]], judged[eye[1:4]][::-1]])
    return cv2.erode(polygon_mask(band, shape), np.ones((5, 5), np.uint8)) > 0


def run(frames, smooth, source, old: bool, lone: bool = False):
    """Outputs, drawn points and each face's closedness per frame (`old`: the old lids, or
    with `lone` the old joint fall)."""
    saved = gaze.LID_TRAVEL, gaze.KEEP_FROM, gaze.Blinks.LONE
    if old and lone:
        gaze.Blinks.LONE = 0.0
    elif old:
        gaze.LID_TRAVEL, gaze.KEEP_FROM = 0.0, 1e-9
    seen: list[np.ndarray] = []
    update = gaze.Blinks.update

    def recorded(self, readings):
        seen.append(update(self, readings))
        return seen[-1]

    gaze.Blinks.update = recorded  # type: ignore[method-assign]
    state, outputs, drawn, closed = TrackState(), [], [], []
    try:
        for image, points in zip(frames, smooth, strict=True):
            out, res = image.copy(), None
            if points is not None:
                res = composite_face(out, points, source, SwapOptions(), state)
            outputs.append(out)
            drawn.append(None if res is None else res.points)
            closed.append(seen[-1] if res is not None else None)
    finally:
        gaze.Blinks.update = update  # type: ignore[method-assign]
        gaze.LID_TRAVEL, gaze.KEEP_FROM, gaze.Blinks.LONE = saved
    return outputs, drawn, closed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--sources", type=int, default=len(SOURCES))
    parser.add_argument("--render", type=Path, help="PNG of eye crops: target, old, now")
    parser.add_argument("--lone", action="store_true", help="old: Blinks.LONE 0, not the lids")
    parser.add_argument(
        "--smoothing",
        default="kalman",
        choices=("kalman", "fixed-lag"),
        help="the live path's smoother (default) or `facestream swap`'s on a file",
    )
    args = parser.parse_args()
    engine = LandmarkEngine("hrnet128_lite", num_threads=1)
    sources = {s: enroll_source(DATA / s, EngineLandmarks(engine)) for s in SOURCES[: args.sources]}
    darker: dict[str, list[float]] = {"old": [], "now": []}
    bluer: dict[str, list[float]] = {"old": [], "now": []}
    rows: list[np.ndarray] = []
    for clip in CLIPS:
        frames, faces = load_clip(DATA / clip, args.frames)
        judged = [f[0].points if f else None for f in faces]
        with av.open(str(DATA / clip)) as c:
            fps = float(c.streams.video[0].average_rate or 25)
        engine.reset()
        smooth = smoothed([engine.track(frame) for frame in frames], fps, args.smoothing)
        for k, source in enumerate(sources.values()):
            runs = {
                name: run(frames, smooth, source, name == "old", args.lone)
                for name in ("old", "now")
            }
            shown = 0
            for t, (points, closed) in enumerate(zip(*runs["now"][1:], strict=True)):
                lids = judged[t]
                if points is None or closed is None or lids is None:
                    continue
                mid = (
                    (openness(lids) >= LOW) & (openness(lids) < HIGH) & (closed > 0) & (closed < 1)
                )
                for (eye, _), is_mid in zip(EYE_OPENINGS, mid, strict=True):
                    region = under_lid(points, lids, eye, frames[t].shape[:2])
                    if not is_mid or region.sum() < 10:
                        continue
                    target = frames[t][region].astype(float)
                    for name, (outputs, _, _) in runs.items():
                        out = outputs[t][region].astype(float)
                        luma = out @ (0.299, 0.587, 0.114) - target @ (0.299, 0.587, 0.114)
                        blue = (out[:, 2] - out[:, 0]) - (target[:, 2] - target[:, 0])
                        darker[name].append(-float(luma.mean()))
                        bluer[name].append(float(blue.mean()))
                if args.render and k == 0 and any(mid) and shown < 3 and t % 2 == 0:
                    shown += 1
                    images = [frames[t], runs["old"][0][t], runs["now"][0][t]]
                    rows.append(np.concatenate([eyes_crop(im, points) for im in images], axis=1))
        print(f"{clip}: {len(darker['now'])} mid-blink eyes so far")
    print(f"\npartly closed eyes (Face Mesh openness {LOW}-{HIGH}), read partly closing: ", end="")
    print(f"{len(darker['now'])}; under the target's upper lid, against it, medians over eyes")
    print(f"{'':10s} {'darker':>8s} {'bluer':>8s} {f'>= {DARKER} darker':>14s}")
    for name in ("old", "now"):
        share = np.mean(np.array(darker[name]) >= DARKER)
        print(
            f"{name:10s} {np.median(darker[name]):8.1f} {np.median(bluer[name]):8.1f} {share:14.1%}"
        )
    if args.render and rows:
        save_rows(rows, args.render)
        print(f"eye crops (target, old, now) in {args.render}")


if __name__ == "__main__":
    main()
