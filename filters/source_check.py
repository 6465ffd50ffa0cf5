"""What a source photo shows over its face that the swap would paste as it is.

Enrollment (`enroll.enroll_photo`) asks this module about one photo and its 128 points:

- `covered_share`: how much of the face's inner skin (the outline less the brows, eyes,
  nose and lips) is hidden under something flat that is not skin: paint, a sticker, a
  flat object. The swap would paste it over every target face (an inpainting mask's
  white scribble came out as a flat pink blob over half the face).
- `glasses_contrast`: how clearly the photo shows the three bars a pair of glasses draws
  across a face (the bridge over the nose, the lower rim under each eye). The swap would
  paste the source's glasses onto the target and bend them with its expression.

Pure functions of an RGB uint8 image and its `(128, 2)` landmarks, so they run once per
photo and can be measured over a set of stills (`bench/source_check.py`).

Example:
    >>> import numpy as np
    >>> from facestream.models.landmarks import MEAN_SHAPE
    >>> points = np.asarray(MEAN_SHAPE, np.float32) * 300 + 20
    >>> rng = np.random.default_rng(0)
    >>> photo = np.clip(rng.normal((200, 160, 140), 6, (340, 340, 3)), 0, 255).astype(np.uint8)
    >>> covered_share(photo, points) < 0.01  # bare textured skin
    True
    >>> photo[:, 150:] = 255  # white paint over the right half
    >>> covered_share(photo, points) > 0.3
    True
"""

from __future__ import annotations

import cv2
import numpy as np

from facestream.filters.blend import polygon_mask
from facestream.filters.enroll import CHEEKS, OUTLINE, disc, eye_distance, features_mask
from facestream.filters.glasses import BAND_X, BAND_Y, CHROMA_GAIN, SCALE, band_affine, band_pixels

# A covered pixel (`covered_share`) is flat: the standard deviation of its luma (pixel
# noise averaged out over NOISE_SCALE eye distances: a real object's surface is grainy)
# over TEXTURE_SCALE eye distances is under FLAT times the skin's typical one (paint
# measures 0-0.2, cheeks 3-20 on the stills), the skin read on the cheeks away from
# pixels under FLAT_FLOOR grey levels, unless that leaves under MIN_SKIN of them (skin
# as smooth as paint: a drawing, where nothing is then flat). It lies FAR
# from the skin's colour (Lab distance over the skin's own robust spread per channel, at
# least SPREAD_FLOOR: a grey-scale photo has none in colour) or is clipped white. It is
# not darker than DARK of the skin's lightness: dark flat regions are hair with crushed
# shadows or the shaded side of a face (the hair rules and the colour match handle those;
# a black object is missed with them). Regions narrower than MIN_PATCH eye distances (a
# highlight's clipped core, a glint) are not counted.
TEXTURE_SCALE = 0.03
NOISE_SCALE = 0.01
FLAT, FLAT_FLOOR, MIN_SKIN = 0.3, 1.0, 0.2
FAR, SPREAD_FLOOR = 4.0, 2.0
DARK = 0.5
CLIPPED = 245.0  # Lab L (0-255): clipped white, counted however near the skin's colour
MIN_PATCH = 0.03


