"""How much detail the source faces of ../shared/data/stills hold (`filters/source_detail.py`).

Three parts, one run:

1. Every still with one face: its eye distance, its effective eye distance (the detail it
   holds) and what enrollment decides (refused as small or blurred, warned as soft, ok),
   sorted by the measure; contact sheets of the faces in that order, each drawn at 100 px
   between the eyes with its value written on it (``--sheets DIR``), and a figure of 16 of
   them evenly spaced along that order (``--figure FILE``, docs/images/source_detail.jpg).
2. A controlled check: sharp stills (the deepface ones with at least 150 px between the
   eyes) shrunk by known factors and enlarged back, plain, with pixel noise and as a JPEG:
   the effective eye distance should fall as the eye distance over the factor.
3. Cost: the measure's median time against the whole enrollment of the same photos.
4. With ``--swaps FILE``: `SWAP_SOURCES` (refused, warned and sharp ones) swapped onto a
   frame of `SWAP_CLIP`, source beside result, the refusal switched off to show what it
   prevents (docs/images/source_detail_swaps.jpg).

Run::

    .venv/bin/python bench/source_detail.py --sheets /tmp/source_detail \
        --figure docs/images/source_detail.jpg --swaps docs/images/source_detail_swaps.jpg
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from facestream.filters.enroll import (
    BLURRED_EYE_DISTANCE,
    MIN_EYE_DISTANCE,
    SOFT_EYE_DISTANCE,
    enroll_photo,
    eye_distance,
)
from facestream.filters.source_detail import WORK_EYES, effective_eye_distance
from facestream.models.landmarks import LEFT_EYE, RIGHT_EYE
from facestream.stream.live_chain import EngineLandmarks

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CELL, CELL_EYES = 200, 100  # contact sheet: cell size, eye distance faces are drawn at
PER_SHEET = 40  # 8 x 5 cells
FACTORS = (1, 2, 3, 4, 6)
SWAP_CLIP, SWAP_FRAME = "videos/liveportrait/d3.mp4", 40
SWAP_SOURCES = (
    "codeformer/0240.jpg",
    "codeformer/0500.jpg",
    "codeformer/099_Victoria_Beckham_00.jpg",
    "codeformer/067_David_Beckham_00.jpg",
    "deca/image00202.jpg",
    "deepface/img18.jpg",
    "codeformer/170_Marilyn_Monroe_00.jpg",
    "deepface/img26.jpg",
    "deepface/img3.jpg",
)


def decision(eyes: float, effective: float) -> str:
    """What enrollment makes of a face of this size and detail."""
    if eyes < MIN_EYE_DISTANCE:
        return "small"
    if effective < BLURRED_EYE_DISTANCE:
        return "blurred"
    return "soft" if effective < SOFT_EYE_DISTANCE else "ok"


def face_cell(image: np.ndarray, points: np.ndarray, text: str) -> np.ndarray:
    """The face drawn at `CELL_EYES` between the eyes in a `CELL` square, `text` on it."""
    eyes = eye_distance(points)
    centre = (points[list(LEFT_EYE)].mean(0) + points[list(RIGHT_EYE)].mean(0)) / 2
    centre = centre + (0.0, 0.45 * eyes)  # between the eyes and the mouth
    scale = CELL_EYES / eyes
    # Area averaging when shrinking (no aliasing to pass for detail), bicubic enlarging.
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=interpolation)
    x, y = np.round(CELL / 2 - scale * centre)  # whole pixels: the shift adds no blur
    shift = np.float32([[1, 0, x], [0, 1, y]])
    cell = cv2.warpAffine(image, shift, (CELL, CELL), flags=cv2.INTER_LINEAR)
    cv2.rectangle(cell, (0, 0), (CELL, 18), (0, 0, 0), -1)
    cv2.putText(cell, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 0), 1)
    return cell


def write_sheets(cells: list[np.ndarray], folder: Path) -> list[Path]:
    """Contact sheets of `PER_SHEET` cells each (8 per row) as PNGs in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(cells), PER_SHEET):
        chunk = cells[start : start + PER_SHEET]
        chunk += [np.zeros_like(cells[0])] * (-len(chunk) % 8)
        rows = [np.hstack(chunk[i : i + 8]) for i in range(0, len(chunk), 8)]
        path = folder / f"sheet_{start // PER_SHEET:02d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def degrade(image: np.ndarray, factor: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    """`image` shrunk by `factor` and enlarged back; with pixel noise or JPEG-compressed."""
    h, w = image.shape[:2]
    out = image
    if factor > 1:
        small = cv2.resize(
            image, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA
        )
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    if kind == "noise":
        out = np.clip(out + rng.normal(0, 6, out.shape), 0, 255).astype(np.uint8)
    elif kind == "jpeg":
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 40])
        out = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    return out


def write_swaps(path: Path, landmarks: EngineLandmarks) -> None:
    """`SWAP_SOURCES` onto frame `SWAP_FRAME` of `SWAP_CLIP` (the 10 frames before it run
    first, so the track's state settles), source beside result, 3 pairs a row."""
    import facestream.filters.enroll as enroll
    from facestream.filters.swap import SwapOptions, TrackState, composite_face

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from swap_examples import cell, engine_clip, face_crop

    frames, faces = engine_clip(DATA / SWAP_CLIP, SWAP_FRAME + 1)
    enroll.BLURRED_EYE_DISTANCE = 0.0  # the smeared ones too: what the refusal prevents
    pairs = []
    for name in SWAP_SOURCES:
        source = enroll.enroll_source(DATA / "stills" / name, landmarks)
        state = TrackState()
        earlier = slice(SWAP_FRAME - 10, SWAP_FRAME)
        for frame, found in zip(frames[earlier], faces[earlier], strict=True):
            if found:
                composite_face(frame.copy(), found[0].points, source, SwapOptions(), state)
        result = frames[SWAP_FRAME].copy()
        target = faces[SWAP_FRAME][0].points
        composite_face(result, target, source, SwapOptions(), state)
        pair = np.hstack(
            [
                cell(source.image, face_crop(source.image, source.points)),
                cell(result, face_crop(result, target)),
            ]
        )
        label = f"{source.detail:.0f} {Path(name).stem[:16]}"
        cv2.putText(pair, label, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1)
        pairs.append(pair)
    rows = [np.hstack(pairs[i : i + 3]) for i in range(0, len(pairs), 3)]
    image = cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print("swaps:", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheets", type=Path, help="folder for the contact sheets")
    parser.add_argument("--figure", type=Path, help="JPEG of 16 faces along the measure")
    parser.add_argument("--swaps", type=Path, help="JPEG of chosen sources swapped")
    args = parser.parse_args()
    landmarks = EngineLandmarks()
    photos = sorted(
        p for p in (DATA / "stills").rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )
    rows = []
    measure_ms, enroll_ms = [], []
    for path in photos:
        bgr = cv2.imread(str(path))
        if bgr is None:
            continue
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        faces = landmarks(image)
        if len(faces) != 1:
            continue
        points = np.asarray(faces[0].points, np.float32)
        eyes = eye_distance(points)
        start = time.perf_counter()
        effective = effective_eye_distance(image, points, eyes)
        measure_ms.append(1e3 * (time.perf_counter() - start))
        if eyes >= MIN_EYE_DISTANCE:
            start = time.perf_counter()
            try:
                enroll_photo(path, image, lambda _, found=points: [found])
            except ValueError:
                pass  # refused: the time until the refusal still counts
            enroll_ms.append(1e3 * (time.perf_counter() - start))
        rows.append((effective, eyes, path.relative_to(DATA / "stills"), image, points))
    rows.sort(key=lambda r: r[0])
    counts: dict[str, int] = {}
    print(f"{'effective':>9} {'eyes':>5}  decision  photo")
    for effective, eyes, name, _, _ in rows:
        verdict = decision(eyes, effective)
        counts[verdict] = counts.get(verdict, 0) + 1
        print(f"{effective:9.0f} {eyes:5.0f}  {verdict:8}  {name}")
    print("decisions over", len(rows), "one-face stills:", counts)
    cells = [
        face_cell(image, points, f"{eff:.0f}/{eyes:.0f} {decision(eyes, eff)} {name.stem[:11]}")
        for eff, eyes, name, image, points in rows
        if eyes >= MIN_EYE_DISTANCE
    ]
    if args.sheets:
        for path in write_sheets(cells, args.sheets):
            print("sheet:", path)
    if args.figure:
        picked = [cells[i] for i in np.linspace(0, len(cells) - 1, 16).round().astype(int)]
        figure = np.vstack([np.hstack(picked[:8]), np.hstack(picked[8:])])
        cv2.imwrite(
            str(args.figure),
            cv2.cvtColor(figure, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 85],
        )
        print("figure:", args.figure)

    print("\ncontrolled check: effective eye distance over min(eye distance / factor, WORK_EYES)")
    rng = np.random.default_rng(0)
    sharp = [r for r in rows if r[2].parts[0] == "deepface" and r[1] >= 150]
    for kind in ("plain", "noise", "jpeg"):
        table = {f: [] for f in FACTORS}
        for _, eyes, _, image, points in sharp:
            for f in FACTORS:
                soft = degrade(image, f, kind, rng)
                expected = min(eyes / f, WORK_EYES)
                table[f].append(effective_eye_distance(soft, points, eyes) / expected)
        cells = "  ".join(
            f"{f}x: {np.median(v):.2f} [{min(v):.2f}-{max(v):.2f}]" for f, v in table.items()
        )
        print(f"{kind:5} ({len(sharp)} photos)  {cells}")
    print(
        f"\ncost: measure median {np.median(measure_ms):.1f} ms, whole enrollment "
        f"{np.median(enroll_ms):.1f} ms ({np.median(measure_ms) / np.median(enroll_ms):.2f}x)"
    )
    if args.swaps:
        write_swaps(args.swaps, landmarks)


if __name__ == "__main__":
    main()
