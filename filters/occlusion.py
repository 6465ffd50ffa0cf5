"""Occluders in front of the target's face (a hand, a microphone, a cup) stay in front.

The swap pastes the source over everything inside the target's face outline, so a hand
in front of the face would vanish under the swapped face. Each face track keeps a model
of what the target's own face looks like: its colour (Lab) per pixel of a small canonical
frame (the 128 points warped onto `MEAN_SHAPE`), as a running mean and a running mean
absolute deviation over the frames seen so far. A pixel of this frame far from the model,
in units of that deviation (against the model's range over its neighbours, so a landmark
a pixel off does not count), is an occluder when it belongs to a region large enough to
be one; the compositor then keeps the target's own pixels there. A region so found grows
over the neighbouring pixels that are only a little off the model (a hand in the face's
own skin tone is far off only at its edges and over the lips), and counts once it has
been found a few frames in a row (a talking mouth or a head turn's shading comes and
goes; a hand stays). Where the landmarks' heatmap confidences fall under their track's
usual level more than the other points' do (points hidden behind something) the threshold
is lowered. The face outline's rim is not judged (the landmarks' jitter against the
background), only covered when a region found inside reaches it.

Per frame the face box is shrunk to the canonical scale (about 50 px across the face),
sampled into the canonical frame by one small remap, compared there, and the occlusion
map goes back to the box by another small remap and a resize: under 1 ms a face.

Pixels found occluded are not learned, and pixels unlike the model only slowly, so an
occluder held still does not become part of the face. A track's first frame has no
history: there, skin far off the face's own skin colour (a, b) over a region large enough
is taken for an occluder and the model starts from the face's skin colour there; an
occluder in the face's own colour present from the first frame is learned with the face
and missed (docs/SWAP.md, *Occluders*).

Example:
    >>> import numpy as np
    >>> from facestream.models.landmarks import MEAN_SHAPE
    >>> model = OcclusionModel()
    >>> face = np.full((200, 200, 3), 150, np.uint8)
    >>> points = np.asarray(MEAN_SHAPE, np.float32) * 160 + 20
    >>> model.occlusion(face, points) is None  # nothing occluded
    True
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import sparse

from facestream.filters.shape import face_size
from facestream.filters.warp import (
    NO_TRIANGLE,
    WarpMap,
    build_warp_map,
    rasterise_triangle_ids,
    remap,
)
from facestream.models.landmarks import (
    FACE_OUTLINE,
    GROUPS,
    LEFT_EYE,
    MEAN_SHAPE,
    OUTER_MOUTH,
    RIGHT_EYE,
    TRIANGLES,
)

# Side of the canonical frame (px); the face (sqrt of its outline's area) is about 48 px
# there: fine enough for a finger (about 6 px), coarse enough to cost little.
CANON_SIZE = 64
_TRIANGLES = np.asarray(TRIANGLES, np.int32)


def _canonical_points() -> np.ndarray:
    shape = np.asarray(MEAN_SHAPE, np.float32)
    lo, hi = shape.min(axis=0), shape.max(axis=0)
    return (shape - lo) * np.float32((CANON_SIZE - 3) / (hi - lo).max()) + np.float32(1.0)


_CANON = _canonical_points()
_CANON_BOX = (0, 0, CANON_SIZE, CANON_SIZE)
_CANON_FACE = float(np.sqrt(cv2.contourArea(_CANON[FACE_OUTLINE])))
# The canonical frame's triangles never move, so which triangle covers each of its pixels
# is drawn once (drawing it costs more than the rest of the sampling).
_CANON_IDS = rasterise_triangle_ids(_CANON, _TRIANGLES, _CANON_BOX)


def _canonical_weights() -> sparse.csr_matrix:
    """`(S * S, 128)` weights taking landmarks to each canonical pixel's place: its
    triangle's corners with its barycentric weights (0 outside every triangle). A pixel's
    place in any image is that weighted sum of the image's landmarks (its triangle's affine
    map, with no per-frame solve nor per-pixel gather: one sparse product)."""
    valid = (_CANON_IDS != NO_TRIANGLE).ravel()
    corners = _TRIANGLES[np.where(valid, _CANON_IDS.ravel(), 0)]  # (S * S, 3)
    a, b, c = (_CANON[corners[:, k]].astype(np.float64) for k in range(3))
    xy = np.mgrid[0:CANON_SIZE, 0:CANON_SIZE][::-1].reshape(2, -1).T.astype(np.float64)
    e1, e2, r = b - a, c - a, xy - a
    det = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    det = np.where(np.abs(det) < 1e-9, np.inf, det)  # degenerate: its pixels take corner a
    wb = (r[:, 0] * e2[:, 1] - e2[:, 0] * r[:, 1]) / det
    wc = (e1[:, 0] * r[:, 1] - r[:, 0] * e1[:, 1]) / det
    weights = np.stack([1.0 - wb - wc, wb, wc], axis=1) * valid[:, None]
    rows = np.repeat(np.arange(CANON_SIZE**2), 3)
    shape = (CANON_SIZE**2, len(MEAN_SHAPE))
    return sparse.csr_matrix((weights.astype(np.float32).ravel(), (rows, corners.ravel())), shape)


_CANON_WEIGHTS = _canonical_weights()


def _plain_skin() -> np.ndarray:
    """The canonical pixels that show skin on any face: inside the outline's rim, away
    from the eyes, brows and lips."""
    drawn = np.zeros((CANON_SIZE, CANON_SIZE), np.uint8)
    for group in (RIGHT_EYE, LEFT_EYE, OUTER_MOUTH, GROUPS["brows"]):
        cv2.fillConvexPoly(drawn, cv2.convexHull(_CANON[group].astype(np.int32)), 1)
    features = cv2.dilate(drawn, np.ones((5, 5), np.uint8))
    inside = (_CANON_IDS != NO_TRIANGLE).astype(np.uint8)
    core = cv2.erode(inside, np.ones((2 * EDGE + 1,) * 2, np.uint8))
    return (core > 0) & (features == 0)


_CHANNEL_MEAN = np.full((1, 3), 1.0 / 3.0, np.float32)


def to_canonical(points: np.ndarray) -> WarpMap:
    """The map sending each pixel of the canonical frame to its place in an image whose
    landmarks are `points` (what `build_warp_map` gives, from cached barycentric weights)."""
    maps = (_CANON_WEIGHTS @ np.asarray(points, np.float32)).T.reshape(2, CANON_SIZE, CANON_SIZE)
    return WarpMap(
        _CANON_BOX,
        np.ascontiguousarray(maps[0]),
        np.ascontiguousarray(maps[1]),
        _CANON_IDS != NO_TRIANGLE,
    )


# A pixel's distance from the model is its Lab difference over the model's spread there
# (per channel, then the root mean square over the three); it starts to count as an
# occluder at Z_NEAR and fully at Z_FAR.
Z_NEAR, Z_FAR = 3.0, 5.0
# A region found so grows over its neighbours whose distance, smoothed over GROW_SIGMA
# canonical px (each pixel's capped at GROW_FAR, so a strong occluder does not spill onto
# the face beside it), is between GROW_NEAR and GROW_FAR: a hand in the face's own skin
# tone is only a little off everywhere, and far off at its edges and over the lips.
GROW_NEAR, GROW_FAR = 1.5, 2.3
GROW_SIGMA = 1.5
# Where the model holds the first frame's guess of the face (below), a wide region
# (WIDE_AREA times MIN_AREA) whose smoothed distance is over WIDE_NEAR is found even with
# no pixel over Z_FAR, also over the first frames: an occluder from the first frame is
# close to the guess only in shading, the guess being the face's own skin colour.
WIDE_NEAR, WIDE_AREA = 1.9, 4.0
# A region counts once part of it has been found in this many frames in a row (a frame
# without it halves the count): a talking mouth, a head turn's shading or a blink comes
# and goes within a frame or two, a hand in front of the face stays. It is not learned
# meanwhile.
PERSIST_FRAMES = 3
# The spread never falls under these (Lab units: L 0-100, a and b): landmark jitter and
# the codec move a still face by about this much. A new track starts at SPREAD_PRIOR.
SPREAD_FLOOR = np.array([3.0, 2.0, 2.0], np.float32)
SPREAD_PRIOR = np.array([6.0, 4.0, 4.0], np.float32)
# The floor over the whole canonical frame: numpy broadcasting a (3,) array over the pixels
# costs several times more than the same operation on two arrays of one shape.
_SPREAD_FLOOR_MAP = np.broadcast_to(SPREAD_FLOOR, (CANON_SIZE, CANON_SIZE, 3)).copy()
# Weight of each new frame in the model (the first frames: a plain running mean, then an
# exponential one with this weight, following slow changes of light within a few seconds).
LEARN_RATE = 0.05
# Pixels unlike the model but not (yet) found learn slowly: from distance LEARN_NEAR on,
# down to a weight of LEARN_LEAK at Z_NEAR, also over a track's first frames (an occluder
# not yet found is not absorbed into the model within a few frames; a lasting change of
# the face still is, more slowly).
LEARN_NEAR, LEARN_LEAK = 1.5, 0.005
# Frames a track's model must have seen before it judges pixel by pixel (the first frames
# only learn, but for the wide regions above).
WARMUP_FRAMES = 4
# An occluder covers at least this share of the face in the canonical frame: smaller
# regions far from the model are a blink, a glint or the lips' edge, not a hand.
MIN_AREA = 0.015
# Canonical pixels along the face outline left unjudged (about 6 % of the face size).
EDGE = 3
# A track's first frame has no history: there, a region whose colour (a, b) is this far
# from the face's median skin colour (from the near to the far value), with GUESS_AREA of
# the face's plain skin under it, is taken for an occluder, and the model starts from the
# face's median skin colour there instead of learning it. Of 365 faces in still photos 9
# are so taken: a white box, drawn landmarks, two fringes of hair, and wrongly three faces
# lit by coloured light, a profile's background and a spot on a blurred face (with 20 to
# 28 and 1.5 %: 22); the augmentation's occluders lie at 29-78 (medians).
CHROMA_NEAR, CHROMA_FAR = 22.0, 30.0
GUESS_AREA = 0.03
# Weight of last frame's occlusion in this frame's: an occluder stays found through one
# frame where it looks less unlike the face (motion blur, a turn of the hand).
MEMORY = 0.5
# The landmarks' own word: a point whose heatmap confidence falls under its track's usual
# level (a running mean) by DOUBT_DROP more than the median point's does is in doubt, and
# over the triangles around points in doubt the thresholds above are scaled down toward
# DOUBT_SCALE times their value (an occluder hides points; a skin-coloured hand is close to
# the face in colour). Against the median point: a turned or blurred head lowers all.
DOUBT_DROP = 0.15
DOUBT_SCALE = 0.35


class OcclusionModel:
    """One face track's model of the target's face and its occlusion (per-track state).

    Attributes:
        mean: float32 `(CANON_SIZE, CANON_SIZE, 3)` running mean Lab of the face.
        spread: the same shape, running mean absolute deviation from `mean`.
        frames: frames learned so far.
        last: float32 `(CANON_SIZE, CANON_SIZE)`, last frame's occlusion (canonical).
        trust: float32 `(128,)`, each landmark's usual heatmap confidence (running mean).
        streak: int32 `(CANON_SIZE, CANON_SIZE)`, frames in a row each pixel was found.
        guessed: bool `(CANON_SIZE, CANON_SIZE)`, where the model holds the first frame's
            guess of the face (its skin colour) and the face has not been seen since; None
            where there is none.
    """

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.spread: np.ndarray | None = None
        self.frames = 0
        self.last: np.ndarray | None = None
        self.trust: np.ndarray | None = None
        self.streak = np.zeros((CANON_SIZE, CANON_SIZE), np.int32)
        self.guessed: np.ndarray | None = None

    def occlusion(
        self, image: np.ndarray, points: np.ndarray, confidence: np.ndarray | None = None
    ) -> np.ndarray | None:
        """float32 `(h, w)` share of each pixel of `image` (uint8 RGB, a face box) that is
        an occluder in front of the face with landmarks `points` (128, 2, in `image`'s
        pixels), 1 = occluder; or None when nothing is occluded. Learns the frame.
        `confidence` (128,), the landmarks' heatmap confidences, lowers the thresholds
        where points fall under their usual confidence.
        """
        h, w = image.shape[:2]
        size = face_size(points)
        # Shrunk by a whole factor: OpenCV's area resampling is several times faster then.
        k = max(1, int(round(size / _CANON_FACE)))
        ws, hs = max(w // k, 1), max(h // k, 1)
        small = cv2.resize(image[: hs * k, : ws * k], (ws, hs), interpolation=cv2.INTER_AREA)
        rgb = np.multiply(small, np.float32(1.0 / 255.0), dtype=np.float32)
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab, dst=rgb)
        # Pixel centres: x_small + 0.5 = (x + 0.5) / k.
        small_points = (points + 0.5) * np.float32(1.0 / k) - 0.5
        to_canon = to_canonical(small_points)
        seen = remap(lab, to_canon)
        # Only what the box shows: points past its edge would sample the reflected border.
        valid = (
            to_canon.valid
            & (to_canon.map_x >= 0)
            & (to_canon.map_y >= 0)
            & (to_canon.map_x <= ws - 1)
            & (to_canon.map_y <= hs - 1)
        )
        if self.mean is None or self.spread is None:
            self.mean, self.guessed = _first_model(seen, valid)
            self.spread = np.broadcast_to(SPREAD_PRIOR, seen.shape).copy()
            self.frames = 1
            return None
        # A change of light over the whole face is not an occluder: the median difference
        # (the face's, as long as an occluder covers less than half of it) is taken out.
        picked = np.flatnonzero(valid)[::4]  # a quarter is plenty
        offset = _median(seen.reshape(-1, 3)[picked] - self.mean.reshape(-1, 3)[picked])
        # A scalar as a tuple (numpy's broadcast costs 5x); OpenCV's stubs know only arrays.
        lit = cv2.subtract(seen, (*offset.tolist(), 0.0))  # type: ignore[call-overload]
        # Compared with the model's range over each pixel's neighbours: the landmarks
        # misplace the face by a pixel or so, which at the edges of the lips, brows and
        # eyes reads as a large change of colour.
        near = np.ones((3, 3), np.uint8)
        closest = np.maximum(lit, cv2.erode(self.mean, near))  # np.clip costs 3x
        np.minimum(closest, cv2.dilate(self.mean, near), out=closest)
        diff = np.subtract(lit, closest, out=closest)
        scaled = diff / self.spread
        scaled *= scaled
        # The mean over the channels as one per-pixel product (numpy's reduction over a
        # short last axis costs several times more).
        z = np.sqrt(cv2.transform(scaled, _CHANNEL_MEAN))
        z *= self._doubt_gain(confidence)
        # Not judged along the outline: there the landmarks' jitter against the background
        # and the hair reads as change (the feather hides the source there anyway). A
        # region found inside reaches out over it.
        rim = np.ones((2 * EDGE + 1,) * 2, np.uint8)
        core = cv2.erode(valid.astype(np.uint8), rim)
        found = np.clip((z - Z_NEAR) / (Z_FAR - Z_NEAR), 0.0, 1.0) * core
        if self.frames < WARMUP_FRAMES:
            found[:] = 0.0
        if found.max() > 0.5 or self.guessed is not None:
            capped = np.minimum(z, GROW_FAR)
            capped *= capped
            near = np.sqrt(cv2.GaussianBlur(capped, (0, 0), GROW_SIGMA))
            area = MIN_AREA * float(valid.sum())
            found = _large_regions(found, area)
            if self.guessed is not None:
                wide = np.clip((near - WIDE_NEAR) / (GROW_FAR - WIDE_NEAR), 0.0, 1.0)
                wide *= core * self.guessed
                found = np.maximum(found, _large_regions(wide, WIDE_AREA * area))
            if found.any():
                weak = np.clip((near - GROW_NEAR) / (GROW_FAR - GROW_NEAR), 0.0, 1.0) * core
                found = _grown(found, weak)
            found = np.where(core > 0, found, cv2.dilate(found, rim) * valid)
        else:  # no region to keep (the usual frame): skip the labelling
            found = np.zeros_like(found)
        candidate = found
        # A frame without it halves the streak rather than ending it: an occluder found for
        # a while and missed in one frame counts again at once when found again.
        if found.max() > 0.5:
            self.streak = np.where(found > 0.5, self.streak + 1, self.streak // 2)
            found = _lasting(found, self.streak)
        elif self.streak.any():
            self.streak //= 2
        if self.last is not None:
            found = np.maximum(found, MEMORY * self.last)
        self.last = found
        self._learn(seen, z, diff, valid, np.maximum(found, candidate))
        if not found.any():
            return None
        from_canon = build_warp_map(_CANON, small_points, _TRIANGLES, (0, 0, ws, hs))
        occluded = remap(found, from_canon) * from_canon.valid
        occluded = cv2.resize(occluded, (ws * k, hs * k), interpolation=cv2.INTER_LINEAR)
        # The few rows and columns the whole factor left out take their neighbours' value.
        return cv2.copyMakeBorder(occluded, 0, h - hs * k, 0, w - ws * k, cv2.BORDER_REPLICATE)

    def _doubt_gain(self, confidence: np.ndarray | None) -> np.ndarray | float:
        """Factor on the distance (canonical map, 1 where no point is in doubt) from the
        landmarks' confidences; learns their usual level."""
        if confidence is None or DOUBT_SCALE >= 1.0:
            return 1.0
        confidence = np.asarray(confidence, np.float32)
        if self.trust is None:
            self.trust = confidence.copy()
            return 1.0
        drop = self.trust - confidence
        drop -= _median(drop[:, None])[0]  # the median point's
        doubt = np.clip(drop / DOUBT_DROP, 0.0, 1.0)
        settled = doubt < 0.5
        self.trust[settled] += LEARN_RATE * (confidence[settled] - self.trust[settled])
        if not doubt.any():
            return 1.0
        per_triangle = np.zeros(NO_TRIANGLE + 1, np.float32)
        per_triangle[: len(_TRIANGLES)] = doubt[_TRIANGLES].mean(axis=1)
        doubt_map = cv2.GaussianBlur(per_triangle[_CANON_IDS], (0, 0), 2.0)
        return 1.0 / (1.0 - (1.0 - DOUBT_SCALE) * doubt_map)

    def _learn(
        self,
        seen: np.ndarray,
        z: np.ndarray,
        diff: np.ndarray,
        valid: np.ndarray,
        found: np.ndarray,
    ) -> None:
        """Fold this frame into the model, except where it is (near) an occluder; slowly
        where it is unlike the model (distance `z`)."""
        assert self.mean is not None and self.spread is not None
        rate = max(1.0 / (self.frames + 1), LEARN_RATE)
        if found.any():
            weight = (1.0 - cv2.dilate(found, np.ones((5, 5), np.uint8))) * valid
        else:
            weight = valid.astype(np.float32)
        # rate * clip((Z_NEAR - z) / (Z_NEAR - LEARN_NEAR), 0, 1), at least LEARN_LEAK; in
        # place, as below.
        like = np.subtract(np.float32(Z_NEAR), z)
        like *= np.float32(1.0 / (Z_NEAR - LEARN_NEAR))
        np.clip(like, 0.0, 1.0, out=like)
        like *= np.float32(rate)
        np.maximum(like, np.float32(LEARN_LEAK), out=like)
        weight *= like
        weight = cv2.merge([weight] * 3)  # per channel: a broadcast (h, w, 1) costs 5x
        mean_weight = weight
        if self.guessed is not None:
            # A guess is not sure enough to hold against what stays there: even where
            # found, its mean gives way slowly (half of a region held still: 11-12 s).
            leak = np.float32(LEARN_LEAK) * (self.guessed & valid)
            mean_weight = np.maximum(weight, leak[..., None])
            self.guessed &= z >= LEARN_NEAR  # the face seen there now
            if not self.guessed.any():
                self.guessed = None
        # In place through one scratch array: the temporaries cost more than the arithmetic.
        step = np.subtract(seen, self.mean)
        step *= mean_weight
        self.mean += step
        np.abs(diff, out=step)
        step -= self.spread
        step *= weight
        self.spread += step
        np.maximum(self.spread, _SPREAD_FLOOR_MAP, out=self.spread)
        self.frames += 1


