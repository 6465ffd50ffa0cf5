"""The target's glasses: kept on the swapped face, or pasted over? Old against new, one run.

(a) Ground truth by construction: glasses drawn on clips of people without glasses
(`BARE_CLIPS`), following each frame's landmarks (`draw_glasses`: `STYLES`, thin and
thick rims, dark and metallic), are swapped with `keep_glasses=False` (the code before
`filters/glasses.py`) and with the default, the same landmarks, per clip and style:

- recall: share of the drawn rim pixels inside the swapped region (old alpha >= 0.5)
  whose output is within `SAME_LEVELS` of the target with glasses;
- false keep: share of the other pixels of the swapped region (the rims grown by 3 % of
  the face size left out) whose alpha fell under half of the old one;
- kept / rims: pixels kept (alpha under half of the old one) over the drawn rims' pixels
  in the swapped region (over 1: the mask is wider than the rims, a halo of the target's
  skin around them, which the false keep above leaves out);
- runs, longest: how whole each drawn lens rim is kept, along its middle
  (`pieces_on_ring`): the kept runs around it (1 = whole or one arc; more = broken),
  and the longest run's share of its length; means over frames and both rims;

and on the same clips with no glasses drawn, the share of the swapped region kept at
all (alpha under half of the old one), median and worst frame.

(b) The real glasses clips (`GLASSES_CLIPS`): the share of frames whose track decided
"glasses", the kept mask's share of the swapped region, its pieces (`pieces`: mean and
worst frame; whole glasses are 1 to 3, broken ones more), and the rims' edge energy: the
luma gradient of the output over the input's on the pixels the new code keeps (1 = as
sharp as in the input; where the old code pasted the source over them it is the
source's skin). `--sheet` renders input, old, new and the kept mask at several times per
clip (the glasses clips and two bare ones).

(c) The cost: `GlassesModel.glasses` per face and frame (CPU ms, thread time; its
evidence pass every few frames included), on a 720p and a 1080p clip with drawn glasses
(`SPEED_CLIPS`) and on the real glasses clips.

(d) `--scores`: instead of (a)-(c), the decision on every talking-head clip (`HEAD_DIRS`):
per clip the track's score and its two cues (the lower rims and the bridge, over the
band's level) on each learn after the warm-up, min-max, and the share of frames decided
"glasses". The model sees only the frames the swap draws (`TrackState.fade_for_turn`, as
in `facestream swap`: a face turned away teaches it nothing).

(e) `--first BEFORE`: instead of (a)-(d), a track's first frames, `BEFORE` (an older
`filters/glasses.py`) against the current module in one run, each `GlassesModel` fed the
frames the swap draws from a track's start (the face's box, `fade_for_turn` as in (d)):

- the real glasses clips: from which frame on the kept rims are whole on every frame
  up to `FIRST`, and on which share of frames 0 to `FIRST` (`canonical_whole`: the shown
  mask closes a ring around each eye); the rims' coverage over those frames (the share of
  the track's fitted lens curves kept, within 3 canonical px; 0 where nothing is shown);
  from which frame the fitted top lies within `TOP_SETTLED` eye distances of where it
  lies on the last frame (liveportrait/d19's tops climbing over its lid creases);
- glasses drawn on the bare clips (ground truth, `lens_rings`): from which frame on both
  rims are kept whole (one run, its longest over 0.95 of the rim), on which share of
  frames 0 to `FIRST`, and their coverage over those frames (the longest kept run's share
  of each rim, `pieces_on_ring`);
- every bare talking-head clip: the frames with anything kept (must be 0);
- the cost: `GlassesModel.glasses` CPU ms a frame (thread time) on bare and on wearing
  faces (the real glasses clips): median, mean over frames 0 to `FIRST`, worst.

Landmarks: the engine tracking each clip, Kalman-smoothed as in the live path. Medians
over the frames after a track's first `SKIP` (the decision's warm-up and fade-in)::

    nice -n 10 .venv/bin/python bench/swap_glasses.py [--frames 90] [--sheet PNG]
    nice -n 10 .venv/bin/python bench/swap_glasses.py --scores [--frames 120]
    git show REV:filters/glasses.py > /tmp/glasses_before.py
    nice -n 10 .venv/bin/python bench/swap_glasses.py --first /tmp/glasses_before.py

`--glasses FILE` measures another version of `filters/glasses.py` in its place (before
and after: `git show REV:filters/glasses.py > /tmp/glasses_before.py`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

# (name, rim width in eye distances, RGB colour): thin metal and plastic, dark and bright.
STYLES = (
    ("thin dark", 0.025, (35, 30, 30)),
    ("thin metallic", 0.02, (205, 205, 200)),
    ("gold wire", 0.015, (185, 150, 85)),
    ("thick black", 0.06, (20, 18, 18)),
)
# Lens half-axes (eye distances), and the lens centre below the eye centre.
LENS_AXES = (0.42, 0.31)
LENS_DROP = 0.04


def draw_glasses(
    image: np.ndarray, points: np.ndarray, width: float, colour: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """`image` (uint8 RGB) with glasses drawn on the face with landmarks `points`: an
    elliptic lens rim around each eye, a bridge across the nose, arms out to the face
    sides at eye height; `width` in eye distances. Returns the image and the float32
    share of each pixel covered by the frame (1 = rim)."""
    # Placed by the eye corners: the lids move with blinks, glasses do not.
    right = 0.5 * (points[36] + points[39])
    left = 0.5 * (points[42] + points[45])
    across = left - right
    distance = float(np.linalg.norm(across))
    u = across / max(distance, 1e-6)
    v = np.array([-u[1], u[0]])  # down the face
    a = LENS_AXES[0] * distance
    lines = [(ring, True) for ring in lens_rings(points)]
    inner_r = right + LENS_DROP * distance * v + a * u
    inner_l = left + LENS_DROP * distance * v - a * u
    arch = 0.5 * (inner_r + inner_l) - 0.06 * distance * v
    lines.append((np.stack([inner_r, arch, inner_l]), False))
    # The arms from the lenses' outer sides to the face sides (jaw_0 and jaw_16 beside the
    # eyes), at the lenses' height.
    for eye, side, sign in ((right, points[0], -1.0), (left, points[16], 1.0)):
        start = eye + LENS_DROP * distance * v + sign * a * u
        reach = float(np.dot(side - start, u)) * sign
        lines.append((np.stack([start, start + sign * max(reach, 0.0) * u]), False))
    shift = 4
    canvas = np.zeros(image.shape[:2], np.uint8)
    thickness = max(int(round(width * distance)), 1)
    for line, closed in lines:
        pts = np.round(line * (1 << shift)).astype(np.int32)
        cv2.polylines(canvas, [pts], closed, 255, thickness, cv2.LINE_AA, shift)
    cover = canvas.astype(np.float32) * np.float32(1.0 / 255.0)
    drawn = image.astype(np.float32)
    drawn += (np.asarray(colour, np.float32) - drawn) * cover[..., None]
    return np.clip(drawn + 0.5, 0, 255).astype(np.uint8), cover


def lens_rings(points: np.ndarray) -> list[np.ndarray]:
    """The drawn lenses' rims (`draw_glasses`), right eye first: `RING_SAMPLES` points each
    along the rim's middle, in order."""
    right = 0.5 * (points[36] + points[39])
    left = 0.5 * (points[42] + points[45])
    distance = float(np.linalg.norm(left - right))
    u = (left - right) / max(distance, 1e-6)
    v = np.array([-u[1], u[0]])
    a, b = LENS_AXES[0] * distance, LENS_AXES[1] * distance
    t = np.linspace(0.0, 2.0 * np.pi, RING_SAMPLES, endpoint=False)
    return [
        eye + LENS_DROP * distance * v + np.outer(a * np.cos(t), u) + np.outer(b * np.sin(t), v)
        for eye in (right, left)
    ]