def inner_skin(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool mask of the face outline less its inner features (`enroll.features_mask`):
    where a face shows its own skin."""
    face = polygon_mask(points[OUTLINE].astype(np.float32), shape) > 0
    return face & (features_mask(points, shape) == 0)


def covered_share(image: np.ndarray, points: np.ndarray) -> float:
    """Share (0..1) of the inner skin (`inner_skin`) of the face with landmarks `points`
    in `image` (uint8 RGB) under something flat that is not skin (see `FLAT`)."""
    eyes = eye_distance(points)
    h, w = image.shape[:2]
    # Only the face's box is looked at.
    x0, y0 = np.maximum(np.floor(points.min(axis=0) - 2), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(points.max(axis=0) + 2), (w, h)).astype(int)
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    local = points - (x0, y0)
    shape = crop.shape[:2]
    region = inner_skin(local, shape)
    if not region.any():
        return 0.0
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    light = lab[..., 0]
    # Pixel noise is averaged out first: a real object's surface is grainy, not flat.
    fine = cv2.GaussianBlur(light, (0, 0), max(NOISE_SCALE * eyes, 1.0))
    sigma = max(TEXTURE_SCALE * eyes, 1.5)
    mean = cv2.GaussianBlur(fine, (0, 0), sigma)
    texture = np.sqrt(np.maximum(cv2.GaussianBlur(fine * fine, (0, 0), sigma) - mean**2, 0.0))
    hull = cv2.convexHull(local[CHEEKS].astype(np.float32))[:, 0]
    cheeks = (polygon_mask(hull, shape) > 0) & region
    if cheeks.sum() < 16:
        return 0.0
    # The skin is read from the cheeks away from flat pixels: paint over the cheeks, and
    # its edges' blurred texture, must not count as skin (nor widen its spread, as a
    # covariance would); half the cheeks may be painted. Where hardly any cheek is left,
    # the skin itself is as smooth as paint (a drawing) and all the cheeks are read.
    near_flat = cv2.dilate((texture < FLAT_FLOOR).astype(np.uint8), disc(3.0 * sigma))
    skin = cheeks & (near_flat == 0)
    if skin.sum() < MIN_SKIN * cheeks.sum():
        skin = cheeks
    flat = texture < FLAT * float(np.median(texture[skin]))
    samples = lab[skin]
    centre = np.median(samples, axis=0)
    spread = 1.4826 * np.median(np.abs(samples - centre), axis=0) + SPREAD_FLOOR
    # Clipped white holds nothing of a face whatever its colour distance (white paint on
    # a pale black-and-white photo lies within the skin's own spread of grey).
    far = np.sqrt((((lab - centre) / spread) ** 2).sum(axis=-1)) > FAR
    far |= light >= CLIPPED
    covered = (flat & far & (light >= DARK * centre[0]) & region).astype(np.uint8)
    covered = cv2.morphologyEx(covered, cv2.MORPH_OPEN, disc(MIN_PATCH * eyes))
    # Grown over its own rim, whose texture the window blurs with the skin's beside it.
    rim = cv2.dilate(covered, disc(2.0 * sigma)) > 0
    return float((rim & far & region)[region].mean())


# Glasses (`glasses_contrast`), in the canonical band over the eyes of `glasses.py` (eye
# distances from the eyes' midpoint, x right, y down): the bridge is sought over the nose
# (BRIDGE_X) between the brows and the eyes' lower lids (BRIDGE_Y), each lower rim under
# its eye (the eye centres lie at x = -0.5 and 0.5; RIM_X either side) past the lids
# and eye bags' crease (RIM_Y). Each is a bar across the rows: the rows averaged over the
# window's width (so vertical lines, the nose's sides and frown lines, average out), and
# the bar is what a closing or opening over BAR_ROWS canonical px (0.26 eye distances:
# thick frames) takes away, in luma or in chroma times `glasses.CHROMA_GAIN`.
BRIDGE_X, BRIDGE_Y = (-0.1, 0.1), (-0.4, 0.15)
RIM_X, RIM_Y = 0.2, (0.22, 0.6)
BAR_ROWS = 21
_BAR = np.ones((BAR_ROWS, 1), np.uint8)


def glasses_contrast(image: np.ndarray, points: np.ndarray) -> float:
    """Grey levels by which the weakest of the three bars glasses draw across a face (the
    bridge over the nose and the two lower rims, see `BRIDGE_X`) stands out in `image`
    (uint8 RGB, landmarks `points`); 0 where the band over the eyes leaves the photo."""
    sampled = band_pixels(image, band_affine(points))
    if sampled is None:
        return 0.0
    band, seen = sampled
    windows = [(BRIDGE_X, BRIDGE_Y)] + [((c - RIM_X, c + RIM_X), RIM_Y) for c in (-0.5, 0.5)]
    bars = []
    for x, y in windows:
        c0, c1 = (int(round((v - BAND_X[0]) * SCALE)) for v in x)
        r0, r1 = (int(round((v - BAND_Y[0]) * SCALE)) for v in y)
        # Rows reaching past the photo's edge read as a bar against the black beyond it.
        reach = (BAR_ROWS // 2, BAR_ROWS // 2)
        if not seen[max(r0 - reach[0], 0) : r1 + reach[1], c0:c1].all():
            return 0.0
        rows = np.ascontiguousarray(band[:, c0:c1].astype(np.float32).mean(axis=1)[:, None])
        bar = np.maximum(
            cv2.morphologyEx(rows, cv2.MORPH_BLACKHAT, _BAR),
            cv2.morphologyEx(rows, cv2.MORPH_TOPHAT, _BAR),
        )[r0:r1, 0]
        bars.append(float(np.max(np.maximum(bar[:, 0], CHROMA_GAIN * bar[:, 1:].max(axis=1)))))
    return min(bars)
