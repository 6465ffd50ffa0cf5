"""Gaze: do the swapped eyes look where the target looks? Before and after, in one run.

On the talking-head clips whose subjects glance sideways (LivePortrait driving clips, found
by the MediaPipe iris position between the eye corners), every clip x source pair is
composited three ways on the same frames:

- `before`: `SwapOptions(follow_gaze=False)`, the source's eyes as in its photo, on
  Kalman-smoothed landmarks (the live path, as `swap_quality.py`'s `ours`);
- `after`: the defaults, the source's irises moved to the target's (`filters/gaze.py`);
- `after, unsmoothed`: the same on the raw landmarks (the smoother's share of the error).

The swaps are drawn on Face Mesh landmarks, or with `--landmarks engine` on the product's
HRNet-128 engine tracking each clip (whose iris points stay mid-eye: `gaze.locate_irises`
finds the irises in the target's pixels). Face Mesh (refined irises) judges: it is re-run
on each output (near-lossless H.264, as in `swap_quality.py`). Per eye, the iris centre's
place along the corner-to-corner axis is a share of the eye's width (0 at the image-left
corner, 1 at the other); the error is the output's share minus the target's, in eye
widths, averaged over both eyes. Medians over the frames where the target looks sideways
(its share at least `SIDEWAYS` from its clip's median) and over all frames, then means
over pairs; `followed` is the median over the sideways frames of the output's move from
the target's clip median over the target's (1: the eyes follow the glance fully, 0: they
stare ahead)::

    nice -n 10 .venv/bin/python bench/swap_gaze.py [--frames 150] \\
        [--render docs/images/swap_gaze.jpg] [--landmarks engine]

`--render` writes a grid (target, before, after: the upper face, enlarged) of the frame
with the widest glance of the first three clips, one source each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
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
    landmarks_from,
    load_meshes_cache_drop,
    run_pair,
    smoothed,
    write_video,
)

from facestream.filters.enroll import enroll_source  # noqa: E402
from facestream.filters.shape import EYE_OPENINGS  # noqa: E402
from facestream.filters.swap import SwapOptions  # noqa: E402

# Clips with sideways glances in their first 150 frames (frames whose iris share is over
# 0.1 from the clip's median: d0 51, d10 24, d11 37, d12 39, d14 43, s32 61).
CLIPS = [
    "videos/liveportrait/d0.mp4",
    "videos/liveportrait/d14.mp4",
    "videos/liveportrait/s32.mp4",
    "videos/liveportrait/d10.mp4",
    "videos/liveportrait/d11.mp4",
    "videos/liveportrait/d12.mp4",
]
CONFIGS = {
    "before": Config(SwapOptions(follow_gaze=False), nme=False),
    "after": Config(SwapOptions(), nme=False),
    # The same on the raw points: what the smoother's lag through a quick glance costs.
    "after, unsmoothed": Config(SwapOptions(), use_smoothed=False, nme=False),
}
# `--lids`: the unsmoothed way replaced by the upper lids where the landmarks put them
# (`open_lids=False`, before the lid search of `gaze.locate_irises` and `gaze.source_eyes`).
LID_CONFIGS = {
    "before": CONFIGS["before"],
    "after, lids off": Config(SwapOptions(open_lids=False), nme=False),
    "after": CONFIGS["after"],
}
SIDEWAYS = 0.1  # eye widths from the clip's median share: a glance
CELL = 400  # width of one rendered crop


def iris_shares(points: np.ndarray) -> np.ndarray:
    """Per eye, the iris centre's place along the corner-to-corner axis (share of the
    width, image left to right: both openings start at their image-left corner)."""
    shares = []
    for eye, iris in EYE_OPENINGS:
        a, b = points[eye[0]], points[eye[len(eye) // 2]]
        axis = b - a
        shares.append(float((points[iris] - a) @ axis / (axis @ axis)))
    return np.array(shares)


def upper_face(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The brows-to-nose band of the face, CELL px wide."""
    band = points[list(range(17, 48))]
    lo, hi = band.min(axis=0), band.max(axis=0)
    pad = 0.15 * (hi - lo)
    x0, y0 = np.maximum(np.floor(lo - pad).astype(int), 0)
    x1, y1 = np.ceil(hi + pad).astype(int)
    crop = image[y0:y1, x0:x1]
    scale = CELL / crop.shape[1]
    return cv2.resize(crop, (CELL, round(crop.shape[0] * scale)), interpolation=cv2.INTER_CUBIC)


