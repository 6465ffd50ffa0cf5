"""Colour transfer: the warped source face takes the target's skin tone and lighting.

Two methods, both restricted to face pixels so background and hair do not leak in:

- `stats_transfer`: the source's mean colour taken to the target's (luma by a gain, chroma
  along the skin colour, the chroma off it scaled down with the skin's), its luma contrast
  scaled toward the target's; linear, hence one colour matrix per frame.
- `lowfreq_transfer`: the target's low frequencies (its lighting and shading) with the
  source's high frequencies (its features): `src - blur(src) + blur(tgt)`, with blurs
  normalised by the blurred mask so the border does not darken.

Example:
    >>> import numpy as np
    >>> src = np.full((8, 8, 3), 60, np.uint8); tgt = np.full((8, 8, 3), 180, np.uint8)
    >>> w = np.ones((8, 8), np.float32)
    >>> int(stats_transfer(src, tgt, w, w)[4, 4, 0]) > 150
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facestream.models.landmarks import GROUPS, LEFT_EYE, NAMES, OUTER_MOUTH, RIGHT_EYE

STATS_STRIDE = 3  # statistics from every 3rd pixel in x and y: 9x cheaper, same figures
# Luma gain bounds. Wide on purpose (they were per-channel gains' until the chroma was
# taken along the skin colour: a pale, neutrally lit source photo onto a warm, saturated
# video face needed a blue gain near 0.3, and a 0.4 floor left the face pink, 8 Lab units
# off). The bounds only guard against a near-black face (no face, a failed mask).
GAIN_MIN, GAIN_MAX = 0.15, 6.0
# A source pixel's chroma off its skin colour (lips, creases, highlights, stubble) is
# scaled like the skin's own chroma from the source's to the target's, and like the spread
# of that chroma, never up and, for the spread, not under CHROMA_FLOOR (the lips keep some
# colour on a flat, beauty-filtered target). Per-channel gains instead moved it by the
# skin's ratio, past neutral: a dark, warm source onto pale, pink skin (blue x1.6) turned
# its highlights a bluish white (halos above the brows and on the cheeks) and its stubble
# grey, and an elderly source's red creases stayed as red on a neutral face (docs/SWAP.md,
# *Far skin tones*).
CHROMA_FLOOR = 0.4
# Luma contrast is scaled toward the target's within these bounds.
CONTRAST_MIN, CONTRAST_MAX = 0.6, 1.6


# RGB -> luma/chroma (BT.601 YCbCr without offsets). Linear, so scaling luma alone is one
# colour matrix in RGB.
_YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
    np.float64,
)
_YCC_INV = np.linalg.inv(_YCC)


def transfer_matrix(
    src_mean: np.ndarray, src_cov: np.ndarray, tgt_mean: np.ndarray, tgt_cov: np.ndarray
) -> np.ndarray:
    """The `(3, 4)` RGB colour matrix moving source statistics onto the target's.

    Linear in luma/chroma (BT.601 YCbCr): luma is multiplied by the ratio of the means, so
    dark features stay dark; each pixel's chroma splits into the share that follows its
    luma along the source's mean skin colour, which becomes the target's (like a white
    balance: brows and lashes stay neutral, where an additive chroma shift would tint them
    blue or green), and the rest, its deviation from that skin colour (lips, creases,
    highlights), scaled down toward the target's (`chroma_scale`): neutral stays neutral,
    where per-channel gains pushed it past the target's hue. Then luma contrast is scaled
    around the mean toward the target's, within bounds (a flat-lit target must not
    flatten the source to a mask, nor a hard-lit one burn it).
    """
    src_y, tgt_y = float(_YCC[0] @ src_mean), float(_YCC[0] @ tgt_mean)
    gain = float(np.clip(tgt_y / max(src_y, 1.0), GAIN_MIN, GAIN_MAX))
    keep = chroma_scale(src_mean, src_cov, tgt_mean, tgt_cov)
    src_c, tgt_c = _YCC[1:] @ src_mean, _YCC[1:] @ tgt_mean
    along = (tgt_c - keep * src_c) / max(src_y, 1.0)
    ycc = np.array([[gain, 0.0, 0.0], [along[0], keep, 0.0], [along[1], 0.0, keep]])
    linear = _YCC_INV @ ycc @ _YCC
    luma = _YCC[0]
    balanced = linear @ src_cov @ linear.T
    contrast = np.sqrt((luma @ tgt_cov @ luma) / max(luma @ balanced @ luma, 1e-6))
    scale = _YCC_INV @ np.diag([np.clip(contrast, CONTRAST_MIN, CONTRAST_MAX), 1.0, 1.0]) @ _YCC
    linear = scale @ linear
    offset = tgt_mean - scale @ tgt_mean
    return np.hstack([linear, offset[:, None]]).astype(np.float32)


def chroma_scale(
    src_mean: np.ndarray, src_cov: np.ndarray, tgt_mean: np.ndarray, tgt_cov: np.ndarray
) -> float:
    """How much of a source pixel's chroma deviation from its skin colour is kept: the
    ratio of the target's to the source's, in mean chroma and in the deviations' spread
    (not under `CHROMA_FLOOR`), at most 1."""
    src_c, tgt_c = _YCC[1:] @ src_mean, _YCC[1:] @ tgt_mean
    mean = float(np.linalg.norm(tgt_c)) / max(float(np.linalg.norm(src_c)), 1e-6)
    spread = np.sqrt(
        off_skin_variance(tgt_mean, tgt_cov) / max(off_skin_variance(src_mean, src_cov), 1e-6)
    )
    return min(mean, max(float(spread), CHROMA_FLOOR), 1.0)


def off_skin_variance(mean: np.ndarray, cov: np.ndarray) -> float:
    """Variance of the chroma (Cb, Cr) of pixels off the line through black and `mean`."""
    c, y = _YCC[1:] @ mean, float(_YCC[0] @ mean)
    off = _YCC[1:] - np.outer(c / max(y, 1.0), _YCC[0])
    return float(np.trace(off @ cov @ off.T))


# What of a face is skin for the colour statistics, the lighting match and the sharpness
# match (`skin_weight`): luma under SKIN_DARK[0] of the face's is not (a beard, hair over
# the face, glasses rims, the pupils and brows), over SKIN_DARK[1] it is, a ramp between.
# The face's luma is its SKIN_PERCENTILE: a beard can cover half of a face, and its median
# then lies in the beard. A shadow across a face is rarely under half of its lit side's
# luma (the demo clip's shaded chin: 0.9 of the cheeks); black and brown beards are
# 0.2-0.4. Counted as skin, a target's beard darkened the whole pasted face and raised its
# contrast, the lighting match took it for shadow and darkened the skin over it to the
# gain's floor, and its strands kept the source sharper than the target's skin. For the
# colour statistics the luma is first blurred over SKIN_BLUR of the face size (the
# lighting match leaves the features out by their landmarks instead): the eyes, brows and
# lips, small, then stay in, a beard stays out. Left out, the source's eyes, brows and
# make-up weighed nothing in its contrast and came out harsh (quality bench: seam 1.112,
# temporal 1.100).
SKIN_DARK = (0.45, 0.65)
SKIN_PERCENTILE = 75
SKIN_BLUR = 0.1
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def skin_weight(image: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """`weight` (float32) times how skin-like each pixel of `image` (RGB, any leading
    shape) is by its luma against the face's (`SKIN_DARK`, `SKIN_PERCENTILE`)."""
    pixels = np.ascontiguousarray(image, np.float32).reshape(-1, 1, 3)
    return luma_skin_weight(cv2.transform(pixels, _LUMA[None]).reshape(weight.shape), weight)


