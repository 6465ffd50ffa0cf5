"""The face-swap compositor: a pipeline stage pasting an enrolled source face on every face.

Per face and frame: the target's pose and expression are redrawn on the source's identity
shape (`shape.py`), the source texture is warped onto those points by one dense remap
(`warp.py`), takes the target's colour (`colour.py`), and is blended in under a feathered
face-outline mask (`blend.py`); the target's own mouth interior (and optionally its eyes)
stays in place.

Example:
    >>> from facestream.filters.enroll import enroll_source
    >>> stage = SwapStage(enroll_source("me.jpg", landmark_fn))  # doctest: +SKIP
    >>> frame = stage.process(frame)  # uses frame.faces from the landmark stage  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from facestream.filters.blend import (
    alpha_blend,
    feather,
    grown_polygon,
    laplacian_blend,
    polygon_mask,
)
from facestream.filters.brows import BrowTrack, clear_raised, lift_brows, upright
from facestream.filters.colour import (
    feature_polygons,
    grown_hull,
    lowfreq_transfer,
    match_lighting,
    skin_weight,
    stats_matrix,
)
from facestream.filters.enroll import (
    BROWS,
    CHEEKS,
    EYES,
    FOREHEAD_ROW,
    OUTLINE,
    PerTexture,
    SourceFace,
    beside_face,
    disc,
    eye_distance,
    face_sides,
    forehead_band,
    frontality,
    grow_lock,
    upper_hair,
)
from facestream.filters.gaze import (
    Blinks,
    closing_lids,
    gaze_warp,
    kept_lids,
    locate_irises,
    source_eyes,
)
from facestream.filters.glasses import GlassesModel
from facestream.filters.occlusion import OcclusionModel
from facestream.filters.overlay import OVERLAY_KINDS, OverlayKind, draw_overlay
from facestream.filters.pose_gate import PitchGate, fold_ceiling
from facestream.filters.provenance import DEFAULT_LABEL, draw_label
from facestream.filters.shape import (
    EYE_OPENINGS,
    IdentityEstimate,
    face_size,
    fit_similarity,
    reshape_to_source,
    to_canonical,
)
from facestream.filters.sharpness import MEASURE_EVERY, SharpnessMatch
from facestream.filters.warp import build_warp_map, points_box, remap
from facestream.models.landmarks import (
    FACE_OUTLINE,
    GROUPS,
    INNER_MOUTH,
    MEAN_SHAPE,
    TRIANGLES,
)

_TRIANGLES = np.asarray(TRIANGLES, np.int32)
# The default mask: the jaw part of the outline closed over the mid-forehead row (left to
# right across the image, continuing from the jaw's last point), so the source's hairline
# and fringe never land on the target's forehead.
_MASK = np.concatenate([[i for i in FACE_OUTLINE if i in set(GROUPS["jaw"])], FOREHEAD_ROW])
_JAW_IN_MASK = len(_MASK) - len(FOREHEAD_ROW)
_FOREHEAD_EDGE = np.asarray([i for i in FACE_OUTLINE if i not in set(GROUPS["jaw"])])
_MOUTH = np.asarray(INNER_MOUTH, np.int64)


@dataclass
class SwapOptions:
    """How faces are composited.

    Attributes:
        colour: "stats" (luma/chroma statistics transfer), "lowfreq" (target lighting,
            source detail) or "none".
        blend: "laplacian" (multi-band seam) or "feather" (alpha only).
        mask: "face" (jaw to mid-forehead, feathered), "outline" (the whole face outline up
            to the hairline, feathered) or "hull" (hard convex hull of all points: the plain
            baseline).
        keep_mouth: keep the target's inner mouth (teeth, tongue) inside the inner lips.
        keep_eyes: keep the target's eyes.
        follow_gaze: the source's irises move to where the target's are (`gaze.py`);
            False draws them where the source looked in its photo.
        follow_blinks: where the target's eye closes (its iris and sclera's contrast gone
            from the opening), its own lids show there, faded in by closedness (`gaze.py`);
            with `follow_gaze` only.
        open_lids: the upper lids go up to where the white of the target's eye ends (the
            landmarks' lids stop short of a wide-open eye, `gaze.locate_irises`); with
            `follow_gaze` only.
        shape_strength: 0 draws the source texture on the target's own face shape, 1 on the
            source's identity shape (target pose and expression kept either way; the lips
            always keep the target's shape, `shape.IDENTITY_REGIONS`). The default 0.4 keeps
            re-detected landmarks within 3% of the target's (docs/SWAP.md).
        match_sharpness: blur the source to the target's level of fine detail (per track).
        feather: feather width as a fraction of the face size (sqrt of the outline area).
        overlay: draw "landmarks", "mesh" or "mask" on top (debugging), or None.
        swap: False draws only the overlay (debugging the landmarks without the swap).
        label: visible text drawn in a corner (e.g. "synthetic"), or None.
        swap_turned: also swap faces turned far to the side, bowed far down or up, or
            whose landmarks fold (by default a track whose `frontality` falls under
            `TURNED_OFF` fades back to the target's own face, and fades in again over
            `TURNED_ON`; pitch and folds likewise, `pose_gate.py`).
        pose_gate: fade out faces pitched far or with folded landmarks (`pose_gate.py`);
            False leaves only the turn and the engine's trust (the benchmarks' before).
        occlusion: keep what is in front of the target's face (a hand, a microphone) in
            front, per track (`occlusion.py`).
        keep_glasses: keep the target's glasses (rims, bridge, arms; not the lenses'
            interior) on the swapped face, per track (`glasses.py`).
    """

    colour: Literal["stats", "lowfreq", "none"] = "stats"
    blend: Literal["laplacian", "feather"] = "feather"
    mask: Literal["face", "outline", "hull"] = "face"
    keep_mouth: bool = True
    keep_eyes: bool = False
    follow_gaze: bool = True
    follow_blinks: bool = True
    open_lids: bool = True
    shape_strength: float = 0.4
    match_sharpness: bool = True
    feather: float = 0.06
    overlay: OverlayKind | None = None
    swap: bool = True
    label: str | None = None
    swap_turned: bool = False
    pose_gate: bool = True
    occlusion: bool = True
    keep_glasses: bool = True


def baseline_options() -> SwapOptions:
    """The plain baseline the quality benchmark compares against: convex-hull mask, no
    colour transfer, no mouth handling, the target's own shape."""
    return SwapOptions(
        colour="none",
        blend="feather",
        mask="hull",
        keep_mouth=False,
        follow_gaze=False,
        shape_strength=0.0,
        match_sharpness=False,
    )


