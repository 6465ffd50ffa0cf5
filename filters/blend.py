"""Masks and seam blending for pasting a warped face into a frame.

The face mask is a filled polygon feathered inward by a distance transform, so alpha is 0
on the outline and reaches 1 at `width` pixels inside it; the width is a fraction of the
face size, so a small face and a large face get the same look. The seam is then blended
either by alpha (feather) or by a Laplacian pyramid (multi-band), where low frequencies mix
over a wide band and fine detail over a narrow one.

Example:
    >>> import numpy as np
    >>> poly = np.array([[10, 10], [90, 10], [90, 90], [10, 90]], np.float32)
    >>> a = feathered_mask(poly, (100, 100), width=10)
    >>> float(a[0, 0]), float(a[50, 50])
    (0.0, 1.0)
"""

from __future__ import annotations

import cv2
import numpy as np


def polygon_mask(polygon: np.ndarray, shape: tuple[int, int], offset=(0.0, 0.0)) -> np.ndarray:
    """uint8 `(h, w)` mask, 255 inside `polygon` (`(N, 2)` points, shifted by `-offset`)."""
    mask = np.zeros(shape, np.uint8)
    shift = 4
    # The array's own `round`: `np.round`'s wrapper costs 3x, on ~7 masks a face and frame.
    pts = ((np.asarray(polygon) - offset) * (1 << shift)).round().astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8, shift=shift)
    return mask


def grown_polygon(polygon: np.ndarray, margin: float) -> np.ndarray:
    """`polygon` with each point moved `margin` px away from its centroid."""
    out = polygon - polygon.mean(axis=0)
    out *= 1.0 + margin / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
    return out + polygon.mean(axis=0)


def feather(mask: np.ndarray, width: float) -> np.ndarray:
    """float32 alpha from a uint8 mask: distance inside the mask / `width`, clipped to 1."""
    # The 3x3 approximate L2 distance is within a few percent of exact: plenty for a ramp.
    dist: np.ndarray = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_3)
    # In place: on a face box the temporaries cost more than the arithmetic; and a clip,
    # numpy's `minimum` costs 2.5x (the distance is never under 0).
    dist *= np.float32(1.0 / max(width, 1e-6))
    return np.clip(dist, 0.0, 1.0, out=dist)


def feathered_mask(
    polygon: np.ndarray, shape: tuple[int, int], width: float, offset=(0.0, 0.0)
) -> np.ndarray:
    """float32 `(h, w)` alpha: 0 on and outside `polygon`, 1 at `width` px inside it."""
    return feather(polygon_mask(polygon, shape, offset), width)


def alpha_blend(
    fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """uint8 `bg + alpha * (fg - bg)` for `(h, w, 3)` images and an `(h, w)` alpha, into
    `out` when given (it may be `bg` itself: the blend is per pixel)."""
    alpha = alpha.astype(np.float32, copy=False)
    return cv2.blendLinear(fg, bg, alpha, 1.0 - alpha, dst=out)


def laplacian_blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, levels: int) -> np.ndarray:
    """Multi-band blend of two uint8 images with an `(h, w)` alpha over `levels` octaves.

    Each Laplacian band is mixed with the alpha blurred to that band's scale, so the low
    frequencies (lighting) cross the seam smoothly while edges stay sharp.
    """
    f: np.ndarray = fg.astype(np.float32)
    b: np.ndarray = bg.astype(np.float32)
    bands_f: list[np.ndarray] = []
    bands_b: list[np.ndarray] = []
    alphas: list[np.ndarray] = [alpha.astype(np.float32)]
    for _ in range(levels):
        f_small, b_small = cv2.pyrDown(f), cv2.pyrDown(b)
        size = (f.shape[1], f.shape[0])
        bands_f.append(f - cv2.pyrUp(f_small, dstsize=size))
        bands_b.append(b - cv2.pyrUp(b_small, dstsize=size))
        f, b = f_small, b_small
        alphas.append(cv2.pyrDown(alphas[-1]))
    out: np.ndarray = b + alphas[-1][..., None] * (f - b)
    for band_f, band_b, a_k in zip(
        reversed(bands_f), reversed(bands_b), reversed(alphas[:-1]), strict=True
    ):
        out = cv2.pyrUp(out, dstsize=(band_f.shape[1], band_f.shape[0]))
        out += band_b + a_k[..., None] * (band_f - band_b)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
