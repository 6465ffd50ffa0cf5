"""The head's motion between two frames from the pixels: sparse optical flow on the face.

Landmark models place each frame's points on their own, so their shared error (the whole
face shifted by a pixel from one frame to the next) is the largest part of the jitter that a
causal smoother cannot tell from real head motion. Image features on the face move with the
head nearly without noise: Lucas-Kanade flow of a few dozen corners inside the face's hull,
at reduced resolution, and a robust similarity fitted to them (mouth and background features
are outliers) give the head's motion from one frame to the next. The live smoother takes it
as its rigid filter's control input (``KalmanSmoother.update(..., motion=...)``).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> frame = (rng.random((240, 320)) * 255).astype(np.uint8)
    >>> frame = cv2.GaussianBlur(frame, (0, 0), 2)
    >>> moved = np.roll(frame, 3, axis=1)  # the whole picture 3 pixels to the right
    >>> points = np.array([[100, 80], [220, 80], [160, 200]], np.float32)
    >>> m = face_motion(frame, moved, points)
    >>> bool(abs(m[0, 2] - 3) < 0.2 and abs(m[0, 0] - 1) < 0.01)
    True
"""

from __future__ import annotations

import cv2
import numpy as np

# Flow runs on the face region reduced to at most this width (pixels) and at most half the
# frame's resolution: a few dozen corners a few pixels apart are plenty, and the cost stays
# the same for a face of any size.
FLOW_WIDTH = 128
MAX_CORNERS = 64
# The margin around the landmarks' box (fraction of its size) that both frames are cut to:
# the face may have moved this much since the previous frame.
MARGIN = 0.25


def face_motion(
    previous: np.ndarray, current: np.ndarray, points: np.ndarray, width: int = FLOW_WIDTH
) -> np.ndarray | None:
    """The similarity that moves the face from ``previous`` to ``current``.

    Args:
        previous: the earlier frame, grey ``uint8`` (H, W).
        current: the later frame, grey ``uint8`` (H, W).
        points: ``(N, 2)`` landmarks of the face in ``previous`` (pixels): where to look.
        width: the face region's width (pixels) for the flow, at most half the frames'.

    Returns:
        ``[[a, -b, tx], [b, a, ty]]`` in pixels (``current ≈ M @ [x, y, 1]``), or ``None`` when
        the face has too little texture to follow (fewer than 6 corners agree), the frames'
        sizes differ or the points are not finite.
    """
    if previous.shape != current.shape or not np.isfinite(points).all():
        return None  # a new resolution, or no face to look at
    h, w = previous.shape
    lo = points.min(axis=0)
    hi = points.max(axis=0)
    pad = MARGIN * (hi - lo)
    x0, y0 = np.maximum(np.floor(lo - pad), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(hi + pad), (w, h)).astype(int)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    scale = min(0.5, width / (x1 - x0))
    size = (max(round((x1 - x0) * scale), 8), max(round((y1 - y0) * scale), 8))
    a, b = (_reduce(frame[y0:y1, x0:x1], size) for frame in (previous, current))
    fx, fy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    hull = cv2.convexHull(((points - (x0, y0)) * (fx, fy)).astype(np.int32))
    mask = np.zeros(a.shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    corners = cv2.goodFeaturesToTrack(a, MAX_CORNERS, 0.01, 3, mask=mask, blockSize=5)
    if corners is None or len(corners) < 6:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(
        a, b, corners, corners.copy(), winSize=(11, 11), maxLevel=2
    )
    ok = status[:, 0] == 1
    if ok.sum() < 6:
        return None
    m, inliers = cv2.estimateAffinePartial2D(
        corners[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=0.5
    )
    if m is None or inliers.sum() < 6:
        return None
    # Back to the frame's pixels: q = D p with D the crop-and-scale map, so M = D⁻¹ M_q D.
    d = np.array([[fx, 0.0, -fx * x0], [0.0, fy, -fy * y0], [0.0, 0.0, 1.0]])
    full = np.linalg.inv(d) @ np.vstack([m, (0.0, 0.0, 1.0)]) @ d
    return full[:2]


def _reduce(region: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``region`` resized down to ``size``: halved by pyramid steps while it is more than
    twice as wide, then area-averaged (area averaging alone over a large face costs twice as
    much)."""
    while region.shape[1] >= 2 * size[0]:
        region = cv2.pyrDown(region)
    return cv2.resize(region, size, interpolation=cv2.INTER_AREA)
