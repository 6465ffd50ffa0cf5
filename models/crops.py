"""Face crop geometry for HRNet-128: one place for the engine and for training.

A crop is a rotation-normalised square around a face: the eye line is horizontal and the
face's size sets the scale, so that the canonical template `MEAN_SHAPE` fills
`FACE_FRACTION` of the crop's height. A crop is described by one affine ``crop_to_frame``
``(2, 3)`` from *normalised* crop coordinates ((0, 0) the crop's top-left corner, (1, 1) its
bottom-right corner) to frame pixels (pixel centres at integer coordinates, 0-based), so the
same affine serves every model input size and heatmap size.

The geometry comes from four anchors, the same for every source: right eye centre, left eye
centre, nose tip, mouth centre. From landmarks they are means of iBUG points; from a
BlazeFace detection they are its first four keypoints, placed in the template by a
calibration on 300-W faces (`DETECTION_TEMPLATE`). The rotation is the eye line's; scale and
shift are the least-squares fit of the anchors to the template at that rotation.

Training must cut its crops with these functions (with ``jitter``) so that the model sees
what the engine feeds it.

Example:
    >>> import numpy as np
    >>> from facestream.models.landmarks import MEAN_SHAPE
    >>> points = MEAN_SHAPE * 200 + 50  # a frontal face, 200 px tall
    >>> affine = crop_from_landmarks(points[None])
    >>> crops = cut_crops(np.zeros((400, 400, 3), np.uint8), affine, 128)
    >>> crops.shape
    (1, 128, 128, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facestream.models.landmarks import MEAN_SHAPE

FACE_FRACTION = 0.8
"""Height of the template (forehead outline to chin) as a fraction of the crop's side."""

# fmt: off
DETECTION_TEMPLATE = np.array([
    [0.3072, 0.3187], [0.6928, 0.3187],
    [0.5000, 0.5456], [0.5000, 0.7376],
    [0.1006, 0.4013], [0.8994, 0.4013],
], dtype=np.float32)
# fmt: on
"""Mean BlazeFace keypoints (right eye, left eye, nose tip, mouth centre, right and left ear
tragion) in the `MEAN_SHAPE` frame, calibrated by `models/landmarks_tools.py constants` on
1,375 300-W faces with MediaPipe's detector (the model `facestream.models.detector` ports)."""


def landmark_anchors(points: np.ndarray) -> np.ndarray:
    """Right eye centre, left eye centre, nose tip, mouth centre ``(..., 4, 2)`` from
    ``(..., 128, 2)`` (or iBUG ``(..., 68, 2)``) landmarks."""
    points = np.asarray(points, dtype=np.float64)
    return np.stack(
        [
            points[..., 36:42, :].mean(-2),
            points[..., 42:48, :].mean(-2),
            points[..., 30, :],
            points[..., 48:60, :].mean(-2),
        ],
        axis=-2,
    )


def _template_in_crop(anchors: np.ndarray) -> np.ndarray:
    """Template positions (MEAN_SHAPE frame) -> normalised crop coordinates."""
    return 0.5 + (anchors - 0.5) * FACE_FRACTION


LANDMARK_ANCHORS_IN_CROP = _template_in_crop(landmark_anchors(MEAN_SHAPE))
DETECTION_ANCHORS_IN_CROP = _template_in_crop(DETECTION_TEMPLATE[:4].astype(np.float64))


@dataclass(frozen=True)
class CropJitter:
    """Random perturbation of crops for training (uniform in +-range, about the centre).

    Attributes:
        rotation_deg: rotation range in degrees.
        scale: relative scale range (0.1: the face 10% larger or smaller).
        shift: translation range as a fraction of the crop side.
    """

    rotation_deg: float = 10.0
    scale: float = 0.1
    shift: float = 0.05