def _first_model(seen: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A new track's model from its first frame `seen` (canonical Lab), and the pixels it
    guessed (None: none): that frame, except over regions far off the face's median skin
    colour with enough plain skin under them to be an occluder (the lips or eyes alone are
    not), which take that skin colour."""
    skin = _SKIN & valid
    if not skin.any():
        return seen.copy(), None
    tone = _median(seen[skin])
    chroma = np.sqrt(((seen[..., 1:] - tone[1:]) ** 2).sum(axis=2))
    core = cv2.erode(valid.astype(np.uint8), np.ones((2 * EDGE + 1,) * 2, np.uint8))
    off = np.clip((chroma - CHROMA_NEAR) / (CHROMA_FAR - CHROMA_NEAR), 0.0, 1.0) * core
    if off.max() <= 0.5:
        return seen.copy(), None
    count, labels = cv2.connectedComponents((off > 0.5).astype(np.uint8))
    on_skin = np.bincount(labels[skin], minlength=count)
    large = on_skin >= GUESS_AREA * float(valid.sum())
    large[0] = False
    if not large.any():
        return seen.copy(), None
    guessed = (_with_rim(large[labels]) > 0) & valid
    return np.where(guessed[..., None], tone, seen).astype(np.float32), guessed


def _median(values: np.ndarray) -> np.ndarray:
    """`np.median(values, axis=0)` (float32 `(n, c)`, n > 0) by one partition of each
    channel, contiguous: numpy's median spends more on its checks than on the partition.
    No values (the face wholly outside its box) give 0, not numpy's NaN."""
    n = len(values)
    if n == 0:
        return np.zeros(values.shape[1], np.float32)
    low, high = (n - 1) // 2, n // 2
    part = values.T.copy()
    part.partition((low, high), axis=1)
    return (part[:, low] + part[:, high]) * np.float32(0.5)


def _grown(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """`strong` (regions over 0.5) grown over the regions of `weak` that touch them."""
    both = np.maximum(strong, weak)
    count, labels = cv2.connectedComponents((both > 0.5).astype(np.uint8))
    touched = np.zeros(count, bool)
    touched[labels[strong > 0.5]] = True
    touched[0] = False
    return both * _with_rim(touched[labels])


def _lasting(found: np.ndarray, streak: np.ndarray) -> np.ndarray:
    """`found` with only its regions (over 0.5) that hold a pixel whose `streak` (frames
    found in a row, halved by each frame without) reached PERSIST_FRAMES."""
    count, labels = cv2.connectedComponents((found > 0.5).astype(np.uint8))
    lasting = np.zeros(count, bool)
    lasting[labels[streak >= PERSIST_FRAMES]] = True
    lasting[0] = False
    return found * _with_rim(lasting[labels])


def _with_rim(keep: np.ndarray) -> np.ndarray:
    """The bool map `keep` grown by a pixel, as uint8: the soft rim (under 0.5) around a
    kept region stays with it."""
    return cv2.dilate(keep.astype(np.uint8), np.ones((3, 3), np.uint8))


_SKIN = _plain_skin()


def _large_regions(found: np.ndarray, min_area: float) -> np.ndarray:
    """`found` with the regions (over 0.5) smaller than `min_area` pixels set to 0."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((found > 0.5).astype(np.uint8))
    large = stats[:, cv2.CC_STAT_AREA] >= min_area
    large[0] = False
    if not large[1:].any():
        return np.zeros_like(found)
    return found * _with_rim(large[labels])