def pieces_on_ring(kept_mask: np.ndarray, ring: np.ndarray) -> tuple[int, float]:
    """How whole a rim is kept: the runs of kept samples along `ring` (a closed rim's
    middle; 1 = whole or one arc, 0 = nothing), and the longest run's share of the ring.
    A sample is kept where any pixel within one of it is."""
    grown = cv2.dilate(kept_mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    h, w = grown.shape
    xy = np.round(ring).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    flags = np.zeros(len(ring), bool)
    flags[inside] = grown[xy[inside, 1], xy[inside, 0]] > 0
    if flags.all():
        return 1, 1.0
    if not flags.any():
        return 0, 0.0
    rolled = np.roll(flags, -int(np.argmin(flags)))  # starts on a gap: no run wraps
    edges = np.flatnonzero(np.diff(np.concatenate([[0], rolled.astype(np.int8), [0]])))
    lengths = edges[1::2] - edges[::2]
    return len(lengths), float(lengths.max()) / len(ring)


def pieces(kept_mask: np.ndarray) -> int:
    """The kept mask's pieces (8-connected, at least `PIECE_PX` pixels): 1 to 3 for whole
    glasses (the arms may part from the rims at the face's sides), more when broken."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(kept_mask.astype(np.uint8), 8)
    return int((stats[1:count, cv2.CC_STAT_AREA] >= PIECE_PX).sum())


DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SOURCE = "stills/deepface/img6.jpg"
BARE_CLIPS = (
    "liveportrait/d0",
    "liveportrait/d18",
    "retalking/2",
    "spectre/W036_level_3_happy_007",
    "sadtalker/WDA_KatieHill_000",
)
GLASSES_CLIPS = (
    "liveportrait/d9",
    "liveportrait/d12",
    "liveportrait/d19",
    "retalking/5",
    "spectre/0Fi83BHQsMA_00002",
)
HEAD_DIRS = ("liveportrait", "retalking", "sadtalker", "spectre")
SHEET_BARE = ("liveportrait/d18", "sadtalker/WDA_KatieHill_000")
SPEED_CLIPS = ("liveportrait/s32", "spectre/W036_level_3_happy_007")  # 1280x720, 1920x1080
SAME_LEVELS = 12  # an output pixel within this of the target shows the target
WHOLENESS = ("runs", "longest")  # averaged over the frames, not medians
SKIP = 8  # the decision's warm-up (glasses.WARMUP) and fade-in (glasses.FADE_FRAMES)
TILE = 200  # px per picture of the sheet
RING_SAMPLES = 96  # points along each drawn rim
PIECE_PX = 5  # the least piece of a kept mask counted
FIRST = 30  # (e): a track's first frames, 0 to FIRST
TOP_SETTLED = 0.03  # (e): eye distances from the fitted top's last height


def tracked(name: str, count: int) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """The first `count` RGB frames of a clip and its first face's smoothed points."""
    from swap_quality import smoothed

    from facestream.stream.live_chain import EngineLandmarks

    landmarks = EngineLandmarks()
    frames, faces = [], []
    with av.open(str(DATA / "videos" / f"{name}.mp4")) as container:
        fps = float(container.streams.video[0].average_rate or 25)
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            frames.append(image)
            faces.append(list(landmarks.engine.track(image)))
            if len(frames) == count:
                break
    return frames, smoothed(faces, fps)


def composite(frames, points, source, keep: bool) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """(output, alpha over the frame) per frame, one track; None where no face."""
    from facestream.filters.swap import SwapOptions, TrackState, composite_face

    state, options = TrackState(), SwapOptions(keep_glasses=keep)
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    for image, p in zip(frames, points, strict=True):
        result = image.copy()
        res = None if p is None else composite_face(result, p, source, options, state)
        if res is None:
            out.append(None)
            continue
        alpha = np.zeros(image.shape[:2], np.float32)
        x0, y0, x1, y1 = res.box
        alpha[y0:y1, x0:x1] = res.alpha
        out.append((result, alpha))
    return out


def kept(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Pixels of the old swapped region whose alpha fell under half of the old one."""
    return (old >= 0.5) & (new < 0.5 * old)


def ground_truth(frames, points, source, style) -> dict[str, list[float]]:
    """Recall and false keep per frame (after SKIP) for glasses drawn in `style`."""
    from facestream.filters.shape import face_size

    _, width, colour = style
    drawn = [
        (image, None) if p is None else draw_glasses(image, p, width, colour)
        for image, p in zip(frames, points, strict=True)
    ]
    images = [image for image, _ in drawn]
    runs = [composite(images, points, source, keep) for keep in (False, True)]
    scores: dict[str, list[float]] = {
        "old recall": [],
        "recall": [],
        "false keep": [],
        "kept / rims": [],
        "runs": [],
        "longest": [],
    }
    for t in range(SKIP, len(frames)):
        old, new, (image, cover), p = runs[0][t], runs[1][t], drawn[t], points[t]
        if old is None or new is None or cover is None or p is None:
            continue
        rims = (cover > 0.5) & (old[1] >= 0.5)
        if rims.sum() < 20:
            continue
        grow = max(int(0.03 * face_size(p)), 1)
        near = cv2.dilate((cover > 0.05).astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8))
        others = (old[1] >= 0.5) & (near == 0)
        for key, out in (("old recall", old[0]), ("recall", new[0])):
            same = np.abs(out.astype(np.int16) - image).max(axis=2) <= SAME_LEVELS
            scores[key].append(float(same[rims].mean()))
        mask = kept(old[1], new[1])
        scores["false keep"].append(float(mask[others].mean()))
        scores["kept / rims"].append(float(mask.sum()) / float(rims.sum()))
        for ring in lens_rings(p):
            count, longest = pieces_on_ring(mask, ring)
            scores["runs"].append(float(count))
            scores["longest"].append(longest)
    return scores


def clean_keeps(frames, points, source) -> list[float]:
    """Per frame (after SKIP), the share of the swapped region kept on a bare face."""
    old, new = (composite(frames, points, source, keep) for keep in (False, True))
    return [
        float(kept(o[1], n[1])[o[1] >= 0.5].mean())
        for o, n in list(zip(old, new, strict=True))[SKIP:]
        if o is not None and n is not None
    ]


def luma_gradient(image: np.ndarray) -> np.ndarray:
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0), cv2.Sobel(luma, cv2.CV_32F, 0, 1))


def real_clip(frames, points, source) -> tuple[dict[str, float], list]:
    """(b) on one real glasses clip: the figures, and the runs for the sheet."""
    old, new = (composite(frames, points, source, keep) for keep in (False, True))
    wearing, shares, edges_old, edges_new, parts = [], [], [], [], []
    for t in range(SKIP, len(frames)):
        o, n = old[t], new[t]
        if o is None or n is None:
            continue
        mask = kept(o[1], n[1])
        region = o[1] >= 0.5
        wearing.append(float(mask.any()))
        shares.append(float(mask[region].mean()))
        if mask.sum() < 20:
            continue
        parts.append(float(pieces(mask)))
        base = luma_gradient(frames[t])[mask].mean()
        edges_old.append(float(luma_gradient(o[0])[mask].mean() / max(base, 1e-6)))
        edges_new.append(float(luma_gradient(n[0])[mask].mean() / max(base, 1e-6)))
    figures = {
        "glasses frames": float(np.mean(wearing)) if wearing else 0.0,
        "kept share": median(shares),
        "edges old": median(edges_old),
        "edges new": median(edges_new),
        "pieces": mean(parts),
        "pieces max": max(parts, default=float("nan")),
    }
    return figures, [old, new]


def median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def speed(frames, points, styled: bool) -> list[float]:
    """CPU ms of `GlassesModel.glasses` per frame on one track (glasses drawn first when
    `styled`), on the face's compositing box as the swap gives it."""
    from facestream.filters.glasses import GlassesModel
    from facestream.filters.swap import SwapOptions, patch_box

    model, times = GlassesModel(), []
    for image, p in zip(frames, points, strict=True):
        if p is None:
            continue
        if styled:
            image = draw_glasses(image, p, *STYLES[0][1:])[0]
        x0, y0, x1, y1 = patch_box(p, SwapOptions())
        x0, y0 = max(x0, 0), max(y0, 0)
        box = np.ascontiguousarray(image[y0:y1, x0:x1])
        start = time.thread_time()
        model.glasses(box, p - np.array([x0, y0], np.float32))
        times.append(1e3 * (time.thread_time() - start))
    return times


def sheet_rows(name: str, frames, points, runs) -> list[np.ndarray]:
    """Input, old, new and the kept mask, cropped around the face, at three times."""
    rows = []
    count = len(frames)
    for t in sorted({SKIP + 2, count // 2, count - 1}):
        o, n, p = runs[0][t], runs[1][t], points[t]
        if o is None or n is None or p is None:
            continue
        lo, hi = p.min(axis=0), p.max(axis=0)
        centre, side = (lo + hi) / 2, float((hi - lo).max()) * 1.15
        x0, y0 = np.maximum((centre - side / 2).astype(int), 0)
        x1, y1 = x0 + int(side), y0 + int(side)
        mask = (kept(o[1], n[1]) * 255).astype(np.uint8)
        tiles = [frames[t], o[0], n[0], np.dstack([mask] * 3)]
        tiles = [cv2.resize(np.ascontiguousarray(im[y0:y1, x0:x1]), (TILE, TILE)) for im in tiles]
        row = np.hstack(tiles)
        cv2.putText(row, f"{name} {t}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
        rows.append(row)
    return rows


def decision(name: str, count: int) -> tuple[list[tuple[float, ...]], float]:
    """(d) on one clip: (score, lower rims, bridge, closed) on each learn after the warm-up, and
    the share of the drawn frames decided "glasses"."""
    from facestream.filters.glasses import WARMUP, GlassesModel
    from facestream.filters.swap import SwapOptions, TrackState, patch_box

    frames, points = tracked(name, count)
    state, model = TrackState(), GlassesModel()
    learns, wearing = [], []
    for image, p in zip(frames, points, strict=True):
        if p is None or state.fade_for_turn(p) <= 0.0:
            continue  # the swap draws nothing, so its glasses step does not run
        x0, y0, x1, y1 = patch_box(p, SwapOptions())
        x0, y0 = max(x0, 0), max(y0, 0)
        before = model.evidence_frames
        model.glasses(np.ascontiguousarray(image[y0:y1, x0:x1]), p - np.float32([x0, y0]))
        if model.evidence_frames > before and model.evidence_frames >= WARMUP:
            learns.append((model.score, model.lower, model.bridge, model.closed))
        wearing.append(model.wearing)
    return learns, float(np.mean(wearing)) if wearing else 0.0


def print_scores(count: int) -> None:
    """(d): the decision's score and cues on every talking-head clip."""
    names = sorted(
        f"{folder}/{path.stem}"
        for folder in HEAD_DIRS
        for path in (DATA / "videos" / folder).glob("*.mp4")
    )
    print(f"(d) decision on {len(names)} talking-head clips, {count} frames, learns after warm-up")
    print(
        f"{'clip':34} {'glasses':7} {'learns':>6} {'score':>11} {'lower':>11} {'bridge':>11} "
        f"{'closed':>11}"
    )
    for name in names:
        learns, decided = decision(name, count)
        if not learns:
            print(f"{name:34} {'yes' if name in GLASSES_CLIPS else 'no':7} {0:6d}")
            continue
        cols = [f"{min(v):5.2f}-{max(v):<5.2f}" for v in zip(*learns, strict=True)]
        print(
            f"{name:34} {'yes' if name in GLASSES_CLIPS else 'no':7} {len(learns):6d} "
            f"{cols[0]:>11} {cols[1]:>11} {cols[2]:>11} {cols[3]:>11}  decided {decided:.2f}"
        )


def load_glasses(path: Path, name: str = "glasses_before"):
    """`path` (a version of `filters/glasses.py`) as a module of its own."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python file.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def canonical_whole(module, model) -> tuple[bool, float]:
    """(e): whether the shown canonical mask of `model` (a `module.GlassesModel`) closes a
    ring around each eye (its centre cut off from the band's edges: each rim whole, as
    drawn, wherever the fit put it), and the share of its fitted lens curves kept (within
    `module.SNAP` px: the drawn rims are moved onto the evidence's by up to that)."""
    if model.mask is None or model._lenses is None or model._eyes is None:
        return False, 0.0
    shown = (model.mask * np.float32(model.shown) > 0.5).astype(np.uint8)
    _, labels = cv2.connectedComponents(1 - shown, connectivity=4)
    edges = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    centres = np.round(model._eyes.mean(axis=1)).astype(int)
    closed = not np.isin(labels[centres[:, 1], centres[:, 0]], edges).any()
    reach = 2 * module.SNAP + 1
    grown = cv2.dilate(shown, np.ones((reach, reach), np.uint8)) > 0
    midline = float(model._eyes[:, :, 0].mean())
    flags = []
    for ring in module._lens_curve(module._lens_boxes(model._lenses, midline)):
        xy = np.clip(np.round(ring).astype(int), 0, [grown.shape[1] - 1, grown.shape[0] - 1])
        flags.append(grown[xy[:, 1], xy[:, 0]])
    return closed, float(np.mean(flags))


def first_run(module, frames, points, draw=None) -> list[dict]:
    """(e): one track of `module.GlassesModel` over the frames the swap draws (`draw`:
    glasses drawn first, `STYLES`' width and colour). Per frame: kept (anything shown),
    whole and share (`canonical_whole`, or along the drawn rims when `draw`), the fitted
    top's height over the eyes (eye distances), CPU ms."""
    from facestream.filters.swap import SwapOptions, TrackState, patch_box

    state, model, out = TrackState(), module.GlassesModel(), []
    for image, p in zip(frames, points, strict=True):
        if p is None or state.fade_for_turn(p) <= 0.0:
            continue  # the swap draws nothing, so its glasses step does not run
        if draw is not None:
            image = draw_glasses(image, p, *draw)[0]
        x0, y0, x1, y1 = patch_box(p, SwapOptions())
        x0, y0 = max(x0, 0), max(y0, 0)
        start = time.thread_time()
        found = model.glasses(np.ascontiguousarray(image[y0:y1, x0:x1]), p - np.float32([x0, y0]))
        ms = 1e3 * (time.thread_time() - start)
        whole, share = canonical_whole(module, model) if found is not None else (False, 0.0)
        if draw is not None and found is not None:
            kept = np.zeros(image.shape[:2], bool)
            (ys, xs), share_mask = found
            kept[ys.start + y0 : ys.stop + y0, xs.start + x0 : xs.stop + x0] = share_mask > 0.5
            rims = [pieces_on_ring(kept, ring) for ring in lens_rings(p)]
            whole = all(runs == 1 and longest > 0.95 for runs, longest in rims)
            share = float(np.mean([longest for _, longest in rims]))
        top = float("nan")
        if model._lenses is not None and model._eyes is not None:
            top = (float(model._eyes[:, :, 1].min()) - model._lenses[2]) / module.SCALE
        out.append(
            {"kept": found is not None, "whole": whole, "share": share, "top": top, "ms": ms}
        )
    return out


def whole_from(run: list[dict]) -> int | None:
    """(e): the first frame from which the rims are whole on every frame up to FIRST."""
    flags = [r["whole"] for r in run[: FIRST + 1]]
    return next((t for t in range(len(flags)) if all(flags[t:])), None)


def top_from(run: list[dict]) -> int | None:
    """(e): the first frame from which the fitted top stays within TOP_SETTLED of its last."""
    tops = np.array([r["top"] for r in run])
    near = np.abs(tops - tops[-1]) <= TOP_SETTLED
    return next((t for t in range(len(near)) if near[t:].all()), None)


def first_figures(run: list[dict]) -> tuple[int | None, float, float]:
    """(e): on frames 0 to FIRST, `whole_from`, the share of frames kept whole and the
    rims' mean coverage."""
    young = run[: FIRST + 1]
    return (
        whole_from(run),
        float(np.mean([r["whole"] for r in young])),
        float(np.mean([r["share"] for r in young])),
    )


def print_first(before_path: Path, count: int) -> None:
    """(e): a track's first frames, `before_path`'s glasses.py against the current one."""
    import facestream.filters.glasses as after

    versions = (("before", load_glasses(before_path)), ("after", after))
    print(f"(e) a track's first frames, frames 0-{FIRST}: {before_path} against {after.__file__}")
    header = f"{'whole from':>10} {'whole':>5} {'coverage':>8}"
    print(f"{'clip':34} {'':6} {header} {'top from':>8}  per frame (W whole, p kept)")
    costs: dict[tuple[str, str], list[list[float]]] = {}
    for name in GLASSES_CLIPS:
        frames, points = tracked(name, count)
        for label, module in versions:
            run = first_run(module, frames, points)
            costs.setdefault((label, "wearing"), []).append([r["ms"] for r in run])
            start, whole, coverage = first_figures(run)
            marks = "".join("W" if r["whole"] else "p" if r["kept"] else "." for r in run)
            print(
                f"{name:34} {label:6} {start!s:>10} {whole:5.2f} {coverage:8.3f} "
                f"{top_from(run)!s:>8}  {marks[: FIRST + 1]}"
            )
    print(f"glasses drawn on {len(BARE_CLIPS)} bare clips (means; whole from: the worst clip)")
    drawn: dict[tuple[str, str], list[tuple[int | None, float, float]]] = {}
    bare_kept = {label: 0 for label, _ in versions}
    names = sorted(
        f"{folder}/{path.stem}"
        for folder in HEAD_DIRS
        for path in (DATA / "videos" / folder).glob("*.mp4")
    )
    for name in [n for n in names if n not in GLASSES_CLIPS]:
        frames, points = tracked(name, count)
        for label, module in versions:
            run = first_run(module, frames, points)
            bare_kept[label] += sum(r["kept"] for r in run)
            costs.setdefault((label, "bare"), []).append([r["ms"] for r in run])
            if name not in BARE_CLIPS:
                continue
            for style in STYLES:
                styled = first_run(module, frames, points, style[1:])
                drawn.setdefault((style[0], label), []).append(first_figures(styled))
    order = [label for label, _ in versions]
    for (style_name, label), values in sorted(drawn.items(), key=lambda i: order.index(i[0][1])):
        starts = [start for start, _, _ in values]
        worst = None if None in starts else max(starts)
        whole, coverage = np.mean([v[1:] for v in values], axis=0)
        print(
            f"{style_name:34} {label:6} {worst!s:>10} {whole:5.2f} {coverage:8.3f}  "
            f"per clip {starts}"
        )
    for label, _ in versions:
        print(f"bare talking-head clips, frames with glasses kept: {label} {bare_kept[label]}")
    print(f"GlassesModel.glasses CPU ms a frame: median / mean over frames 0-{FIRST} / worst")
    for (label, kind), runs in sorted(costs.items(), key=lambda item: item[0][1]):
        every = [ms for run in runs for ms in run]
        young = [ms for run in runs for ms in run[: FIRST + 1]]
        print(
            f"{kind + ' faces':34} {label:6} {median(every):.3f} / {mean(young):.3f} / "
            f"{max(every):.2f}"
        )


def substitute_glasses(path: Path) -> None:
    """Loads `path` as `facestream.filters.glasses` before anything imports it."""
    sys.modules["facestream.filters.glasses"] = load_glasses(path, "facestream.filters.glasses")
    print(f"glasses.py: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--sheet", type=Path, help="write the PNG grid here")
    parser.add_argument("--scores", action="store_true", help="(d) only: every clip's decision")
    parser.add_argument(
        "--first",
        type=Path,
        metavar="BEFORE",
        help="(e) only: a track's first frames, this older glasses.py against the current one",
    )
    parser.add_argument(
        "--glasses",
        type=Path,
        help="measure this file in place of filters/glasses.py (an older version: "
        "`git show REV:filters/glasses.py > FILE`, for a before/after)",
    )
    args = parser.parse_args()
    if args.glasses:
        substitute_glasses(args.glasses)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if args.scores:
        print_scores(args.frames)
        return
    if args.first:
        print_first(args.first, args.frames)
        return
    from facestream.filters.enroll import enroll_source
    from facestream.stream.live_chain import EngineLandmarks

    started = time.strftime("%Y-%m-%d %H:%M")
    source = enroll_source(DATA / SOURCE, EngineLandmarks())
    sheet: list[np.ndarray] = []
    print(f"(a) glasses drawn on bare clips, {args.frames} frames, medians after frame {SKIP}")
    print(
        f"{'clip':34} {'style':14} {'old recall':>10} {'recall':>7} {'false keep':>10} "
        f"{'kept / rims':>11} {'runs':>5} {'longest':>7}"
    )
    totals: dict[str, dict[str, list[float]]] = {}
    clean_all: list[float] = []
    for name in BARE_CLIPS:
        frames, points = tracked(name, args.frames)
        for style in STYLES:
            scores = ground_truth(frames, points, source, style)
            for key, values in scores.items():
                average = mean if key in WHOLENESS else median
                totals.setdefault(style[0], {}).setdefault(key, []).append(average(values))
            print(
                f"{name:34} {style[0]:14} {median(scores['old recall']):10.3f} "
                f"{median(scores['recall']):7.3f} {median(scores['false keep']):10.4f} "
                f"{median(scores['kept / rims']):11.2f} {mean(scores['runs']):5.2f} "
                f"{mean(scores['longest']):7.3f}"
            )
        clean = clean_keeps(frames, points, source)
        clean_all += clean
        print(f"{name:34} {'no glasses':14} kept median {median(clean):.5f} worst {max(clean):.5f}")
        if name in SHEET_BARE and args.sheet:
            runs = [composite(frames, points, source, keep) for keep in (False, True)]
            sheet += sheet_rows(name, frames, points, runs)
    for style_name, per_key in totals.items():
        print(
            f"{'mean over clips':34} {style_name:14} {np.mean(per_key['old recall']):10.3f} "
            f"{np.mean(per_key['recall']):7.3f} {np.mean(per_key['false keep']):10.4f} "
            f"{np.nanmean(per_key['kept / rims']):11.2f} {np.nanmean(per_key['runs']):5.2f} "
            f"{np.nanmean(per_key['longest']):7.3f}"
        )
    print(f"no glasses, all frames: kept median {median(clean_all):.5f} worst {max(clean_all):.5f}")
    print("(b) real glasses clips")
    print(
        f"{'clip':34} {'glasses':>8} {'kept':>7} {'edges old':>9} {'edges new':>9} "
        f"{'pieces':>6} {'max':>4}"
    )
    timings: list[float] = []
    for name in GLASSES_CLIPS:
        frames, points = tracked(name, args.frames)
        figures, runs = real_clip(frames, points, source)
        print(
            f"{name:34} {figures['glasses frames']:8.2f} {figures['kept share']:7.4f} "
            f"{figures['edges old']:9.3f} {figures['edges new']:9.3f} "
            f"{figures['pieces']:6.2f} {figures['pieces max']:4.0f}"
        )
        timings += speed(frames, points, styled=False)
        if args.sheet:
            sheet += sheet_rows(name, frames, points, runs)
    rows = []
    for name in SPEED_CLIPS:
        frames, points = tracked(name, args.frames)
        rows.append((f"{name} + drawn", speed(frames, points, styled=True)))
    print("(c) GlassesModel.glasses CPU ms per face and frame (median / mean / max)")
    for label, values in [*rows, ("the glasses clips", timings)]:
        print(f"{label:48} {median(values):.3f} / {np.mean(values):.3f} / {max(values):.3f}")
    if args.sheet and sheet:
        width = max(row.shape[1] for row in sheet)
        grid = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in sheet])
        cv2.imwrite(str(args.sheet), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        print(f"sheet: {args.sheet}")
    print(f"run started {started}")


if __name__ == "__main__":
    main()
