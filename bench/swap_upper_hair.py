"""How much of the source's hair over its forehead and temples the swap still pastes, and
how much brow and bare skin it leaves out, before (`hair_free` without `upper_hair` and
without light hair), with `upper_hair` and the light hair of the sides (`light_hair`
without `forehead_strands`) and after (with a lock across the forehead too), in the same
run. Landmarks from the engine, as at enrollment::

    .venv/bin/python bench/swap_upper_hair.py [--sheet /tmp/upper_hair.png]

Regions, on each enrolled texture, inside the part of the face the swap pastes (the
default mask: the jaw closed over the forehead row) and above the brows:

- hair (on the sources in `HAIRY`, picked by looking: a fringe, hair at the temples): the
  pixels off the cheeks' skin by the forehead's old rule (Lab distance, darker luma only,
  over `HAIR_LAB_NEAR`), above the brows' body (`brows_and_eyes`); a pixel is pasted when
  `hair_free` is 0.5 or more there;
- bare skin (the same pixels on the sources in `BARE`, bare foreheads, picked by looking):
  the share of the region above the brows left out;
- brows: the share of the brows' body left out, on each kind of source.

`--sheet` renders each source with what is left out in green (after) and what was left out
without `forehead_strands` in blue outline.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from facestream.filters import enroll, swap
from facestream.filters.blend import polygon_mask
from facestream.filters.enroll import SourceFaceError, brows_and_eyes, enroll_source
from facestream.stream.live_chain import EngineLandmarks

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "stills"
# Hair over the pasted forehead or temples: brown and black fringes, grey hair at the
# temples (0934, 0717), blonde and brown strands, a dark lock across Hepburn01's forehead.
HAIRY = [
    "deca/5.jpg",
    "deca/image00302.jpg",
    "deca/image00202.jpg",
    "deca/1.jpg",
    "codeformer/0770.jpg",
    "codeformer/0720.jpg",
    "codeformer/0143.jpg",
    "codeformer/0599.jpg",
    "codeformer/111_Alexa_Chung_00.jpg",
    "codeformer/161_Zac_Efron_00.jpg",
    "codeformer/099_Victoria_Beckham_00.jpg",
    "codeformer/0934.jpg",
    "codeformer/0717.jpg",
    "deepface/img53.jpg",
    "deepface/img3.jpg",
    "codeformer/Hepburn01.jpg",
    # Blonde and light brown locks falling across the forehead to a brow.
    "deepface/img55.jpg",
    "deepface/img54.jpg",
]
# Bare foreheads and temples: short hair clear of the face, bald heads, grey hair above.
BARE = [
    "deepface/img6.jpg",
    "deepface/img30.jpg",
    "deepface/img35.jpg",
    "deepface/img16.jpg",
    "deepface/img20.jpg",
    "deepface/img21.jpg",
    "deepface/img29.jpg",
    "deepface/img33.jpg",
    "deepface/img40.jpg",
    "deepface/img41.jpg",
    "face_recognition/obama.jpg",
    "face_recognition/biden2.jpg",
    "deca/3.jpg",
    "deca/4.jpg",
]


def regions(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pasted region above the brows; its pixels off skin by the old rule; the brows)."""
    shape = image.shape[:2]
    pasted = polygon_mask(points[swap._MASK].astype(np.float32), shape) > 0
    brows, eyes = brows_and_eyes(points, shape)
    # Above the brows' body: its top edge across the face, level beyond the brows' ends
    # (between the brows and the eyes lie the lids, whose shade is off skin too).
    top = points[enroll.BROWS] - [0.0, enroll.BROW_ABOVE * enroll.eye_distance(points)]
    top = top[np.argsort(top[:, 0])]
    rows, cols = np.indices(shape)
    upper = pasted & (rows < np.interp(cols, top[:, 0], top[:, 1])) & ((brows | eyes) == 0)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    hull = cv2.convexHull(points[enroll.CHEEKS].astype(np.float32))[:, 0]
    diff = lab - np.median(lab[polygon_mask(hull, shape) > 0], axis=0)
    diff[..., 0] = np.minimum(diff[..., 0], 0.0)
    off = np.linalg.norm(diff, axis=-1) > swap.HAIR_LAB_NEAR
    return upper, upper & off, brows > 0