@dataclass
class FaceResult:
    """What compositing one face produced (for overlays, benchmarks and tests)."""

    box: tuple[int, int, int, int]
    points: np.ndarray  # the points the source was drawn on (frame pixels)
    alpha: np.ndarray  # float32 mask over `box`, 1 = source


def smooth_closed(polygon: np.ndarray) -> np.ndarray:
    """A closed polygon with each vertex averaged 1-2-1 with its neighbours: removes the
    zig-zag of alternating jaw points without moving the outline by more than a pixel or
    two."""
    # The neighbours by slicing: `np.roll` costs 3x here, on every face and frame.
    before = np.concatenate([polygon[-1:], polygon[:-1]])
    after = np.concatenate([polygon[1:], polygon[:1]])
    return 0.25 * before + 0.5 * polygon + 0.25 * after


# The default mask's top edge stays this far above the target's own brows, past the feather
# (fractions of the face size): the row drawn on the source's shape can lie lower than the
# target's brows, which then showed through the feather as a dark band across the forehead.
BROW_CLEARANCE = 0.05
# The lifted row stays this share of the clearance under the forehead outline of the drawn
# points: past it the warp has no source pixels, and they blended in grey.
OUTLINE_MARGIN = 0.1
# px around the mask kept in the compositing box: more than the sharpness match's blur
# kernels reach (radius 6 px at their largest sigma), so pixels under the mask blur alike.
BLUR_PAD = 8
# A closed eye's kept region reaches CLOSED_EYE_MARGIN past its opening, and then fades
# out over CLOSED_EYE_RAMP (fractions of the face size): the landmarks' lids stop short of
# a closed eye, the source's iris and lash line drawn between them showed through a narrow
# ramp, and a sharp edge drew an almond of the target's paler skin.
CLOSED_EYE_MARGIN, CLOSED_EYE_RAMP = 0.02, 0.03


def face_polygon(points: np.ndarray, target: np.ndarray, clearance: float) -> np.ndarray:
    """The default mask: the jaw of `points` closed over their forehead row, the row lifted
    where needed to lie `clearance` px above the target's brows (in the face's upright
    frame: the eye line level), but not past the forehead outline of `points` less
    `OUTLINE_MARGIN`: the source texture ends there (`brows.lift_brows` may lift the
    brows far)."""
    polygon = points[_MASK].astype(np.float32)
    rotation = upright(target)
    brows = target[BROWS] @ rotation.T
    row = polygon[_JAW_IN_MASK:] @ rotation.T
    order = np.argsort(brows[:, 0])
    top = np.interp(row[:, 0], brows[order, 0], brows[order, 1]) - clearance
    edge = points[_FOREHEAD_EDGE] @ rotation.T
    order = np.argsort(edge[:, 0])
    ceiling = np.interp(row[:, 0], edge[order, 0], edge[order, 1]) + OUTLINE_MARGIN * clearance
    row[:, 1] = np.maximum(np.minimum(row[:, 1], top), np.minimum(row[:, 1], ceiling))
    polygon[_JAW_IN_MASK:] = row @ rotation  # the inverse rotation
    return polygon


def brow_cover(points: np.ndarray, target: np.ndarray, clearance: float) -> list[np.ndarray]:
    """Convex polygons around each of the target's brows, `clearance` px wide on every
    side, their corners held inside the box of the face outline of `points`.

    The default mask's top runs from the jaw's upper ends to the forehead row, a straight
    cut across the temples: a target's brows reaching out and up past that cut (thin,
    high, arched ones over a source with low, straight brows) lay in the feather or
    outside the mask, and showed above the source's brows along their length. The mask
    takes these polygons in, within the face outline (`face_mask`)."""
    lo, hi = points[OUTLINE].min(axis=0), points[OUTLINE].max(axis=0)
    half = len(BROWS) // 2
    return [
        np.minimum(np.maximum(grown_hull(target[brow], clearance), lo), hi)  # np.clip: 2x
        for brow in (BROWS[:half], BROWS[half:])
    ]


