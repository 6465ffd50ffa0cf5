"""Sharpness matching: the warped source takes the target's level of fine detail.

A source photo is usually sharper than a video frame (focus, compression, motion blur), so
a pasted face shows more fine texture than the skin around it: the seam stands out and the
face shimmers as it moves. Per face track a blur strength is steered each frame so that the
source's median fine detail under the face mask matches the target's; only blurring, never
sharpening (that would add noise).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sharp = rng.integers(0, 255, (64, 64, 3), np.uint8)
    >>> soft = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    >>> w = np.ones((64, 64), np.float32)
    >>> detail(sharp, w) > detail(soft, w)
    True
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_SIGMA = 1.5  # px: beyond this the features smear, whatever the target
DEADBAND = float(np.log(1.1))
GAIN = 1.5  # sigma change per unit of log detail ratio, per frame
MEASURE_EVERY = 3  # detail changes slowly: measuring every 3rd frame saves two thirds
STRIDE = 2  # the median is taken over every 2nd pixel: a quarter of the sort, same figure


def detail(image: np.ndarray, weight: np.ndarray) -> float:
    """Median fine detail where `weight` > 0.5: |luma - its 1.5 px blur|.

    A high-pass ignores shading ramps (lighting and make-up contouring are no sharpness),
    and the median follows the skin's texture (most of the face) rather than the strong
    edges of eyes, brows and lips; matching a mean instead blurs those features away.
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    high = cv2.absdiff(grey, cv2.GaussianBlur(grey, (0, 0), 1.5))[::STRIDE, ::STRIDE]
    inside = weight[::STRIDE, ::STRIDE] > 0.5
    values = high[inside]
    if values.size == 0:
        return 0.0
    # The median by one partition, in place (np.median's checks and copy cost as much).
    low, mid = (values.size - 1) // 2, values.size // 2
    values.partition((low, mid))
    return float((values[low] + values[mid]) * np.float32(0.5))


class SharpnessMatch:
    """One face track's blur strength, steered toward the target's detail level."""

    def __init__(self) -> None:
        self.sigma = 0.0
        self.frames = 0

    def apply(self, fg: np.ndarray, bg: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """`fg` blurred by the current strength; every `MEASURE_EVERY` frames the strength
        then moves by the mismatch left (settles within a second, no jumps)."""
        out = cv2.GaussianBlur(fg, (0, 0), self.sigma) if self.sigma >= 0.3 else fg
        self.frames += 1
        if (self.frames - 1) % MEASURE_EVERY:
            return out
        ratio = max(detail(out, weight), 0.1) / max(detail(bg, weight), 0.1)
        error = float(np.log(ratio))
        # Within +-10 % the difference is not visible and the measure is noise: hold.
        step = 0.0 if abs(error) < DEADBAND else GAIN * error
        self.sigma = float(np.clip(self.sigma + step, 0.0, MAX_SIGMA))
        return out