def _no_upper_hair(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.zeros(image.shape[:2], bool)


def no_strands(score: np.ndarray, *_: object) -> np.ndarray:
    """`forehead_strands` finding nothing (the code before it)."""
    return np.zeros(score.shape, bool)


def _with(strands: Callable, image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """float32 `light_hair` of `image` with `strands` as its `forehead_strands`."""
    real = enroll.forehead_strands
    enroll.forehead_strands = strands
    try:
        return enroll.light_hair(image, points).astype(np.float32)
    finally:
        enroll.forehead_strands = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sheet", type=Path, help="render what is left out to this PNG")
    args = parser.parse_args()
    landmarks = EngineLandmarks()
    print(
        f"{'source':40s} {'kind':5s} {'px':>6s} {'pasted before':>13s} {'upper':>6s}"
        f" {'after':>6s} {'brows out before':>16s} {'upper':>6s} {'after':>6s}"
    )
    totals: dict[str, list[tuple[float, float]]] = {k: [] for k in ("hair", "bare", "hb", "bb")}
    cells = []
    real = swap.upper_hair
    for name in HAIRY + BARE:
        try:
            source = enroll_source(DATA / name, landmarks)
        except SourceFaceError as err:
            print(f"{name:40s} skipped: {err}")
            continue
        image, points = source.image, source.points
        upper, hair, brows = regions(image, points)
        swap.upper_hair = _no_upper_hair
        before = swap.hair_free(image, points)
        swap.upper_hair = real
        maps = [before]
        for strands in (no_strands, enroll.forehead_strands):
            light = _with(strands, image, points)
            maps.append(swap.hair_free(image, points, light if light.any() else None))
        hairy = name in HAIRY
        measured = hair if hairy else upper
        if hairy:  # hair pasted: hair_free 0.5 or more
            shares = tuple(float(np.mean(m[hair] >= 0.5)) for m in maps)
        else:  # bare skin left out
            shares = tuple(float(np.mean(m[upper] < 0.5)) for m in maps)
        out_brows = tuple(float(np.mean(m[brows] < 0.5)) for m in maps)
        totals["hair" if hairy else "bare"].append(shares)
        totals["hb" if hairy else "bb"].append(out_brows)
        print(
            f"{name:40s} {'hair' if hairy else 'bare':5s} {int(measured.sum()):6d}"
            f" {shares[0]:13.3f} {shares[1]:6.3f} {shares[2]:6.3f} {out_brows[0]:16.3f}"
            f" {out_brows[1]:6.3f} {out_brows[2]:6.3f}"
        )
        before, after = maps[1], maps[2]
        if args.sheet:
            cells.append(_cell(name, image, hair if hairy else upper, before, after))
    for kind, what in (
        ("hair", "hair pasted"),
        ("bare", "bare skin above the brows left out"),
        ("hb", "brows left out (under or beside the hair)"),
        ("bb", "brows left out"),
    ):
        values = np.array(totals[kind])
        if len(values):
            print(
                f"mean over {len(values)} sources, {what}: before {values[:, 0].mean():.3f},"
                f" upper {values[:, 1].mean():.3f}, after {values[:, 2].mean():.3f}"
            )
    if args.sheet and cells:
        cells += [np.zeros_like(cells[0])] * (-len(cells) % 6)
        rows = [np.hstack(cells[i : i + 6]) for i in range(0, len(cells), 6)]
        cv2.imwrite(str(args.sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
        print(f"wrote {args.sheet}")


def _cell(
    name: str, image: np.ndarray, measured: np.ndarray, before: np.ndarray, after: np.ndarray
) -> np.ndarray:
    """The texture: left out after in green, measured pixels dotted red, before's edge blue."""
    shown = image.astype(np.float32)
    out = after < 0.5
    shown[out] = 0.45 * shown[out] + np.array([0, 140, 0], np.float32)
    dots = measured & (np.indices(measured.shape).sum(axis=0) % 4 == 0)
    shown[dots] = (255, 0, 0)
    shown = np.ascontiguousarray(shown.astype(np.uint8))
    edge, _ = cv2.findContours(
        (before < 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    cv2.drawContours(shown, edge, -1, (0, 80, 255), 1)
    cell = cv2.resize(shown, (240, 300), interpolation=cv2.INTER_AREA)
    cv2.putText(cell, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    return cell


if __name__ == "__main__":
    main()