def face_mask(
    outline: np.ndarray,
    covers: list[np.ndarray],
    points: np.ndarray,
    shape: tuple[int, int],
    offset: tuple[int, int],
) -> np.ndarray:
    """uint8 mask over a box of `shape` at `offset`: inside the smoothed `outline`, or inside
    one of the `covers` (`brow_cover`) and the face outline of `points`."""
    mask = polygon_mask(outline, shape, offset)
    if not covers:
        return mask
    # Only in the covers' own box: the whole face box costs several times more.
    corners = np.concatenate(covers) - offset
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, (shape[1], shape[0]))
    if x1 <= x0 or y1 <= y0:
        return mask
    at = (offset[0] + int(x0), offset[1] + int(y0))
    cover = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for polygon in covers:
        cv2.fillConvexPoly(cover, (polygon - at).round().astype(np.int32), 255)
    cover &= polygon_mask(points[OUTLINE], cover.shape, at)
    region = mask[y0:y1, x0:x1]
    np.bitwise_or(region, cover, out=region)
    return mask


def canonical(points: np.ndarray) -> np.ndarray:
    """Points with the pose removed (similarity-aligned to `MEAN_SHAPE`)."""
    return to_canonical(points, fit_similarity(points, MEAN_SHAPE))


@dataclass
class TrackState:
    """What one face track carries from frame to frame.

    Attributes:
        identity: the running estimate of the target's identity shape.
        colour: exponential moving average of the colour matrix: the face's statistics
            change with expression and motion, and re-fitting them from scratch each frame
            makes the whole face flicker in tone.
        colour_frames: frames composited so far (the statistics are re-measured on every
            `COLOUR_EVERY`-th).
        sharpness: the blur strength matching the source's fine detail to the target's.
        occlusion: the target's own face seen so far, to find what is in front of it.
        blinks: each eye's open level, to tell when the target's eyes close (`gaze.py`).
        glasses: the target's glasses, found over the frames seen so far (`glasses.py`).
        brows: how far the target's real brows lie over their points (`brows.py`).
    """

    identity: IdentityEstimate = field(default_factory=IdentityEstimate)
    colour: np.ndarray | None = None
    colour_frames: int = 0
    sharpness: SharpnessMatch = field(default_factory=SharpnessMatch)
    occlusion: OcclusionModel = field(default_factory=OcclusionModel)
    blinks: Blinks = field(default_factory=Blinks)
    glasses: GlassesModel = field(default_factory=GlassesModel)
    brows: BrowTrack = field(default_factory=BrowTrack)
    last_seen: int = 0
    # How much of the swap is shown (1 all, 0 the target's own face) and whether it is
    # heading for 1: a turned face fades out and back over `TURN_FADE_FRAMES`.
    shown: float | None = None
    facing: bool = True
    pitch: PitchGate = field(default_factory=PitchGate)

    def fade_for_turn(
        self,
        points: np.ndarray,
        trusted: bool = True,
        swap_turned: bool = False,
        pose_gate: bool = True,
    ) -> float:
        """This frame's share of the swap for a face with landmarks `points`.

        A frontal source drawn on a face turned far to the side is squeezed onto the near
        half and seams on the cheek (docs/SWAP.md). Hysteresis between `TURNED_OFF` and
        `TURNED_ON` keeps a face near the limit from blinking, and the fade keeps the change
        from popping; a new track starts at its own state. A face pitched far down or up
        (`pose_gate.PitchGate`) or the engine does not trust (`FaceLandmarks.trust`: its
        detector saw no face where the landmarks are, or a profile) fades out the same
        way. Landmarks folding over themselves (`pose_gate.fold_ceiling`) cap the share at
        once, and it comes back at the fade's pace. With `swap_turned` only the trust
        counts; without `pose_gate` pitch and folds do not.
        """
        gated = pose_gate and not swap_turned
        turn = 1.0 if swap_turned else frontality(points)
        level = self.pitch.update(points, self.shown is None) if gated else True
        ceiling = fold_ceiling(points) if gated else 1.0
        if self.shown is None:
            self.facing = turn >= 0.5 * (TURNED_OFF + TURNED_ON)
            self.shown = min(float(self.facing and level and trusted), ceiling)
            return self.shown
        if turn < TURNED_OFF:
            self.facing = False
        elif turn > TURNED_ON:
            self.facing = True
        goal = float(self.facing and level and trusted)
        step = 1.0 / TURN_FADE_FRAMES
        left = goal - self.shown
        # The last step lands on the goal exactly (0 must skip the compositing, not leave
        # a rounding error of the fade).
        self.shown = goal if abs(left) < 1.01 * step else self.shown + np.sign(left) * step
        self.shown = min(self.shown, ceiling)
        return self.shown

    def smooth_colour(self, matrix: np.ndarray) -> np.ndarray:
        """Fold a measured colour matrix into the average and return the average (the past
        weighs `COLOUR_MEMORY` per frame, over the `COLOUR_EVERY` frames since the last)."""
        if self.colour is None:
            self.colour = matrix
        else:
            memory = COLOUR_MEMORY**COLOUR_EVERY
            self.colour = memory * self.colour + (1.0 - memory) * matrix
        return self.colour


