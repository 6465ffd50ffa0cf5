"""Debug overlays: the 128 landmarks, the triangulation, or the swap mask, drawn on a frame.

Example:
    >>> import numpy as np
    >>> img = np.zeros((64, 64, 3), np.uint8)
    >>> draw_overlay(img, np.full((128, 2), 32, np.float32), "landmarks")
    >>> int(img[32, 32].max()) > 0
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from facestream.models.landmarks import FACE_OUTLINE, TRIANGLES

if TYPE_CHECKING:
    from facestream.filters.swap import FaceResult

OverlayKind = Literal["landmarks", "mesh", "mask"]
OVERLAY_KINDS: tuple[str, ...] = ("landmarks", "mesh", "mask")
_SHIFT = 4  # fixed-point bits: sub-pixel drawing
_GREEN = (60, 255, 90)
_CYAN = (40, 200, 255)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << _SHIFT)).astype(np.int32)


def draw_overlay(
    image: np.ndarray, points: np.ndarray, kind: str, result: FaceResult | None = None
) -> None:
    """Draw one face's overlay in place on an RGB uint8 image.

    Args:
        image: the frame (modified).
        points: `(128, 2)` landmarks in frame pixels.
        kind: "landmarks" (dots), "mesh" (triangle edges) or "mask" (the swap mask tinted
            over the face; the face outline when no swap ran).
        result: what `composite_face` returned for this face, for the mask overlay.
    """
    if kind not in OVERLAY_KINDS:
        raise ValueError(f"unknown overlay {kind!r}; choose one of {', '.join(OVERLAY_KINDS)}")
    scale = max(1, round(np.ptp(points[:, 0]) / 150))
    if kind == "landmarks":
        for p in _fixed(points):
            cv2.circle(
                image, tuple(int(v) for v in p), scale << _SHIFT, _GREEN, -1, cv2.LINE_AA, _SHIFT
            )
    elif kind == "mesh":
        tris = _fixed(points[np.asarray(TRIANGLES)])
        cv2.polylines(image, list(tris), True, _CYAN, 1, cv2.LINE_AA, _SHIFT)
    elif result is None:
        outline = _fixed(points[np.asarray(FACE_OUTLINE)])
        cv2.polylines(image, [outline], True, _GREEN, scale, cv2.LINE_AA, _SHIFT)
    else:
        x0, y0, x1, y1 = result.box
        patch = image[y0:y1, x0:x1].astype(np.float32)
        a = 0.5 * result.alpha[..., None]
        patch += a * (np.array(_GREEN, np.float32) - patch)
        image[y0:y1, x0:x1] = patch.astype(np.uint8)