def render(rows: list[list[np.ndarray]], out: Path) -> None:
    labels = ["target", "before (eyes as in the photo)", "after (follow the target)"]
    strip = np.full((24, CELL * 3, 3), 255, np.uint8)
    for i, text in enumerate(labels):
        cv2.putText(strip, text, (i * CELL + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0))
    height = min(cell.shape[0] for row in rows for cell in row)
    grid = np.vstack([strip, *[np.hstack([c[:height] for c in row]) for row in rows]])
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.suffix.lower() == ".png"
    quality = [cv2.IMWRITE_PNG_COMPRESSION, 9] if png else [cv2.IMWRITE_JPEG_QUALITY, 90]
    cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), quality)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--render", type=Path, help="write the before/after grid here")
    parser.add_argument(
        "--landmarks",
        choices=["mediapipe", "engine"],
        default="mediapipe",
        help="what the swaps are drawn on: MediaPipe Face Mesh, or the product's HRNet-128 "
        "engine (tracked, as `facestream swap`); Face Mesh judges the gaze either way",
    )
    parser.add_argument(
        "--lids",
        action="store_true",
        help="compare with the upper lids where the landmarks put them (`open_lids=False`) "
        "instead of the unsmoothed points",
    )
    args = parser.parse_args()
    configs = LID_CONFIGS if args.lids else CONFIGS
    engine, landmark_fn = landmarks_from(args.landmarks)
    sources = {s: enroll_source(DATA / s, landmark_fn) for s in SOURCES}
    errors: dict[str, dict[str, list[float]]] = {
        name: {"sideways": [], "all": [], "followed": []} for name in configs
    }
    rows: list[list[np.ndarray]] = []
    frames_seen = sideways_seen = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, clip in enumerate(CLIPS):
            frames, faces = load_clip(DATA / clip, args.frames)
            with av.open(str(DATA / clip)) as c:
                fps = float(c.streams.video[0].average_rate or 25)
            # The judge's points on the input: the target's gaze the output is held to.
            judged = [f[0].points if f else None for f in faces]
            if engine is not None:
                engine.reset()
                faces = [engine.track(frame) for frame in frames]
            raw = [f[0].points if f else None for f in faces]
            smooth = smoothed(faces, fps)
            target = {t: iris_shares(p) for t, p in enumerate(judged) if p is not None}
            centre = float(np.median([s.mean() for s in target.values()]))
            glance = {t: float(s.mean()) - centre for t, s in target.items()}
            sideways = {t for t, g in glance.items() if abs(g) >= SIDEWAYS}
            frames_seen += len(target)
            sideways_seen += len(sideways)
            for j, (name_s, source) in enumerate(sources.items()):
                outputs = {}
                for name, config in configs.items():
                    outputs[name], _, drawn = run_pair(frames, raw, smooth, source, config)
                    video = Path(tmp) / "out.mp4"
                    write_video(video, outputs[name], round(fps))
                    meshes, counts = load_meshes(video, len(frames))
                    load_meshes_cache_drop(video, len(frames))
                    err, moved = {}, {}
                    for t in target:
                        if counts[t] and drawn[t] is not None:
                            out = iris_shares(mesh_to_128(meshes[t, 0]))
                            err[t] = float(np.abs(out - target[t]).mean())
                            if t in sideways:
                                moved[t] = (float(out.mean()) - centre) / glance[t]
                    # A clip with no glance in its first frames has no sideways figures.
                    side = [err[t] for t in err if t in sideways]
                    errors[name]["sideways"].append(float(np.median(side)) if side else np.nan)
                    errors[name]["all"].append(float(np.median(list(err.values()))))
                    followed = float(np.median(list(moved.values()))) if moved else np.nan
                    errors[name]["followed"].append(followed)
                print(
                    f"{clip} <- {name_s}: sideways {len(sideways)}/{len(target)} frames, error"
                    f" before {errors['before']['sideways'][-1]:.3f}"
                    f" after {errors['after']['sideways'][-1]:.3f}",
                    flush=True,
                )
                if args.render and k < 3 and j == k:
                    t = max(sideways, key=lambda i: abs(glance[i]))
                    points = judged[t]
                    assert points is not None  # a sideways frame has the judge's points
                    rows.append(
                        [
                            upper_face(img, points)
                            for img in (frames[t], outputs["before"][t], outputs["after"][t])
                        ]
                    )
    pairs = len(CLIPS) * len(SOURCES)
    print(
        f"\n{pairs} clip x source pairs, {frames_seen} target frames ({sideways_seen} sideways,"
        f" >= {SIDEWAYS} eye widths from the clip's median); means over pairs of per-pair medians"
        " (the sideways ones over the pairs with a sideways frame)"
    )
    print(f"{'':18s} {'error, sideways':>16s} {'error, all':>11s} {'followed':>9s}")
    for name, e in errors.items():
        print(
            f"{name:18s} {np.nanmean(e['sideways']):16.3f} {np.mean(e['all']):11.3f}"
            f" {np.nanmean(e['followed']):9.2f}"
        )
    print("error: |output's iris share - target's| along the eye corners, in eye widths")
    if args.render:
        render(rows, args.render)


if __name__ == "__main__":
    main()