# Weight of the past in the colour average: a time constant of about 4 frames, so lighting
# changes are followed within a fraction of a second.
COLOUR_MEMORY = 0.75
# The colour statistics (about 0.4 ms a face at 720p) are measured on every other frame of a
# track and the average held between: the same time constant, within a grey level mostly.
COLOUR_EVERY = 2
# A face's `frontality` (near over far cheek, 1 frontal) under TURNED_OFF fades the swap out,
# over TURNED_ON back in. Set by looking (docs/SWAP.md, "Faces turned away"): at 0.31
# (spectre/OzA6...) the swap holds; at 0.14-0.16 (spectre/QoT0..., the audience of
# short_hamilton_clip) the source is squeezed onto the near half with a seam down the cheek.
TURNED_OFF = 0.18
TURNED_ON = 0.26
TURN_FADE_FRAMES = 6
# A track unseen for this many frames is forgotten, so a long video with many faces coming
# and going does not grow the stage's state without bound.
FORGET_AFTER_FRAMES = 300


@functools.cache
def _pinned(keep_eyes: bool) -> np.ndarray:
    """The points drawn where the target has them (the outline, the inner lips, the eyes
    when kept), sorted; once per setting (`np.unique` costs about 0.03 ms a frame)."""
    return np.unique(np.concatenate([OUTLINE, _MOUTH, *(EYES if keep_eyes else ())]))


def draw_points(
    target: np.ndarray, source: SourceFace, options: SwapOptions, state: TrackState | None
) -> np.ndarray:
    """The target's points moved onto the source's identity shape (or the target's own)."""
    if options.shape_strength <= 0 or state is None:
        return target
    # One pose fit for both (`canonical` and `reshape_to_source` fit the same one).
    pose = fit_similarity(target, MEAN_SHAPE)
    target_identity = state.identity.update(to_canonical(target, pose))
    return reshape_to_source(
        target,
        target_identity,
        source.identity,
        MEAN_SHAPE,
        _pinned(options.keep_eyes),
        options.shape_strength,
        gaze=options.follow_gaze,
        pose=pose,
    )


# A source pixel between the brows and the mask's forehead row is hair (a fringe) when its
# Lab distance from the source's cheek skin, counting only darker luma (a highlight is
# skin), passes NEAR; at FAR it is dropped entirely. Shading on bare foreheads measured
# under NEAR on the stills; a fringe well over FAR.
HAIR_LAB_NEAR, HAIR_LAB_FAR = 12.0, 24.0
# Over the cheeks, temples and jaw sides the Lab distance flags the shading of every face
# (15-61 % of those pixels at NEAR on 19 stills), so there a lock of hair is told by three
# things at once (docs/SWAP.md, *Hair over the cheeks*): chroma (a*, b*) more saturated
# than the cheek skin by NEAR, gone at FAR (red, auburn, blonde hair; dark and grey hair
# are not, so they stay); a region joined to such pixels just outside the outline beside
# the face (hair enters the face from outside; a beard grows from below); and, over that
# region, fine detail (strands) at least HAIR_DETAIL times the cheek's (warm contour
# make-up and a warm shadow side are saturated too, but as smooth as skin). Chroma alone
# flags up to 36 % of the sides of bare faces; all three, 0 after the map's blur.
HAIR_CHROMA_NEAR, HAIR_CHROMA_FAR = 8.0, 14.0
HAIR_DETAIL = 2.0
LOCK_SEED = 0.04
UPPER_EDGE = 0.03  # eye distances: the growth and blur of `upper_hair`'s edge


