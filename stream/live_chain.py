"""The live processing chain: the source face, the swap and its toggles, as one stage.

`LiveChain` is what a :class:`~facestream.stream.live_track.FaceSwapTrack` runs per frame.
It holds the per-call state that a user changes while the call goes on (the source face,
swap on/off, the landmark overlay, the smoothing mode) and the stages that do the work.
All its methods run on the track's worker thread (see ``FaceSwapTrack.call_in_worker``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facestream.stream.errors import UserError
from facestream.stream.frames import Frame

SMOOTHING_MODES = ("kalman", "off")


@dataclass(frozen=True)
class LiveOptions:
    """What the user toggles during a call.

    Attributes:
        swap: paste the source face onto the faces in the frame.
        overlay: draw the landmarks over the output.
        smoothing: landmark smoothing mode, one of ``SMOOTHING_MODES``.
    """

    swap: bool = True
    overlay: bool = False
    smoothing: str = "kalman"

    def updated(self, changes: dict[str, Any]) -> LiveOptions:
        """A copy with ``changes`` applied; unknown keys or bad values raise ``ValueError``."""
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key in ("swap", "overlay"):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false, not {value!r}")
            elif key == "smoothing":
                if value not in SMOOTHING_MODES:
                    raise ValueError(f"smoothing must be one of {SMOOTHING_MODES}, not {value!r}")
            else:
                raise ValueError(f"unknown option {key!r}")
            clean[key] = value
        return replace(self, **clean)


def read_source_image(source: str | Path | np.ndarray) -> np.ndarray:
    """The source face photo as an RGB uint8 array (a path is read with OpenCV)."""
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise UserError(f"the source image must be uint8 RGB (H, W, 3), not {source.shape}")
        return np.ascontiguousarray(source)
    bgr = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"cannot read the source photo {source}: not an image file")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class StandInStage:
    """STAND-IN for the landmark engine + compositor, used until they are wired in.

    It does no face analysis at all: it pixelates a centred ellipse (where a webcam face
    usually is) and writes "stand-in" on the frame, so a viewer can see that frames went
    through the live chain and came back, and nobody mistakes it for a swap.
    """

    def process(self, frame: Frame) -> Frame:
        image = frame.image.copy()
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(w // 16, 1), max(h // 16, 1)), interpolation=cv2.INTER_AREA)
        blocky = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (w // 2, h // 2), (w // 5, h // 3), 0, 0, 360, 255, -1)
        image[mask > 0] = blocky[mask > 0]
        cv2.putText(image, "stand-in", (8, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 0, 0), 2)
        frame.image = image
        return frame


class LiveChain:
    """One call's processing: options, the source face, and the stages they select.

    Args:
        source: the source face (path or RGB array), or ``None`` for no swap yet.
        options: the starting toggles.

    Example:
        >>> chain = LiveChain()
        >>> chain.set_options({"overlay": True}).overlay
        True
    """

    def __init__(
        self, source: str | Path | np.ndarray | None = None, options: LiveOptions | None = None
    ) -> None:
        self.options = options or LiveOptions()
        self.source: np.ndarray | None = None
        self._stand_in = StandInStage()
        if source is not None:
            self.set_source(source)

    def set_source(self, source: str | Path | np.ndarray) -> None:
        """Use a new source face from the next frame on.

        Raises:
            UserError: the photo cannot be read or holds no usable face.
        """
        self.source = read_source_image(source)

    def set_options(self, changes: dict[str, Any]) -> LiveOptions:
        """Apply toggles from the next frame on; returns the options now in force."""
        self.options = self.options.updated(changes)
        return self.options

    def process(self, frame: Frame) -> Frame:
        if self.options.swap and self.source is not None:
            frame = self._stand_in.process(frame)
        return frame

    def close(self) -> None:
        self.source = None
