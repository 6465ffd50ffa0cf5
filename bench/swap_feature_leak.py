"""The target's own brows showing through the swapped face (issue #8), with and without the fix.

A person saw the target's thin, high, arched brows faintly above the source's low,
straight ones (retalking/3 with deepface img30). The number here is how much darker the
output is along the target's brows than in the ring of skin around them, against the same
swap of the same frame with the target's brows painted out (filled from the skin around
them, `brows_out`), in percent of that clean output's luma (`leak`): whatever path a brow
takes into the output (the mask's feather, the colour statistics, the lighting match, the
sharpness match) shows in it, and nothing else does (the source, the landmarks and the
track's history are the same in both runs); a change over the whole brow region (the
face's tone) is no line and cancels.

Per pair the target clip is tracked with the engine (shipped weights) from its first
frame; every `--every`-th frame from `--first` on is measured. Four columns in one run:

- ``switched back``: the default mask's top cut straight from the jaw's upper ends to the
  forehead row (no `swap.brow_cover`), and the lighting match reading the features as
  light (no `colour.feature_polygons`); its skin test per fine pixel stays, so this is not
  quite the code before the fix: that is measured with ``--as-imported`` on a checkout of
  it put first on PYTHONPATH;
- ``mask``: the brow cover only;
- ``after``: the shipped code (both);
- ``after, no lighting``: and `match_lighting` switched off, to see what is left;
- ``no brow search``: the shipped code but the mask's top drawn from the brow points as
  the landmarks put them (no `brows.lift_brows`; ``switched back`` has none either);
- ``before``: that, and the mask's top row free to rise past the drawn forehead outline
  (no `swap.OUTLINE_MARGIN` ceiling): the code before the search;
- ``no clearing``: the shipped code but a raised brow's top left in the target's pixels
  under the mask's feather (no `brows.clear_raised`): the code before it.

Two leaks are measured per variant: ``brows``, along the brows where the landmarks put
them (above); and ``brow zone``, over the band above them up to `ZONE` of the face size
over the brow points (within the target's face outline; both bands painted out): the
share of the target's own darkness there (its pixels `DARK` under the painted-out frame,
not by the face outline where hair comes in: `dark_in_zone`) still in the output
(`shown`), because
the lite landmark model puts a raised brow's points on the skin under it (liveportrait/d10,
frame 268), and the real brow then lies in the zone but outside the first band. Per
variant also the seam (`swap_quality.seam_ratio`: the gradient around the mask's border,
output over input). The sheet shows, per pair, the frame where the first variant leaks
most in the zone.

    nice -n 10 .venv/bin/python bench/swap_feature_leak.py --sheet /tmp/leak.png
    nice -n 10 .venv/bin/python bench/swap_feature_leak.py --expressive --sheet /tmp/b.png \
        --variants "no brow search" after --first 0 --last 600 --every 6
    .venv/bin/python bench/swap_feature_leak.py --time 60  # the search's cost at 720p

``--time N`` times the brow search instead (`brows.lift_brows`, CPU ms a face) on the
first N frames of a 1280x720 clip, and the whole `composite_face` without and with it,
alternating frame by frame in one process (medians).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from swap_before_after import DATA, switch, tracked  # noqa: E402
from swap_quality import seam_ratio, smoothed  # noqa: E402

import facestream.filters.enroll as enroll  # noqa: E402
import facestream.filters.swap as swap  # noqa: E402
from facestream.filters.blend import polygon_mask  # noqa: E402
from facestream.filters.brows import BrowTrack, upright  # noqa: E402
from facestream.filters.colour import masked_blur, skin_weight  # noqa: E402
from facestream.filters.shape import face_size  # noqa: E402
from facestream.filters.swap import SwapOptions, TrackState  # noqa: E402
from facestream.stream.live_chain import EngineLandmarks  # noqa: E402

# Targets with thin, high or arched brows; sources with low, straight or thick ones (and
# one the other way round: a man's low brows under a woman's source).
PAIRS = (
    "retalking/3.mp4:deepface/img30.jpg",
    "retalking/3.mp4:deepface/img35.jpg",
    "sadtalker/WDA_KatieHill_000.mp4:deepface/img30.jpg",
    "sadtalker/WDA_AlexandriaOcasioCortez_000.mp4:deepface/img35.jpg",
    "spectre/W036_level_3_happy_007.mp4:deepface/img30.jpg",
    "liveportrait/d3.mp4:deepface/img35.jpg",
    "retalking/2.mp4:deepface/img6.jpg",
)
# Targets raising their brows far (the landmarks' brow points then lie under the brows),
# under the source the defect was seen with.
EXPRESSIVE = (
    "liveportrait/d10.mp4:deepface/img1.jpg",
    "spectre/W023_level_2_surprised_010.mp4:deepface/img1.jpg",
    "spectre/M003_level_1_disgusted_015.mp4:deepface/img1.jpg",
    "spectre/M026_level_3_disgusted_018.mp4:deepface/img1.jpg",
    "liveportrait/d14.mp4:deepface/img1.jpg",
    "liveportrait/d3.mp4:deepface/img1.jpg",
)
VARIANTS = (
    "switched back",
    "mask",
    "after",
    "after, no lighting",
    "no brow search",
    "before",
    "no clearing",
)
AS_IMPORTED = "as imported"
# The painted-out band: the brow points' polyline, this thick and shifted down by this
# (face sizes): the points lie along the brow's upper half.
BROW_THICK, BROW_DOWN = 0.1, 0.01
FILL = 0.04
RING = 0.05
SPEED_CLIP = DATA / "videos" / "liveportrait" / "s32.mp4"  # 1280x720, one face
ZONE = 0.22  # face sizes over the brow points: past where `brows.SEARCH` looks
DARK = 20.0  # luma levels under the painted-out frame: the target's brow (or hair) there
EDGE = 0.06  # face sizes: the zone's pixels this near the face outline are not counted
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# (Absent from a checkout before the fix, measured `--as-imported`.)
_REAL = {
    "cover": getattr(swap, "brow_cover", None),
    "features": getattr(swap, "feature_polygons", None),
    "lift": getattr(swap, "lift_brows", None),
    "margin": getattr(swap, "OUTLINE_MARGIN", None),
    "clear": getattr(swap, "clear_raised", None),
}


def brow_band(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 mask of the target's brows (255), from its landmarks."""
    size = face_size(points)
    band = np.zeros(shape, np.uint8)
    half = len(enroll.BROWS) // 2
    for brow in (enroll.BROWS[:half], enroll.BROWS[half:]):
        line = points[brow] + (0.0, BROW_DOWN * size)
        thick = max(int(round(BROW_THICK * size)), 2)
        cv2.polylines(band, [np.round(line).astype(np.int32)], False, 255, thick)
    return band


