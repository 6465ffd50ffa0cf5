"""How much of each source face's sides (cheeks, temples, jaw: the outline less the inner
features and the forehead band) enrollment paints over as dark hair (`hair_texture`) and
the swap then leaves out (`hair_free`: saturated locks, and light hair told by its strands
at enrollment, `light_hair`), against two simpler rules measured in the same run: the
forehead's Lab distance (over `HAIR_LAB_NEAR`) and chroma alone (over `HAIR_CHROMA_NEAR`
above the cheek skin's). Landmarks from the engine, as at enrollment::

    .venv/bin/python bench/swap_hair_sides.py [--sheet /tmp/hair_sides.png]

*found* is the share of the sides painted or left out; *no light* is the same without
`light_hair`, *old growth* with a saturated lock grown over the whole region of the sides
joined to it (`whole_regions`, as `_side_hair_free` did before), both in the same run.
*lock* is the share of the forehead (`forehead`) where `forehead_strands` finds a lock
falling across it. The summary compares the sources with light hair over the sides
(`LIGHT`, picked by looking) with those whose sides are bare (`BARE`): there anything
found is a false positive. `--sheet` renders each source with the painted pixels in blue
and the left-out ones in green, light hair's tinted orange, to look at.
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
    # Light hair (blonde, light brown, grey, red) over the cheeks or temples, inside the
    # outline; then bare faces with shading, stubble, earrings or hair just beside the face.
    *(f"deepface/img{i}.jpg" for i in (9, 22, 23, 28, 48, 49, 54, 55)),
    "deca/image02246.jpg",
    *(f"deepface/img{i}.jpg" for i in (13, 17, 18, 21, 29, 32, 34, 36, 61)),
    "face_recognition/biden2.jpg",
]
# Sources with light hair over the sides, and with bare sides (by looking at the sheet).
LIGHT = [
    *(f"deepface/img{i}.jpg" for i in (3, 8, 9, 22, 23, 28, 48, 49, 53, 54, 55, 56)),
    "face_recognition/img1.jpg",
    "face_recognition/img2.jpg",
    "deca/image02246.jpg",
]
BARE = [
    *(f"deepface/img{i}.jpg" for i in (6, 30, 35, 1, 2, 4, 5, 10, 15, 20, 45, 50, 16, 59, 41)),
    *(f"deepface/img{i}.jpg" for i in (13, 17, 18, 21, 29, 32, 34, 36, 61)),
    "face_recognition/obama.jpg",
    "face_recognition/lin-manuel-miranda.jpg",
    "face_recognition/biden2.jpg",
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


def forehead_lock(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """bool mask of a lock falling across the forehead (`forehead_strands`) of `image`."""
    masks = enroll.side_masks(image, points)
    if masks is None:
        return np.zeros(image.shape[:2], bool)
    light, cheeks, face, _, _ = masks
    score, fx, fy = enroll.strand_score(light, enroll.eye_distance(points), cheeks)
    return enroll.forehead_strands(score, fx, fy, points, face)


def _unpainted(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return image, np.zeros(image.shape[:2], bool)


def whole_regions(lock: np.ndarray, through: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`grow_lock` as `swap._side_hair_free` used it before: from every region of
    `through` over the face sides that `lock` touches, whole."""
    sides = enroll.face_sides(points, lock.shape)
    count, labels = cv2.connectedComponents((through & sides).astype(np.uint8))
    touched = np.zeros(count, bool)
    touched[np.unique(labels[lock])] = True
    touched[0] = False
    return enroll.grow_lock(touched[labels] | lock, through, points)


def found(
    image: np.ndarray, points: np.ndarray, light: bool, old_growth: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(painted, light hair, `hair_free` of the painted texture, painted or left out), with
    or without `light_hair`, as enrollment and the swap do (with the old growth of
    saturated locks, `whole_regions`, if `old_growth`)."""
    image, painted = enroll.hair_texture(image, points)
    swap.grow_lock = whole_regions if old_growth else enroll.grow_lock
    hair = enroll.light_hair(image, points) if light else np.zeros(image.shape[:2], bool)
    kept = swap.hair_free(image, points, hair.astype(np.float32) if hair.any() else None)
    swap.grow_lock = enroll.grow_lock
    return painted, hair, kept, painted | (kept < 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sheet", type=Path, help="render the left-out pixels to this PNG")
    args = parser.parse_args()
    landmarks = EngineLandmarks()
    print(
        f"{'source':42s} {'sides px':>8s} {'Lab>12':>7s} {'chroma':>7s} {'painted':>7s}"
        f" {'light':>7s} {'lock':>6s} {'hair_free<0.5':>13s} {'no light':>8s} {'old growth':>10s}"
        f" {'found':>7s}"
    )
    cells = []
    shares: dict[str, tuple[float, ...]] = {}
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
        _, _, _, before = found(image, points, light=False)
        _, _, _, grown = found(image, points, light=True, old_growth=True)
        dark, light, kept, after = found(image, points, light=True)
        upper = enroll.forehead(points, image.shape[:2])
        lock = forehead_lock(image, points)
        shares[name] = (
            float(np.mean(before[sides])),
            float(np.mean(after[sides])),
            float(np.mean(light[sides])),
            float(np.mean(grown[sides])),
            float(np.mean(lock[upper])),
        )
        print(
            f"{name:42s} {int(sides.sum()):8d} {np.mean(dist[sides] > swap.HAIR_LAB_NEAR):7.3f}"
            f" {np.mean(excess[sides] > swap.HAIR_CHROMA_NEAR):7.3f}"
            f" {np.mean(dark[sides]):7.3f} {np.mean(light[sides]):7.3f} {shares[name][4]:6.3f}"
            f" {np.mean(kept[sides] < 0.5):13.3f} {shares[name][0]:8.3f} {shares[name][3]:10.3f}"
            f" {shares[name][1]:7.3f}"
        )
        if args.sheet:
            shown = source.image * kept[..., None] + (1.0 - kept[..., None]) * np.array(
                [0, 255, 0], np.float32
            )
            shown[dark] = 0.4 * shown[dark] + np.array([0, 60, 150], np.float32)
            shown[light] = 0.7 * shown[light] + np.array([75, 45, 0], np.float32)
            cell = cv2.resize(shown.astype(np.uint8), (240, 300), interpolation=cv2.INTER_AREA)
            cv2.putText(cell, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
            cells.append(cell)
    for group, names in (("light hair over the sides", LIGHT), ("bare sides", BARE)):
        values = np.array([shares[n] for n in names if n in shares])
        if len(values):
            print(
                f"{group} ({len(values)} sources): share of the sides found, mean no light"
                f" {values[:, 0].mean():.3f} old growth {values[:, 3].mean():.3f} found"
                f" {values[:, 1].mean():.3f}; median {np.median(values[:, 0]):.3f}"
                f" {np.median(values[:, 3]):.3f} {np.median(values[:, 1]):.3f}; max"
                f" {values[:, 0].max():.3f} {values[:, 3].max():.3f} {values[:, 1].max():.3f};"
                f" left out as light hair: mean {values[:, 2].mean():.3f}, max"
                f" {values[:, 2].max():.3f}, on {int(np.sum(values[:, 2] > 0.005))} sources;"
                f" a lock across the forehead on {int(np.sum(values[:, 4] > 0.005))} sources"
                f" (max {values[:, 4].max():.3f} of it)"
            )
    if args.sheet and cells:
        cells += [np.zeros_like(cells[0])] * (-len(cells) % 5)
        rows = [np.hstack(cells[i : i + 5]) for i in range(0, len(cells), 5)]
        cv2.imwrite(str(args.sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
        print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
