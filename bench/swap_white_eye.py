"""Small eyes: does a swapped eye become a white disc with no iris? Before and after, one run.

On the crowd clip facenet/video.mp4 (1080p) the red-haired young man in front looks down
and turns (frames 70-100, eyes 9-17 px wide): his swapped left eye was a bright white disc
with no iris. The blink step read his downcast eye closed on every other frame and kept the
target's own lid, overexposed, inside the source's dark eye make-up (docs/SWAP.md, *Eyes
too small to read*). Every clip is swapped twice through `facestream swap`'s own stages
(`stream.cli_swap.build_stages`: the engine tracking, fixed-lag smoothing, the defaults),
frame by frame in one process:

- `before`: `gaze.MIN_READ_WIDTH` at 6 px (the old code's own floor, under which it read
  an eye as having nothing to see, zero readings);
- `after`: the defaults (eyes under `MIN_READ_WIDTH` pixels are not read).

Per eye of the chosen face (the crowd clip: the face nearest (470, 630); the others: the
one face) on frames where either way swapped it (its landmarks' box changed by `SWAPPED`
levels on average: a face turned or bowed far fades back to the target's own), in the
output frame: the opening is the landmarks' eye polygon; `white` is the share of its pixels
near-white (luma at least `WHITE`, every channel within `GREY` of the others); an eye is a
`disc` when `white` is at least `DISC` and its darkest twentieth (5th luma percentile) is
over `DARK` (no iris, no lash line). Also the largest per-pixel change of the eyes'
regions between the two ways, to show which clips change::

    nice -n 10 .venv/bin/python bench/swap_white_eye.py [--frames 60] [--render PNG]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np

from facestream.filters import gaze, swap
from facestream.filters.blend import polygon_mask
from facestream.filters.shape import EYE_OPENINGS
from facestream.stream.cli import parse
from facestream.stream.cli_swap import build_stages
from facestream.stream.frames import Frame

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SOURCE = "stills/deepface/img6.jpg"
# (clip, first frame, last frame, the face's centre in frame pixels or None: the one face)
CASES = [
    ("videos/facenet/video.mp4", 70, 100, (470.0, 630.0)),
    ("videos/liveportrait/d3.mp4", 0, None, None),
    ("videos/liveportrait/d0.mp4", 0, None, None),
    ("videos/liveportrait/d10.mp4", 0, None, None),
    ("videos/liveportrait/d14.mp4", 0, None, None),
]
WHITE, GREY = 200, 40  # luma levels: a near-white pixel (the kept lids read 210-245 here)
DISC, DARK = 0.5, 110  # an eye that is a white disc: this much white, nothing this dark
SWAPPED = 2  # mean change (levels) under which a face is the target's own (faded out)
WAYS = {"before": 6.0, "after": gaze.MIN_READ_WIDTH}


def swap_frames(clip: Path, last: int, min_width: float) -> tuple[list, list]:
    """The swapped frames 0..last (RGB) and, per frame, the landmarks of each face as
    the swap saw them (frame pixels)."""
    gaze.MIN_READ_WIDTH = min_width
    args = parse(["swap", "--quiet", "--source", str(DATA / SOURCE), str(clip), "/dev/null"])
    stages = build_stages(args)
    seen: dict[int, list[np.ndarray]] = {}
    process = swap.SwapStage.process

    def recording(self, frame):
        seen[frame.index] = [np.asarray(f.points, np.float32).copy() for f in frame.faces]
        return process(self, frame)

    swap.SwapStage.process = recording
    out: list[np.ndarray] = []
    try:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = []
            for index, decoded in enumerate(container.decode(stream)):
                if index > last:
                    break
                frames.append(Frame.from_av(decoded, index))
        for stage in stages:
            done = []
            for frame in frames:
                result = stage.process(frame)
                done += result if isinstance(result, list) else [result]
            if hasattr(stage, "flush"):
                done += stage.flush()
            frames = done
        out = [f.read_image().copy() for f in frames]
    finally:
        swap.SwapStage.process = process
        gaze.MIN_READ_WIDTH = WAYS["after"]
    return out, [seen.get(i, []) for i in range(len(out))]


def whiteness(image: np.ndarray, region: np.ndarray) -> tuple[float, bool]:
    pixels = image[region].astype(np.int32)
    luma = pixels @ np.array([299, 587, 114]) / 1000.0
    grey = pixels.max(axis=1) - pixels.min(axis=1) <= GREY
    white = float(np.mean((luma >= WHITE) & grey))
    return white, white >= DISC and float(np.percentile(luma, 5)) > DARK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=60, help="frames of the one-face clips")
    parser.add_argument("--render", type=Path, help="eye crops of the crowd face: target, ways")
    args = parser.parse_args()
    print(f"source {SOURCE}; per eye: near-white share of the opening, discs (white >= {DISC}")
    print(f"and no pixel of its darkest 5 % under {DARK} luma); largest change between the ways")
    print(f"{'clip':24s} {'frames':>7s} {'eyes':>5s} {'width px':>9s}", end="")
    print("".join(f" {w + ' white':>13s} {w + ' discs':>13s}" for w in WAYS), " max change")
    crops: list[np.ndarray] = []
    for clip, first, last, centre in CASES:
        last = first + args.frames - 1 if last is None else last
        runs = {way: swap_frames(DATA / clip, last, width) for way, width in WAYS.items()}
        with av.open(str(DATA / clip)) as container:
            target = [
                f.to_ndarray(format="rgb24")
                for i, f in zip(range(last + 1), container.decode(video=0), strict=False)
            ]
        white: dict[str, list[float]] = {w: [] for w in WAYS}
        discs = {w: 0 for w in WAYS}
        widths, change, eyes = [], 0, 0
        for t in range(first, min(last + 1, len(target))):
            faces = runs["after"][1][t]
            if not faces:
                continue
            if centre is None:
                points = faces[0]
            else:
                points = min(faces, key=lambda p: float(np.hypot(*(p.mean(axis=0) - centre))))
                if np.hypot(*(points.mean(axis=0) - centre)) > 120:
                    continue
            x0, y0 = np.maximum(np.floor(points.min(axis=0)).astype(int), 0)
            x1, y1 = np.ceil(points.max(axis=0)).astype(int)
            own = target[t][y0:y1, x0:x1].astype(int)
            if all(np.abs(runs[w][0][t][y0:y1, x0:x1] - own).mean() < SWAPPED for w in WAYS):
                continue  # the face faded out (turned, bowed far): the target's own face
            regions = [
                polygon_mask(points[eye], target[t].shape[:2]) > 0 for eye, _ in EYE_OPENINGS
            ]
            shares = {w: [] for w in WAYS}
            for (eye, _), region in zip(EYE_OPENINGS, regions, strict=True):
                eyes += 1
                widths.append(float(np.hypot(*(points[eye[len(eye) // 2]] - points[eye[0]]))))
                for way in WAYS:
                    share, disc = whiteness(runs[way][0][t], region)
                    white[way].append(share)
                    shares[way].append(share)
                    discs[way] += disc
                moved = np.abs(
                    runs["after"][0][t][region].astype(int) - runs["before"][0][t][region]
                )
                change = max(change, int(moved.max()))
            if centre is not None:  # the crowd face: per frame, each eye (image left, right)
                print(
                    f"  frame {t}:",
                    "  ".join(f"{w} {a:.2f} {b:.2f}" for w, (a, b) in shares.items()),
                )
            if args.render and centre is not None and t % 2 == 0:
                crops.append(crop_row(points, [target[t]] + [runs[w][0][t] for w in WAYS], t))
        label = f"{Path(clip).parent.name}/{Path(clip).stem}"
        print(f"{label:24s} {f'{first}-{last}':>7s} {eyes:5d} {np.median(widths):9.1f}", end="")
        print("".join(f" {np.mean(white[w]):13.3f} {discs[w]:13d}" for w in WAYS), f" {change:10d}")
        sys.stdout.flush()
    if args.render and crops:
        args.render.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.render), cv2.cvtColor(np.vstack(crops), cv2.COLOR_RGB2BGR))
        print(f"eye crops (target, {', '.join(WAYS)}) in {args.render}")


def crop_row(points: np.ndarray, images: list[np.ndarray], t: int, width: int = 240) -> np.ndarray:
    """Both eyes of `points`, enlarged, from each image side by side."""
    eyes = np.concatenate([points[eye] for eye, _ in EYE_OPENINGS])
    lo, hi = eyes.min(axis=0), eyes.max(axis=0)
    pad = 0.3 * (hi - lo)[0]
    x0, y0 = np.maximum(np.floor(lo - pad).astype(int), 0)
    x1, y1 = np.ceil(hi + pad).astype(int)
    tiles = []
    for image in images:
        crop = image[y0:y1, x0:x1]
        size = (width, round(crop.shape[0] * width / crop.shape[1]))
        tiles.append(cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC))
    row = np.hstack(tiles)
    cv2.putText(row, str(t), (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1)
    return row


if __name__ == "__main__":
    main()