def brow_zone(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 mask (255) from the top of `brow_band` up to `ZONE` over the brow points, per
    brow, within the target's face outline: where a raised brow shows above the source's."""
    size = face_size(points)
    up = upright(points)[1] * size  # down in the image, one face size long
    zone = np.zeros(shape, np.uint8)
    half = len(enroll.BROWS) // 2
    for brow in (enroll.BROWS[:half], enroll.BROWS[half:]):
        line = points[brow][np.argsort(points[brow, 0])]
        low = line + (BROW_DOWN - BROW_THICK / 2) * up
        high = line - ZONE * up
        cv2.fillPoly(zone, [np.round(np.vstack([low, high[::-1]])).astype(np.int32)], 255)
    return zone & polygon_mask(points[enroll.OUTLINE], shape)


def brows_out(image: np.ndarray, band: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`image` with the `band` filled from the skin around it: a blur of the face's skin
    outside the band (`skin_weight`: not hair over the brows) normalised by the blurred
    weight (a normalised convolution), over `FILL` of the face size."""
    size = face_size(points)
    ys, xs = np.nonzero(band)
    pad = int(3 * FILL * size) + 2
    y0, y1 = max(ys.min() - pad, 0), ys.max() + pad + 1
    x0, x1 = max(xs.min() - pad, 0), xs.max() + pad + 1
    crop = image[y0:y1, x0:x1]
    face = polygon_mask(points[enroll.OUTLINE] - (x0, y0), crop.shape[:2]) > 0
    outside = (face & (band[y0:y1, x0:x1] == 0)).astype(np.float32)
    fill = masked_blur(crop.astype(np.float32), skin_weight(crop, outside), FILL * size)
    out = image.copy()
    inside = band[y0:y1, x0:x1] > 0
    out[y0:y1, x0:x1][inside] = np.clip(fill[inside] + 0.5, 0, 255).astype(np.uint8)
    return out


def set_variant(name: str) -> None:
    """Switch the code to `name` (one of `VARIANTS`; `AS_IMPORTED` leaves it alone)."""
    if name == AS_IMPORTED:
        return
    swap.brow_cover = _no_cover if name == "switched back" else _REAL["cover"]
    lit = name not in ("switched back", "mask")
    swap.feature_polygons = _REAL["features"] if lit else _no_features
    searched = name not in ("switched back", "no brow search", "before")
    swap.lift_brows = _REAL["lift"] if searched else _no_lift
    if _REAL["margin"] is not None:  # no ceiling: the row lifted past the drawn outline
        swap.OUTLINE_MARGIN = -np.inf if name == "before" else _REAL["margin"]
    if _REAL["clear"] is not None:
        swap.clear_raised = _no_clear if name == "no clearing" else _REAL["clear"]
    switch("lighting", name != "after, no lighting")


def _no_cover(points: np.ndarray, target: np.ndarray, clearance: float) -> list[np.ndarray]:
    return []


def _no_features(points: np.ndarray, size: float) -> list[np.ndarray]:
    return []


def _no_clear(image: np.ndarray, target: np.ndarray, lifted: np.ndarray, size: float) -> None:
    return None


def _no_lift(image: np.ndarray, target: np.ndarray, size: float, track: object) -> np.ndarray:
    return target


def top(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return max(finite) if finite else float("nan")


def median(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.median(finite)) if finite else float("nan")


def dark_in_zone(
    target: np.ndarray, painted: np.ndarray, zone: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The target's own dark pixels in the `zone` (`DARK` or more under the frame with the
    zone `painted` out: a brow) as a bool mask, and how much darker each pixel is. Those
    within `EDGE` of the face size of the target's face outline are left out: there the
    hair at the temples comes in (a brow's tail there lies in the feather either way)."""
    depth = (painted.astype(np.float32) - target.astype(np.float32)) @ _LUMA
    face = polygon_mask(points[enroll.OUTLINE], zone.shape)
    inner = cv2.distanceTransform(face, cv2.DIST_L2, 3) > EDGE * face_size(points)
    return zone & inner & (depth >= DARK), depth


def shown(real: np.ndarray, clean: np.ndarray, dark: np.ndarray, depth: np.ndarray) -> float:
    """How much of the target's own darkness at `dark` (`dark_in_zone`) is still in the
    output `real`, against `clean` (the swap of the frame with it painted out), in %: 0
    covered, 100 all shown; nan where there is none."""
    if not dark.any():
        return float("nan")
    left = (clean[dark].astype(np.float32) - real[dark].astype(np.float32)) @ _LUMA
    return float(100.0 * left.sum() / depth[dark].sum())


def leak(real: np.ndarray, clean: np.ndarray, band: np.ndarray, size: float) -> float:
    """How much darker `real` is than `clean` along the `band` than in the ring of skin
    around it (`RING` of the face size wide), in % of `clean`'s luma in the band: the
    line a person sees. A change over the whole brow region (the face's tone, its light
    across the forehead) is not a line and cancels."""
    grow = max(int(round(RING * size)), 1)
    ring = cv2.dilate(band, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    inside, around = band > 0, (ring > 0) & (band == 0)
    darker = (clean.astype(np.float32) - real.astype(np.float32)) @ _LUMA
    lc = float((clean[inside].astype(np.float32) @ _LUMA).mean())
    return float(100.0 * (darker[inside].mean() - darker[around].mean()) / max(lc, 1.0))


METRICS = ("brows", "brow zone", "seam")


def smoothed_track(
    path: Path, landmarks: EngineLandmarks, last: int, mode: str
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """`tracked` from frame 0 to `last`, the points through the file path's smoother
    (`mode`: "fixed-lag", the `facestream swap` default; "kalman", the live path's)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        images, faces = [], []
        for i, frame in enumerate(container.decode(stream)):
            if i > last:
                break
            images.append(frame.to_ndarray(format="rgb24"))
            faces.append(landmarks.engine.track(images[-1]))
    for i, (image, points) in enumerate(zip(images, smoothed(faces, fps, mode), strict=True)):
        if points is not None:
            yield i, image, points


def run_pair(
    spec: str,
    landmarks: EngineLandmarks,
    variants: tuple[str, ...],
    frames: tuple[int, int, int],
    smooth: str | None = None,
) -> tuple[dict[tuple[str, str], list[float]], list[np.ndarray]]:
    """Per variant and metric (`METRICS`), the figure on each measured frame; and the
    crops of the measured frame where the first variant leaks most in the brow zone
    (target, target with its brow zone painted out, then each variant's output)."""
    clip, source_name = spec.split(":")
    first, last, every = frames
    source = enroll.enroll_source(DATA / "stills" / source_name, landmarks)
    kinds = ("real", "brows", "brow zone")
    states = {(v, k): TrackState() for v in variants for k in kinds}
    figures: dict[tuple[str, str], list[float]] = {(v, m): [] for v in variants for m in METRICS}
    crops: list[np.ndarray] = []
    worst = -np.inf
    lifted: list[np.ndarray] = []
    path = DATA / "videos" / clip
    track = (
        tracked(path, landmarks, 0, last)
        if smooth is None
        else smoothed_track(path, landmarks, last, smooth)
    )
    for i, image, points in track:
        size = face_size(points)
        bands = {
            "brows": brow_band(points, image.shape[:2]),
            "brow zone": brow_zone(points, image.shape[:2]),
        }
        # The zone's frame loses the brows where the landmarks put them too (the fill
        # reads the skin around what it paints).
        painted = {"brows": bands["brows"], "brow zone": bands["brows"] | bands["brow zone"]}
        frames_in = {"real": image} | {k: brows_out(image, painted[k], points) for k in bands}
        dark, depth = dark_in_zone(image, frames_in["brow zone"], bands["brow zone"] > 0, points)
        outs, alphas = {}, {}
        for v in variants:
            set_variant(v)
            searched = swap.lift_brows is _REAL["lift"]
            for kind, frame in frames_in.items():
                if searched:
                    # The painted-out frames' masks are drawn from the real frame's brows
                    # (the search finds none there): only the brows' pixels differ.
                    swap.lift_brows = _recorder(lifted) if kind == "real" else _replay(lifted)
                out = frame.copy()
                result = swap.composite_face(out, points, source, SwapOptions(), states[v, kind])
                outs[v, kind] = out
                if kind == "real" and result is not None:
                    x0, y0, x1, y1 = result.box
                    alphas[v] = np.zeros(image.shape[:2], np.float32)
                    alphas[v][y0:y1, x0:x1] = result.alpha
        if i < first or (i - first) % every:
            continue
        for v in variants:
            figures[v, "brows"].append(
                leak(outs[v, "real"], outs[v, "brows"], bands["brows"], size)
            )
            figures[v, "brow zone"].append(
                shown(outs[v, "real"], outs[v, "brow zone"], dark, depth)
            )
            figures[v, "seam"].append(seam_ratio(image, outs[v, "real"], alphas[v], size))
        if figures[variants[0], "brow zone"][-1] > worst:
            worst = figures[variants[0], "brow zone"][-1]
            crops = [brow_crop(img, points) for img in (image, frames_in["brow zone"])]
            crops += [brow_crop(outs[v, "real"], points) for v in variants]
            crops = [label(c, f"frame {i}") for c in crops[:1]] + crops[1:]
    set_variant(variants[0] if len(variants) == 1 else "after")
    return figures, crops


def _recorder(lifted: list[np.ndarray]) -> Callable[..., np.ndarray]:
    """`lift_brows` keeping its answer in `lifted` (for `_replay`)."""

    def lift(image: np.ndarray, target: np.ndarray, size: float, track: object) -> np.ndarray:
        search = _REAL["lift"]
        assert search is not None  # only the variants that search record
        lifted[:] = [search(image, target, size, track)]
        return lifted[0]

    return lift


def _replay(lifted: list[np.ndarray]) -> Callable[..., np.ndarray]:
    """`lift_brows` answering what `_recorder` kept last."""
    return lambda image, target, size, track: lifted[0]


def label(image: np.ndarray, text: str) -> np.ndarray:
    """`image` with `text` written at its bottom left."""
    out = image.copy()
    cv2.putText(out, text, (8, out.shape[0] - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 0), 2)
    return out


def brow_crop(image: np.ndarray, points: np.ndarray, scale: float = 2.5) -> np.ndarray:
    """The upper face (brows and eyes), enlarged: where the leak shows."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    height = hi[1] - lo[1]
    x0, x1 = int(lo[0]), int(hi[0])
    y0, y1 = int(max(lo[1] - 0.1 * height, 0)), int(lo[1] + 0.45 * height)
    crop = image[y0:y1, x0:x1]
    size = (int(200 * scale), int(200 * scale * crop.shape[0] / max(crop.shape[1], 1)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)


def sheet(rows: list[list[np.ndarray]], variants: tuple[str, ...], path: Path) -> None:
    """Rows of crops, each column titled, written as an image."""
    titles = ("target", "brow zone painted out", *variants)
    width = max(c.shape[1] for r in rows for c in r)
    lines = []
    for r in rows:
        cells = [cv2.resize(c, (width, int(c.shape[0] * width / c.shape[1]))) for c in r]
        height = max(c.shape[0] for c in cells)
        cells = [np.pad(c, ((0, height - c.shape[0]), (0, 0), (0, 0))) for c in cells]
        for c, t in zip(cells, titles, strict=True):
            cv2.putText(c, t, (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 0), 2)
        lines.append(np.hstack(cells))
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(lines), cv2.COLOR_RGB2BGR))


def time_search(landmarks: EngineLandmarks, count: int) -> None:
    """Print the brow search's CPU ms a face at 720p, and the compositor's without and
    with it (alternating frame by frame), medians over `count` frames."""
    source = enroll.enroll_source(DATA / "stills" / "deepface" / "img1.jpg", landmarks)
    frames = list(tracked(SPEED_CLIP, landmarks, 0, count - 1))
    search = _REAL["lift"]
    assert search is not None
    track = BrowTrack()
    lifts = []
    for _, image, points in frames:
        size = face_size(points)
        for _ in range(20):
            start = time.thread_time()
            search(image, points, size, track)
            lifts.append(time.thread_time() - start)
    runs: dict[str, list[float]] = {"no brow search": [], "after": []}
    states = {v: TrackState() for v in runs}
    for _, image, points in frames:
        for v in runs:
            set_variant(v)
            out = image.copy()
            start = time.thread_time()
            swap.composite_face(out, points, source, SwapOptions(), states[v])
            runs[v].append(time.thread_time() - start)
    set_variant("after")
    print(f"{SPEED_CLIP.name}, {len(frames)} frames, face size {face_size(frames[0][2]):.0f} px")
    print(f"brow search (lift_brows): {1e3 * median(lifts):.3f} CPU ms a face")
    for v, times in runs.items():
        print(f"composite_face, {v}: {1e3 * median(times):.2f} CPU ms a face")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", nargs="*", help="CLIP:SOURCE under the data (default: PAIRS)")
    parser.add_argument(
        "--expressive", action="store_true", help="the EXPRESSIVE pairs (raised brows)"
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=VARIANTS)
    parser.add_argument("--first", type=int, default=10, help="first frame measured")
    parser.add_argument("--last", type=int, default=42, help="last frame tracked")
    parser.add_argument("--every", type=int, default=4, help="measure every n-th frame")
    parser.add_argument("--sheet", type=Path, help="write the worst frames' crops here")
    parser.add_argument(
        "--as-imported",
        action="store_true",
        help="measure the code as imported, nothing switched (an older checkout on PYTHONPATH)",
    )
    parser.add_argument("--time", type=int, metavar="N", help="time the search on N frames")
    parser.add_argument(
        "--smooth",
        choices=("fixed-lag", "kalman"),
        help="the landmarks through this smoother (default: the engine's raw points)",
    )
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.time:
        time_search(EngineLandmarks(), args.time)
        return
    pairs = args.pairs or (EXPRESSIVE if args.expressive else PAIRS)
    variants = (AS_IMPORTED,) if args.as_imported else tuple(args.variants)
    landmarks = EngineLandmarks()
    table: dict[tuple[str, str], list[float]] = {(v, m): [] for v in variants for m in METRICS}
    rows = []
    head = [f"{v}: {m}" for m in METRICS for v in variants]
    print("| pair | " + " | ".join(head) + " |")
    print("| --- |" + " --- |" * len(head))
    for spec in pairs:
        frames = (args.first, args.last, args.every)
        figures, crops = run_pair(spec, landmarks, variants, frames, args.smooth)
        cells = [
            f"{median(figures[v, m]):.3f}"
            if m == "seam"
            else f"{median(figures[v, m]):.2f} (max {top(figures[v, m]):.2f})"
            for m in METRICS
            for v in variants
        ]
        print(f"| {spec} | " + " | ".join(cells) + " |", flush=True)
        for key, values in figures.items():
            table[key] += values
        if crops:
            rows.append(crops)
    cells = [f"{median(table[v, m]):.3f}" for m in METRICS for v in variants]
    print("| all frames, median | " + " | ".join(cells) + " |")
    for peer in ("switched back", "no brow search", "before", "no clearing"):
        if peer in variants and "after" in variants:
            for m in METRICS:
                after, then = median(table["after", m]), median(table[peer, m])
                if m == "brow zone":  # a share, near 0 where all is covered: a difference
                    print(f"{m}: after - {peer} (medians over all frames): {after - then:+.2f}")
                else:
                    print(f"{m}: after / {peer} (medians over all frames): {after / then:.3f}")
    if args.sheet:
        sheet(rows, variants, args.sheet)


if __name__ == "__main__":
    main()
