"""How much detail a face in a photo really holds, as an eye distance in pixels.

A photo enlarged from a small one, blurred or smeared by a restoration keeps many pixels
between the eyes but not the detail: pasted as a swap source it gives a smeared face. The
measure here says how large a sharp face would hold the same detail: the face region is
shrunk by growing factors and enlarged back, and the factor at which the detail lost,
relative to the face's own contrast, reaches `LOSS_BOUND` is how far the face can be
shrunk without losing anything; its eye distance divided by that factor is its
*effective* eye distance. A sharp face loses detail at once (its effective eye distance
is most of its real one, about 0.7 on sharp photos), one enlarged 4x loses nothing until
shrunk 4x (it reads about a quarter of its real one).

Pixel noise (grain, sensor noise) is lost by any shrinking and would read as detail: its
level is estimated from the finest diagonal differences (robust median, Donoho's wavelet
estimate) and the loss white noise of that level shows through the same steps is taken
off. Noise spread over several pixels (blurred or JPEG-compressed after it was added) is
not told from detail.

Example:
    >>> import numpy as np
    >>> from facestream.models.landmarks import MEAN_SHAPE
    >>> cells = np.random.default_rng(0).integers(0, 2, (40, 40)).astype(np.uint8) * 200
    >>> sharp = np.dstack([np.kron(cells, np.ones((10, 10), np.uint8))] * 3)  # sharp edges
    >>> soft = cv2.GaussianBlur(sharp, (0, 0), 4.0)
    >>> points = np.asarray(MEAN_SHAPE, np.float32) * 300 + 50  # eyes 114 px apart
    >>> effective_eye_distance(sharp, points, 114.0) > 100  # 107
    True
    >>> effective_eye_distance(soft, points, 114.0) < 30  # 23: the detail of a tiny face
    True
"""

from __future__ import annotations

import cv2
import numpy as np

from facestream.filters.blend import polygon_mask
from facestream.models.landmarks import GROUPS, LEFT_EYE, RIGHT_EYE

# The face is measured at most this many px between the eyes (a larger one is shrunk
# first: faster, and it averages noise away); the measure cannot exceed it.
WORK_EYES = 160.0
# Shrink factors tried, a quarter octave apart, up to 8x.
FACTORS = tuple(2.0 ** (k / 4) for k in range(1, 13))
# Detail lost (RMS over the measured region) relative to the face's contrast (its RMS
# there) at which the face counts as losing detail; see docs/SWAP.md *Blurred source
# photos*.
LOSS_BOUND = 0.06
NOISE_MARGIN = 3.0  # standard errors the noise estimate is raised by (`noise_variance`)
# The region measured: the eyes and the mouth, each grown by GROW eye distances. They hold
# a face's sharpest detail whatever its skin (lashes, lids, lip lines); smooth or
# retouched skin elsewhere would read as blur (over the hull of the brows, eyes, nose and
# mouth the smeared and the sharp stills lay 1.18x apart, against 1.31x here).
PARTS = tuple(np.asarray(part, np.int64) for part in (LEFT_EYE, RIGHT_EYE, GROUPS["mouth"]))
GROW = 0.1
MARGIN = 0.2  # eye distances of the photo kept around the parts (more than GROW)


