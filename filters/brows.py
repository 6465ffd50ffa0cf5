"""The target's real brows, found in its pixels where the landmarks put them too low.

The default mask's top is drawn clear of the target's brow points (`swap.face_polygon`,
`swap.brow_cover`). The lite landmark model (about 4 % NME) places a brow raised high on
the skin under it, so the real brow stayed outside the mask and showed above the source's:
a double brow (liveportrait/d10, frame 268). Here each brow is searched for above its
points, in the face's upright frame (the eye line level): a band darker than the skin just
above and just below it (`band_tops`); a brow found higher than its points lifts them, and
the mask's top with them (`lift_brows`).

Example:
    >>> brows = lift_brows(image, target, face_size(target), BrowTrack())  # doctest: +SKIP
    >>> polygon = face_polygon(points, brows, clearance)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facestream.filters.enroll import BROWS, EYES

# Fractions of the face size (sqrt of the outline's area). A brow is searched from SEARCH
# above its points to BELOW under them: on d10 a raised brow's top lies 0.13 over its
# points; the hairline of most faces 0.3 over the brows, so hair is mostly out of reach.
SEARCH, BELOW = 0.18, 0.02
# Skin is looked for from WINDOW[0] to WINDOW[1] above and below a band (a brow is 0.03 to
# 0.06 thick): a band with hair or the eye on both sides is no brow.
WINDOW = (0.02, 0.08)
# A band is a brow where it is darker than the brighter skin above and below it by this
# share of that skin (d10's raised brow: 0.25 to 0.55; its inner end 0.2).
CONTRAST = 0.15
# And the skin on its two sides is alike, the darker at least EVEN of the brighter: the
# lowest strands of a fringe are darker than the hair above them too, but that is no skin.
EVEN = 0.75
# And that skin is skin: at least SKIN_FLOOR of the region's brightest tenth (a lock of
# dark hair over the temple has strands darker than others, 0.25 apart at luma 35-48).
SKIN_FLOOR = 0.6
# A brow's top found up to SLACK over its points is where the points say: no lift (the
# points lie along the brow's upper half), so a well placed brow leaves the mask as it was.
SLACK = 0.03
# Neighbouring strips' brow tops agree within AGREE.
AGREE = 0.03
ROWS = 100  # profile rows per face size
# Vertical strips across both brows (each one profile: about 0.07 face sizes wide), from
# MARGIN outside their outer ends; samples per strip and per row.
STRIPS, MARGIN = 12, 0.02
SUBSAMPLE = (6, 2)
# A raised brow's top lies in the mask's feather where the mask stops under the drawn
# forehead outline (the source texture ends there): `clear_raised` lightens the target's
# pixels from the brow points up to TOP_MARGIN over its highest lift to the skin around
# them, a grey closing CLOSING wide (a brow is 0.03 to 0.06 thick), fading in over FADE.
TOP_MARGIN, CLOSING, FADE = 0.06, 0.1, 0.02
# Only for a brow lifted that far (its highest point, face sizes), in full from the second:
# one lifted less lies well inside the mask (clearance 0.11 over it), and its own dark band
# stays the target's as before; the ramp keeps the track's rise and fall free of a step.
CLEAR_FROM = (0.04, 0.08)
CLOSING_PX = 7  # the closing's kernel at the scale it runs at (px)
_HALF = len(BROWS) // 2
_BOTH_EYES = np.stack(EYES)
_NEAR, _FAR = (int(round(w * ROWS)) for w in WINDOW)  # WINDOW in profile rows
_WINDOW_KERNEL = np.ones((_FAR - _NEAR + 1, 1), np.uint8)
_STRIP_MIDDLES = np.arange(STRIPS) + 0.5


def upright(target: np.ndarray) -> np.ndarray:
    """2x2 rotation taking the face with landmarks `target` to its upright frame: the eye
    line level, left eye (in the image) first."""
    first, second = target[_BOTH_EYES].sum(axis=1) / len(EYES[0])  # EYES: 8 points each
    dx, dy = second - first
    if dx < 0:
        dx, dy = -dx, -dy
    norm = max(float(np.hypot(dx, dy)), 1e-6)
    return np.array([[dx, dy], [-dy, dx]], np.float32) / norm


def brow_profiles(
    image: np.ndarray, brows: np.ndarray, size: float, rotation: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Luma profiles of `STRIPS` vertical strips across both brows (upright points
    `brows`), `ROWS` rows per face size, top to bottom, from `SEARCH` + `WINDOW[1]` over
    the brows' highest point to `BELOW` + `WINDOW[1]` under their lowest.

    Returns the profiles (rows, STRIPS) float32, each strip's centre x (upright) and the
    row of the brow points at that x (interpolated between the brows)."""
    (x0, y0), (x1, y1) = brows.min(axis=0), brows.max(axis=0)
    x0, x1 = x0 - MARGIN * size, x1 + MARGIN * size
    y0, y1 = y0 - (SEARCH + WINDOW[1]) * size, y1 + (BELOW + WINDOW[1]) * size
    rows = max(int(round((y1 - y0) / size * ROWS)), 2)
    # Sampled SUBSAMPLE times finer than the profiles (a few pixels apart on a face at
    # 720p), then averaged down to them: a tenth of the cost of the region at full scale.
    grid = (STRIPS * SUBSAMPLE[0], rows * SUBSAMPLE[1])
    to_image = np.empty((2, 3), np.float32)
    to_image[:, :2] = rotation.T * np.array([(x1 - x0) / grid[0], (y1 - y0) / grid[1]], np.float32)
    to_image[:, 2] = rotation.T @ np.array([x0, y0], np.float32)
    patch = cv2.warpAffine(
        image,
        to_image,
        grid,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    luma = cv2.resize(
        cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY), (STRIPS, rows), interpolation=cv2.INTER_AREA
    )
    centres = x0 + _STRIP_MIDDLES * (x1 - x0) / STRIPS
    order = np.argsort(brows[:, 0])
    at = np.interp(centres, brows[order, 0], brows[order, 1])
    return luma.astype(np.float32), centres, (at - y0) * rows / (y1 - y0)