def hair_free(
    texture: np.ndarray, points: np.ndarray, light_hair: np.ndarray | None = None
) -> np.ndarray:
    """float32 map over `texture` (uint8 RGB, landmarks `points`): 0 where the source's
    hair covers its face (a fringe down to the brows, a lock over a cheek or temple; and
    `light_hair`, float32, where it is 1: found on the full photo at enrollment), 1
    elsewhere.

    Where this map is 0 the target's own skin shows instead of the source's hair: the
    default mask reaches the mid-forehead and the face sides, so a fringe or a lock would
    be pasted onto the target's bare skin.
    """
    h, w = texture.shape[:2]
    lab = cv2.cvtColor(texture, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    cheeks = polygon_mask(cv2.convexHull(points[CHEEKS].astype(np.float32))[:, 0], (h, w)) > 0
    skin = lab[cheeks]
    tone = np.median(skin, axis=0) if len(skin) else lab.reshape(-1, 3).mean(0)
    diff = lab - tone
    diff[..., 0] = np.minimum(diff[..., 0], 0.0)
    dist = np.linalg.norm(diff, axis=-1)
    skin_like = np.clip((HAIR_LAB_FAR - dist) / (HAIR_LAB_FAR - HAIR_LAB_NEAR), 0.0, 1.0)
    eyes = eye_distance(points)
    band = forehead_band(points, (h, w))
    out = np.where(band, skin_like, 1.0).astype(np.float32)
    sides = face_sides(points, (h, w))
    out = np.minimum(out, _side_hair_free(lab, tone, skin_like, cheeks, points, sides, eyes))
    if light_hair is not None:
        out = np.minimum(out, 1.0 - light_hair)
    # Hair of any colour over the forehead and temples, down to the brows (`upper_hair`),
    # grown by its edge's blur: blurred at its edge, a fringe ending at the brows stayed
    # half in, a dark line along them.
    edge = max(UPPER_EDGE * eyes, 0.5)
    upper = cv2.dilate(upper_hair(texture, points).astype(np.uint8), disc(edge))
    upper = cv2.GaussianBlur(upper.astype(np.float32), (0, 0), edge)
    return cv2.GaussianBlur(out, (0, 0), max(0.05 * eyes, 0.5)) * (1.0 - upper)


def _side_hair_free(
    lab: np.ndarray,
    tone: np.ndarray,
    skin_like: np.ndarray,
    cheeks: np.ndarray,
    points: np.ndarray,
    sides: np.ndarray,
    eyes: float,
) -> np.ndarray:
    """`hair_free` over the face sides (`face_sides`): 0 where a lock of hair covers them.

    A lock found by its chroma takes along the pixels joined to it that are off the skin
    tone by the forehead's Lab distance (`skin_like`): the same hair in shadow, darker but
    no more saturated than skin."""
    outside = beside_face(points, polygon_mask(points[OUTLINE].astype(np.float32), lab.shape[:2]))
    chroma = np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0)
    excess = chroma - np.hypot(tone[1] - 128.0, tone[2] - 128.0)
    count, labels = cv2.connectedComponents(
        ((excess > HAIR_CHROMA_NEAR) & (sides | outside)).astype(np.uint8)
    )
    entering = np.zeros(count, bool)
    entering[np.unique(labels[outside])] = True
    entering[0] = False
    # Fine detail: luma's local deviation from its blur, averaged per region.
    luma = lab[..., 0]
    sigma = max(0.03 * eyes, 1.0)
    detail = cv2.GaussianBlur(
        np.abs(luma - cv2.GaussianBlur(luma, (0, 0), sigma)), (0, 0), 2 * sigma
    )
    cheek_detail = max(float(np.median(detail[cheeks])) if cheeks.any() else 0.0, 1e-3)
    totals = np.bincount(labels.ravel(), detail.ravel(), count)
    sizes = np.maximum(np.bincount(labels.ravel(), minlength=count), 1)
    hair = entering & (totals / sizes >= HAIR_DETAIL * cheek_detail)
    ramp = np.clip((HAIR_CHROMA_FAR - excess) / (HAIR_CHROMA_FAR - HAIR_CHROMA_NEAR), 0.0, 1.0)
    ramp = np.minimum(ramp, skin_like)
    seeds = hair[labels] & sides
    # Grown by the Lab distance from the locks found, inside the face sides (outside them
    # everything dark would join), but only from a lock covering LOCK_SEED of the sides:
    # a few saturated pixels at the outline are the hair's edge, and grown they take the
    # face's shading or contour make-up along.
    count, grown = cv2.connectedComponents(((ramp < 1.0) & sides).astype(np.uint8))
    seeded = np.bincount(grown[seeds], minlength=count)
    locks = seeded >= LOCK_SEED * max(int(sides.sum()), 1)
    locks[0] = False
    # Only so far from the lock, like dark hair (`enroll.dark_hair`), and into the margin
    # by the outer eye corner: the shaded rim of the jaw is as far off the cheeks' lit
    # tone, and a whole region of it joined to a lock left out the jaw's rim all round.
    lock = grow_lock(locks[grown] & seeds, ramp < 1.0, points) | seeds
    return np.where(lock, ramp, 1.0).astype(np.float32)


_WITH_SKIN = PerTexture()


def texture_with_skin(
    texture: np.ndarray, points: np.ndarray, light_hair: np.ndarray | None = None
) -> np.ndarray:
    """`texture` as RGBA whose alpha is `hair_free` (0-255), so one remap warps both;
    computed once per texture level."""

    def with_alpha() -> np.ndarray:
        alpha = np.round(hair_free(texture, points, light_hair) * 255.0).astype(np.uint8)
        return np.dstack([texture, alpha])

    return _WITH_SKIN.get(texture, with_alpha)


def multiband(options: SwapOptions) -> bool:
    """Whether the seam is a multi-band blend (the hard hull mask is always pasted as is)."""
    return options.blend == "laplacian" and options.mask != "hull"