def luma_skin_weight(luma: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """`skin_weight` from the pixels' luma (float32, shaped like `weight`; overwritten)."""
    # A sample of about a thousand pixels is plenty for the face's level (selecting every
    # pixel of a face box costs more than the rest of this function).
    step = max(1, luma.size // 1000)
    sample = luma.reshape(-1)[::step][weight.reshape(-1)[::step] > 0.5]
    if sample.size == 0:
        return weight
    rank = int(SKIN_PERCENTILE / 100 * (sample.size - 1))
    level = max(float(np.partition(sample, rank)[rank]), 1.0)
    # ramp = (luma / level - lo) / (hi - lo), clipped, times weight; in place.
    lo, hi = SKIN_DARK
    luma *= np.float32(1.0 / (level * (hi - lo)))
    luma -= np.float32(lo / (hi - lo))
    np.clip(luma, 0.0, 1.0, out=luma)
    luma *= weight
    return luma


def masked_mean_cov(
    image: np.ndarray, weight: np.ndarray, skin: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted RGB mean `(3,)` and covariance `(3, 3)`, sampled on a `STATS_STRIDE` grid;
    `skin` weights the samples by `skin_weight` of their luma blurred over a tenth of the
    face (`SKIN_BLUR`)."""
    x = image[::STATS_STRIDE, ::STATS_STRIDE].astype(np.float32)
    w = weight[::STATS_STRIDE, ::STATS_STRIDE].astype(np.float32)
    if skin:
        sigma = max(SKIN_BLUR * float(np.sqrt(max(float(w.sum()), 1.0))), 0.5)
        luma = cv2.GaussianBlur(cv2.transform(x, _LUMA[None]), (0, 0), sigma)
        w = luma_skin_weight(luma, w)
    # Channels first, (3, n): numpy's arithmetic over a short last axis costs several
    # times more than over long rows.
    d = np.ascontiguousarray(x.reshape(-1, 3).T, np.float64)
    w64 = w.reshape(-1).astype(np.float64)
    total = max(float(w64.sum()), 1e-6)
    mean = d @ w64 / total
    d -= mean[:, None]
    return mean, (d * w64) @ d.T / total


def stats_matrix(
    src: np.ndarray, tgt: np.ndarray, src_weight: np.ndarray, tgt_weight: np.ndarray
) -> np.ndarray:
    """The colour matrix taking `src`'s statistics under `src_weight` to `tgt`'s, both
    over skin (`masked_mean_cov`'s `skin`): a target's beard counted in darkened the whole
    pasted face and raised its contrast."""
    return transfer_matrix(
        *masked_mean_cov(src, src_weight, skin=True),
        *masked_mean_cov(tgt, tgt_weight, skin=True),
    )


def stats_transfer(
    src: np.ndarray, tgt: np.ndarray, src_weight: np.ndarray, tgt_weight: np.ndarray
) -> np.ndarray:
    """`src` (uint8 RGB) recoloured so its luma/chroma statistics under `src_weight` match
    the target's under `tgt_weight`: one `cv2.transform` of the pixels."""
    return cv2.transform(src, stats_matrix(src, tgt, src_weight, tgt_weight))


def masked_blur(image: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of `image` (float32) that only averages pixels where `weight` > 0."""
    num = cv2.GaussianBlur(image * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)
    return num / np.maximum(den, 1e-4)[..., None]


def coarse_blur(
    image: np.ndarray, weight: np.ndarray, sigma: float, small: tuple[int, int]
) -> np.ndarray:
    """`masked_blur` of `image` by `sigma` px, computed at the size `small` (w, h) and
    returned at that size: a large blur at full resolution would cost ten times more."""
    factor = image.shape[1] / small[0]
    return masked_blur(shrink(image, small), shrink(weight, small), sigma / factor)


def shrink(image: np.ndarray, small: tuple[int, int]) -> np.ndarray:
    """`image` averaged down to `small` (w, h), as float32. Bilinear to 4x `small` first:
    an area resize by a large non-integer factor costs several times more."""
    w, h = small
    if image.shape[1] > 4 * w and image.shape[0] > 4 * h:
        image = cv2.resize(image, (4 * w, 4 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, small, interpolation=cv2.INTER_AREA).astype(np.float32)


def coarse_size(shape: tuple[int, ...], sigma: float) -> tuple[int, int]:
    """(w, h) at which a blur of `sigma` px is about 2 px."""
    factor = max(1.0, sigma / 2.0)
    return max(1, round(shape[1] / factor)), max(1, round(shape[0] / factor))


def lowfreq_transfer(
    src: np.ndarray, tgt: np.ndarray, src_weight: np.ndarray, tgt_weight: np.ndarray, sigma: float
) -> np.ndarray:
    """`src` with its low frequencies (blur of `sigma` px) replaced by the target's."""
    h, w = src.shape[:2]
    small = coarse_size(src.shape, sigma)
    low_t = coarse_blur(tgt, tgt_weight, sigma, small)
    low_s = coarse_blur(src, src_weight, sigma, small)
    diff = cv2.resize(low_t - low_s, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(src + diff + 0.5, 0, 255).astype(np.uint8)


# The lighting match (`match_lighting`): the blur is this fraction of the face size, coarse
# enough that the faces' features (eyes, brows, nostrils, lips, drawn at nearly the same
# places on both) mostly average out and the light's fall-off across the face remains.
# 0.12 followed the demo clip's shading a little closer, but pulled the face further
# toward the target's (dlib distance to the source 0.353 against 0.346 at 0.2; a mirrored
# self-swap came out nearly the target); docs/SWAP.md. The gains are bounded so a target's
# dark beard or a hand cannot black the face out.
LIGHTING_SIGMA = 0.2
LIGHTING_MIN, LIGHTING_MAX = 0.7, 1.4
LIGHT_FROM = 0.02  # the light is read where the face's weight is over this
# What `feature_polygons` leaves out of the light (face sizes): each brow from this far above
# its points (they lie along its upper half) to this far below, the eyes' and the lips'
# outlines grown by these (lashes, lids' shadow, make-up; the lips' edge).
BROW_UP, BROW_DOWN = 0.04, 0.07
EYE_GROW, LIPS_GROW = 0.05, 0.02
_HALF_BROWS = len(GROUPS["brows"]) // 2
_BROWS = (list(GROUPS["brows"][:_HALF_BROWS]), list(GROUPS["brows"][_HALF_BROWS:]))
_NOSTRILS = [
    i for i, name in enumerate(NAMES) if name.startswith("nose_base") or name.endswith("_base")
]


def feature_polygons(faces: Sequence[np.ndarray], size: float) -> list[np.ndarray]:
    """Convex polygons around the brows, eyes, nostrils and lips of the faces with landmarks
    `faces` (each (128, 2), face size `size` px), one per feature for all the faces: dark
    features, not light, for `match_lighting`."""
    both = np.concatenate([np.asarray(f, np.float32)[None] for f in faces])
    up, down = np.float32(BROW_UP * size), np.float32(BROW_DOWN * size)
    polygons = []
    for brow in _BROWS:
        line = both[:, brow].reshape(-1, 2)
        band = np.concatenate([line - (0.0, up), line + (0.0, down)])
        polygons.append(cv2.convexHull(band.astype(np.float32))[:, 0])
    for group, grow in ((LEFT_EYE, EYE_GROW), (RIGHT_EYE, EYE_GROW), (OUTER_MOUTH, LIPS_GROW)):
        polygons.append(grown_hull(both[:, group].reshape(-1, 2), grow * size))
    polygons.append(grown_hull(both[:, _NOSTRILS].reshape(-1, 2), 0.0))
    return polygons


_ANGLES = np.arange(8) * (np.pi / 4)
_OCTAGON = np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1).astype(np.float32)


def grown_hull(points: np.ndarray, margin: float) -> np.ndarray:
    """float32 convex polygon around `points` (N, 2), `margin` px out on every side."""
    grown = np.asarray(points, np.float32)[:, None] + np.float32(margin) * _OCTAGON
    return cv2.convexHull(grown.reshape(-1, 2))[:, 0]


def feature_free(
    shape: tuple[int, ...], fine: tuple[int, int], features: Sequence[np.ndarray]
) -> np.ndarray:
    """float32 map at `fine` (w, h), 1 outside the convex `features` polygons (in the
    pixels of an image of `shape`) and 0 inside."""
    out = np.ones((fine[1], fine[0]), np.float32)
    shift = 4
    scale = np.array([fine[0] / shape[1], fine[1] / shape[0]], np.float32) * (1 << shift)
    # One polygon a call: polygons overlapping in one `fillPoly` leave their overlap out.
    for polygon in features:
        corners = (np.asarray(polygon, np.float32) * scale).round().astype(np.int32)
        cv2.fillConvexPoly(out, corners, 0.0, lineType=cv2.LINE_8, shift=shift)
    return out


def light_field(
    image: np.ndarray, weight: np.ndarray, small: tuple[int, int], sigma: float
) -> np.ndarray:
    """`masked_blur` of `image` (float32, at a size finer than `small`) over `weight` (at
    the same size), by `sigma` px at `small` (w, h), where it is computed: each coarse
    cell averages only its weighted pixels (a normalised convolution)."""
    num = cv2.resize(image * weight[..., None], small, interpolation=cv2.INTER_AREA)
    den = cv2.resize(weight, small, interpolation=cv2.INTER_AREA)
    num = cv2.GaussianBlur(num, (0, 0), sigma)
    return num / np.maximum(cv2.GaussianBlur(den, (0, 0), sigma), 1e-4)[..., None]


def match_lighting(
    src: np.ndarray,
    tgt: np.ndarray,
    weight: np.ndarray,
    size: float,
    features: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """`src` (uint8 RGB, already at the target's mean colour) relit like `tgt`: each channel
    multiplied by the ratio of the target's to its own, both blurred over the face (where
    `weight` is over `LIGHT_FROM`, each pixel in full) at `LIGHTING_SIGMA` x `size` px,
    each only over its skin (`skin_weight`), filled in from the skin around where it is
    not: a source's dark glasses rims or deep creases read as shade brightened the skin
    around them. Neither blur reads inside `features` (polygons in `src`'s pixels,
    `feature_polygons` of both faces' landmarks): a target's brows drawn higher than the
    source's, or its darker eyes, would darken the source's skin there like a shadow (a
    faint second pair of brows), and the source's own brows would lighten the skin
    around them.

    The colour matrix is one for the whole face, so a source photographed in even light
    keeps a bright chin and jaw where the target is shaded from above, and looks pale
    against a darker neck. Gains multiply like light: the source's detail darkens with it
    (an additive correction, `lowfreq_transfer`, leaves it at full contrast in the shade),
    and a warmer shadow stays warmer.
    """
    h, w = src.shape[:2]
    sigma = LIGHTING_SIGMA * size
    small = coarse_size(src.shape, sigma)
    factor = src.shape[1] / small[0]
    # Light is read at 4x the coarse size: fine enough for the skin test to tell a beard
    # from the skin beside it, pixel by pixel (on the coarse cells, a cell across a beard's
    # edge was half skin or not by where the grid fell: over the beard 0.88 to 0.99 of the
    # beardless luma as a face moved by a few px), and for the features to be left out.
    fine = min(4 * small[0], w), min(4 * small[1], h)
    free = feature_free(src.shape, fine, features)
    # Every pixel under the mask counts in full: the feather says how much of the source
    # shows, not how much a pixel tells of the light; weighed by it, the light at the
    # border leaned on the face's middle, and a face lit flat in its photo stayed lighter
    # than a target shaded toward its outline (skin colour gap across the border 4.34 ->
    # 4.04 ΔE over the pairs of bench/swap_skin_gap.py, the targets' own 3.99).
    inside = cv2.resize(weight, fine, interpolation=cv2.INTER_LINEAR)
    free *= cv2.threshold(inside, LIGHT_FROM, 1.0, cv2.THRESH_BINARY)[1]
    tgt_fine, src_fine = (
        cv2.resize(x, fine, interpolation=cv2.INTER_LINEAR).astype(np.float32) for x in (tgt, src)
    )
    lit = light_field(tgt_fine, skin_weight(tgt_fine, free), small, sigma / factor)
    lit /= np.maximum(
        light_field(src_fine, skin_weight(src_fine, free), small, sigma / factor), 1.0
    )
    # Linear: stays within the bounds (cubic overshoots them).
    gain = cv2.resize(
        np.clip(lit, LIGHTING_MIN, LIGHTING_MAX), (w, h), interpolation=cv2.INTER_LINEAR
    )
    return cv2.multiply(src, gain, dtype=cv2.CV_8U)  # rounds and saturates