def band_tops(luma: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Per strip (column of `luma`), how many rows the top of its brow lies over `at` (the
    row of its points); 0 where no brow band is found higher than that.

    The band is the row, from `SEARCH` over `at` to `BELOW` under it, most darker than the
    brightest rows above and below it (`WINDOW`; skin on both sides: alike by `EVEN`, and
    bright by `SKIN_FLOOR`), by at least `CONTRAST`; its top is the nearest row above it
    halfway back to the skin above. A strip's band counts only where a neighbouring
    strip's top lies within `AGREE` of it: a brow is wider than a strip, a wrinkle's dark
    end or a lock of hair at the temple is often not."""
    rows = len(luma)
    near, far = _NEAR, _FAR
    # windows[r]: the brightest of rows r .. r + far - near.
    windows = cv2.dilate(luma, _WINDOW_KERNEL, anchor=(0, 0))
    # Only the rows with both windows inside the profile can be a band (the others' skin
    # is missing): the skin above row far + i is windows[i], below it windows[far + near + i].
    inner = luma[far : rows - far]
    above = windows[: rows - 2 * far]
    below = windows[far + near : rows - far + near]
    skin = np.minimum(above, below)
    contrast = (skin - inner) / np.maximum(skin, 1.0)
    # Hair, not skin, on both sides: dark next to the region's bright tenth (its skin).
    tenth = int(0.9 * (luma.size - 1))
    bright = np.partition(luma, tenth, axis=None)[tenth]
    index = np.arange(rows, dtype=np.float32)[:, None]
    rank = index[far : rows - far]
    contrast[
        (skin < EVEN * np.maximum(above, below))  # hair on one side
        | (skin < SKIN_FLOOR * bright)
        | (rank < at - SEARCH * ROWS)
        | (rank > at + BELOW * ROWS)
    ] = -np.inf
    best = contrast.argmax(axis=0)
    strips = np.arange(luma.shape[1])
    band = best + far
    half = 0.5 * (luma[band, strips] + above[best, strips])
    # The nearest row over the band back to half way: it exists, the skin above is there.
    back = (luma >= half) & (index < band)
    top = np.where(
        contrast[best, strips] >= CONTRAST,
        at - (rows - 0.5 - np.argmax(back[::-1], axis=0)),
        np.nan,
    )
    apart = np.abs(np.diff(top)) <= AGREE * ROWS  # nan compares False
    agreed = np.zeros_like(apart, shape=len(top))
    agreed[1:] |= apart
    agreed[:-1] |= apart
    return np.where(agreed, np.maximum(top, 0.0), 0.0)


def find_lift(
    image: np.ndarray, target: np.ndarray, size: float, rotation: np.ndarray
) -> np.ndarray:
    """(len(BROWS),) how far to lift each brow point of `target` (face sizes, in the
    upright frame) to the top of the real brow found in `image` (uint8 RGB); 0 where the
    brow is where its points say. `rotation`: `upright(target)`.

    A brow moves as a whole: each point is lifted at least as far as its brow's median
    point (the strips at a brow's tail, by the hair at the temple, often find nothing).
    Up to `SLACK` the lift is 0 and it reaches the found height at twice that, with no
    step between."""
    brows = target[BROWS] @ rotation.T
    luma, centres, at = brow_profiles(image, brows, size, rotation)
    found = np.interp(brows[:, 0], centres, band_tops(luma, at)).astype(np.float32) / ROWS
    halves = found.reshape(2, _HALF)  # (np.median costs 10x)
    np.maximum(halves, np.sort(halves, axis=1)[:, _HALF // 2 : _HALF // 2 + 1], out=halves)
    return np.minimum(np.maximum(2.0 * (found - SLACK), 0.0), found)  # np.clip costs 3x


@dataclass
class BrowTrack:
    """Each brow point's lift on one face track, so the mask's top does not jump.

    A lift found follows at once in part (`RISE` of the way a frame: a raised brow must be
    covered within a few frames), and falls back slowly (`FALL`): a frame where the band
    is missed (motion blur) does not drop the cover.

    While the brows are where their points say (the last search found nothing), the search
    runs every other frame (`due`): a skipped frame counts as a search that found nothing,
    so a brow raised then is covered from the next frame."""

    RISE = 0.6
    FALL = 0.15
    lift: np.ndarray | None = None
    resting: bool = False  # the last search found nothing: the next frame skips it

    def due(self) -> bool:
        """Whether this frame's brows are searched (every other frame while resting)."""
        if self.resting:
            self.resting = False
            return False
        return True

    def update(self, lift: np.ndarray) -> np.ndarray:
        """Fold this frame's lift (face sizes) in and return the track's."""
        if self.lift is None:
            self.lift = lift
        else:
            rate = np.where(lift > self.lift, self.RISE, self.FALL)
            self.lift = self.lift + rate * (lift - self.lift)
        return self.lift

    def searched(self, lift: np.ndarray) -> np.ndarray:
        """`update` with a searched frame's lift; the next frame rests if it found none."""
        self.resting = not lift.any()
        return self.update(lift)


def clear_raised(image: np.ndarray, target: np.ndarray, lifted: np.ndarray, size: float) -> None:
    """Lighten, in place in `image` (uint8 RGB, the target's pixels), the dark band of a
    brow raised above its points `target` (128, 2) to `lifted` (`lift_brows`) to the skin
    around it: from the points up to `TOP_MARGIN` over the brow's highest lifted one, for
    a brow lifted more than `CLEAR_FROM`.

    The mask's top stays under the drawn forehead outline (`swap.OUTLINE_MARGIN`), and its
    feather fades out over the top of a brow raised that far: half the target's brow showed
    there as a thin line. A grey closing (`CLOSING` of the face size) takes out a dark band
    narrower than it and nothing else: only pixels darker than their surroundings change,
    and the hair at the temple, wider than the kernel, stays."""
    down = upright(target)[1]  # the upright frame's y axis in the image
    strips, shares = [], []
    for brow in (BROWS[:_HALF], BROWS[_HALF:]):
        lift = float(((target[brow] - lifted[brow]) @ down).max())  # px
        share = (lift / size - CLEAR_FROM[0]) / (CLEAR_FROM[1] - CLEAR_FROM[0])
        if share <= 0.0:
            continue
        shares.append(min(share, 1.0))
        # Every point as far as the brow's highest: the strips at its tail, by the temple's
        # hair, find less, and its top there stayed under a thin line (d10, frame 371).
        line = target[brow][np.argsort(target[brow, 0])]
        high = line - (lift + TOP_MARGIN * size) * down
        strips.append(np.vstack([high, line[::-1]]))
    if not strips:
        return
    corners = np.concatenate(strips)
    pad = int(CLOSING * size) + 2
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - pad, 0)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + pad + 1
    crop = image[y0:y1, x0:x1]
    if crop.size == 0:
        return
    region = np.zeros(crop.shape[:2], np.uint8)
    for strip, share in zip(strips, shares, strict=True):
        cv2.fillPoly(region, [(strip - (x0, y0)).round().astype(np.int32)], int(255 * share))
    # Coarser, the closing's kernel `CLOSING_PX` wide: the result is smoothed anyway, and
    # a kernel 0.1 face sizes wide at full scale cost 2.4 ms on a face of 250 px (0.45 now).
    scale = max(int(CLOSING * size / CLOSING_PX), 1)
    small = (max(crop.shape[1] // scale, 1), max(crop.shape[0] // scale, 1))
    width = max(int(round(CLOSING * size / scale)) | 1, 3)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    closed = cv2.morphologyEx(
        cv2.resize(crop, small, interpolation=cv2.INTER_AREA),
        cv2.MORPH_CLOSE,
        kernel,
        borderType=cv2.BORDER_REPLICATE,
    )
    weight = cv2.resize(region, small, interpolation=cv2.INTER_AREA)
    # The closing's flat plateaus smoothed, and the region's edge faded in: no step.
    sigma = max(FADE * size / scale, 0.5)
    closed = cv2.GaussianBlur(closed, (0, 0), sigma)
    weight = cv2.GaussianBlur(weight, (0, 0), sigma)
    full = (crop.shape[1], crop.shape[0])
    closed = cv2.resize(closed, full, interpolation=cv2.INTER_LINEAR)
    weight = cv2.cvtColor(
        cv2.resize(weight, full, interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2RGB
    )
    lighter = cv2.subtract(closed, crop)  # saturating: darken nothing
    crop[...] = cv2.add(crop, cv2.multiply(lighter, weight, scale=1.0 / 255.0))


def lift_brows(
    image: np.ndarray, target: np.ndarray, size: float, track: BrowTrack | None = None
) -> np.ndarray:
    """`target` (128, 2) with its brow points moved up, in the face's upright frame, to the
    real brows found in `image` (`find_lift`), smoothed over `track`; the other points as
    they are. The mask's top is drawn from these (`swap.face_polygon`, `swap.brow_cover`)."""
    rotation = upright(target)
    if track is None:
        lift = find_lift(image, target, size, rotation)
    elif track.due():
        lift = track.searched(find_lift(image, target, size, rotation))
    else:
        lift = track.update(np.zeros(len(BROWS), np.float32))  # as a search finding none
    if not lift.any():
        return target
    out = target.astype(np.float32, copy=True)
    out[BROWS] -= (lift * size)[:, None] * rotation[1]  # rotation[1]: the upright y axis
    return out
