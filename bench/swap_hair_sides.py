"""How much of each source face's sides (cheeks, temples, jaw: the outline less the inner
features and the forehead band) enrollment paints over as dark hair (`hair_texture`) and
`hair_free` then leaves out (saturated locks), against two simpler rules measured in the
same run: the forehead's Lab distance (over `HAIR_LAB_NEAR`) and chroma alone (over
`HAIR_CHROMA_NEAR` above the cheek skin's). Landmarks from the engine, as at enrollment::

    .venv/bin/python bench/swap_hair_sides.py [--sheet /tmp/hair_sides.png]

`--sheet` renders each source with the painted pixels in blue and the left-out ones in
green, to look at.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from facestream.filters import enroll, swap
from facestream.filters.blend import polygon_mask
from facestream.filters.enroll import SourceFaceError, enroll_source
from facestream.stream.live_chain import EngineLandmarks

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "stills"
# The sources of swap_examples.py (the last has red hair over her cheeks) and
# swap_quality.py (img6, img30, img35), then other stills large enough to enroll: side
# light, beards, make-up, blonde and dark hair framing the face; then dark hair over the
# cheeks and temples, and beards and glasses that must stay.
SOURCES = [
    "deepface/img6.jpg",
    "deepface/img3.jpg",
    "deepface/img30.jpg",
    "deepface/img35.jpg",
    "face_recognition/img2.jpg",
    *(f"deepface/img{i}.jpg" for i in (1, 2, 4, 5, 7, 8, 10, 15, 20, 40, 45, 50)),
    "face_recognition/obama.jpg",
    "face_recognition/lin-manuel-miranda.jpg",
    "deca/image00302.jpg",
    "deca/1.jpg",
    "deca/image00202.jpg",
    "deca/image00480.jpg",
    "face_recognition/img1.jpg",
    "face_recognition/alex_lacamoire1.jpg",
    "deepface/img42.jpg",
    "deepface/img53.jpg",
    "deepface/img56.jpg",
    "codeformer/0444.jpg",
    "deepface/img16.jpg",
    "deepface/img24.jpg",
    "deepface/img59.jpg",
    "deepface/img41.jpg",
]


def simple_rules(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Lab distance from the cheek skin, darker luma only; chroma above the skin's)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    hull = cv2.convexHull(points[enroll.CHEEKS].astype(np.float32))[:, 0]
    tone = np.median(lab[polygon_mask(hull, image.shape[:2]) > 0], axis=0)
    diff = lab - tone
    diff[..., 0] = np.minimum(diff[..., 0], 0.0)
    chroma = np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0)
    return np.linalg.norm(diff, axis=-1), chroma - np.hypot(tone[1] - 128.0, tone[2] - 128.0)


def _unpainted(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return image, np.zeros(image.shape[:2], bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sheet", type=Path, help="render the left-out pixels to this PNG")
    args = parser.parse_args()
    landmarks = EngineLandmarks()
    print(
        f"{'source':42s} {'sides px':>8s} {'Lab>12':>7s} {'chroma':>7s} {'painted':>7s}"
        f" {'hair_free<0.5':>13s}"
    )
    cells = []
    painting = enroll.hair_texture
    for name in SOURCES:
        # Enrolled unpainted, painted here: the mask is what is measured.
        enroll.hair_texture = _unpainted
        try:
            source = enroll_source(DATA / name, landmarks)
        except SourceFaceError as err:
            print(f"{name:42s} skipped: {err}")
            continue
        finally:
            enroll.hair_texture = painting
        image, points = source.image, source.points
        sides = enroll.face_sides(points, image.shape[:2])
        dist, excess = simple_rules(image, points)
        image, painted = painting(image, points)
        kept = swap.hair_free(image, points)
        print(
            f"{name:42s} {int(sides.sum()):8d} {np.mean(dist[sides] > swap.HAIR_LAB_NEAR):7.3f}"
            f" {np.mean(excess[sides] > swap.HAIR_CHROMA_NEAR):7.3f}"
            f" {np.mean(painted[sides]):7.3f} {np.mean(kept[sides] < 0.5):13.3f}"
        )
        if args.sheet:
            shown = source.image * kept[..., None] + (1.0 - kept[..., None]) * np.array(
                [0, 255, 0], np.float32
            )
            shown[painted] = 0.4 * shown[painted] + np.array([0, 60, 150], np.float32)
            cell = cv2.resize(shown.astype(np.uint8), (240, 300), interpolation=cv2.INTER_AREA)
            cv2.putText(cell, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
            cells.append(cell)
    if args.sheet and cells:
        cells += [np.zeros_like(cells[0])] * (-len(cells) % 5)
        rows = [np.hstack(cells[i : i + 5]) for i in range(0, len(cells), 5)]
        cv2.imwrite(str(args.sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
        print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
