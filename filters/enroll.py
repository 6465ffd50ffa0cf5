"""Source enrollment: the face to paste, computed once from one or several photos.

`enroll_source` reads the photos, finds the landmarks with the landmark function it is
given (the engine, or MediaPipe-derived points during development), rejects photos a swap
cannot use with one clear sentence (`SourceFaceError`), keeps the best-posed face, and
stores a texture crop (teeth between the lips painted over in lip colour, `lip_texture`;
dark hair over the cheeks and temples painted over from skin, `hair_texture`), its
landmarks, its canonical identity shape, where light hair lies over its cheeks and
temples or falls across its forehead (`light_hair`, told by its strands; the swap leaves it
out) and the share of its forehead under hair (`upper_hair`, which the swap leaves out; a
warning when it is most of it). A face mostly covered by something flat that is not skin
is refused, and what `source_check` sees over the face (a smaller cover, glasses) is
warned about. The warnings (a soft photo, a fringe, a cover, glasses) go to the log;
`source_warnings` gives their sentences.

Example:
    >>> source = enroll_source(["me.jpg"], landmark_fn)  # doctest: +SKIP
    >>> source.image.shape[2], source.points.shape
    (3, (128, 2))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facestream.filters.blend import polygon_mask
from facestream.filters.shape import fit_similarity, to_canonical
from facestream.filters.source_detail import effective_eye_distance
from facestream.models.landmarks import (
    FACE_OUTLINE,
    GROUPS,
    IBUG68,
    INNER_MOUTH,
    LEFT_EYE,
    MEAN_SHAPE,
    NAMES,
    OUTER_MOUTH,
    RIGHT_EYE,
)

log = logging.getLogger(__name__)

# A landmark function takes an RGB uint8 image and returns one entry per face: a (128, 2)
# array in image pixels, or any object with such a `.points` (e.g. FaceLandmarks).
LandmarkFn = Callable[[np.ndarray], Sequence[Any]]

MIN_EYE_DISTANCE = 80.0  # px between the eye centres; smaller faces give a blurry swap
# The detail a face holds, as the eye distance of a sharp face holding as much
# (`source_detail.effective_eye_distance`): a face enlarged from a small one, blurred or
# smeared holding less than BLURRED_EYE_DISTANCE is refused (the swap pastes a smear), less
# than SOFT_EYE_DISTANCE is used with a warning. Set on the 113 stills with one face of 80
# px or more (bench/source_detail.py, docs/SWAP.md *Blurred source photos*): the 19 smeared
# faces measure 26 or less, the sharp ones 34 or more; old degraded prints 28 (refused
# too) to 49 and slightly soft photos 34-49. Not 80: a sharp face measures about 0.7 of
# its eye distance, down to 0.3 for smooth retouched skin; 80 would refuse 27 of the 81
# photos outside the restoration set (codeformer), all usable.
BLURRED_EYE_DISTANCE = 30.0
SOFT_EYE_DISTANCE = 50.0
# Yaw proxy: nose-tip-to-jaw-end distance on the near side over the far side. With the nose
# tip about one ear-to-midline width in front of the ears, 0.2 is about 35 degrees of yaw,
# past which the far cheek hides and the source texture has holes.
MIN_FRONTALITY = 0.2
CLOSED_MOUTH = 0.02  # mouth_openness below this counts as closed
MIN_LEVEL_SIZE = 32  # px: the texture pyramid stops before levels smaller than this
CROP_MARGIN = 0.25  # texture crop: landmark box grown by this fraction of its size per side
# Teeth inside the source's lips (`lip_texture`), in Lab relative to the lips' own colour
# (a* at LIP_PERCENTILE of the outer-lip polygon). Measured on the astronaut's smile: lips
# a* 19-24, L 66; teeth a* 1-6, L 60-96; the dark mouth corners L 30-45. A pixel is surely teeth
# under TEETH_RED of the lips' a* and not darker than TEETH_LIGHT of their L; the teeth's
# soft edges, the gaps between them and the dark corners (under LIP_RED of the lips' a*,
# or darker than DARK of their L) go with the teeth they touch.
TEETH_RED, TEETH_LIGHT = 0.45, 0.8
LIP_RED, DARK = 0.65, 0.75
LIP_PERCENTILE = 85
# Point groups the hair maps work with (`face_sides`, `hair_texture`; the swap's mask too).
OUTLINE = np.asarray(FACE_OUTLINE, np.int64)
BROWS = np.asarray(GROUPS["brows"], np.int64)
CHEEKS = np.asarray(GROUPS["cheeks"], np.int64)
NOSE = np.asarray(GROUPS["nose"], np.int64)
LIPS = np.asarray(GROUPS["mouth"], np.int64)
EYES = (np.asarray(LEFT_EYE, np.int64), np.asarray(RIGHT_EYE, np.int64))
# The mid-forehead row, right to left (the swap's default mask closes the jaw over it).
FOREHEAD_ROW = np.array(
    [i for i, n in enumerate(NAMES) if n.startswith("forehead_") and "outline" not in n][::-1],
    np.int64,
)
# Eye distances: the inner features' hull is grown by this to keep out of the brows, eyes,
# nose and lips (their colours differ from skin legitimately); the band outside the outline
# where hair must continue.
INNER_MARGIN, OUTSIDE_RING = 0.15, 0.15
# Dark hair over the face sides (`hair_texture`, docs/SWAP.md *Dark hair over the face*):
# pixels darker than HAIR_DARK of the cheek skin's lightness, in regions that enter the
# face from beside it (above the mouth), whose fine detail relative to their own lightness
# is at least HAIR_TEXTURE times the cheek's (strands; a shaded cheek is smooth), and that
# do not reach under the mouth (a beard does).
# Measured on 105 stills: black hair 0.06-0.15 of the cheek's lightness, relative detail
# 8-13x; the shaded side of a hard-lit cheek 0.2-0.3 but 5x.
HAIR_DARK = 0.35
HAIR_TEXTURE = 6.0
# A lock covers at least MIN_LOCK of the face sides; its soft edges (strands thinning out)
# are taken along through pixels darker than HAIR_EDGE of the cheek's lightness, up to
# HAIR_REACH eye distances from it and into the margin around the features up to
# FEATURE_GAP from them: hair or dark eye make-up at the outer corner of an eye otherwise
# stays as a smudge there (the margin is there for the features' own colours).
MIN_LOCK, HAIR_EDGE = 0.01, 0.6
HAIR_REACH, FEATURE_GAP = 0.15, 0.03
# Hair of any colour over the upper face (`upper_hair`, docs/SWAP.md *Hair of any colour
# over the forehead and temples*): pixels above the eyes' tops off the skin's colour by
# HAIR_OFF (Mahalanobis distance in Lab from the cheeks' skin: its own spread of shading
# and tone is not hair), in regions joined to such pixels beside or above the face (hair
# comes in from outside; wrinkles and a shaded brow ridge do not). The brows' body (their
# points lifted by BROW_ABOVE and lowered by BROW_BELOW eye distances, carried on past the
# tail by BROW_TAIL) and the eyes (grown by EYE_MARGIN) are kept out: they are as dark and
# off skin as hair. Measured on 113 stills:
# skin under 3 (shading to about 3.5 near the outline); brown, grey and blonde fringes 5-20.
HAIR_OFF = 3.5
BROW_ABOVE, BROW_BELOW, EYE_MARGIN = 0.03, 0.12, 0.08
BROW_TAIL = 0.2  # eye distances the brows' body is carried on past their outer ends
# Hair over the brows or eyes cannot be told from them by colour (the brows are hair; a
# bare eye's lashes and iris often read as hair-coloured) and comes along with them.
# Enrollment warns when `upper_hair` covers over FRINGE_WARN of the forehead between the
# brows and the forehead row: then hair most likely reaches the brows (on 113 stills:
# 0.38-0.97 on the 7 fringes down to the brows, at most 0.28 on the others: partial
# fringes, hair at the temples).
FRINGE_WARN = 0.35
# Something flat that is not skin over the face (`source_check.covered_share`: paint, a
# sticker, an object), as a share of the face's inner skin: a photo over COVER_REFUSE is
# refused, over COVER_WARN used with a warning and passed over for an uncovered one. On the
# 92 stills that enroll otherwise (bench/source_check.py, docs/SWAP.md *Covered source
# faces*): the three painted over with inpainting masks 0.36-0.46, the others at most 0.034
# (clipped highlights).
COVER_REFUSE, COVER_WARN = 0.15, 0.06
# Glasses on the source (`source_check.glasses_contrast`: grey levels by which the weakest
# of the bridge and the two lower rims stands out): over GLASSES_BARS the photo is taken
# to show glasses, used with a warning and passed over for a photo without. On the 92
# stills: the three pairs it sees 58-93 (grace_hopper's amber frames, deepface img24,
# ultralight 5), bare faces at most 32 (eye bags and a crease at the nose's root); the
# soft old print Solvay_conference_1927_2_16's thin frames measure 14 (missed).
GLASSES_BARS = 45.0
# Light hair (blonde, light brown, grey) over the face sides (`light_hair`, docs/SWAP.md
# *Light hair over the cheeks and temples*): near the skin's colour and lightness, so told
# by its strands. A pixel is a candidate when it is off the skin's colour (`skin_distance`,
# blurred over STRAND_SCALE eye distances) by LIGHT_OFF and its strand score passes
# STRAND_FINE: the coherent energy of the fine detail (luma less its blur over
# STRAND_SCALE; the structure tensor's sqrt(l1 - l2)) over the gradient of that blur plus
# the cheeks' median fine energy. The face's edge against the background is a coarse step,
# high in both and low in the score; parallel strands are fine detail only. A region of
# candidates is hair when it enters from beside the face (as dark hair does), covers
# MIN_LOCK of the sides deeper than LOCK_DEPTH inside the outline (hair just beside the
# face bleeds into the blurred scores along its edge), does not reach the chin (under the
# mouth, CHIN_INSET inside its corners: a beard), and over it the strand score averages
# STRAND_REGION and the orientation's coherence over ALIGN_SCALE STRAND_ALIGN (strands run
# parallel; pores, stubble, wrinkles, shading and earrings do not). It is then grown
# through the candidates like dark hair (`grow_lock`) and by LIGHT_EDGE (the strands' soft
# edges). Measured on 92 stills (bench/swap_hair_sides.py): regions of hair average a
# score of 2.0-4.8 and a coherence of 0.71-0.94; on bare sides (shading, stubble, make-up,
# the face's edge) 1.4-2.3 and 0.48-0.88, earrings up to 6 but 0.59-0.71.
LIGHT_OFF, STRAND_FINE = 3.0, 1.2
STRAND_REGION, STRAND_ALIGN = 2.0, 0.7
STRAND_SCALE, ALIGN_SCALE, CHIN_INSET = 0.03, 0.08, 0.1
LIGHT_EDGE, LOCK_DEPTH = 0.03, 0.05
# A lock falling across the forehead (`forehead_strands`, docs/SWAP.md *A lock across the
# forehead and brow, and the jaw's rim*): above the eyes, the same strand candidates whose
# fine detail's main gradient lies within acos(STRAND_STEEP) of the eye line (strands
# steeper than 45 degrees; the forehead's wrinkles and the brows' hairs run along it, a
# brow's tail slants less), in regions joined to the ring beside or above the face, opened
# by LOCK_WIDTH eye distances (a lock is several strands wide; one edge's blurred scores, a
# shadow line or the outline against the hair beside it, make a strip about 0.1 wide),
# covering MIN_LOCK of the forehead (`forehead`) deeper than LOCK_DEPTH inside the outline,
# averaging STRAND_REGION and STRAND_ALIGN as on the sides. Grown from that deep part
# through the candidates up to HAIR_REACH (over a brow where the lock crosses it) and by
# LIGHT_EDGE, the eyes (grown by EYE_MARGIN) kept out.
STRAND_STEEP = 0.7
LOCK_WIDTH = 0.08


class SourceFaceError(ValueError):
    """A source photo a swap cannot use; the message is one sentence for the user."""


class PoorSourceFaceError(SourceFaceError):
    """The face is too small, blurred or turned too far; another photo of the set may do."""


@dataclass(frozen=True)
class SourceFace:
    """An enrolled source face.

    Attributes:
        image: uint8 RGB texture crop around the face.
        points: float32 `(128, 2)` landmarks in crop pixels.
        identity: float32 `(128, 2)` canonical shape (pose removed against `MEAN_SHAPE`).
        path: the photo it came from.
        eye_distance: px between the eye centres in the photo.
        detail: the eye distance of a sharp face holding as much detail (at most
            `eye_distance`; `source_detail.effective_eye_distance`).
        frontality: 1 for a frontal face, smaller the more it is turned.
        mouth_open: inner-mouth area over the squared eye distance (0 = closed).
        pyramid: the texture halved again and again (level 0 is `image`), so a small target
            face samples a level near its own size instead of aliasing a large one.
        forehead_hair: share of the forehead (brows to forehead row) under the photo's
            hair (`upper_hair`); the swap shows the target's own forehead there.
        light_hair: float32 masks (1 = hair) of the light hair over the face sides and
            across the forehead (`light_hair`), one per texture level; empty when there is
            none. Found on the full photo once (its strands vanish at the smaller levels),
            left out of the mask by the swap so the target's own cheek or forehead shows
            there.
        covered: share of the face's inner skin under something flat that is not skin
            (`source_check.covered_share`: paint, a sticker, an object).
        glasses: grey levels by which the bars of a pair of glasses stand out
            (`source_check.glasses_contrast`; over `GLASSES_BARS`: wearing glasses).
    """

    image: np.ndarray
    points: np.ndarray
    identity: np.ndarray
    path: Path
    eye_distance: float
    frontality: float
    mouth_open: float
    pyramid: tuple[np.ndarray, ...] = ()
    forehead_hair: float = 0.0
    detail: float = 0.0
    light_hair: tuple[np.ndarray, ...] = ()
    covered: float = 0.0
    glasses: float = 0.0

    def level_for(self, target_eye_distance: float) -> tuple[np.ndarray, np.ndarray]:
        """The smallest texture level still at least as large as the target face, and the
        landmarks in its pixels."""
        ratio = self.eye_distance / max(target_eye_distance, 1.0)
        k = min(int(np.floor(np.log2(max(ratio, 1.0)))), max(len(self.pyramid) - 1, 0))
        if k == 0:
            return self.image, self.points
        # pyrDown maps pixel centres x -> (x + 0.5) / 2 - 0.5.
        scale = 2.0**-k
        return self.pyramid[k], ((self.points + 0.5) * scale - 0.5).astype(np.float32)

    def light_hair_at(self, texture: np.ndarray) -> np.ndarray | None:
        """The `light_hair` mask of the texture level `texture` (one `level_for` gave), or
        None when there is no light hair."""
        if not self.light_hair:
            return None
        levels = self.pyramid or (self.image,)
        # Not strict: a copy with other texture levels (dataclasses.replace) matches none.
        return next(
            (m for t, m in zip(levels, self.light_hair, strict=False) if t is texture), None
        )


class PerTexture:
    """Values computed once per source texture level (an array of `SourceFace.pyramid`)
    and kept while it lives: the cache holds the texture, so its id stays unique."""

    LIMIT = 64  # textures kept before the cache starts over (a few sources' levels)

    def __init__(self) -> None:
        self._kept: dict[int, tuple[np.ndarray, Any]] = {}

    def get(self, texture: np.ndarray, compute: Callable[[], Any]) -> Any:
        """The value for `texture`, from `compute()` the first time."""
        kept = self._kept.get(id(texture))
        if kept is None or kept[0] is not texture:
            if len(self._kept) > self.LIMIT:
                self._kept.clear()
            kept = (texture, compute())
            self._kept[id(texture)] = kept
        return kept[1]


def eye_distance(points: np.ndarray) -> float:
    """Pixels between the centres of the two eye polygons."""
    left = points[EYES[0]].mean(axis=0)
    right = points[EYES[1]].mean(axis=0)
    return float(np.linalg.norm(left - right))


def frontality(points: np.ndarray) -> float:
    """Near-cheek over far-cheek distance from the nose tip, pose-rotation removed (0..1)."""
    ibug = points[list(IBUG68)]
    canonical = to_canonical(ibug, fit_similarity(ibug, MEAN_SHAPE[list(IBUG68)]))
    # iBUG order: 0 and 16 are the jaw ends at ear height, 30 the nose tip.
    left = abs(canonical[30, 0] - canonical[0, 0])
    right = abs(canonical[16, 0] - canonical[30, 0])
    return float(min(left, right) / max(left, right, 1e-6))


def mouth_openness(points: np.ndarray) -> float:
    """Area of the inner-lip polygon over the squared eye distance (0 for a closed mouth)."""
    area = cv2.contourArea(points[list(INNER_MOUTH)].astype(np.float32))
    return float(area / max(eye_distance(points), 1.0) ** 2)


def lip_texture(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`image` (uint8 RGB) with the teeth and mouth opening between the lips painted over
    in lip colour, and the bool mask of the pixels replaced.

    The swap keeps the target's own mouth interior inside the target's inner lips, so the
    source's is never meant to show; but a smiling source's teeth often lie outside its
    inner-lip points (the landmark model puts them on the teeth), and the warp then draws
    them over the target's lips, most visibly on a closed target mouth. Teeth are found
    by colour (far less red than the lips), kept only where they reach the mouth opening,
    grown into their soft edges and the dark gaps and corners they touch, and inpainted
    from the lips around them. A closed mouth without teeth is left as it is.
    """
    h, w = image.shape[:2]
    lips = polygon_mask(points[OUTER_MOUTH], (h, w)) > 0
    if lips.sum() < 16:
        return image, np.zeros((h, w), bool)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    light = lab[..., 0] * np.float32(100.0 / 255.0)
    red = lab[..., 1] - 128.0
    # The lips' redness: a high percentile of a* in the outer-lip polygon, so teeth, gaps
    # and the opening may fill most of it; their lightness: that of the lip-red pixels.
    lip_red = float(np.percentile(red[lips], LIP_PERCENTILE))
    if lip_red <= 0:
        return image, np.zeros((h, w), bool)  # no red lips to tell teeth from
    lip_light = float(np.median(light[lips & (red >= LIP_RED * lip_red)]))
    sure = lips & (red < TEETH_RED * lip_red) & (light >= TEETH_LIGHT * lip_light)
    dark = (lips & (light < DARK * lip_light)).astype(np.uint8)
    weak = (lips & (red < LIP_RED * lip_red)).astype(np.uint8) | dark
    # Teeth reach the mouth opening (the inner-lip polygon, widened by a few px for a
    # closed one); a pale highlight on the lower lip or skin at the lip line does not.
    opening = polygon_mask(points[INNER_MOUTH], (h, w))
    reach = max(2, round(0.03 * np.ptp(points[OUTER_MOUTH][:, 0])))
    opening = cv2.dilate(
        opening, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)
    )
    count, labels = cv2.connectedComponents(sure.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[sure & (opening > 0)])] = True
    keep[0] = False
    teeth = keep[labels].astype(np.uint8)
    # Grown a few px through the less red or dark pixels (the teeth's soft edges and the
    # gaps), not along the pale rim of the lips into the skin; then further through the dark
    # ones only: the mouth corners beside the teeth, which left in would draw an open
    # mouth's dark corners on a closed one.
    through = weak
    for step in range(3 * reach):
        if step == reach:
            through = dark | teeth
        teeth = cv2.dilate(teeth, np.ones((3, 3), np.uint8)) & through
    if not teeth.any():
        return image, teeth > 0
    # One more pixel for the colour bleeding across the teeth's edge.
    replace = cv2.dilate(teeth, np.ones((3, 3), np.uint8)) > 0
    radius = max(3.0, 0.05 * np.ptp(points[OUTER_MOUTH][:, 0]))
    painted = cv2.inpaint(image, replace.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    return painted, replace


def disc(radius: float) -> np.ndarray:
    """An elliptic structuring element of `radius` px (at least 1)."""
    size = 2 * max(int(radius), 1) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def features_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 mask of the inner features, each brow, eye, the nose and the lips as its own
    convex hull (one hull over them all would cover the temples and cheeks too)."""
    centre = points[NOSE, 0].mean()
    brows = points[BROWS]
    parts = [brows[brows[:, 0] < centre], brows[brows[:, 0] >= centre]]
    parts += [points[i] for i in (*EYES, NOSE, LIPS)]
    mask = np.zeros(shape, np.uint8)
    for part in parts:
        if len(part) >= 3:
            mask |= polygon_mask(cv2.convexHull(part.astype(np.float32))[:, 0], shape)
    return mask


def forehead_band(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool mask where the swap looks for a fringe: above the brows (lifted clear of
    them) up to well past the forehead row."""
    eyes = eye_distance(points)
    band = [points[BROWS] - [0.0, 0.2 * eyes], points[FOREHEAD_ROW] - [0.0, 0.5 * eyes]]
    return polygon_mask(np.concatenate(band), shape) > 0


def face_sides(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool mask where locks of hair are looked for: the face outline less the inner
    features (grown by `INNER_MARGIN`) and the forehead band: cheeks, temples, jaw."""
    face = polygon_mask(points[OUTLINE].astype(np.float32), shape) > 0
    inner = cv2.dilate(features_mask(points, shape), disc(INNER_MARGIN * eye_distance(points)))
    return face & (inner == 0) & ~forehead_band(points, shape)


def beside_face(points: np.ndarray, face: np.ndarray) -> np.ndarray:
    """bool ring `OUTSIDE_RING` eye distances wide outside the `face` mask (uint8), down
    to the mouth: where hair entering the face sides comes from (not the neck below)."""
    ring = (cv2.dilate(face, disc(OUTSIDE_RING * eye_distance(points))) > 0) & (face == 0)
    ring[int(points[INNER_MOUTH, 1].mean()) :] = False
    return ring


def side_masks(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """What the side-hair rules look at in `image` (uint8 RGB): its lightness (Lab L,
    float32), the cheeks' hull (bool), the face outline (uint8), the face sides
    (`face_sides`) and the ring beside the face (`beside_face`); None without cheeks."""
    h, w = image.shape[:2]
    cheeks = polygon_mask(cv2.convexHull(points[CHEEKS].astype(np.float32))[:, 0], (h, w)) > 0
    if not cheeks.any():
        return None
    face = polygon_mask(points[OUTLINE].astype(np.float32), (h, w))
    light = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)
    return light, cheeks, face, face_sides(points, (h, w)), beside_face(points, face)


def dark_hair(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """bool mask of dark (black, dark brown) hair over the face sides (`face_sides`) of
    `image` (uint8 RGB); see `HAIR_DARK` for the rule."""
    h, w = image.shape[:2]
    eyes = eye_distance(points)
    masks = side_masks(image, points)
    if masks is None:
        return np.zeros((h, w), bool)
    light, cheeks, face, sides, outside = masks
    # Under the mouth, between its corners: a dark region reaching there is a beard.
    chin = np.zeros((h, w), bool)
    x0, x1 = np.round(points[LIPS, 0].min()), np.round(points[LIPS, 0].max())
    chin[int(points[LIPS, 1].max()) :, max(int(x0), 0) : max(int(x1), 0)] = True
    skin = float(np.median(light[cheeks]))
    # Thin dark strips (the outline running over the background at the jaw, a shadow
    # line) must not join a lock to the jaw below it.
    dark: np.ndarray = cv2.morphologyEx(
        ((light < HAIR_DARK * skin) & (sides | outside)).astype(np.uint8),
        cv2.MORPH_OPEN,
        disc(0.04 * eyes),
    )
    count, labels = cv2.connectedComponents(dark)
    # Fine detail relative to the local lightness: strands stay contrasted however dark
    # the hair is; shading scales detail down with the light.
    sigma = max(0.03 * eyes, 1.0)
    detail = cv2.GaussianBlur(
        np.abs(light - cv2.GaussianBlur(light, (0, 0), sigma)), (0, 0), 2 * sigma
    ) / np.maximum(cv2.GaussianBlur(light, (0, 0), 2 * sigma), 12.0)
    cheek_detail = max(float(np.median(detail[cheeks])), 1e-4)
    per_label = np.bincount(labels.ravel(), detail.ravel(), count)
    sizes = np.maximum(np.bincount(labels.ravel(), minlength=count), 1)
    in_sides = np.bincount(labels[sides], minlength=count)
    hair = per_label / sizes >= HAIR_TEXTURE * cheek_detail
    hair &= in_sides > MIN_LOCK * max(int(sides.sum()), 1)
    hair[np.unique(labels[chin & (face > 0)])] = False
    hair[0] = False
    entering = np.zeros(count, bool)
    entering[np.unique(labels[outside])] = True
    mask = (hair & entering)[labels] & sides
    # The strands' soft edges and the hair (or make-up) by the outer eye corner.
    grown = grow_lock(mask, light < HAIR_EDGE * skin, points)
    return (cv2.dilate(grown.astype(np.uint8), disc(0.02 * eyes)) > 0) & (face > 0)


def skin_distance(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """float32 Mahalanobis distance in Lab of each pixel of `image` (uint8 RGB) from the skin
    of the cheeks and nose (their hull less the features), so the face's own spread of
    shading and tone is near; 0 everywhere when there is too little skin to measure."""
    h, w = image.shape[:2]
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    hull = polygon_mask(cv2.convexHull(points[CHEEKS].astype(np.float32))[:, 0], (h, w))
    samples = lab[(hull > 0) & (features_mask(points, (h, w)) == 0)]
    if len(samples) < 16:
        return np.zeros((h, w), np.float32)
    centre = np.median(samples, axis=0)
    # A floor under the spread: a grey-scale photo has none in a* and b*.
    spread = np.cov((samples - centre).T) + 4.0 * np.eye(3)
    diff = lab - centre.astype(np.float32)
    inverse = np.linalg.inv(spread).astype(np.float32)
    return np.sqrt(np.einsum("...i,ij,...j->...", diff, inverse, diff))


def brows_and_eyes(points: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """uint8 masks of the brows' body (their points mark its upper part) and of the eyes
    grown by `EYE_MARGIN`: what `upper_hair` keeps out."""
    eyes = eye_distance(points)
    centre = points[NOSE, 0].mean()
    brows = np.zeros(shape, np.uint8)
    for side in (points[BROWS][:, 0] < centre, points[BROWS][:, 0] >= centre):
        brow = points[BROWS][side]
        brow = brow[np.argsort(np.abs(brow[:, 0] - centre))]  # inner end first
        # The tail carried on towards the outline: a brow whose tail nears the hair at the
        # temple would otherwise join it and be taken for hair.
        tail = brow[-1] - brow[-2]
        tail = brow[-1] + BROW_TAIL * eyes * tail / max(float(np.linalg.norm(tail)), 1e-6)
        brow = np.vstack([brow, tail])
        body = [brow - [0.0, BROW_ABOVE * eyes], (brow + [0.0, BROW_BELOW * eyes])[::-1]]
        brows |= polygon_mask(np.concatenate(body), shape)
    eye_mask = np.zeros(shape, np.uint8)
    for eye in EYES:
        eye_mask |= polygon_mask(cv2.convexHull(points[eye].astype(np.float32))[:, 0], shape)
    return brows, cv2.dilate(eye_mask, disc(EYE_MARGIN * eyes))


def upper_hair(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """bool mask of hair of any colour over the face above the eyes of `image` (uint8
    RGB): a fringe, hair at the temples; the brows and eyes excluded (see `HAIR_OFF`)."""
    h, w = image.shape[:2]
    eyes = eye_distance(points)
    face = polygon_mask(points[OUTLINE].astype(np.float32), (h, w))
    ring = (cv2.dilate(face, disc(OUTSIDE_RING * eyes)) > 0) & (face == 0)
    brows, eye_mask = brows_and_eyes(points, (h, w))
    zone = ((face > 0) | ring) & ((brows | eye_mask) == 0)
    zone[int(min(points[e, 1].min() for e in EYES)) :] = False
    off = ((skin_distance(image, points) > HAIR_OFF) & zone).astype(np.uint8)
    # Specks of pores and thin wrinkles do not join a region to the hair.
    count, labels = cv2.connectedComponents(
        cv2.morphologyEx(off, cv2.MORPH_OPEN, disc(0.02 * eyes))
    )
    entering = np.zeros(count, bool)
    entering[np.unique(labels[ring])] = True
    entering[0] = False
    return entering[labels] & (face > 0)


def strand_score(light: np.ndarray, eyes: float, cheeks: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per pixel of `light` (float32 luma; `cheeks` a bool mask of bare skin): the strand
    score (fine detail's coherent energy over the coarse gradient plus the cheeks' fine
    energy, see `LIGHT_OFF`) and the fine detail's gradient (x, y)."""
    scale = max(STRAND_SCALE * eyes, 1.0)
    coarse = cv2.GaussianBlur(light, (0, 0), scale)
    fx, fy = sobel(light - coarse)
    xx, yy, xy = (cv2.GaussianBlur(g, (0, 0), max(scale, 1.5)) for g in (fx * fx, fy * fy, fx * fy))
    fine = np.sqrt(np.sqrt((xx - yy) ** 2 + 4.0 * xy**2))  # sqrt(l1 - l2)
    cx, cy = sobel(coarse)
    step = np.sqrt(cv2.GaussianBlur(cx * cx + cy * cy, (0, 0), max(scale, 1.5)))
    return fine / (step + max(float(np.median(fine[cheeks])), 1e-3)), fx, fy


def sobel(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 3x3 Sobel gradient (x, y) of a float32 image."""
    return cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)


def coherence(gx: np.ndarray, gy: np.ndarray, sigma: float) -> np.ndarray:
    """How parallel the gradient (`gx`, `gy`) runs over `sigma` px: (l1 - l2) / (l1 + l2)
    of its structure tensor, 0 (no direction) to 1 (one)."""
    xx, yy, xy = (cv2.GaussianBlur(g, (0, 0), sigma) for g in (gx * gx, gy * gy, gx * gy))
    return np.sqrt((xx - yy) ** 2 + 4.0 * xy**2) / (xx + yy + 1e-6)


def light_hair(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """bool mask of hair of any shade over the face sides (`face_sides`) of `image` (uint8
    RGB), told by its strands: blonde, light brown and grey locks (see `LIGHT_OFF`); and a
    lock falling across the forehead and over a brow (`forehead_strands`)."""
    h, w = image.shape[:2]
    eyes = eye_distance(points)
    # Only the face and the ring beside it are looked at (a third of the crop's area).
    pad = (OUTSIDE_RING + 3 * ALIGN_SCALE) * eyes
    x0, y0 = np.maximum(np.floor(points.min(axis=0) - pad), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(points.max(axis=0) + pad), (w, h)).astype(int)
    found = np.zeros((h, w), bool)
    found[y0:y1, x0:x1] = _light_hair(image[y0:y1, x0:x1], points - (x0, y0), eyes)
    return found


def _light_hair(image: np.ndarray, points: np.ndarray, eyes: float) -> np.ndarray:
    h, w = image.shape[:2]
    masks = side_masks(image, points)
    if masks is None:
        return np.zeros((h, w), bool)
    light, cheeks, face, sides, outside = masks
    score, fx, fy = strand_score(light, eyes, cheeks)
    across = forehead_strands(score, fx, fy, points, face)
    scale = max(STRAND_SCALE * eyes, 1.0)
    off = cv2.GaussianBlur(skin_distance(image, points), (0, 0), scale) > LIGHT_OFF
    candidate = off & (score > STRAND_FINE)
    seeds = (candidate & (sides | outside)).astype(np.uint8)
    count, labels = cv2.connectedComponents(cv2.morphologyEx(seeds, cv2.MORPH_OPEN, disc(scale)))
    sizes = np.maximum(np.bincount(labels.ravel(), minlength=count), 1)
    strands = np.bincount(labels.ravel(), score.ravel(), count) / sizes
    parallel = coherence(fx, fy, max(ALIGN_SCALE * eyes, 3.0))
    aligned = np.bincount(labels.ravel(), parallel.ravel(), count) / sizes
    hair = (strands >= STRAND_REGION) & (aligned >= STRAND_ALIGN)
    # Over MIN_LOCK of the sides deeper than the blur's reach from the outline: hair just
    # beside the face bleeds into the scores along its edge.
    depth = cv2.distanceTransform(face, cv2.DIST_L2, 3)
    deep = sides & (depth > LOCK_DEPTH * eyes)
    hair &= np.bincount(labels[deep], minlength=count) > MIN_LOCK * max(int(sides.sum()), 1)
    # A region reaching the chin (under the mouth, inside its corners) is a beard.
    chin = np.zeros((h, w), bool)
    inset = CHIN_INSET * eyes
    left, right = int(points[LIPS, 0].min() + inset), int(points[LIPS, 0].max() - inset)
    chin[int(points[LIPS, 1].max() + inset) :, max(left, 0) : max(right, 0)] = True
    hair[np.unique(labels[chin & (face > 0)])] = False
    entering = np.zeros(count, bool)
    entering[np.unique(labels[outside])] = True
    hair[0] = False
    locks = (hair & entering)[labels] & sides
    if not locks.any():
        return across
    # Grown through the candidates into the margin round the features (strands run on to
    # the outer eye corner and the brow's tail), then over the strands' soft edges.
    grown = grow_lock(locks, candidate, points)
    edge = cv2.dilate(grown.astype(np.uint8), disc(LIGHT_EDGE * eyes)) > 0
    return (edge & (face > 0)) | across


def forehead_strands(
    score: np.ndarray, fx: np.ndarray, fy: np.ndarray, points: np.ndarray, face: np.ndarray
) -> np.ndarray:
    """bool mask of a lock of hair falling across the forehead, told by its strands (see
    `STRAND_STEEP`), from the strand score and fine gradient of `strand_score` and the
    face outline `face` (uint8)."""
    h, w = score.shape
    eyes = eye_distance(points)
    ring = (cv2.dilate(face, disc(OUTSIDE_RING * eyes)) > 0) & (face == 0)
    brows, eye_mask = brows_and_eyes(points, (h, w))
    zone = ((face > 0) | ring) & (eye_mask == 0)
    zone[int(min(points[e, 1].min() for e in EYES)) :] = False
    sigma = max(ALIGN_SCALE * eyes, 3.0)
    xx, yy, xy = (cv2.GaussianBlur(g, (0, 0), sigma) for g in (fx * fx, fy * fy, fx * fy))
    parallel = np.sqrt((xx - yy) ** 2 + 4.0 * xy**2) / (xx + yy + 1e-6)
    # Strands fall from the hairline, steeper than the eye line: the fine detail's main
    # gradient runs along it. Wrinkles and the brows' own hairs run along it.
    line = points[list(EYES[1])].mean(axis=0) - points[list(EYES[0])].mean(axis=0)
    roll = float(np.arctan2(line[1], line[0]))
    steep = np.abs(np.cos(0.5 * np.arctan2(2.0 * xy, xx - yy) - roll)) > STRAND_STEEP
    candidate = zone & (score > STRAND_FINE) & steep
    opened = cv2.morphologyEx(
        (candidate & (brows == 0)).astype(np.uint8), cv2.MORPH_OPEN, disc(LOCK_WIDTH * eyes)
    )
    count, labels = cv2.connectedComponents(opened)
    sizes = np.maximum(np.bincount(labels.ravel(), minlength=count), 1)
    strands = np.bincount(labels.ravel(), score.ravel(), count) / sizes
    aligned = np.bincount(labels.ravel(), parallel.ravel(), count) / sizes
    # Over MIN_LOCK of the forehead deeper than the blur's reach from the outline, as on
    # the sides: hair beside the face bleeds into the scores along its edge.
    deep = cv2.distanceTransform(face, cv2.DIST_L2, 3) > LOCK_DEPTH * eyes
    upper = forehead(points, (h, w))
    covers = np.bincount(labels[upper & deep], minlength=count) > MIN_LOCK * max(
        int(upper.sum()), 1
    )
    hair = (strands >= STRAND_REGION) & (aligned >= STRAND_ALIGN) & covers
    hair[np.setdiff1d(np.arange(count), np.unique(labels[ring]))] = False
    hair[0] = False
    lock = hair[labels]
    if not lock.any():
        return lock
    # Its deep part, grown through the strands up to HAIR_REACH: back to the outline where
    # the lock enters, and on where it crosses a brow (the brows' own hairs run along the
    # eye line), but not along the strip of blurred scores by the outline.
    through = (candidate & (face > 0)).astype(np.uint8)
    grown = (lock & deep).astype(np.uint8)
    for _ in range(max(2, int(HAIR_REACH * eyes))):
        grown |= cv2.dilate(grown, np.ones((3, 3), np.uint8)) & through
    return (cv2.dilate(grown, disc(LIGHT_EDGE * eyes)) > 0) & (face > 0) & (eye_mask == 0)


def forehead(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool mask of the forehead from the brows' body (`brows_and_eyes`) up to the mid-
    forehead row: what the swap's default mask takes above the brows."""
    brows = points[BROWS] - [0.0, BROW_ABOVE * eye_distance(points)]
    row = points[FOREHEAD_ROW]
    polygon = np.concatenate([brows[np.argsort(brows[:, 0])], row[np.argsort(-row[:, 0])]])
    return polygon_mask(polygon.astype(np.float32), shape) > 0


def grow_lock(lock: np.ndarray, through: np.ndarray, points: np.ndarray) -> np.ndarray:
    """bool `lock` grown through the pixels `through` (bool) up to `HAIR_REACH` eye
    distances, inside the face outline, out of the forehead band and into the margin
    around the features up to `FEATURE_GAP` from them."""
    shape = lock.shape
    eyes = eye_distance(points)
    face = polygon_mask(points[OUTLINE].astype(np.float32), shape) > 0
    near = cv2.dilate(features_mask(points, shape), disc(FEATURE_GAP * eyes))
    allowed = (through & face & (near == 0) & ~forehead_band(points, shape)).astype(np.uint8)
    grown = lock.astype(np.uint8)
    for _ in range(max(2, int(HAIR_REACH * eyes))):
        grown = cv2.dilate(grown, np.ones((3, 3), np.uint8)) & allowed
    return (grown > 0) | lock


def fill_from(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """float32 `image` (RGB) interpolated smoothly from the pixels where `known` (bool) is
    set (push-pull: averaged down a pyramid of the known pixels, filled back up), so a
    hole takes the shading of the skin around it."""
    weight = known.astype(np.float32)
    sums: list[np.ndarray] = [image.astype(np.float32) * weight[..., None]]
    weights: list[np.ndarray] = [weight]
    while min(weights[-1].shape) > 4:
        sums.append(cv2.pyrDown(sums[-1]))
        weights.append(cv2.pyrDown(weights[-1]))
    estimate = sums[-1] / np.maximum(weights[-1], 1e-6)[..., None]
    for total, wsum in zip(reversed(sums[:-1]), reversed(weights[:-1]), strict=True):
        coarse = cv2.pyrUp(estimate, dstsize=(wsum.shape[1], wsum.shape[0]))
        # Where a level has known pixels enough its own average wins; elsewhere the
        # coarser level's, so the fill carries the shading across the hole.
        share = np.clip(4.0 * wsum, 0.0, 1.0)[..., None]
        estimate = share * total / np.maximum(wsum, 1e-6)[..., None] + (1.0 - share) * coarse
    return estimate


def hair_texture(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`image` (uint8 RGB) with dark hair over its face sides (`dark_hair`) painted over
    from the skin around it, and the bool mask of the pixels replaced.

    The swap's mask reaches the source's temples and cheeks, so a lock of the source's
    hair there would be pasted onto the target's bare skin. The skin it covers is filled
    smoothly from the face's other skin (not the hair, the features or the background).
    """
    hair = dark_hair(image, points)
    if not hair.any():
        return image, hair
    face = polygon_mask(points[OUTLINE].astype(np.float32), image.shape[:2]) > 0
    known = face & ~hair & (features_mask(points, image.shape[:2]) == 0)
    painted = image.copy()
    painted[hair] = np.clip(fill_from(image, known)[hair] + 0.5, 0, 255).astype(np.uint8)
    return painted, hair


def read_rgb(path: Path, role: str = "source photo") -> np.ndarray:
    """A photo as uint8 RGB, or `SourceFaceError` if it cannot be read (``role`` names the
    photo in the sentence)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SourceFaceError(f"cannot read the {role} {path}: not an image file.")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def single_face(
    path: Path | str,
    image: np.ndarray,
    landmark_fn: LandmarkFn,
    role: str = "source photo",
    min_eyes: float = MIN_EYE_DISTANCE,
) -> np.ndarray:
    """The `(128, 2)` landmarks of the one face of a photo: exactly one face, at least
    ``min_eyes`` px between the eyes, roughly frontal; else `SourceFaceError` (or
    `PoorSourceFaceError`) with one sentence naming the photo as ``role``."""
    faces = [np.asarray(getattr(f, "points", f), np.float32) for f in landmark_fn(image)]
    if not faces:
        raise SourceFaceError(f"no face was found in the {role} {path}.")
    if len(faces) > 1:
        raise SourceFaceError(
            f"the {role} {path} shows {len(faces)} faces; use a photo of one person."
        )
    points = faces[0]
    eyes = eye_distance(points)
    if eyes < min_eyes:
        raise PoorSourceFaceError(
            f"the face in the {role} {path} is too small ({eyes:.0f} px between the "
            f"eyes, at least {min_eyes:.0f} needed); use a larger or closer photo."
        )
    if frontality(points) < MIN_FRONTALITY:
        raise PoorSourceFaceError(
            f"the face in the {role} {path} is turned too far to the side; "
            "use a photo looking roughly at the camera."
        )
    return points


SOFT_SOURCE_WARNING = (
    "the face in the source photo %s is soft: it holds the detail of a face about %.0f px "
    "between the eyes (%.0f and more look sharp); the swap looks soft too, a sharper photo "
    "swaps better."
)
FRINGE_WARNING = (
    "hair covers %.0f%% of the forehead in the source photo %s: the swap shows the target's "
    "own forehead there, but hair over the brows or eyes comes along; a photo with the "
    "forehead and eyes free swaps better."
)

COVERED_WARNING = (
    "something flat that is not skin covers about %.0f%% of the face in the source photo %s: "
    "the swap pastes it onto the target's face; a photo with the face uncovered swaps better."
)

GLASSES_WARNING = (
    "the face in the source photo %s wears glasses: the swap draws them on the target's "
    "face, bent with its expression (and over the target's own glasses, if any); a photo "
    "without glasses swaps better."
)


def enroll_photo(path: Path, image: np.ndarray, landmark_fn: LandmarkFn) -> SourceFace:
    """Enroll the single face of one photo, or raise `SourceFaceError` saying why not."""
    points = single_face(path, image, landmark_fn)
    eyes, front = eye_distance(points), frontality(points)
    detail = effective_eye_distance(image, points, eyes)
    if detail < BLURRED_EYE_DISTANCE:
        # As little detail as a face far too small, only enlarged: the swap pastes a smear.
        raise PoorSourceFaceError(
            f"the face in the source photo {path} is blurred: it holds the detail of a face "
            f"about {detail:.0f} px between the eyes, at least {BLURRED_EYE_DISTANCE:.0f} "
            "needed; use a sharper photo."
        )
    # Here, not at the top: source_check builds on this module's masks.
    from facestream.filters.source_check import covered_share, glasses_contrast

    # Paint, a sticker or an object over the face would be pasted onto every target face.
    covered = covered_share(image, points)
    if covered > COVER_REFUSE:
        raise PoorSourceFaceError(
            f"something covers about {100 * covered:.0f}% of the face in the source photo "
            f"{path} (flat and not skin: paint, a sticker, an object); use a photo with the "
            "face uncovered."
        )
    h, w = image.shape[:2]
    lo, hi = points.min(axis=0), points.max(axis=0)
    margin = CROP_MARGIN * (hi - lo)
    x0, y0 = np.maximum(np.floor(lo - margin), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(hi + margin), (w, h)).astype(int)
    local = (points - (x0, y0)).astype(np.float32)
    # The source's teeth would be drawn over the target's lips (see lip_texture).
    crop, _ = lip_texture(np.ascontiguousarray(image[y0:y1, x0:x1]), local)
    # And its dark hair over the cheeks and temples onto the target's skin (hair_texture).
    crop, _ = hair_texture(crop, local)
    # Light hair there is left out by the swap; its strands are told on the full photo.
    light = light_hair(crop, local)
    identity = to_canonical(local, fit_similarity(local, MEAN_SHAPE))
    upper = forehead(local, crop.shape[:2])
    fringe = float(upper_hair(crop, local)[upper].mean()) if upper.any() else 0.0
    pyramid = [crop]
    lights: list[np.ndarray] = [light.astype(np.float32)]
    while min(pyramid[-1].shape[:2]) >= 2 * MIN_LEVEL_SIZE:
        pyramid.append(cv2.pyrDown(pyramid[-1]))
        lights.append(cv2.pyrDown(lights[-1]))
    mouth = mouth_openness(points)
    return SourceFace(
        crop,
        local,
        identity,
        path,
        eyes,
        front,
        mouth,
        tuple(pyramid),
        fringe,
        detail,
        tuple(lights) if light.any() else (),
        covered,
        glasses_contrast(image, points),
    )


def enroll_source(paths: Sequence[Path | str] | Path | str, landmark_fn: LandmarkFn) -> SourceFace:
    """Enroll a source face from one or several photos of the same person.

    Every photo must be readable and show exactly one face; among those large, sharp,
    frontal and uncovered enough, a face with nothing flat over it (`COVER_WARN`) is
    preferred, then one without glasses (`GLASSES_BARS`), then a closed mouth (an open
    source mouth would stretch its teeth over the target's lips), then a sharp face over a
    soft one (`SOFT_EYE_DISTANCE`),
    then the most frontal, then the one holding the most detail, then the largest.

    Args:
        paths: one photo path or several.
        landmark_fn: RGB uint8 image -> one `(128, 2)` point array (or `.points`) per face.

    Raises:
        SourceFaceError: one sentence saying which photo is unusable and why.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise SourceFaceError("no source photo was given.")
    usable: list[SourceFace] = []
    first_error: SourceFaceError | None = None
    for path in map(Path, paths):
        image = read_rgb(path)
        try:
            usable.append(enroll_photo(path, image, landmark_fn))
        except PoorSourceFaceError as err:
            # Another photo may be fine; no face or several faces means a wrong file was
            # given, which the user must hear about (those errors propagate).
            first_error = first_error or err
    if not usable:
        assert first_error is not None
        raise first_error
    best = max(
        usable,
        key=lambda s: (
            s.covered <= COVER_WARN,
            s.glasses <= GLASSES_BARS,
            s.mouth_open < CLOSED_MOUTH,
            s.detail >= SOFT_EYE_DISTANCE,
            round(s.frontality, 1),
            s.detail,
            s.eye_distance,
        ),
    )
    # The templates go to the log as they are (stream/cli_demo filters a record by its msg).
    for template, args in _warnings(best):
        log.warning(template, *args)
    return best


def _warnings(source: SourceFace) -> list[tuple[str, tuple[Any, ...]]]:
    """The warnings about an enrolled face, as log templates and their arguments."""
    found: list[tuple[str, tuple[Any, ...]]] = []
    if source.detail < SOFT_EYE_DISTANCE:
        found.append((SOFT_SOURCE_WARNING, (source.path, source.detail, SOFT_EYE_DISTANCE)))
    if source.forehead_hair > FRINGE_WARN:
        found.append((FRINGE_WARNING, (100 * source.forehead_hair, source.path)))
    if source.covered > COVER_WARN:
        found.append((COVERED_WARNING, (100 * source.covered, source.path)))
    if source.glasses > GLASSES_BARS:
        found.append((GLASSES_WARNING, (source.path,)))
    return found


def source_warnings(source: SourceFace) -> list[str]:
    """The sentences `enroll_source` warns with about an enrolled face (a soft photo, hair
    over the forehead); empty when there is nothing to say. The face is usable either way.

    Example:
        >>> source_warnings(enroll_photo(path, image, landmark_fn))  # doctest: +SKIP
        ['the face in the source photo me.jpg is soft: ...']
    """
    return [template % args for template, args in _warnings(source)]
