"""Shot cuts: the frame shows another scene than the one before it.

A face tracker that follows each face from its last landmarks carries a track across a cut
whenever another face sits where the old one was (an edited clip: a speaker, then a listener
in the same spot), and everything keyed by the track id follows it: the smoother, the
`--only-like` decision, the swap's estimate of the face's shape. `ShotCuts` tells the engine
when to drop its tracks and detect afresh.

A cut changes both the colours and the pixels of the whole frame at once. Each frame is
reduced to a 96 x 54 thumbnail; a cut is a frame whose thumbnail's colour histogram (8 bins
per channel) is at least `CUT_COLOURS` (Bhattacharyya distance) from the previous frame's
and whose pixels changed by at least `CUT_CHANGE` levels on average. Fast head motion,
panning and flicker change the pixels but keep the colours; a fade or a change of lighting
shifts the colours a little at a time. Thresholds from the clips of ../shared/data (docs/
BENCHMARKS.md): the three cuts of face_recognition/short_hamilton_clip measure 0.26-0.32 and
28-30 levels; within shots, no frame of the 31 clips measures more than 0.14, nor more than
20.4 levels (a fast head filling the frame). A cut between two shots of nearly the same
colours is missed: the tracker then behaves as without this.

Example:
    >>> import numpy as np
    >>> cuts = ShotCuts()
    >>> day, night = np.full((90, 160, 3), 200, np.uint8), np.zeros((90, 160, 3), np.uint8)
    >>> [cuts.is_cut(day), cuts.is_cut(day), cuts.is_cut(night)]
    [False, False, True]
"""

from __future__ import annotations

import cv2
import numpy as np

THUMBNAIL = (96, 54)  # width, height
CUT_COLOURS = 0.2  # Bhattacharyya distance between the thumbnails' colour histograms
CUT_CHANGE = 24.0  # mean absolute change of the thumbnails' pixels, 0-255 levels


class ShotCuts:
    """Compares each frame with the previous one; `is_cut` is True on a shot's first frame."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame: the next one starts a stream and is no cut."""
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def is_cut(self, frame: np.ndarray) -> bool:
        """True when RGB ``uint8`` ``frame`` shows another scene than the previous frame."""
        change = self.change(frame)
        return change is not None and change[0] >= CUT_COLOURS and change[1] >= CUT_CHANGE

    def change(self, frame: np.ndarray) -> tuple[float, float] | None:
        """The colour distance and the mean pixel change from the previous frame (None for
        the first frame); the frame becomes the previous one."""
        # Subsampled before the area resize: ~0.2 ms for 720p instead of ~2.6.
        step = max(1, frame.shape[1] // (2 * THUMBNAIL[0]))
        small = cv2.resize(frame[::step, ::step], THUMBNAIL, interpolation=cv2.INTER_AREA)
        counts = cv2.calcHist([small], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3)
        hist = np.asarray(counts, np.float32) / small.shape[0] / small.shape[1]
        last, self._last = self._last, (small, hist)
        if last is None:
            return None
        colours = cv2.compareHist(hist, last[1], cv2.HISTCMP_BHATTACHARYYA)
        return float(colours), float(np.abs(small.astype(np.int16) - last[0]).mean())