def fit_crops(anchors: np.ndarray, anchors_in_crop: np.ndarray) -> np.ndarray:
    """``crop_to_frame`` affines ``(N, 2, 3)`` from frame anchors ``(N, 4, 2)``.

    The rotation makes the eye line (anchor 0 to anchor 1) horizontal; scale and translation
    are the least-squares fit of all anchors onto ``anchors_in_crop`` at that rotation.
    """
    anchors = np.asarray(anchors, dtype=np.float64)
    if anchors.ndim != 3 or anchors.shape[1:] != (4, 2):
        raise ValueError(f"anchors must be (N, 4, 2), got {anchors.shape}")
    eye = anchors[:, 1] - anchors[:, 0]
    angle = np.arctan2(eye[:, 1], eye[:, 0])
    cos, sin = np.cos(angle), np.sin(angle)
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)  # crop -> frame
    p = anchors - anchors.mean(1, keepdims=True)
    q = anchors_in_crop - anchors_in_crop.mean(0)
    rq = q @ rot.transpose(0, 2, 1)  # template offsets rotated into the frame
    scale = (p * rq).sum((1, 2)) / (rq**2).sum((1, 2))  # frame pixels per crop unit
    linear = rot * scale[:, None, None]
    shift = anchors.mean(1) - np.einsum("nij,j->ni", linear, anchors_in_crop.mean(0))
    return np.concatenate([linear, shift[:, :, None]], axis=2).astype(np.float32)


def jitter_crops(
    crop_to_frame: np.ndarray, jitter: CropJitter, rng: np.random.Generator
) -> np.ndarray:
    """Compose random similarities about the crop centre with ``(N, 2, 3)`` crops."""
    n = len(crop_to_frame)
    angle = np.radians(rng.uniform(-jitter.rotation_deg, jitter.rotation_deg, n))
    zoom = 1.0 + rng.uniform(-jitter.scale, jitter.scale, n)
    shift = rng.uniform(-jitter.shift, jitter.shift, (n, 2))
    # Crop-space map u -> centre + zoom * R (u - centre) + shift; a larger zoom shows more.
    cos, sin = np.cos(angle) * zoom, np.sin(angle) * zoom
    j = np.zeros((n, 3, 3))
    j[:, 0, 0], j[:, 0, 1], j[:, 1, 0], j[:, 1, 1] = cos, -sin, sin, cos
    j[:, :2, 2] = 0.5 + shift - j[:, :2, :2] @ np.array([0.5, 0.5])
    j[:, 2, 2] = 1
    return (crop_to_frame.astype(np.float64) @ j).astype(np.float32)


