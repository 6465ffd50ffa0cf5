"""Provenance: every swapped video says so, in its container metadata and optionally on screen.

The encoder writes `PROVENANCE_METADATA` into the output container (on by default). MP4/MOV
keep arbitrary keys only with the muxer option `PROVENANCE_MUXER_OPTIONS`; "comment" is
kept by every common container on its own.

Example:
    >>> import numpy as np
    >>> img = np.zeros((120, 320, 3), np.uint8)
    >>> draw_label(img, "synthetic")
    >>> int(img.max()) > 0
    True
"""

from __future__ import annotations

import cv2
import numpy as np

PROVENANCE_KEY = "synthetic_media"
PROVENANCE_VALUE = "face swap (facestream)"
PROVENANCE_COMMENT = "This video contains a synthetic face swap made with facestream."
PROVENANCE_METADATA: dict[str, str] = {
    PROVENANCE_KEY: PROVENANCE_VALUE,
    "comment": PROVENANCE_COMMENT,
}
# mov/mp4 muxer: write keys outside its fixed list (otherwise only "comment" survives).
PROVENANCE_MUXER_OPTIONS: dict[str, str] = {"movflags": "use_metadata_tags"}
_MOV_FAMILY = {".mp4", ".m4v", ".mov"}


def provenance_for(suffix: str) -> tuple[dict[str, str], dict[str, str]]:
    """Container metadata and muxer options that mark an output file as a face swap.

    Args:
        suffix: the output file's extension, e.g. ".mp4".

    Returns:
        `(metadata, options)`: update `container.metadata` with the first and pass the
        second as `av.open(..., options=...)`; merge `movflags` with any of your own.
    """
    options = PROVENANCE_MUXER_OPTIONS if suffix.lower() in _MOV_FAMILY else {}
    return dict(PROVENANCE_METADATA), dict(options)


DEFAULT_LABEL = "synthetic face"


def draw_label(image: np.ndarray, text: str = DEFAULT_LABEL) -> None:
    """Draw `text` in the bottom-left corner, sized to the frame, in place."""
    h, w = image.shape[:2]
    scale = max(h, w) / 1600
    thickness = max(1, round(2 * scale))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    margin = max(4, round(12 * scale))
    x, y = margin, h - margin - base
    # A dark box behind the text keeps it legible on any background.
    cv2.rectangle(
        image,
        (x - margin // 2, y - th - margin // 2),
        (x + tw + margin // 2, y + base),
        (0, 0, 0),
        -1,
    )
    cv2.putText(
        image,
        text,
        (x, y),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        thickness,
        cv2.LINE_AA,
    )