def shrink_and_back(grey: np.ndarray, factor: float) -> np.ndarray:
    """`grey` (float32) shrunk by `factor` (area average) and enlarged back (bicubic)."""
    h, w = grey.shape
    small = cv2.resize(
        grey, (max(round(w / factor), 1), max(round(h / factor), 1)), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def noise_variance(grey: np.ndarray, mask: np.ndarray) -> float:
    """Pixel noise variance of `grey` (float32) in `mask`, raised by 3 standard errors of
    its estimate: the median absolute Haar diagonal coefficient over 0.6745 (the median of
    |N(0, 1)|; edges are too few to move it), whose standard error is 1.166 sigma over the
    root of the coefficient count. Where noise swamps a smooth face, an estimate a little
    low would leave part of the noise to pass for detail."""
    h, w = (grey.shape[0] // 2) * 2, (grey.shape[1] // 2) * 2
    g = grey[:h, :w]
    diagonal = (g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) / 2
    inside = diagonal[mask[:h:2, :w:2]]
    if not len(inside):
        return 0.0
    sigma = float(np.median(np.abs(inside))) / 0.6745
    return (sigma * (1.0 + NOISE_MARGIN * 1.166 / np.sqrt(len(inside)))) ** 2


def losses(grey: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean squared difference in `mask` between `grey` and `shrink_and_back` of it, at
    each of `FACTORS`."""
    return np.array([np.mean((grey - shrink_and_back(grey, f))[mask] ** 2) for f in FACTORS])


def shrink(grey: np.ndarray, scale: float) -> np.ndarray:
    """`grey` resized by `scale` <= 1 (area average)."""
    if scale >= 1.0:
        return grey
    size = (max(round(grey.shape[1] * scale), 1), max(round(grey.shape[0] * scale), 1))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def region_mask(points: np.ndarray, shape: tuple[int, int], grow: float) -> np.ndarray:
    """bool mask of the `PARTS` of `points` (`(128, 2)`), each part's convex hull grown
    by `grow` px."""
    mask = np.zeros(shape, np.uint8)
    for part in PARTS:
        hull = cv2.convexHull(points[part].astype(np.float32))[:, 0]
        mask |= polygon_mask(hull, shape)
    size = 2 * max(round(grow), 1) + 1
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))) > 0


def loss_curve(image: np.ndarray, points: np.ndarray, eyes: float) -> tuple[np.ndarray, float]:
    """Relative detail lost at each of `FACTORS` by the face at `points` in `image` (uint8
    RGB) with `eyes` px between its eyes, and the eye distance it was measured at.

    The loss is the RMS of (face - shrunk and back) over the eyes and mouth (`PARTS`),
    less what the photo's pixel noise alone would lose there (white noise of the level
    found, taken through the same steps), over the face's RMS contrast there.
    """
    used = np.concatenate([points[part] for part in PARTS])
    h, w = image.shape[:2]
    x0, y0 = np.maximum(np.floor(used.min(0) - MARGIN * eyes), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(used.max(0) + MARGIN * eyes), (w, h)).astype(int)
    crop = np.ascontiguousarray(image[y0:y1, x0:x1]).astype(np.float32)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    local = points - (x0, y0)
    # The noise is measured at the photo's own pixels, where it is white.
    sigma2 = noise_variance(grey, region_mask(local, grey.shape, GROW * eyes))
    scale = min(WORK_EYES / max(eyes, 1.0), 1.0)
    work = shrink(grey, scale)
    # Pixel centres map as cv2.resize maps them.
    mask = region_mask((local + 0.5) * scale - 0.5, work.shape, GROW * eyes * scale)
    if mask.sum() < 16:
        return np.zeros(len(FACTORS)), eyes * scale
    noise = shrink(np.random.default_rng(0).standard_normal(grey.shape, np.float32), scale)
    signal = losses(work, mask) - sigma2 * losses(noise, mask)
    contrast = np.sqrt(max(float(work[mask].var() - sigma2 * noise[mask].var()), 1.0))
    return np.sqrt(np.maximum(signal, 0.0)) / contrast, eyes * scale


def effective_eye_distance(image: np.ndarray, points: np.ndarray, eyes: float) -> float:
    """The eye distance, in px, of a sharp face holding as much detail as the face at
    `points` (`(128, 2)` landmarks) in `image` (uint8 RGB), whose eyes are `eyes` px apart
    (`enroll.eye_distance`).

    At most `eyes` and `WORK_EYES`; see the module docstring.
    """
    curve, eyes = loss_curve(image, points, eyes)
    above = np.flatnonzero(curve >= LOSS_BOUND)
    if not len(above):
        return eyes / FACTORS[-1]
    # Interpolated in log factor between the last factor under the bound and the first
    # over it (no shrinking loses nothing: factor 1, loss 0).
    i = int(above[0])
    f0, l0 = (FACTORS[i - 1], curve[i - 1]) if i else (1.0, 0.0)
    t = (LOSS_BOUND - l0) / max(curve[i] - l0, 1e-9)
    return eyes / float(np.exp(np.log(f0) + t * (np.log(FACTORS[i]) - np.log(f0))))
