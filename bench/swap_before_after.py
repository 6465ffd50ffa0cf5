"""Before/after grids of one compositor change (issue #8): target, without, with.

Two changes can be switched off in the same run, so both columns come from the same code
and the same landmarks:

- ``teeth``: enrollment paints the source's teeth between its lips over in lip colour
  (`filters/enroll.py`, `lip_texture`);
- ``lighting``: the face takes the target's lighting across it (`filters/colour.py`,
  `match_lighting`);
- ``hair``: enrollment paints the source's dark hair over its cheeks and temples over
  from its skin (`filters/enroll.py`, `hair_texture`); these rows show the source's
  face, with what was painted over in green, before the target;
- ``skin``: the lighting match reads the target's light from its skin only
  (`filters/colour.py`, `skin_weight`), so a beard is not taken for shadow. A clip name
  ending in ``+beard`` gets a dark beard painted on below the nose (`painted_beard`; no
  clip here has a real one); those rows add the same swap on the beardless frame and
  print the mean luma of the output under the beard, before and after, over it;
- ``fringe``: the source's hair of any colour over its forehead and temples is left out of
  the mask down to the brows (`filters/enroll.py`, `upper_hair`); these rows show the
  source's face, with what the swap leaves out in green (after), before the target;
- ``light``: enrollment finds light hair over the source's cheeks and temples by its
  strands (`filters/enroll.py`, `light_hair`) and the swap leaves it out of the mask; these
  rows show the source's face, with that hair in green, before the target;
- ``strands``: a lock falling across the source's forehead is found by its strands
  (`filters/enroll.py`, `forehead_strands`) and left out, and a saturated lock over the
  sides grows only so far from the lock (`filters/swap.py`, `_side_hair_free`), no longer
  over the shaded jaw rim joined to it; these rows show the source's face, with what the
  swap leaves out (`hair_free` under 0.5) in green, before the target.

Landmarks: the engine with the shipped weights, tracked from 20 frames before the frame
shown; one `TrackState` per column. ``demo`` as a clip is the demo's carphone clip, as a
source the demo's astronaut photo::

    .venv/bin/python bench/swap_before_after.py teeth docs/images/swap_teeth_before_after.jpg \\
        liveportrait/d3.mp4:demo:132 sadtalker/WDA_KatieHill_000.mp4:demo:90 \\
        liveportrait/d0.mp4:demo:0
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

import facestream.filters.colour as colour
import facestream.filters.enroll as enroll
import facestream.filters.swap as swap
from facestream.filters.blend import feather, polygon_mask
from facestream.filters.swap import SwapOptions, TrackState
from facestream.stream.cli_demo import demo_clip, demo_source
from facestream.stream.live_chain import EngineLandmarks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from swap_hair_sides import whole_regions  # noqa: E402
from swap_upper_hair import no_strands  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CHANGES = ("teeth", "lighting", "hair", "skin", "fringe", "light", "strands")
CELL = 200
SOURCE_TILES = ("hair", "fringe", "light", "strands")  # rows that show the source too
_REAL = {
    "teeth": enroll.lip_texture,
    "lighting": swap.match_lighting,
    "hair": enroll.hair_texture,
    "skin": colour.skin_weight,
    "fringe": swap.upper_hair,
    "light": enroll.light_hair,
    "strands": enroll.forehead_strands,
    "grow": swap.grow_lock,
}


def switch(change: str, on: bool) -> None:
    """Turn `change` on (the shipped code) or off (as it was before issue #8's fix)."""
    if change == "teeth":
        enroll.lip_texture = _REAL["teeth"] if on else _unpainted
    elif change == "hair":
        enroll.hair_texture = _REAL["hair"] if on else _unpainted
    elif change == "fringe":
        swap.upper_hair = _REAL["fringe"] if on else _no_hair
    elif change == "light":
        enroll.light_hair = _REAL["light"] if on else _no_hair
    elif change == "strands":
        enroll.forehead_strands = _REAL["strands"] if on else no_strands
        swap.grow_lock = _REAL["grow"] if on else whole_regions  # the old growth
    elif change == "skin":
        # Both names: swap.py imports it too.
        colour.skin_weight = swap.skin_weight = _REAL["skin"] if on else _all_skin
    else:
        swap.match_lighting = _REAL["lighting"] if on else _unlit


def _unpainted(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return image, np.zeros(image.shape[:2], bool)


def _no_hair(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.zeros(image.shape[:2], bool)


def _all_skin(image: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return weight


def painted_beard(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`image` with a dark brown beard of vertical strands over the face below the nose
    (the lips left bare), and its bool mask."""
    eyes = enroll.eye_distance(points)
    face = polygon_mask(points[enroll.OUTLINE], image.shape[:2])
    face[: int(points[enroll.NOSE, 1].max() + 0.1 * eyes)] = 0
    lips = cv2.dilate(polygon_mask(points[enroll.LIPS], image.shape[:2]), enroll.disc(0.08 * eyes))
    face[lips > 0] = 0
    # The strands move with the face (the frame's strands shifted by the face's corner),
    # as a real beard's do.
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.round(points.min(axis=0)), 0, None).astype(int)
    strands = _strands(h + w)[h + w - y0 : 2 * h + w - y0, h + w - x0 : h + 2 * w - x0]
    shade = np.clip(0.5 + 4.0 * strands, 0, 1)[..., None]
    hair = (1 - shade) * np.array([20, 16, 14], np.float32) + shade * np.array([70, 52, 42])
    alpha = feather(face, 0.05 * eyes)[..., None]
    beard = alpha * hair + (1 - alpha) * image
    return np.clip(beard + 0.5, 0, 255).astype(np.uint8), alpha[..., 0] > 0.5


@functools.cache
def _strands(pad: int) -> np.ndarray:
    """Vertical dark strands (blurred noise) over a canvas padded by `pad` px on each side
    of the largest frame here."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (2 * pad, 2 * pad)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 0.8, sigmaY=4.0)


def _unlit(
    src: np.ndarray, tgt: np.ndarray, weight: np.ndarray, size: float, features: object = ()
) -> np.ndarray:
    return src


def clip_path(name: str) -> Path:
    return demo_clip() if name == "demo" else DATA / "videos" / name


def source_path(name: str, folder: Path) -> Path:
    return demo_source(folder) if name == "demo" else DATA / "stills" / name


def tracked(path: Path, landmarks: EngineLandmarks, first: int, last: int) -> Iterator:
    """(index, RGB frame, (128, 2) points of the first face) from `first` to `last`."""
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i > last:
                return
            image = frame.to_ndarray(format="rgb24")
            faces = landmarks.engine.track(image)
            if i >= first and faces:
                yield i, image, np.asarray(faces[0].points, np.float32)


def row(change: str, spec: str, landmarks: EngineLandmarks, folder: Path) -> np.ndarray:
    clip, source, shown = spec.split(":")
    clip, beard = clip.removesuffix("+beard"), clip.endswith("+beard")
    k = int(shown)
    sources = []
    for on in (False, True):
        switch(change, on)
        sources.append(enroll.enroll_source(source_path(source, folder), landmarks))
    states = [TrackState(), TrackState(), TrackState()]
    for _, bare, points in tracked(clip_path(clip), landmarks, max(k - 20, 0), k):
        image, under = painted_beard(bare, points) if beard else (bare, None)
        runs = [(False, sources[0], image), (True, sources[1], image)]
        runs += [(True, sources[1], bare)] if beard else []  # the reference
        outs = []
        for (on, src, frame), state in zip(runs, states, strict=False):
            switch(change, on)
            out = frame.copy()
            result = swap.composite_face(out, points, src, SwapOptions(), state)
            outs.append(out)
    switch(change, True)
    if under is not None and result is not None:
        # Where the source covers the face fully (the feather lets the beard show at the
        # jaw, as it should).
        x0, y0, x1, y1 = result.box
        under[y0:y1, x0:x1] &= result.alpha > 0.95
        under[:y0], under[y1:], under[:, :x0], under[:, x1:] = False, False, False, False
        luma = [(out[under].astype(np.float32) @ [0.299, 0.587, 0.114]).mean() for out in outs]
        print(
            f"{spec}: luma under the beard (source fully over it, {int(under.sum())} px) over "
            f"the beardless swap's: before {luma[0] / luma[2]:.3f}, after {luma[1] / luma[2]:.3f}"
        )
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, half = (lo + hi) / 2, 0.62 * float((hi - lo).max())
    if change == "teeth":  # the lower face
        centre, half = centre + (0, 0.25 * (hi - lo)[1]), 0.55 * half
    x0, y0 = np.maximum(centre - half, 0).astype(int)
    x1, y1 = (centre + half).astype(int)
    shown_source = sources[1] if change == "strands" else sources[0]
    tiles = [source_tile(shown_source, change) for _ in range(change in SOURCE_TILES)]
    for img in (image, *outs):
        crop = img[y0:y1, x0:x1]
        shrink = crop.shape[1] > CELL
        tiles.append(
            cv2.resize(
                crop, (CELL, CELL), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
            )
        )
    print(f"{spec}: crop {x1 - x0} px", flush=True)
    return np.hstack(tiles)


def source_tile(source: enroll.SourceFace, change: str) -> np.ndarray:
    """The source's face with the pixels `hair_texture` paints over (``hair``) or the swap
    leaves out (``fringe``, ``strands``: `hair_free` under 0.5; ``light``: `light_hair`)
    in green."""
    face = source.image.copy()
    if change == "hair":
        hair = enroll.dark_hair(face, source.points)
    elif change == "light":
        hair = _REAL["light"](face, source.points)
    elif change == "strands":
        light = source.light_hair[0] if source.light_hair else None
        hair = swap.hair_free(face, source.points, light) < 0.5
    else:
        hair = swap.hair_free(face, source.points) < 0.5
    face[hair] = face[hair] // 3 + np.array([0, 160, 0], np.uint8)
    lo, hi = source.points.min(axis=0), source.points.max(axis=0)
    centre, half = (lo + hi) / 2, 0.62 * float((hi - lo).max())
    x0, y0 = np.maximum(centre - half, 0).astype(int)
    x1, y1 = (centre + half).astype(int)
    return cv2.resize(face[y0:y1, x0:x1], (CELL, CELL), interpolation=cv2.INTER_AREA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("change", choices=CHANGES)
    parser.add_argument("out", type=Path, help="the grid (.jpg)")
    parser.add_argument("rows", nargs="+", help="CLIP:SOURCE:FRAME (see the module doc)")
    args = parser.parse_args()
    landmarks = EngineLandmarks(weights="default")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row(args.change, spec, landmarks, Path(tmp)) for spec in args.rows]
    width = max(r.shape[1] for r in rows)  # rows with a painted beard have one tile more
    grid = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
    cv2.imwrite(
        str(args.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88]
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