def crop_from_landmarks(
    points: np.ndarray,
    jitter: CropJitter | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """``crop_to_frame`` ``(N, 2, 3)`` for faces given by landmarks ``(N, 128 or 68, 2)``.

    Example:
        >>> from facestream.models.landmarks import MEAN_SHAPE
        >>> a = crop_from_landmarks(MEAN_SHAPE[None] * 100)
        >>> bool(np.allclose(a[0, :, :2] / a[0, 0, 0], np.eye(2), atol=1e-6))  # no rotation
        True
    """
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[1] not in (68, 128) or points.shape[2] != 2:
        raise ValueError(f"points must be (N, 128, 2) or (N, 68, 2), got {points.shape}")
    affine = fit_crops(landmark_anchors(points), LANDMARK_ANCHORS_IN_CROP)
    return (
        affine if jitter is None else jitter_crops(affine, jitter, rng or np.random.default_rng())
    )


def crop_from_keypoints(
    keypoints: np.ndarray,
    jitter: CropJitter | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """``crop_to_frame`` ``(N, 2, 3)`` from BlazeFace keypoints ``(N, 6, 2)`` (MediaPipe
    order: right eye, left eye, nose tip, mouth centre, right ear, left ear)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1] < 4 or keypoints.shape[2] != 2:
        raise ValueError(f"keypoints must be (N, 6, 2), got {keypoints.shape}")
    affine = fit_crops(keypoints[:, :4], DETECTION_ANCHORS_IN_CROP)
    return (
        affine if jitter is None else jitter_crops(affine, jitter, rng or np.random.default_rng())
    )


def invert_affines(affine: np.ndarray) -> np.ndarray:
    """Inverse of ``(N, 2, 3)`` affines (e.g. ``frame_to_crop`` from ``crop_to_frame``)."""
    affine = np.asarray(affine, dtype=np.float64)
    inv = np.linalg.inv(affine[:, :, :2])
    return np.concatenate([inv, -inv @ affine[:, :, 2:]], axis=2).astype(np.float32)


def apply_affines(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points ``(N, K, 2)`` through affines ``(N, 2, 3)``."""
    affine = np.asarray(affine, dtype=np.float64)
    out = np.asarray(points, dtype=np.float64) @ affine[:, :, :2].transpose(0, 2, 1)
    return (out + affine[:, None, :, 2]).astype(np.float32)


def pixel_affines(crop_to_frame: np.ndarray, size: int) -> np.ndarray:
    """Affines from crop *pixel* coordinates (pixel centres at integers) to frame pixels."""
    to_unit = np.array([[1 / size, 0, 0.5 / size], [0, 1 / size, 0.5 / size], [0, 0, 1]])
    return (np.asarray(crop_to_frame, dtype=np.float64) @ to_unit).astype(np.float32)


def cut_crops(
    frame: np.ndarray,
    crop_to_frame: np.ndarray,
    size: int,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Cut ``(N, size, size, 3)`` crops out of an ``(H, W, 3)`` frame (black outside it).

    Note:
        When a crop covers many frame pixels per crop pixel (a large face in a small crop),
        bilinear sampling aliases; `cut_crops` first picks a pyramid level of the frame so
        that the crop samples at most about 2 frame pixels per crop pixel. Only the part of
        the frame around the crop is reduced (a whole 720p frame's `cv2.pyrDown` cost more
        than the rest of the cut); the crops match those cut from the whole frame's pyramid
        within one grey level (OpenCV's fixed-point sampling rounds at another origin).
    """
    affines = pixel_affines(crop_to_frame, size).astype(np.float64)
    out = np.zeros((len(affines), size, size, 3), dtype=frame.dtype)
    h, w = frame.shape[:2]
    corners = np.array([[-0.5, -0.5, 1], [size - 0.5, -0.5, 1], [-0.5, size - 0.5, 1],
                        [size - 0.5, size - 0.5, 1]])  # fmt: skip
    for k, a in enumerate(affines):
        # Frame pixels per crop pixel; halve the frame until it is at most 2.
        step = float(np.sqrt(abs(np.linalg.det(a[:, :2]))))
        level, side = 0, min(h, w)
        while step > 2.0 and side > 2 * size:
            level, step, side = level + 1, step / 2, (side + 1) // 2
        scale = 2**level
        # The frame region the crop samples, grown past the reach of the pyramid's 5-tap
        # kernels and the bilinear step, on the grid of the level's pixels, so that its
        # pyramid equals the whole frame's there.
        spanned = corners @ a.T
        x0, y0 = spanned.min(0) - 4 * scale
        x1, y1 = spanned.max(0) + 4 * scale
        x0, y0 = max(int(x0 // scale) * scale, 0), max(int(y0 // scale) * scale, 0)
        x1, y1 = min(int(-(-x1 // scale)) * scale, w), min(int(-(-y1 // scale)) * scale, h)
        if x1 <= x0 or y1 <= y0:
            continue  # wholly outside the frame: black
        region = frame[y0:y1, x0:x1]
        for _ in range(level):
            region = cv2.pyrDown(region)
        m = a.copy()
        m[:, 2] -= (x0, y0)
        # pyrDown's output pixel i is centred on input pixel 2i: coordinates halve.
        m /= scale
        out[k] = cv2.warpAffine(
            region,
            m,
            (size, size),
            flags=interpolation | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
    return out