def composite_face(
    image: np.ndarray,
    target: np.ndarray,
    source: SourceFace,
    options: SwapOptions,
    state: TrackState | None = None,
    confidence: np.ndarray | None = None,
) -> FaceResult | None:
    """Paste `source` onto the face with landmarks `target` (128, 2), in place in `image`.

    `confidence` (128,), the landmarks' own, helps find occluders (`occlusion.py`).

    Returns None when the face is too small or lies outside the frame.
    """
    closed = None
    if options.follow_gaze:
        # The landmarks' irises may not follow gaze, nor their lids close in a blink.
        target, readings = locate_irises(image, target, options.open_lids)
        if options.follow_blinks:
            blinks = state.blinks if state is not None else None
            closed = (Blinks() if blinks is None else blinks).update(readings)
    points = draw_points(target.astype(np.float32), source, options, state)
    size = face_size(target)
    width = options.feather * size
    outline, covers, brows = None, [], target
    if options.mask == "face":
        clearance = width + BROW_CLEARANCE * size
        # The brows where they are in the image: a raised brow's points lie under it.
        brows = lift_brows(image, target, size, None if state is None else state.brows)
        outline = smooth_closed(face_polygon(points, brows, clearance))
        covers = brow_cover(points, brows, clearance)
    elif options.mask == "outline":
        outline = smooth_closed(points[OUTLINE])
    laplacian = multiband(options)
    if laplacian:
        # Room around the face for the multi-band blur's coarse bands.
        box = points_box(np.concatenate([points, target]), image.shape, pad=int(width) + 4)
    else:
        # Only the mask's box changes (alpha is 0 outside it, and the feather lies inside
        # the outline), plus room for the sharpness blurs to see real neighbours; a third
        # fewer pixels than the whole face with the feather's margin.
        mask_points = points if outline is None else np.concatenate([outline, *covers])
        box = points_box(mask_points, image.shape, pad=BLUR_PAD)
    x0, y0, x1, y1 = box
    if size < 8 or x1 - x0 < 8 or y1 - y0 < 8:
        return None
    shape = (y1 - y0, x1 - x0)
    offset = (x0, y0)
    # A source texture much larger than the target face would alias in the bilinear remap
    # (sharper than the frame at the seam, shimmering from frame to frame).
    texture, source_points = source.level_for(eye_distance(target))
    # A closing eye is drawn closing: its upper lid moved down in the warp (`closing_lids`).
    drawn = points if closed is None or options.keep_eyes else closing_lids(points, closed)
    if options.follow_gaze:
        # The source's lids and irises where its pixels show them (`gaze.source_eyes`).
        eyes = source_eyes(texture, source_points) if options.open_lids else source_points
        warp = gaze_warp(eyes, drawn, _TRIANGLES, box)
    else:
        warp = build_warp_map(source_points, drawn, _TRIANGLES, box)
    fg_skin = remap(texture_with_skin(texture, source_points, source.light_hair_at(texture)), warp)
    fg = cv2.cvtColor(fg_skin, cv2.COLOR_RGBA2RGB)
    bg = image[y0:y1, x0:x1]
    if options.mask == "hull":
        hull = cv2.convexHull(points.astype(np.float32))[:, 0]
        # The triangulation covers the face outline; the hull's concave extra has no source.
        alpha = ((polygon_mask(hull, shape, offset) > 0) & warp.valid).astype(np.float32)
    else:
        assert outline is not None
        mask = face_mask(outline, covers, points, shape, offset)
        # Where the outline bends inward (a jaw point of a turned face pulled in) its
        # smoothing reaches past the triangles, where the warp has no source pixel (it
        # samples the texture's corner: a sharp wedge of the source's background). Cut
        # there before feathering, so alpha is 0 wherever the warp has no source pixel.
        np.multiply(mask, warp.valid, out=mask)
        alpha = feather(mask, width)
        if options.mask == "face":
            # The source's hair over the face (in place: temporaries the size of the box
            # cost more than the arithmetic; the channel read strided costs 1.3x).
            np.multiply(alpha, cv2.extractChannel(fg_skin, 3), out=alpha)
            alpha *= np.float32(1.0 / 255.0)
    in_box = target - np.array(offset, np.float32)  # the target's points in bg's pixels
    if options.occlusion and state is not None and options.mask != "hull":
        occluded = state.occlusion.occlusion(bg, in_box, confidence)
        if occluded is not None:
            alpha *= 1.0 - occluded  # the target's occluder stays in front
    if options.keep_glasses and state is not None and options.mask != "hull":
        glasses = state.glasses.glasses(bg, in_box)
        if glasses is not None:
            region, kept = glasses
            alpha[region] *= 1.0 - kept  # the target's glasses stay on the face
    keep = _kept_target_alpha(points, options, shape, offset, size, closed)
    if keep is not None and not laplacian:
        # One alpha blend with the kept regions taken out of alpha is the same as blending
        # and then putting the target back; where kept is 1 the pixels stay the target's
        # exactly (alpha 0).
        region, kept = keep
        alpha[region] *= 1.0 - kept
        keep = None
    if brows is not target:
        # A raised brow's top lies in the feather under the drawn forehead outline.
        clear_raised(bg, target - offset, brows - offset, size)
    # Statistics over face skin only: the mouth interior and kept eyes would skew them.
    weight = alpha
    if keep is not None:
        region, kept = keep
        weight = alpha.copy()
        weight[region] *= 1.0 - kept
    if options.colour != "none":
        if options.colour == "stats":
            if state is None:
                matrix = stats_matrix(fg, bg, weight, weight)
            elif state.colour is None or state.colour_frames % COLOUR_EVERY == 0:
                matrix = state.smooth_colour(stats_matrix(fg, bg, weight, weight))
            else:
                matrix = state.colour
            if state is not None:
                state.colour_frames += 1
            cv2.transform(fg, matrix, dst=fg)  # per pixel, so in place: one array fewer
            # The matrix is one for the whole face; the light's fall-off across it is not.
            # The light from skin only: not the target's nor the source's features.
            features = feature_polygons([brows - offset, points - offset], size)
            fg = match_lighting(fg, bg, weight, size, features)
        else:
            fg = lowfreq_transfer(fg, bg, weight, weight, sigma=0.1 * size)
    if options.match_sharpness and state is not None:
        # After the colour transfer: a contrast difference is not a sharpness difference.
        # Over the target's skin: a beard's strands are not the footage's sharpness (the
        # weight is read only on the frames the match measures: 0.2 ms a face).
        measuring = state.sharpness.frames % MEASURE_EVERY == 0
        fg = state.sharpness.apply(fg, bg, skin_weight(bg, weight) if measuring else weight)
    if laplacian:
        # The coarse bands reach past the outline: there the source must be the target.
        np.copyto(fg, bg, where=~warp.valid[..., None])
        levels = int(np.clip(np.log2(max(width, 2.0)), 1, 5))
        out = laplacian_blend(fg, bg, alpha, levels)
    else:
        alpha_blend(fg, bg, alpha, out=bg)  # straight into the image: bg is its view
        return FaceResult(box, points, alpha)
    if keep is not None:
        # Last, so the kept pixels are the target's exactly (the multi-band blend may leak
        # a little low frequency across any edge).
        region, kept = keep
        out[region] = alpha_blend(bg[region], out[region], kept)
        alpha[region] *= 1.0 - kept
    image[y0:y1, x0:x1] = out
    return FaceResult(box, points, alpha)


