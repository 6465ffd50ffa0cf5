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
- ``after, no lighting``: and `match_lighting` switched off, to see what is left.

    nice -n 10 .venv/bin/python bench/swap_feature_leak.py --sheet /tmp/leak.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from swap_before_after import DATA, switch, tracked  # noqa: E402

import facestream.filters.enroll as enroll  # noqa: E402
import facestream.filters.swap as swap  # noqa: E402
from facestream.filters.blend import polygon_mask  # noqa: E402
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
VARIANTS = ("switched back", "mask", "after", "after, no lighting")
AS_IMPORTED = "as imported"
# The painted-out band: the brow points' polyline, this thick and shifted down by this
# (face sizes): the points lie along the brow's upper half.
BROW_THICK, BROW_DOWN = 0.1, 0.01
FILL = 0.04
RING = 0.05
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# (Absent from a checkout before the fix, measured `--as-imported`.)
_REAL = {
    "cover": getattr(swap, "brow_cover", None),
    "features": getattr(swap, "feature_polygons", None),
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
    swap.feature_polygons = _REAL["features"] if name.startswith("after") else _no_features
    switch("lighting", name != "after, no lighting")


def _no_cover(points: np.ndarray, target: np.ndarray, clearance: float) -> list[np.ndarray]:
    return []


def _no_features(points: np.ndarray, size: float) -> list[np.ndarray]:
    return []


def median(values: list[float]) -> float:
    return float(np.median(values))


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


def run_pair(
    spec: str,
    landmarks: EngineLandmarks,
    variants: tuple[str, ...],
    frames: tuple[int, int, int],
) -> tuple[dict[str, list[float]], list[np.ndarray]]:
    """Per variant, the leak on each measured frame; and the last measured frame's crops
    (target, target without brows, then each variant's output)."""
    clip, source_name = spec.split(":")
    first, last, every = frames
    source = enroll.enroll_source(DATA / "stills" / source_name, landmarks)
    states = {(v, k): TrackState() for v in variants for k in ("real", "clean")}
    leaks: dict[str, list[float]] = {v: [] for v in variants}
    crops: list[np.ndarray] = []
    for i, image, points in tracked(DATA / "videos" / clip, landmarks, 0, last):
        band = brow_band(points, image.shape[:2])
        clean = brows_out(image, band, points)
        outs = {}
        for v in variants:
            set_variant(v)
            for kind, frame in (("real", image), ("clean", clean)):
                out = frame.copy()
                swap.composite_face(out, points, source, SwapOptions(), states[v, kind])
                outs[v, kind] = out
        if i >= first and (i - first) % every == 0:
            for v in variants:
                leaks[v].append(leak(outs[v, "real"], outs[v, "clean"], band, face_size(points)))
            crops = [brow_crop(img, points) for img in (image, clean)]
            crops += [brow_crop(outs[v, "real"], points) for v in variants]
    set_variant(variants[0] if len(variants) == 1 else "after")
    return leaks, crops


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
    titles = ("target", "brows painted out", *variants)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", nargs="*", default=PAIRS, help="CLIP:SOURCE under the data")
    parser.add_argument("--first", type=int, default=10, help="first frame measured")
    parser.add_argument("--last", type=int, default=42, help="last frame tracked")
    parser.add_argument("--every", type=int, default=4, help="measure every n-th frame")
    parser.add_argument("--sheet", type=Path, help="write the last measured crops here")
    parser.add_argument(
        "--as-imported",
        action="store_true",
        help="measure the code as imported, nothing switched (an older checkout on PYTHONPATH)",
    )
    args = parser.parse_args()
    variants = (AS_IMPORTED,) if args.as_imported else VARIANTS
    cv2.setNumThreads(1)
    landmarks = EngineLandmarks()
    table: dict[str, list[float]] = {v: [] for v in variants}
    rows = []
    print("| pair | " + " | ".join(variants) + " |")
    print("| --- |" + " --- |" * len(variants))
    for spec in args.pairs:
        leaks, crops = run_pair(spec, landmarks, variants, (args.first, args.last, args.every))
        cells = [f"{median(leaks[v]):.2f} (max {max(leaks[v]):.2f})" for v in variants]
        print(f"| {spec} | " + " | ".join(cells) + " |", flush=True)
        for v in variants:
            table[v] += leaks[v]
        rows.append(crops)
    cells = [f"{median(table[v]):.2f}" for v in variants]
    print("| all frames, median | " + " | ".join(cells) + " |")
    if not args.as_imported:
        ratio = median(table["after"]) / max(median(table["switched back"]), 1e-6)
        print(f"after / switched back (medians over all frames): {ratio:.3f}")
    if args.sheet:
        sheet(rows, variants, args.sheet)


if __name__ == "__main__":
    main()