def patch_box(target: np.ndarray, options: SwapOptions) -> tuple[int, int, int, int]:
    """The region `composite_face` may change for a face with landmarks `target`, unclipped.

    With the multi-band blend `composite_face` works in the box of the target and the
    drawn points, padded by the feather width; the drawn points keep the target's outline,
    so the target's box with the same padding plus a margin of a tenth of the face size
    holds it. Otherwise it works in the mask's box padded by `BLUR_PAD`: the mask lies
    inside the target's outline (its top row is lifted toward the forehead outline at
    most; measured on 5 clips x 3 sources, never past the target's box), so a margin of a
    twentieth of the face size holds it.
    """
    size = face_size(target)
    if multiband(options):
        pad = int(options.feather * size) + 4 + int(0.1 * size)
    else:
        pad = BLUR_PAD + int(0.05 * size)
    x0, y0 = np.floor(target.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(target.max(axis=0)).astype(int) + pad + 1
    return int(x0), int(y0), int(x1), int(y1)


def _kept_target_alpha(
    points: np.ndarray,
    options: SwapOptions,
    shape: tuple[int, int],
    offset: tuple[int, int],
    size: float,
    closed: np.ndarray | None = None,
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Where the target's own pixels are kept (the inner mouth and, optionally, the eyes):
    a sub-region of the face box and its alpha (1 = the target's pixels).

    A closing eye of the target (`closed`, per `EYE_OPENINGS` eye, 0..1) keeps its own lids
    once nearly shut (`kept_lids`): the landmarks' lids close only part of the way, and the
    source's eye, narrowed by the warp, is then a lash line (docs/SWAP.md, *Blinks*).
    """
    polygons = [points[_MOUTH]] if options.keep_mouth else []
    polygons += [points[eye] for eye in EYES] if options.keep_eyes else []
    # (polygon, share kept, feather width): the regions do not overlap.
    regions = [(poly, 1.0, 0.015 * size) for poly in polygons]
    if closed is not None and not options.keep_eyes:
        grow = (CLOSED_EYE_MARGIN + CLOSED_EYE_RAMP) * size
        # Its own, wider ramp: the target's lids fade into the source's skin around them.
        regions += [
            (grown_polygon(points[eye], grow), float(share), CLOSED_EYE_RAMP * size)
            for (eye, _), share in zip(EYE_OPENINGS, kept_lids(closed), strict=True)
            if share > 0.0
        ]
    parts = []
    for poly, share, width in regions:
        lo = np.maximum(np.floor(poly.min(axis=0) - offset).astype(int) - 2, 0)
        hi = np.ceil(poly.max(axis=0) - offset).astype(int) + 3
        box = (int(lo[0]), int(lo[1]), min(int(hi[0]), shape[1]), min(int(hi[1]), shape[0]))
        if box[2] > box[0] and box[3] > box[1]:
            parts.append((poly, share, width, box))
    if not parts:
        return None
    x0, y0 = min(p[3][0] for p in parts), min(p[3][1] for p in parts)
    x1, y1 = max(p[3][2] for p in parts), max(p[3][3] for p in parts)
    alpha = np.zeros((y1 - y0, x1 - x0), np.float32)
    for poly, share, width, (bx0, by0, bx1, by1) in parts:
        # Each in its own box (the union's spans the mouth to the eyes). A polygon mask
        # touching the box's edge must not read as "far from the edge": pad with zeros so
        # the distance transform sees the outside.
        mask = polygon_mask(poly, (by1 - by0, bx1 - bx0), (offset[0] + bx0, offset[1] + by0))
        padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)  # np.pad: 10x
        one = feather(padded, width)[1:-1, 1:-1]
        if share < 1.0:
            one *= np.float32(share)
        part = alpha[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0]
        np.maximum(part, one, out=part)
    return (slice(y0, y1), slice(x0, x1)), alpha


class SwapStage:
    """Pipeline stage: swaps the enrolled source onto every face in `frame.faces`.

    Each face track keeps its own state (identity-shape estimate, colour average), so
    several faces in one video are handled independently.

    Args:
        source: the enrolled source face.
        options: compositing options.
    """

    def __init__(self, source: SourceFace, options: SwapOptions | None = None) -> None:
        self.source = source
        self.options = options or SwapOptions()
        self.tracks: dict[int, TrackState] = {}

    def reset(self) -> None:
        """Forget every track's state (a new video starts); the enrolled source stays."""
        self.tracks.clear()

    def process(self, frame: Any) -> Any:
        """Composite every face of `frame` (a `facestream.stream.frames.Frame`).

        Each face is composited on an RGB patch around it (`Frame.edit_patch`): only the
        face boxes are converted from and to the decoded frame's YUV, never the whole
        frame.
        """
        opts = self.options
        if not frame.faces and opts.label is None:
            return frame
        for face in frame.faces:
            points = np.asarray(face.points, np.float32)
            box = frame.patch_box(*patch_box(points, opts))
            if box[2] <= box[0] or box[3] <= box[1]:
                continue  # the face lies outside the frame
            local = points - np.float32(box[:2])
            with frame.edit_patch(box) as patch:
                result = None
                if opts.swap:
                    state = self.tracks.setdefault(face.track_id, TrackState())
                    state.last_seen = frame.index
                    trusted = face.trust >= 0.5
                    shown = state.fade_for_turn(points, trusted, opts.swap_turned, opts.pose_gate)
                    if shown > 0.0:
                        # Mid-fade, the target's own pixels are mixed back in afterwards.
                        target = patch.copy() if shown < 1.0 else None
                        result = composite_face(
                            patch,
                            local,
                            self.source,
                            opts,
                            state,
                            getattr(face, "confidence", None),
                        )
                        if target is not None:
                            patch[:] = cv2.addWeighted(patch, shown, target, 1.0 - shown, 0.0)
                if opts.overlay is not None:
                    draw_overlay(patch, local, opts.overlay, result)
        if opts.label is not None:
            draw_label(frame.image, opts.label)  # the frame's own image: drawn in place
        self._forget_stale_tracks(frame.index)
        return frame

    def _forget_stale_tracks(self, index: int) -> None:
        stale = [tid for tid, t in self.tracks.items() if index - t.last_seen > FORGET_AFTER_FRAMES]
        for track_id in stale:
            del self.tracks[track_id]


def add_swap_arguments(parser: argparse.ArgumentParser) -> None:
    """The compositor's command-line flags (`--source` itself belongs to the command)."""
    parser.add_argument(
        "--overlay", choices=OVERLAY_KINDS, help="debug drawing: landmarks, mesh or mask"
    )
    parser.add_argument("--keep-eyes", action="store_true", help="keep the target's own eyes")
    parser.add_argument(
        "--no-swap", action="store_true", help="draw only the --overlay, without swapping"
    )
    parser.add_argument(
        "--swap-turned",
        action="store_true",
        help="swap faces turned far to the side or bowed far down or up too (by default "
        "they fade back to the target's own face: a frontal source drawn on a profile, "
        "or on a bowed head the landmarks lose, looks wrong)",
    )
    parser.add_argument(
        "--no-follow-gaze",
        action="store_true",
        help="keep the source photo's gaze (by default the swapped eyes look where the "
        "target's look)",
    )
    parser.add_argument(
        "--no-occlusion",
        action="store_true",
        help="paste the source over hands and objects in front of the target's face too",
    )
    parser.add_argument(
        "--no-keep-glasses",
        action="store_true",
        help="paste the source over the target's glasses too (by default their rims, "
        "bridge and arms stay on the swapped face)",
    )
    parser.add_argument(
        "--label",
        nargs="?",
        const=DEFAULT_LABEL,
        help=f'draw a visible label (default text: "{DEFAULT_LABEL}")',
    )


def build_swap_stage(args: Any, landmark_fn: Any) -> SwapStage:
    """The swap stage for the `facestream swap` command line.

    Reads `args.source` (one path or a list of paths), and the optional `args.overlay`,
    `args.keep_eyes`, `args.no_swap` and `args.label`; enrolls the source with `landmark_fn`
    (raises `SourceFaceError` with one sentence for the user).
    """
    from facestream.filters.enroll import enroll_source

    source = enroll_source(args.source, landmark_fn)
    options = SwapOptions(
        keep_eyes=bool(getattr(args, "keep_eyes", False)),
        overlay=getattr(args, "overlay", None),
        swap=not getattr(args, "no_swap", False),
        label=getattr(args, "label", None),
        swap_turned=bool(getattr(args, "swap_turned", False)),
        occlusion=not getattr(args, "no_occlusion", False),
        keep_glasses=not getattr(args, "no_keep_glasses", False),
        follow_gaze=not getattr(args, "no_follow_gaze", False),
    )
    return SwapStage(source, options)
